"""The mirror: a sync leaves it equal to the account, object for object, and keeps it so."""

import contextlib
import gc
import io
import json
import socket
import sqlite3
import subprocess
import sys
import time
from datetime import UTC, datetime, timedelta

import pytest
from django.core.management import call_command
from django.db import connection as db
from django.db import transaction
from django.utils import timezone

from audit.models import AuditEvent
from audit.recorder import Actor
from connectors.checks import sqlite_writes_pages
from connectors.door import Door, StripeUnavailable
from connectors.emulator import (
    AccountChanges,
    EmulatorStore,
    Faults,
    StripeEmulator,
    seed_account,
)
from connectors.models import (
    MIRROR_MODELS,
    AppliedEvent,
    Balance,
    BalanceTransaction,
    Charge,
    StripeConnection,
    SyncCheckpoint,
    SyncRun,
)
from connectors.sync import garbage, lease, run_sync, runner, store_objects
from connectors.sync.runner import BACKFILL_ORDER, WHOLE_HISTORY
from tests.accounts import NOW, connect
from tests.conftest import TEST_KEY, revoke_key

pytestmark = pytest.mark.django_db

ACTOR = Actor.command("tests")


@pytest.fixture(autouse=True)
def whole_history(settings):
    # The seeded account goes back further than the default year of history.
    settings.LUMEN_SYNC_HISTORY_DAYS = 3650


def store_objects_of(store, resource):
    return {o["id"]: o for o in store.objects(resource)}


# Fields Stripe changes without sending an event: only a re-read (sync --full) refreshes them.
WITHOUT_EVENTS = {"customers": {"next_invoice_sequence"}}


def comparable(resource, obj):
    return {k: v for k, v in obj.items() if k not in WITHOUT_EVENTS.get(resource, ())}


def assert_mirror_equals(store, connection):
    for resource in BACKFILL_ORDER:
        model = MIRROR_MODELS[resource]
        expected = store_objects_of(store, resource)
        mirrored = dict(model.objects.filter(connection=connection).values_list("stripe_id", "raw"))
        assert set(mirrored) == set(expected), resource
        for stripe_id, raw in mirrored.items():
            assert comparable(resource, raw) == comparable(resource, expected[stripe_id]), (
                f"{resource} {stripe_id} differs"
            )
    lines = MIRROR_MODELS["invoice_lines"].objects.filter(connection=connection)
    expected_lines = {
        line["id"]
        for invoice in store.objects("invoices")
        for line in store.invoice_lines(invoice["id"], {"limit": 100})["data"]
    }
    assert set(lines.values_list("stripe_id", flat=True)) == expected_lines
    balance = Balance.objects.get(connection=connection)
    assert balance.raw["available"] == store.balance["available"]
    assert_charges_know_their_invoices(store, connection)


def assert_charges_know_their_invoices(store, connection):
    """Each charge names the invoice it paid: charge -> payment intent -> invoice payment."""
    paid_by = {
        p["payment"]["payment_intent"]: p["invoice"]
        for p in store.objects("invoice_payments")
        if p["status"] != "canceled"
    }
    expected = {c["id"]: paid_by.get(c["payment_intent"], "") for c in store.objects("charges")}
    linked = dict(Charge.objects.filter(connection=connection).values_list("stripe_id", "invoice"))
    assert linked == expected
    assert any(expected.values()) and not all(expected.values())


def test_a_first_sync_mirrors_every_kind_exactly(connection, emulator):
    run = run_sync(connection, actor=ACTOR)
    assert run.status == SyncRun.Status.SUCCEEDED, run.message
    assert run.kind == SyncRun.Kind.BACKFILL
    assert run.errors == []
    assert_mirror_equals(emulator.store, connection)
    assert run.counts["charges"]["created"] == emulator.store.count("charges")
    connection.refresh_from_db()
    assert connection.data_as_of == run.started_at
    # Each window's checkpoint, saved with its last page, says so and when.
    windows = SyncCheckpoint.objects.filter(connection=connection, resource__in=BACKFILL_ORDER)
    assert {w.resource for w in windows} == set(BACKFILL_ORDER)
    for window in windows:
        assert window.done, window.resource
        assert run.started_at <= window.updated_at <= run.finished_at, window.resource
    charges = windows.get(resource="charges")
    assert charges.cursor == emulator.store.objects("charges")[-1]["id"]


def test_a_second_sync_changes_nothing(connection, emulator):
    run_sync(connection, actor=ACTOR)
    again = run_sync(connection, actor=ACTOR)
    assert again.status == SyncRun.Status.SUCCEEDED
    assert again.kind == SyncRun.Kind.INCREMENTAL
    assert again.totals()["created"] == 0 and again.totals()["updated"] == 0
    assert_mirror_equals(emulator.store, connection)


def test_a_second_sync_with_nothing_changed_asks_stripe_at_most_five_times(connection, emulator):
    run_sync(connection, actor=ACTOR)
    emulator.clear_log()
    again = run_sync(connection, actor=ACTOR)
    assert again.status == SyncRun.Status.SUCCEEDED, again.message
    asked = [entry.path for entry in emulator.request_log]
    assert again.api_calls == len(asked) <= 5, asked
    # Of the balance transactions (which have no events) it asks for those Stripe lists
    # before the newest it holds, and reads none: not even the others of the newest second.
    (asked_transactions,) = [
        e for e in emulator.request_log if e.path == "/v1/balance_transactions"
    ]
    newest = emulator.store.list("balance_transactions", {"limit": 1})["data"][0]["id"]
    assert asked_transactions.query["ending_before"] == newest
    assert "balance_transactions" not in again.counts


def test_a_newest_transaction_stripe_no_longer_knows_falls_back_to_a_read_by_date(
    connection, emulator
):
    run_sync(connection, actor=ACTOR)
    head = SyncCheckpoint.objects.get(connection=connection, resource=runner.NEWEST_TRANSACTION)
    SyncCheckpoint.objects.filter(pk=head.pk).update(cursor="txn_NotKnownToStripe00001")
    emulator.clear_log()

    again = run_sync(connection, actor=ACTOR)

    assert again.status == SyncRun.Status.SUCCEEDED, again.message
    assert again.counts["balance_transactions"]["fetched"] >= 1  # read by date instead
    head = SyncCheckpoint.objects.get(connection=connection, resource=runner.NEWEST_TRANSACTION)
    newest = emulator.store.list("balance_transactions", {"limit": 1})["data"][0]["id"]
    assert head.cursor == newest  # and the newest noted again
    assert_mirror_equals(emulator.store, connection)


@pytest.mark.skipif(db.vendor != "sqlite", reason="SQLite's planner")
def test_payouts_not_yet_linked_are_found_by_the_payout_index(connection, emulator):
    """A second run looks for automatic payouts that no transaction is linked to. Given the
    connection as well, SQLite walked the (connection, created) index for every payout: most
    of a second run's time on a big account."""
    run_sync(connection, actor=ACTOR)
    sync = runner.Sync(connection, ACTOR, None)
    seen = []

    def keep(execute, sql, params, many, context):
        seen.append((sql, params))
        return execute(sql, params, many, context)

    with db.execute_wrapper(keep):
        assert sync._never_linked() == set()  # the first sync linked every one
    ((sql, params),) = seen
    with db.cursor() as cursor:
        cursor.execute(f"EXPLAIN QUERY PLAN {sql}", params)
        plan = " ".join(row[-1] for row in cursor.fetchall())
    transactions = BalanceTransaction._meta.db_table
    assert f"SEARCH t USING INDEX {transactions}_payout" in plan, plan


def test_funds_that_became_available_are_read_again_however_old(connection, emulator):
    """Balance transactions have no events: the next sync reads again those the mirror
    holds as pending whose funds are available by now, and whatever is new."""
    run_sync(connection, actor=ACTOR)
    mirrored = BalanceTransaction.objects.filter(connection=connection)
    newest = mirrored.order_by("-created").first().created
    # One read a month before the newest, while it was pending (its funds due a day later).
    old = mirrored.filter(status="available", created__lt=newest - timedelta(days=30)).first()
    when_read = old.created + timedelta(days=1)
    mirrored.filter(pk=old.pk).update(
        status="pending",
        available_on=when_read,
        raw={**old.raw, "status": "pending", "available_on": int(when_read.timestamp())},
    )

    later = run_sync(connection, actor=ACTOR)

    assert later.status == SyncRun.Status.SUCCEEDED, later.message
    old.refresh_from_db()
    assert old.status == "available"
    assert_mirror_equals(emulator.store, connection)


@pytest.mark.skipif(db.vendor != "postgresql", reason="PostgreSQL's statistics")
def test_a_table_is_analyzed_only_while_its_statistics_count_too_few_rows(
    connection, emulator, monkeypatch
):
    monkeypatch.setattr(runner, "ANALYZE_FROM", 1)
    run_sync(connection, actor=ACTOR)
    charges = db.ops.quote_name(Charge._meta.db_table)
    with db.cursor() as cursor:
        cursor.execute(f"ANALYZE {charges}")  # as autovacuum would have by now
    known = Charge.objects.count()

    def analyzes_charges(created):
        """Whether a sync that has created `created` charges so far analyzes their table."""
        sync = runner.Sync(connect(f"other-{created}"), ACTOR, None)
        sync.run_row = SyncRun(counts={"charges": {"created": created}})
        statements = []

        def seen(execute, sql, params, many, context):
            statements.append(sql)
            return execute(sql, params, many, context)

        with db.execute_wrapper(seen):
            sync._keep_statistics()
        return f"ANALYZE {charges}" in statements

    # Statistics that count twice the rows it wrote plan its lookups as well as new ones.
    assert not analyzes_charges(known // 2)
    # Past that, they are stale enough to sample the table again.
    assert analyzes_charges(known // 2 + 1)


def paid_out_by(store, payout_id):
    """The ids of the balance transactions an automatic payout paid out, all pages of them."""
    params, ids = {"payout": payout_id, "limit": 100}, set()
    while True:
        page = store.list("balance_transactions", params)
        ids |= {t["id"] for t in page["data"]}
        if not page["has_more"]:
            return ids
        params["starting_after"] = page["data"][-1]["id"]


def assert_payouts_know_their_transactions(store, connection):
    for payout in store.objects("payouts"):
        if not payout["automatic"]:
            continue
        linked = BalanceTransaction.objects.filter(connection=connection, payout=payout["id"])
        assert set(linked.values_list("stripe_id", flat=True)) == paid_out_by(store, payout["id"])


def test_automatic_payouts_know_their_transactions(connection, emulator):
    run_sync(connection, actor=ACTOR)
    assert_payouts_know_their_transactions(emulator.store, connection)


def payouts_read_again_in_pages_of(size, connection, settings):
    """After a first sync, lists come in pages of `size`, and every payout's transactions
    are to be read again (as if no run had got to them)."""
    assert run_sync(connection, actor=ACTOR).status == SyncRun.Status.SUCCEEDED
    settings.STRIPE_PAGE_SIZE = size
    BalanceTransaction.objects.filter(connection=connection).update(payout="")


def test_a_payout_s_transactions_are_written_a_page_at_a_time(
    connection, emulator, settings, monkeypatch
):
    """A payout's list grows with the account (a week of its transactions): it is written a
    few pages at a time as they come, never the whole list at once."""
    monkeypatch.setattr(runner, "PAYOUT_PAGES", {db.vendor: 2})
    payouts_read_again_in_pages_of(3, connection, settings)
    store = emulator.store
    largest = max(
        len(paid_out_by(store, p["id"])) for p in store.objects("payouts") if p["automatic"]
    )
    assert largest > 2 * 3, "a payout must take more than two pages"
    written = []

    def stored(connection, resource, objects, observed_at, **kwargs):
        written.append(len(objects))
        return store_objects(connection, resource, objects, observed_at, **kwargs)

    monkeypatch.setattr(runner, "store_objects", stored)
    run = run_sync(connection, actor=ACTOR)

    assert run.status == SyncRun.Status.SUCCEEDED, run.message
    assert written and max(written) <= 2 * 3
    assert_payouts_know_their_transactions(store, connection)


def test_a_payout_read_in_part_is_read_again_by_the_next_run(
    connection, emulator, settings, monkeypatch
):
    """A run that stops between two parts of a payout's transactions leaves some of them
    linked; the next run, which sees no change to the payout, still reads it whole."""
    monkeypatch.setattr(runner, "PAYOUT_PAGES", {db.vendor: 1})
    payouts_read_again_in_pages_of(3, connection, settings)
    store = emulator.store
    automatic = [p["id"] for p in store.objects("payouts") if p["automatic"]]
    cut = max(automatic, key=lambda payout_id: len(paid_out_by(store, payout_id)))
    list_page = Door.list_page

    def failing(door, resource, **params):
        if params.get("payout") == cut and params.get("starting_after"):
            raise StripeUnavailable("Stripe did not answer (a test's fault).")
        return list_page(door, resource, **params)

    monkeypatch.setattr(Door, "list_page", failing)
    stopped = run_sync(connection, actor=ACTOR)
    assert stopped.status == SyncRun.Status.FAILED
    linked = BalanceTransaction.objects.filter(connection=connection, payout=cut).count()
    assert 0 < linked < len(paid_out_by(store, cut))

    monkeypatch.setattr(Door, "list_page", list_page)
    resumed = run_sync(connection, actor=ACTOR)

    assert resumed.status == SyncRun.Status.SUCCEEDED, resumed.message
    assert resumed.kind == SyncRun.Kind.INCREMENTAL
    assert_payouts_know_their_transactions(store, connection)
    assert not SyncCheckpoint.objects.filter(
        connection=connection, resource=runner.PAYOUT_COMPONENTS
    ).exists()


def test_faults_on_the_way_leave_the_mirror_exact(connection, emulator, settings):
    settings.STRIPE_PAGE_SIZE = 7  # many pages, so that every kind of fault occurs
    settings.STRIPE_MAX_RETRIES = 8
    emulator.faults = Faults(rate_429=0.10, rate_500=0.05, rate_drop=0.03, seed=5)
    run = run_sync(connection, actor=ACTOR)
    assert run.status == SyncRun.Status.SUCCEEDED, run.message
    outcomes = set(
        AuditEvent.objects.filter(origin=f"sync_run:{run.pk}").values_list("outcome", flat=True)
    )
    assert {"rate_limited", "server_error", "network_error"} <= outcomes
    emulator.faults = Faults()
    assert_mirror_equals(emulator.store, connection)


def test_a_revoked_key_stops_the_sync_cleanly(connection, emulator):
    revoke_key(emulator, TEST_KEY)
    run = run_sync(connection, actor=ACTOR)
    assert run.status == SyncRun.Status.FAILED
    assert "paste a new key" in run.message
    connection.refresh_from_db()
    assert connection.health == "failing"
    assert connection.sync_holder == ""  # the claim is released for the next run


@pytest.fixture
def make_emulator(settings):
    """An emulator of the test's own (its changes must not leak into other tests), seeded
    with an account whose present is `days_ago` days before the real one."""
    started = []

    def make(days_ago=0):
        store = EmulatorStore()
        seed_account(store, seed=3, now=int(time.time()) - days_ago * 86400)
        emulator = StripeEmulator(store, keys=[TEST_KEY]).start()
        started.append(emulator)
        settings.STRIPE_API_BASE = emulator.url
        return emulator

    yield make
    for emulator in started:
        emulator.stop()


@pytest.fixture
def own_emulator(make_emulator):
    return make_emulator()


def test_changes_after_a_sync_arrive_with_the_next_one(connection, own_emulator):
    emulator = own_emulator
    assert run_sync(connection, actor=ACTOR).status == SyncRun.Status.SUCCEEDED
    # Stripe's clock and ours agree: the changes happen after the first sync read.
    changes = AccountChanges(emulator.store, seed=1, clock=int(time.time()) + 1)
    store = emulator.store
    paid = next(
        c
        for c in store.objects("charges")
        if c["status"] == "succeeded" and not c["refunded"] and not c["disputed"]
    )
    active = [s for s in store.objects("subscriptions") if s["status"] == "active"]
    events = [
        *changes.new_charge(),
        *changes.refund(paid["id"], amount=paid["amount_captured"] // 2),
        *changes.upgrade_subscription(active[0]["id"]),
        *changes.cancel_subscription(active[1]["id"]),
        *changes.new_dispute(paid["id"]),
    ]

    second = run_sync(connection, actor=ACTOR)

    assert second.status == SyncRun.Status.SUCCEEDED, second.message
    assert second.kind == SyncRun.Kind.INCREMENTAL
    applied = AppliedEvent.objects.filter(connection=connection)
    assert set(applied.values_list("stripe_id", flat=True)) == {e["id"] for e in events}
    assert_mirror_equals(store, connection)
    third = run_sync(connection, actor=ACTOR)
    assert third.totals()["created"] == third.totals()["updated"] == 0


def test_funds_due_by_the_end_of_a_first_sync_are_read_again_before_it_ends(
    connection, own_emulator
):
    """A long first sync reads some funds while they are pending that are available by the
    time it ends: it reads them again, so that the mirror is exact as of its end and the
    next run has nothing to read again."""
    store = own_emulator.store
    changes = AccountChanges(store, seed=4)
    advanced = []

    def progress(run):
        # Stripe's clock moves on three days once the balance transactions are read.
        if run.current == "payouts" and not advanced:
            advanced.append(changes.advance(days=3))

    run = run_sync(connection, actor=ACTOR, progress=progress)

    assert run.status == SyncRun.Status.SUCCEEDED, run.message
    assert advanced, "the sync never reached the payouts"
    came_due = [e for e in advanced[0] if e["type"] == "balance.available"]
    assert came_due, "no funds came due: the test proves nothing"
    assert_mirror_equals(store, connection)
    own_emulator.clear_log()
    again = run_sync(connection, actor=ACTOR)
    assert again.api_calls == len(own_emulator.request_log) <= 5


def test_funds_due_by_our_clock_but_not_by_stripes_are_not_read_again(connection, make_emulator):
    """What is due is judged by Stripe's clock (the Date of its answers), not ours: an
    account whose clock is behind ours would otherwise have its pending funds read again
    at every run."""
    emulator = make_emulator(days_ago=5)
    store = emulator.store
    changes = AccountChanges(store, seed=5)
    changes.new_charge()
    changes.advance(hours=3)
    changes.new_charge()  # two charges three hours apart, their funds pending for days
    assert run_sync(connection, actor=ACTOR).status == SyncRun.Status.SUCCEEDED
    pending = BalanceTransaction.objects.filter(connection=connection, status="pending")
    due_by_ours = pending.filter(available_on__lte=timezone.now())
    newest = pending.order_by("-created").first().created
    assert due_by_ours.filter(created__lt=newest).exists(), "the test would prove nothing"
    emulator.clear_log()

    again = run_sync(connection, actor=ACTOR)

    assert again.status == SyncRun.Status.SUCCEEDED, again.message
    assert again.api_calls == len(emulator.request_log) <= 5
    # None is read again, as when the clocks agree.
    assert "balance_transactions" not in again.counts
    assert_mirror_equals(store, connection)


def test_a_cursor_older_than_stripe_keeps_events_falls_back_to_a_re_read(connection, make_emulator):
    emulator = make_emulator(days_ago=40)
    assert run_sync(connection, actor=ACTOR).status == SyncRun.Status.SUCCEEDED
    changes = AccountChanges(emulator.store, seed=2)
    changes.advance(days=40)  # the account's present is ours again; the cursor is 40 days old
    changes.new_charge()

    later = run_sync(connection, actor=ACTOR)

    assert later.status == SyncRun.Status.SUCCEEDED, later.message
    assert any("older than Stripe keeps events" in w for w in later.warnings)
    assert_mirror_equals(emulator.store, connection)


def test_a_malformed_object_is_an_error_and_the_rest_is_kept(connection, own_emulator):
    emulator = own_emulator
    good = emulator.store.objects("charges")[0]
    broken = {"id": "ch_broken0000000000000001", "object": "charge", "created": good["created"]}
    emulator.store.add(broken)
    run = run_sync(connection, actor=ACTOR)
    assert run.status == SyncRun.Status.SUCCEEDED
    (error,) = run.errors
    assert "charges ch_broken0000000000000001" in error
    mirrored = set(Charge.objects.filter(connection=connection).values_list("stripe_id", flat=True))
    assert mirrored == {c["id"] for c in emulator.store.objects("charges")} - {broken["id"]}


def test_a_second_sync_is_skipped_while_one_holds_the_connection(connection, emulator):
    assert lease.claim(connection)
    # Another process's claim: this one's name, as a live process elsewhere would have.
    StripeConnection.objects.filter(pk=connection.pk).update(sync_holder="elsewhere:1")
    emulator.clear_log()
    run = run_sync(connection, actor=ACTOR)
    assert run.status == SyncRun.Status.SKIPPED
    assert "elsewhere:1" in run.message
    assert emulator.request_log == []


def test_a_dead_holder_on_this_machine_is_taken_over(connection, emulator):
    dead = subprocess.run(
        [sys.executable, "-c", "import os; print(os.getpid())"], capture_output=True, text=True
    ).stdout.strip()
    StripeConnection.objects.filter(pk=connection.pk).update(
        sync_holder=f"{socket.gethostname()}:{dead}",
        sync_lease_until=timezone.now() + timedelta(hours=1),
    )
    run = run_sync(connection, actor=ACTOR)
    assert run.status == SyncRun.Status.SUCCEEDED


@pytest.mark.parametrize("charge_first", [True, False])
def test_a_charge_learns_its_invoice_whichever_arrives_first(connection, emulator, charge_first):
    store = emulator.store
    payment = next(p for p in store.objects("invoice_payments") if p["status"] == "paid")
    charge = next(
        c
        for c in store.objects("charges")
        if c["payment_intent"] == payment["payment"]["payment_intent"]
    )
    arrivals = [("charges", charge), ("invoice_payments", payment)]
    for resource, obj in arrivals if charge_first else arrivals[::-1]:
        with transaction.atomic():
            store_objects(connection, resource, [obj], timezone.now())
    assert (
        Charge.objects.get(connection=connection, stripe_id=charge["id"]).invoice
        == (payment["invoice"])
    )
    # A newer version of the charge (an event) keeps the link.
    with transaction.atomic():
        store_objects(connection, "charges", [{**charge, "description": "x"}], timezone.now())
    assert (
        Charge.objects.get(connection=connection, stripe_id=charge["id"]).invoice
        == (payment["invoice"])
    )


@pytest.mark.parametrize("charge_first", [True, False])
def test_a_charges_invoice_is_by_charge_first_then_by_intent_never_canceled_nor_anothers(
    connection, emulator, charge_first
):
    store = emulator.store
    template = next(p for p in store.objects("invoice_payments") if p["status"] == "paid")
    charge = {**store.objects("charges")[0], "id": "ch_linkrule", "payment_intent": "pi_linkrule"}

    def payment(suffix, invoice, status="paid", **paid_with):
        return {**template, "id": f"inpay_linkrule_{suffix}", "invoice": invoice,
                "status": status, "payment": {"type": "payment_intent", **paid_with}}  # fmt: skip

    by_intent = [
        payment("a", "in_linkrule_b", payment_intent="pi_linkrule"),
        payment("b", "in_linkrule_c", payment_intent="pi_linkrule"),
        payment("c", "in_linkrule_a", "canceled", payment_intent="pi_linkrule"),  # paid nothing
    ]
    by_charge = [payment("d", "in_linkrule_d", charge="ch_linkrule")]
    elsewhere = connect("elsewhere")
    theirs = payment("e", "in_linkrule_0", charge="ch_linkrule")
    with transaction.atomic():  # another account's, naming the same ids, comes first
        store_objects(elsewhere, "invoice_payments", [theirs], timezone.now())
        store_objects(elsewhere, "charges", [charge], timezone.now())

    def invoice():
        return Charge.objects.get(connection=connection, stripe_id="ch_linkrule").invoice

    arrivals = [("charges", [charge]), ("invoice_payments", by_intent)]
    for resource, objects in arrivals if charge_first else arrivals[::-1]:
        with transaction.atomic():
            store_objects(connection, resource, objects, timezone.now())
    assert invoice() == "in_linkrule_b"  # the first of the two by its intent
    with transaction.atomic():
        store_objects(connection, "invoice_payments", by_charge, timezone.now())
    assert invoice() == "in_linkrule_d"  # the payment naming the charge itself
    assert Charge.objects.get(connection=elsewhere, stripe_id="ch_linkrule").invoice == (
        "in_linkrule_0"
    )


def test_an_older_version_never_overwrites_a_newer_one(connection, emulator):
    charge = emulator.store.objects("charges")[0]
    seen = timezone.now()

    def store(description, at):
        version = {**charge, "description": description}
        with transaction.atomic():
            result = store_objects(connection, "charges", [version], at)
        stored = Charge.objects.get(connection=connection, stripe_id=charge["id"])
        return result.counts["charges"].as_dict(), stored.raw["description"], stored.observed_at

    assert store("newer", seen) == ({"fetched": 1, "created": 1, "updated": 0}, "newer", seen)
    earlier = seen - timedelta(minutes=5)
    assert store("older", earlier) == ({"fetched": 1, "created": 0, "updated": 0}, "newer", seen)
    # Read again unchanged: no update, but the stored version is known to hold later.
    later = seen + timedelta(minutes=1)
    assert store("newer", later) == ({"fetched": 1, "created": 0, "updated": 0}, "newer", later)
    assert store("older", seen) == ({"fetched": 1, "created": 0, "updated": 0}, "newer", later)
    latest = seen + timedelta(minutes=2)
    assert store("latest", latest) == ({"fetched": 1, "created": 0, "updated": 1}, "latest", latest)


def test_a_sqlite_too_old_to_write_pages_is_named(monkeypatch):
    monkeypatch.setattr(sqlite3, "sqlite_version_info", (3, 34, 1))
    monkeypatch.setattr(sqlite3, "sqlite_version", "3.34.1")
    errors = sqlite_writes_pages(None)
    if db.vendor != "sqlite":
        assert errors == []
        return
    (error,) = errors
    assert error.id == "connectors.E001" and "SQLite 3.34.1 is older than 3.35" in error.msg


def statements_of_storing(connection, resource, objects):
    statements = []

    def keep(execute, sql, params, many, context):
        statements.append(sql)
        return execute(sql, params, many, context)

    with transaction.atomic(), db.execute_wrapper(keep):
        store_objects(connection, resource, objects, timezone.now())
    return statements


def statements_to_store(connection, resource, objects):
    return len(statements_of_storing(connection, resource, objects))


def test_charges_are_written_once_with_the_invoices_they_paid(connection, emulator):
    """A page of charges whose invoice payments are stored is written with its invoices, not
    written and then updated: the second version of a row went into every index of the
    table again."""
    store = emulator.store
    statements_to_store(connection, "invoice_payments", store.objects("invoice_payments"))
    charges = Charge._meta.db_table
    written = statements_of_storing(connection, "charges", store.objects("charges"))
    assert not [sql for sql in written if sql.lstrip().startswith("UPDATE") and charges in sql]
    assert_charges_know_their_invoices(store, connection)


def test_a_payouts_transactions_are_linked_to_it_as_their_page_is_written(connection, emulator):
    """The transactions of a payout's list, most of them stored already and unchanged, get
    their payout and their later observation in one write of each row, not two; a row whose
    stored version is newer keeps its observation and still gets its payout."""
    transactions = emulator.store.objects("balance_transactions")[:30]
    first = timezone.now()
    with transaction.atomic():
        store_objects(connection, "balance_transactions", transactions[:20], first)
    newer = transactions[0]["id"]
    BalanceTransaction.objects.filter(connection=connection, stripe_id=newer).update(
        observed_at=first + timedelta(hours=1)
    )
    table = BalanceTransaction._meta.db_table
    statements = []

    def keep(execute, sql, params, many, context):
        statements.append(sql)
        return execute(sql, params, many, context)

    later = first + timedelta(minutes=1)
    with transaction.atomic(), db.execute_wrapper(keep):
        store_objects(
            connection, "balance_transactions", transactions, later, filled={"payout": "po_x"}
        )
    rows = BalanceTransaction.objects.filter(connection=connection)
    assert {r.stripe_id: r.payout for r in rows} == {t["id"]: "po_x" for t in transactions}
    assert {r.stripe_id for r in rows if r.observed_at == later} == {
        t["id"] for t in transactions[1:]
    }
    updates = [sql for sql in statements if sql.lstrip().startswith("UPDATE") and table in sql]
    assert len(updates) == 1


def test_a_page_is_written_in_as_many_statements_whatever_its_size(connection, emulator):
    """A statement per kind and page, never one per object: a page of 100 objects costs the
    statements of a page of 10, new or changed, with what comes inside them (invoice lines)
    and the links they complete (charges to their invoices)."""
    store = emulator.store
    # The invoice payments first, so that each charge below is linked to its invoice.
    statements_to_store(connection, "invoice_payments", store.objects("invoice_payments"))
    for resource in ("charges", "invoices", "payment_intents", "balance_transactions"):
        objects = store.objects(resource)
        few, many = objects[:10], objects[10:110]
        assert len(many) == 100
        assert statements_to_store(connection, resource, few) == statements_to_store(
            connection, resource, many
        ), f"new {resource}"
        changed = [{**o, "metadata": {"seen": "again"}} for o in objects[:110]]
        assert statements_to_store(connection, resource, changed[:10]) == statements_to_store(
            connection, resource, changed[10:]
        ), f"changed {resource}"
    statements_to_store(connection, "charges", store.objects("charges")[110:])
    assert_charges_know_their_invoices(store, connection)


def test_each_object_of_a_page_is_stored_as_it_came_whatever_its_text(connection, emulator):
    """On PostgreSQL a page's objects travel as one text, one after another between a
    control character, beside the document of their columns: each row must get its own
    object back, whatever the objects' strings hold (that very character among them)."""
    charges = emulator.store.objects("charges")[:5]
    odd = ["\x1e", "\x1e\x1e", "", '"],[{"id": "ch_not_me"}', "Café ☕ \\ \u2028 \x00 ok"]
    page = [
        {**charge, "description": text, "metadata": {"note\x1e": text}}
        for charge, text in zip(charges, odd, strict=True)
    ]
    with transaction.atomic():
        result = store_objects(connection, "charges", page, timezone.now())
    assert result.errors == []
    for obj in page:
        stored = Charge.objects.get(connection=connection, stripe_id=obj["id"])
        assert stored.raw == obj
        assert stored.amount == obj["amount"]


# How far back the first sync reads ------------------------------------------------------

MONEY_MOVEMENTS = [r for r in BACKFILL_ORDER if r not in WHOLE_HISTORY]


@pytest.fixture
def dated_emulator(settings, time_machine):
    """The seeded account served at a fixed date, with the clock pinned to it."""
    time_machine.move_to(NOW, tick=True)
    store = EmulatorStore()
    seed_account(store, seed=7, now=int(NOW.timestamp()))
    with StripeEmulator(store, keys=[TEST_KEY]) as emulator:
        settings.STRIPE_API_BASE = emulator.url
        yield emulator


@pytest.mark.parametrize("asked", ["LUMEN_SYNC_HISTORY_DAYS", "--since"])
def test_the_first_sync_reads_money_movements_back_to_the_bound_only(
    dated_emulator, settings, asked
):
    emulator, store = dated_emulator, dated_emulator.store
    connection = connect("acme")
    if asked == "--since":
        bound = datetime(2026, 10, 1, tzinfo=UTC)
        out = io.StringIO()
        call_command("sync", "acme", "--since", "2026-10-01", "--json", stdout=out)
        assert json.loads(out.getvalue())["status"] == "succeeded"
    else:
        settings.LUMEN_SYNC_HISTORY_DAYS = 30
        run = run_sync(connection, actor=ACTOR)
        assert run.status == SyncRun.Status.SUCCEEDED, run.message
        bound = run.started_at - timedelta(days=30)
    bound = int(bound.timestamp())

    # What was asked of Stripe: each list of money movements from the bound, none earlier.
    for resource in MONEY_MOVEMENTS:
        asked_from = [
            int(r.query["created[gte]"])
            for r in emulator.request_log
            if r.path == f"/v1/{resource}" and "payout" not in r.query
        ]
        assert asked_from and min(asked_from) == bound, resource
    listed = AuditEvent.objects.filter(
        resource_type__in=MONEY_MOVEMENTS, operation="list", path__startswith="/v1/"
    ).exclude(params__has_key="payout")
    assert {int(e.date_from.timestamp()) for e in listed} >= {bound}
    assert min(int(e.date_from.timestamp()) for e in listed) == bound

    # What landed in the mirror: exactly what was created since the bound (and, of balance
    # transactions, also those a payout since the bound paid out).
    for resource in MONEY_MOVEMENTS:
        everything = store.objects(resource)
        since = {o["id"] for o in everything if o["created"] >= bound}
        assert since and len(since) < len(everything), f"{resource}: the bound must cut"
        mirrored = set(
            MIRROR_MODELS[resource]
            .objects.filter(connection=connection)
            .values_list("stripe_id", flat=True)
        )
        if resource == "balance_transactions":
            paid_out = set(
                BalanceTransaction.objects.filter(connection=connection)
                .exclude(payout="")
                .values_list("stripe_id", flat=True)
            )
            assert mirrored - paid_out == since - paid_out, resource
        else:
            assert mirrored == since, resource
    # What describes the account's present is read whatever its age.
    invoices = MIRROR_MODELS["invoices"].objects.filter(connection=connection)
    assert invoices.count() == len(store.objects("invoices"))
    assert invoices.filter(created__lt=datetime.fromtimestamp(bound, tz=UTC)).exists()


@pytest.mark.skipif(db.vendor != "postgresql", reason="PostgreSQL's compression")
def test_the_mirrors_objects_are_compressed_with_lz4_on_postgresql():
    with db.cursor() as cursor:
        cursor.execute(
            "SELECT c.relname, a.attcompression FROM pg_attribute a "
            "JOIN pg_class c ON c.oid = a.attrelid "
            "WHERE a.attname = 'raw' AND c.relname LIKE 'connectors%%' AND c.relkind = 'r'"
        )
        compression = dict(cursor.fetchall())
    assert {m._meta.db_table for m in MIRROR_MODELS.values()} <= set(compression)
    assert set(compression.values()) == {"l"}


def test_the_garbage_collector_is_held_back_while_a_sync_runs_and_given_back_after(
    connection, emulator
):
    """A page parsed is thousands of containers in no cycle: while a sync runs, the cyclic
    collector's first threshold is raised so that it does not walk them again and again
    (connectors.sync.garbage). It is given back when the sync ends, however it ends."""
    before = gc.get_threshold()
    during = []

    def progress(run):
        during.append(gc.get_threshold())

    run = run_sync(connection, actor=ACTOR, progress=progress)
    assert run.status == SyncRun.Status.SUCCEEDED, run.message
    assert during, "the sync reported no progress: the test proves nothing"
    assert {t[0] for t in during} == {max(garbage.THRESHOLD, before[0])}
    assert {t[1:] for t in during} == {before[1:]}
    assert gc.get_threshold() == before

    def fails(run):
        raise RuntimeError("the progress callback failed")

    with pytest.raises(RuntimeError, match="callback failed"):
        run_sync(connection, actor=ACTOR, full=True, progress=fails)
    assert gc.get_threshold() == before


def test_the_garbage_collector_is_given_back_when_the_last_sync_of_a_process_ends():
    """Two syncs in threads of one process: the first to end leaves the threshold raised
    for the other, the last gives back the one from before either."""
    before = gc.get_threshold()
    # An ExitStack, so that a failing assertion does not leave the threshold raised for the
    # tests after this one.
    with contextlib.ExitStack() as second:
        with garbage.fewer_collections():
            second.enter_context(garbage.fewer_collections())
        assert gc.get_threshold()[0] == max(garbage.THRESHOLD, before[0])
    assert gc.get_threshold() == before
