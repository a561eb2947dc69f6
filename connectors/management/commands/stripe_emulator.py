"""Serve a Stripe-compatible read API with the demo account on 127.0.0.1 until Ctrl-C."""

import os
import threading
import time

from django.core.management.base import BaseCommand, CommandError

from connectors.emulator import (
    DEMO_KEY,
    EmulatorStore,
    Faults,
    KeyGrant,
    StripeEmulator,
    load_fixture,
    seed_account,
)
from connectors.emulator.control import PREFIX
from connectors.emulator.demo import add_arguments, banner


class Command(BaseCommand):
    help = __doc__
    requires_system_checks = []  # it needs no database and no configured app state

    def add_arguments(self, parser):
        add_arguments(parser)
        parser.add_argument(
            "--charges",
            type=int,
            default=None,
            metavar="N",
            help="size the account to exactly N charges (default: the demo's own stories)",
        )
        parser.add_argument(
            "--webhook-url",
            default=None,
            metavar="URL",
            help="POST the events of changes (made through /_emulator/changes/) to URL",
        )
        parser.add_argument(
            "--webhook-secret-env",
            default=None,
            metavar="VAR",
            help="environment variable holding the whsec_ secret that signs them",
        )

    def handle(self, *args, **options):
        secret = self.webhook_secret(options)
        if options["charges"] is not None and options["charges"] < 0:
            raise CommandError("--charges must be 0 or more")
        try:
            emulator = self.build(options)
            if options["webhook_url"]:
                emulator.post_webhooks(options["webhook_url"], secret)
            emulator.start()
        except (ValueError, OSError) as error:  # a bad rate, a port in use, a bad fixture
            raise CommandError(str(error)) from None
        self.stdout.write(banner(emulator))
        self.stdout.write(
            f"Changes for tests: POST {emulator.url}{PREFIX}changes/NAME with a JSON body "
            "(new_charge, refund, upgrade_subscription, cancel_subscription, new_dispute, "
            "submit_evidence, close_dispute, advance)"
        )
        if options["webhook_url"]:
            self.stdout.write(f"Webhooks of changes go to {options['webhook_url']}")
        try:
            threading.Event().wait()
        except KeyboardInterrupt:
            pass
        finally:
            emulator.stop()
        self.stdout.write(f"Stopped after answering {len(emulator.request_log)} requests.")

    def webhook_secret(self, options):
        if not options["webhook_url"]:
            if options["webhook_secret_env"]:
                raise CommandError("--webhook-secret-env needs --webhook-url")
            return None
        if not options["webhook_secret_env"]:
            raise CommandError("--webhook-url needs --webhook-secret-env VAR (the signing secret)")
        secret = os.environ.get(options["webhook_secret_env"], "")
        if not secret.startswith("whsec_"):
            raise CommandError(
                f"${options['webhook_secret_env']} must hold a webhook signing secret (whsec_...)"
            )
        return secret

    def build(self, options):
        store = EmulatorStore()
        if not options["no_seed"]:
            started = time.monotonic()
            # The demo's disputes are due "today" only if the account is seeded up to now.
            now = options["now"] or int(time.time()) // 3600 * 3600
            seed_account(store, seed=options["seed"], now=now, charges=options["charges"])
            if options["charges"]:
                took = time.monotonic() - started
                self.stderr.write(f"Seeded {options['charges']:,} charges in {took:.1f} s")
        for path in options["fixture"]:
            load_fixture(store, path)
        faults = Faults(
            rate_429=options["fault_429"],
            rate_500=options["fault_500"],
            rate_slow=options["fault_slow"],
            slow_seconds=options["slow_seconds"],
            rate_drop=options["fault_drop"],
        )
        return StripeEmulator(store, keys=[KeyGrant(DEMO_KEY)], faults=faults, port=options["port"])
