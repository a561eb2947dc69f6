import getpass
import json
import os
import sys
from pathlib import Path

from django.core.exceptions import ValidationError
from django.core.management.base import BaseCommand, CommandError
from django.views.decorators.debug import sensitive_variables

from audit.recorder import Actor
from connectors import connections
from connectors.models import StripeConnection


class Command(BaseCommand):
    help = (
        "Create a connection or rotate its key, verify it, and print the account, mode and "
        "readable resources. The key is read from an environment variable, a file or a hidden "
        "prompt, never from the command line (argv is visible to every user of the machine)."
    )

    def add_arguments(self, parser):
        parser.add_argument("name", help="the connection's nickname, e.g. acme")
        source = parser.add_mutually_exclusive_group()
        source.add_argument("--key-env", metavar="VAR", help="read the key from this variable")
        source.add_argument("--key-file", metavar="PATH", help="read the key from this file")
        parser.add_argument("--json", action="store_true", help="print one JSON document")

    @sensitive_variables("key")
    def handle(self, name, key_env=None, key_file=None, **options):
        key = self.read_key(key_env, key_file)
        actor = Actor.command(f"connect ({getpass.getuser()})")
        connection = StripeConnection.objects.filter(name=name).first() or StripeConnection(
            name=name
        )
        if connection.pk is None:
            try:
                connection.full_clean(exclude=["secret_key", "key_last4", "key_kind", "mode"])
            except ValidationError as e:
                raise CommandError("; ".join(e.messages)) from None
        origin = "command:connect"
        try:
            # As the admin does: a key Stripe refuses is not saved (nor does it replace the
            # key a connection holds); one Stripe cannot be asked about is saved unverified.
            unverified = ""
            if not connection.holds_key(key.strip()):
                unverified = connections.check_key(connection, key, actor=actor, origin=origin)
            warnings = connections.save_key(
                connection, key, actor=actor, origin=origin, unverified_reason=unverified
            )
        except ValidationError as e:
            raise CommandError(" ".join(e.messages)) from None
        result = connections.verify(connection, actor=actor, origin=origin)
        self.report(connection, result, warnings, options["json"])
        if not result.ok:
            sys.exit(1)

    @sensitive_variables("key")
    def read_key(self, key_env, key_file):
        if key_env:
            key = os.environ.get(key_env)
            if not key:
                raise CommandError(f"The environment variable {key_env} is empty or not set.")
            return key
        if key_file:
            try:
                return Path(key_file).read_text().strip()
            except OSError as e:
                raise CommandError(f"Cannot read {key_file}: {e.strerror}") from None
        if not sys.stdin.isatty():
            raise CommandError("Give --key-env VAR or --key-file PATH (no terminal to prompt on).")
        return getpass.getpass("Stripe key (input hidden): ")

    def report(self, connection, result, warnings, as_json):
        document = {
            "connection": connection.name,
            "key": connection.masked_key,
            "key_kind": connection.key_kind,
            "mode": connection.mode,
            "account_id": connection.account_id,
            "account_name": connection.account_name,
            "health": connection.health,
            "ok": result.ok,
            "message": result.message,
            "readable": result.readable,
            "unreadable": result.unreadable,
            "warnings": warnings + result.warnings,
        }
        if as_json:
            self.stdout.write(json.dumps(document, indent=2))
            return
        for warning in document["warnings"]:
            self.stderr.write(self.style.WARNING(f"warning: {warning}"))
        account = connection.account_name or connection.account_id or "account unknown"
        self.stdout.write(
            f"{connection.name}: {account} ({connection.mode} mode), key {connection.masked_key}"
        )
        self.stdout.write(f"{result.message}")
        if result.readable:
            self.stdout.write("can read: " + ", ".join(result.readable))
        if result.unreadable:
            self.stdout.write(
                "cannot read: " + ", ".join(f"{k} ({v})" for k, v in result.unreadable.items())
            )
