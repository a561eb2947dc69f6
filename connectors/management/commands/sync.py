import json
import sys
from datetime import UTC, datetime

from django.core.management.base import BaseCommand, CommandError

from audit.recorder import Actor
from connectors.models import StripeConnection, SyncRun
from connectors.sync import run_sync
from connectors.sync.runner import BACKFILL_ORDER


class Command(BaseCommand):
    help = "Bring a connection's mirror up to date; prints counts per object kind."

    def add_arguments(self, parser):
        parser.add_argument("name", help="the connection's nickname")
        parser.add_argument("--full", action="store_true", help="re-read the whole history")
        parser.add_argument("--since", metavar="DATE", help="read history from DATE (YYYY-MM-DD)")
        parser.add_argument(
            "--workers", type=int, help="readers at once (default: LUMEN_SYNC_WORKERS)"
        )
        parser.add_argument("--json", action="store_true", help="print one JSON document")

    def handle(self, name, full=False, since=None, **options):
        connection = StripeConnection.objects.filter(name=name).first()
        if connection is None:
            raise CommandError(f"No connection named {name!r}.")
        if since:
            try:
                since = datetime.strptime(since, "%Y-%m-%d").replace(tzinfo=UTC)
            except ValueError:
                raise CommandError(f"--since takes a date as YYYY-MM-DD, not {since!r}.") from None
        show = not options["json"] and sys.stderr.isatty()
        progress = None
        if options["verbosity"] >= 2:
            progress = self.log_progress
        elif show:
            progress = self.show_progress
        if options["workers"] is not None and options["workers"] < 1:
            raise CommandError("--workers takes a whole number from 1.")
        run = run_sync(
            connection,
            actor=Actor.command("sync"),
            full=full,
            since=since,
            progress=progress,
            workers=options["workers"],
        )
        if show:
            self.stderr.write("")
        document = run.as_document()
        if options["json"]:
            self.stdout.write(json.dumps(document, indent=2))
        else:
            self.print_summary(run)
        if run.status == SyncRun.Status.FAILED:
            sys.exit(1)

    def log_progress(self, run):
        """One line per page written (for logs, and for whoever watches a sync)."""
        totals = run.totals()
        self.stderr.write(
            f"page written: {run.current or 'done'} {totals['fetched']} read {run.api_calls} calls"
        )
        self.stderr.flush()

    def show_progress(self, run):
        kinds = list(BACKFILL_ORDER)
        step = kinds.index(run.current) + 1 if run.current in kinds else len(kinds)
        done = int(24 * step / len(kinds))
        totals = run.totals()
        self.stderr.write(
            f"\r[{'#' * done}{'.' * (24 - done)}] {run.current or 'done':<22} "
            f"{totals['fetched']:>9,} read · {run.api_calls:,} API calls",
            ending="",
        )

    def print_summary(self, run):
        out = self.stdout.write
        out(
            f"Sync {run} {run.get_status_display().lower()} in {run.duration.total_seconds():.1f} s"
        )
        if run.message:
            out(run.message)
        for kind, counts in sorted(run.counts.items()):
            out(counts_line(kind, counts))
        out(counts_line("total", run.totals()) + f" · {run.api_calls:,} API calls")
        for warning in run.warnings:
            out(f"warning: {warning}")
        for error in run.errors[:20]:
            out(f"error: {error}")
        if len(run.errors) > 20:
            out(f"... and {len(run.errors) - 20} more errors (see the sync run in the admin)")


def counts_line(label, c):
    return (
        f"  {label:<22} {c['fetched']:>9,} read {c['created']:>9,} new {c['updated']:>9,} updated"
    )
