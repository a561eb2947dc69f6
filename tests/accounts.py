"""Small Stripe accounts built story by story in the emulator, for the report tests.

Each test builds exactly the account its rule needs, at fixed dates, with the emulator's own
Ledger and Billing (so every charge has its payment intent, invoice payment, balance
transaction and invoice lines, as Stripe makes them), serves it over HTTP, syncs it into the
mirror through the door, and runs reports with the clock pinned to the account's "now".

    account = Account()
    pro = account.price(account.product("Pro"), 10000)
    ada = account.customer("Ada")
    account.subscribe(ada, pro, start=at(2026, 6, 1))
    conn = mirror(account)                       # served, connected and synced
    doc = report(conn, "mrr", months=6)          # the document, from a ReportRun

The fixtures (`mirror`, and `pinned`, which sets the clock to NOW) reach the tests through
`pytest_plugins` in conftest.py.
"""

import random
from contextlib import ExitStack, contextmanager
from datetime import UTC, datetime

import pytest
from django.conf import settings

from audit.recorder import Actor
from connectors import connections
from connectors.emulator import StripeEmulator
from connectors.emulator import shapes_billing as catalog
from connectors.emulator.billing import Billing, SubscriptionStory
from connectors.emulator.ids import DAY
from connectors.emulator.ledger import Ledger
from connectors.emulator.shapes_account import account_object
from connectors.emulator.store import EmulatorStore
from connectors.models import StripeConnection
from connectors.sync import run_sync
from reports import runner
from reports.models import ReportRun
from reports.periods import parameters_from
from tests.conftest import TEST_KEY

NOW = datetime(2026, 11, 22, 9, 0, tzinfo=UTC)


def at(year, month, day, hour=12, minute=0):
    """A moment (Unix time, UTC) of the account's history."""
    return int(datetime(year, month, day, hour, minute, tzinfo=UTC).timestamp())


class Account:
    def __init__(self, now=NOW, seed=1):
        self.now = int(now.timestamp())
        self.store = EmulatorStore()
        self.ledger = Ledger(self.store, random.Random(seed), self.now, "LUMEN TESTS")
        self.ids = self.ledger.ids
        self.products = {}
        self.billing = Billing(self.ledger, self.products, "Lumen Tests Ltd")
        self.cards = {}
        self.since = self.now - 900 * DAY  # when the catalog and the customers were made

    # The catalog

    def product(self, name):
        product = catalog.product(self.ids("prod"), self.since, name, f"{name}, for the tests")
        self.products[product["id"]] = self.ledger.keep(product)
        return product

    def price(self, product, amount, currency="usd", interval="month", count=1,
              usage="licensed"):  # fmt: skip
        """A recurring price (interval None: a one-time price)."""
        return self.ledger.keep(
            catalog.price(
                self.ids("price"), self.since + 60, product["id"], currency, amount, interval,
                interval_count=count, usage_type=usage,
            )
        )  # fmt: skip

    def coupon(self, duration, percent_off=None, amount_off=None, currency=None, months=None):
        return self.ledger.keep(
            catalog.coupon(
                self.ids("coupon").upper(), self.since, f"{duration} coupon", duration,
                percent_off=percent_off, amount_off=amount_off, currency=currency,
                duration_in_months=months,
            )
        )  # fmt: skip

    def tax_rate(self, percentage):
        """A tax rate (Stripe's object, not mirrored: it only shapes invoices)."""
        return catalog.tax_rate(self.ids("txr"), self.since, "Sales tax", percentage, "US", "TX")

    # Customers and their money

    def customer(self, name, currency="usd"):
        customer = catalog.customer(
            self.ids("cus"), self.since, name, f"{name.lower()}@example.org", currency,
            catalog.address("US", "Chicago"), self.ids.token(8).upper(),
            default_payment_method=self.ids("pm"),
        )  # fmt: skip
        self.cards[customer["id"]] = {
            "payment_method": customer["invoice_settings"]["default_payment_method"],
            "brand": "visa", "last4": "4242", "exp_month": 12, "exp_year": 2030,
            "country": "US", "fingerprint": self.ids.token(16), "funding": "credit",
        }  # fmt: skip
        return self.ledger.keep(customer)

    def subscribe(self, customer, price, start, **story):
        """A subscription and its invoices, period by period up to now (see the emulator's
        SubscriptionStory for what else can happen to it: quantity, extras, trial_days,
        coupon, tax_rate, upgrade, metered, ends, failing...)."""
        return self.billing.subscribe(
            SubscriptionStory(customer, self.cards[customer["id"]], price, start, **story)
        )

    def invoice(self, customer, items, created):
        """An invoice of one-time prices [(price, quantity)], paid at once. Returns the
        invoice and the charge that paid it."""
        invoice = self.billing.one_off_items(customer, self.cards[customer["id"]], items, created)
        return invoice, self.ledger.charges[-1]

    def pay(self, customer, amount, created, currency=None, capture=None):
        """A card payment outside any invoice. Returns the charge."""
        _, charge = self.ledger.pay(
            customer, amount, currency or customer["currency"], created, "A payment",
            self.cards[customer["id"]], capture=capture,
        )  # fmt: skip
        return charge

    def charges_of(self, customer):
        """The customer's successful charges, oldest first."""
        return [
            c
            for c in self.ledger.objects
            if c["object"] == "charge"
            and c["customer"] == customer["id"]
            and c["status"] == "succeeded"
        ]

    def refund(self, charge, amount, created, status="succeeded"):
        return self.ledger.refund(charge, amount, created, status=status)

    def dispute(self, charge, created, status, reason="fraudulent", due_by=None,
                closed_at=None):  # fmt: skip
        evidence = {"uncategorized_text": "Delivered."} if "under_review" in status else None
        if status in ("won", "lost", "warning_closed"):
            evidence = {"uncategorized_text": "Delivered."}
        return self.ledger.dispute(
            charge, created, reason, status, due_by or created + 7 * DAY, "10.4",
            evidence=evidence, closed_at=closed_at,
        )  # fmt: skip

    def payout(self, created, currency="usd", automatic=True):
        """Pay out what became available by `created` (None when nothing is)."""
        return self.ledger.payout(created, currency, self.ids("ba"), automatic)

    def commit(self):
        self.ledger.commit()
        self.store.add(
            account_object(
                self.ids("acct"), self.since, name="Lumen Tests Ltd", display_name="Lumen Tests"
            )  # fmt: skip
        )
        return self.store


@contextmanager
def served(account):
    """The account behind a Stripe emulator, with STRIPE_API_BASE pointing at it."""
    store = account.commit() if account.store.account is None else account.store
    server = StripeEmulator(store, keys=[TEST_KEY])
    server.start()
    previous = settings.STRIPE_API_BASE
    settings.STRIPE_API_BASE = server.url
    try:
        yield server
    finally:
        settings.STRIPE_API_BASE = previous
        server.stop()


def connect(name="acme"):
    """A connection holding the tests' key (not verified: a sync needs no more)."""
    connection = StripeConnection(name=name)
    connections.save_key(connection, TEST_KEY, actor=Actor.command("tests"))
    return connection


def sync(connection):
    run = run_sync(connection, actor=Actor.command("tests"))
    assert run.status == "succeeded", run.message
    assert not run.errors, run.errors
    connection.refresh_from_db()
    return connection


def report_run(connection, kind, sync_first=False, **asked):
    """A ReportRun created and computed as the command does it."""
    parameters = parameters_from(
        kind, asked.get("date_from"), asked.get("date_to"), asked.get("months"),
        asked.get("days"),
    )  # fmt: skip
    run = runner.create(
        kind, connection, parameters, requester_kind=ReportRun.Requester.COMMAND,
        name="tests", sync_first=sync_first,
    )  # fmt: skip
    return runner.execute(run.pk)


def report(connection, kind, **asked):
    run = report_run(connection, kind, **asked)
    assert run.status == "succeeded", run.error
    return run.document


@pytest.fixture
def pinned(time_machine):
    """The clock at the accounts' NOW, and running: syncs and reports happen 'today'."""
    time_machine.move_to(NOW, tick=True)


@pytest.fixture
def mirror(db, settings, pinned):
    """mirror(account) serves the account, connects to it as "acme" and syncs it."""
    settings.STRIPE_RETRY_BASE_DELAY = 0.001
    settings.STRIPE_RETRY_MAX_DELAY = 0.01
    settings.STRIPE_RATE_LIMIT_TEST = 10_000
    with ExitStack() as stack:

        def make(account, name="acme"):
            server = stack.enter_context(served(account))
            connection = sync(connect(name))
            connection.emulator = server  # for tests that change what Stripe answers
            return connection

        yield make
