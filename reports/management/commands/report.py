import getpass
import json
import os
import sys
from pathlib import Path

from django.core.management.base import BaseCommand, CommandError

from connectors.models import StripeConnection
from reports import formats, runner
from reports.models import ReportRun
from reports.periods import BadParameters, parameters_from

BAD_INPUT = 2


class Command(BaseCommand):
    help = (
        "Run one report in this process (recorded as a report run) and print it: a table, "
        "the JSON document of the spec (--format json, nothing else on stdout), or CSV. "
        "Bad input exits with status 2 and changes nothing; a failed run exits with 1."
    )

    def add_arguments(self, parser):
        parser.add_argument("kind", choices=list(runner.KINDS), help="which report")
        parser.add_argument("name", help="the connection's nickname")
        parser.add_argument("--from", dest="date_from", metavar="DATE", help="first day")
        parser.add_argument("--to", dest="date_to", metavar="DATE", help="last day (included)")
        parser.add_argument("--months", type=int, metavar="N", help="the N months to this one")
        parser.add_argument("--days", type=int, metavar="N", help="the N days to today")
        parser.add_argument("--format", choices=["table", "json", "csv"], default="table")
        parser.add_argument("--output", metavar="FILE", help="write to FILE, not stdout")
        parser.add_argument(
            "--sync-first", action="store_true", help="bring the mirror up to date first"
        )

    def handle(self, kind, name, **options):
        output = options["output"]
        if output:
            folder = Path(output).resolve().parent
            if not folder.is_dir() or not os.access(folder, os.W_OK):
                raise CommandError(f"Cannot write {output}: no such folder, or not writable.",
                                   returncode=BAD_INPUT)  # fmt: skip
        connection = StripeConnection.objects.filter(name=name).first()
        if connection is None:
            raise CommandError(f"No connection named {name!r}.", returncode=BAD_INPUT)
        try:
            parameters = parameters_from(
                kind, options["date_from"], options["date_to"], options["months"],
                options["days"],
            )  # fmt: skip
            run = runner.create(
                kind,
                connection,
                parameters,
                requester_kind=ReportRun.Requester.COMMAND,
                name=f"report ({getpass.getuser()})",
                sync_first=options["sync_first"],
            )
        except BadParameters as e:
            raise CommandError(str(e), returncode=BAD_INPUT) from None

        run = runner.execute(run.pk)
        if run.status != ReportRun.Status.SUCCEEDED:
            self.stderr.write(f"Report run #{run.pk} failed: {run.error}")
            sys.exit(1)
        text = {
            "json": lambda run: json.dumps(run.document, indent=2) + "\n",
            "csv": lambda run: formats.as_csv(run.document),
            "table": lambda run: formats.as_table(run.document),
        }[options["format"]](run)
        if output:
            Path(output).write_text(text, encoding="utf-8", newline="")
            self.stderr.write(f"Report run #{run.pk}: wrote {output}")
        else:
            self.stdout.write(text, ending="")
