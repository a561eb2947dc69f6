"""Stream the audit log, or the days of it asked for, to a CSV file."""

import json
import os
import tempfile
from datetime import UTC, datetime, time, timedelta
from pathlib import Path

from django.core.management.base import BaseCommand, CommandError

from audit.export import write_csv
from audit.models import AuditEvent
from audit.recorder import Actor, record


def parse_day(value, option):
    try:
        return datetime.strptime(value, "%Y-%m-%d").date()
    except ValueError:
        raise CommandError(f"{option} must be a date as YYYY-MM-DD, not {value!r}.") from None


def start_of(day):
    return datetime.combine(day, time.min, tzinfo=UTC)


class Command(BaseCommand):
    help = (
        "Write the audit log to a CSV file, oldest event first. --from and --to are whole "
        "days in UTC, both included. The file is created with mode 0600."
    )

    def add_arguments(self, parser):
        parser.add_argument("--from", dest="day_from", metavar="DATE", help="YYYY-MM-DD")
        parser.add_argument("--to", dest="day_to", metavar="DATE", help="YYYY-MM-DD")
        parser.add_argument(
            "--output", required=True, metavar="FILE", help="the CSV file, or - for stdout"
        )
        parser.add_argument(
            "--json", dest="as_json", action="store_true", help="print the summary as JSON"
        )

    def handle(self, *args, day_from=None, day_to=None, output, as_json=False, **options):
        first = parse_day(day_from, "--from") if day_from else None
        last = parse_day(day_to, "--to") if day_to else None
        if first and last and last < first:
            raise CommandError(f"--to {last} is before --from {first}: nothing was exported.")
        if output != "-" and not Path(output).parent.is_dir():
            raise CommandError(f"The folder of {output} does not exist: nothing was exported.")
        start = start_of(first) if first else None
        end = start_of(last + timedelta(days=1)) if last else None

        events = AuditEvent.objects.order_by("id")
        if start:
            events = events.filter(occurred_at__gte=start)
        if end:
            events = events.filter(occurred_at__lt=end)

        if output == "-":
            rows = write_csv(events, self.stdout)
        else:
            rows = self.write_file(events, Path(output))

        record(
            actor=Actor.command("audit_export"),
            operation="audit.exported",
            origin="command:audit_export",
            date_from=start,
            date_to=end,
            params={
                "format": "csv",
                "from": first and first.isoformat(),
                "to": last and last.isoformat(),
                "rows": rows,
                "output": output,
            },
        )
        # With the CSV on stdout, the summary goes to stderr.
        summary_to = self.stderr if output == "-" else self.stdout
        if as_json:
            summary = json.dumps({"rows": rows, "output": output})
        else:
            summary = f"Exported {rows} audit events to {'stdout' if output == '-' else output}."
        summary_to.write(summary, style_func=str)

    def write_file(self, events, path):
        """Write through a temporary file beside `path`, so a failed export leaves no file."""
        fd, temporary = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
        try:
            with os.fdopen(fd, "w", encoding="utf-8", newline="") as out:
                rows = write_csv(events, out)
            os.replace(temporary, path)
        except BaseException:
            Path(temporary).unlink(missing_ok=True)
            raise
        return rows
