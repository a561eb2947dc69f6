"""Serve a Stripe-compatible read API with the demo account on 127.0.0.1 until Ctrl-C."""

from argparse import Namespace

from django.core.management.base import BaseCommand, CommandError

from connectors.emulator.demo import add_arguments, serve


class Command(BaseCommand):
    help = __doc__
    requires_system_checks = []  # it needs no database and no configured app state

    def add_arguments(self, parser):
        add_arguments(parser)

    def handle(self, *args, **options):
        try:
            serve(Namespace(**options), write=lambda text: self.stdout.write(text))
        except (ValueError, OSError) as error:  # a bad rate, a port in use, a bad fixture
            raise CommandError(str(error)) from None
