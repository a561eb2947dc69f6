"""Serve a Stripe-compatible read API with the demo account on 127.0.0.1 until Ctrl-C."""

import os
import time

from django.core.management.base import BaseCommand, CommandError

from connectors.emulator import Faults
from connectors.emulator.control import PREFIX
from connectors.emulator.demo import add_arguments, banner, build_demo_emulator
from connectors.emulator.server import serve_until_stopped


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
        serve_until_stopped(emulator)
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
        faults = Faults(
            rate_429=options["fault_429"],
            rate_500=options["fault_500"],
            rate_slow=options["fault_slow"],
            slow_seconds=options["slow_seconds"],
            rate_drop=options["fault_drop"],
        )
        started = time.monotonic()
        emulator = build_demo_emulator(
            options["port"],
            options["seed"],
            options["now"],
            options["fixture"],
            not options["no_seed"],
            faults,
            charges=options["charges"],
        )
        if options["charges"] and not options["no_seed"]:
            took = time.monotonic() - started
            self.stderr.write(f"Seeded {options['charges']:,} charges in {took:.1f} s")
        return emulator
