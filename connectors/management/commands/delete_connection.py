"""Delete a connection with its mirrored data, sync runs, report runs and schedules and its
webhook endpoint, in batches. The audit log is kept as it was written, and the deletion is
added to it. Asks first on a terminal; elsewhere, --yes says it was meant."""

import getpass
import json
import sys

from django.core.management.base import BaseCommand, CommandError

from audit.recorder import Actor
from connectors import connections, deletion
from connectors.models import StripeConnection
from connectors.sync import lease


class Command(BaseCommand):
    help = __doc__.split("\n\n")[0].replace("\n", " ")

    def add_arguments(self, parser):
        parser.add_argument("name", help="the connection's nickname")
        parser.add_argument("--yes", action="store_true", help="delete without asking")
        parser.add_argument("--json", action="store_true", help="print one JSON document")

    def handle(self, name, yes=False, **options):
        connection = StripeConnection.objects.filter(name=name).first()
        if connection is None:
            known = ", ".join(StripeConnection.objects.values_list("name", flat=True))
            raise CommandError(
                f"No connection named {name!r}. "
                + (f"Connections: {known}." if known else "There is no connection."),
                returncode=2,
            )
        holder = lease.syncing_now(connection)
        if holder:
            raise CommandError(connections.busy_message(connection, holder))
        if not yes:
            self.confirm(connection)
        show = not options["json"]
        progress = self.show_progress if show and options["verbosity"] >= 1 else None
        try:
            deleted = connections.delete_connection(
                connection,
                actor=Actor.command(f"delete_connection ({getpass.getuser()})"),
                origin="command:delete_connection",
                progress=progress,
            )
        except connections.ConnectionBusy as e:
            raise CommandError(str(e)) from None
        if options["json"]:
            self.stdout.write(json.dumps({"connection": name, "deleted": deleted}, indent=2))
            return
        total = sum(deleted.values())
        self.stdout.write(
            f"{name} deleted, with {total:,} rows of its data. Its audit log is kept, and "
            "records the deletion."
        )

    def confirm(self, connection):
        if not sys.stdin.isatty():
            raise CommandError(
                f"Not on a terminal, so not asking: give --yes to delete {connection.name}. "
                "Nothing was deleted.",
                returncode=2,
            )
        counts = {label: rows for label, rows in deletion.counts(connection).items() if rows}
        account = connection.account_name or connection.account_id or "account unknown"
        self.stdout.write(
            f"{connection.name}: {account} ({connection.mode} mode), key {connection.masked_key}"
        )
        self.stdout.write("Deleting it deletes:" if counts else "It holds no data.")
        for label, rows in counts.items():
            self.stdout.write(f"  {label:<24} {rows:>11,}")
        self.stdout.write("The audit log is kept.")
        answer = input(f"Type the connection's name ({connection.name}) to delete it: ")
        if answer.strip() != connection.name:
            raise CommandError("Nothing was deleted.")

    def show_progress(self, label, rows):
        if rows:
            self.stdout.write(f"  {label:<24} {rows:>11,} deleted")
