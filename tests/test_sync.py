"""The mirror: a sync leaves it equal to the account, object for object, and keeps it so."""

import pytest

from audit.recorder import Actor
from connectors.models import MIRROR_MODELS, Balance, BalanceTransaction, SyncRun
from connectors.sync import run_sync
from connectors.sync.runner import BACKFILL_ORDER

pytestmark = pytest.mark.django_db

ACTOR = Actor.command("tests")


@pytest.fixture(autouse=True)
def whole_history(settings):
    # The seeded account goes back further than the default year of history.
    settings.LUMEN_SYNC_HISTORY_DAYS = 3650


def store_objects_of(store, resource):
    return {o["id"]: o for o in store.objects(resource)}


def assert_mirror_equals(store, connection):
    for resource in BACKFILL_ORDER:
        model = MIRROR_MODELS[resource]
        expected = store_objects_of(store, resource)
        mirrored = dict(model.objects.filter(connection=connection).values_list("stripe_id", "raw"))
        assert set(mirrored) == set(expected), resource
        for stripe_id, raw in mirrored.items():
            assert raw == expected[stripe_id], f"{resource} {stripe_id} differs"
    lines = MIRROR_MODELS["invoice_lines"].objects.filter(connection=connection)
    expected_lines = {
        line["id"]
        for invoice in store.objects("invoices")
        for line in store.invoice_lines(invoice["id"], {"limit": 100})["data"]
    }
    assert set(lines.values_list("stripe_id", flat=True)) == expected_lines
    balance = Balance.objects.get(connection=connection)
    assert balance.raw["available"] == store.balance["available"]


def test_a_first_sync_mirrors_every_kind_exactly(connection, emulator):
    run = run_sync(connection, actor=ACTOR)
    assert run.status == SyncRun.Status.SUCCEEDED, run.message
    assert run.kind == SyncRun.Kind.BACKFILL
    assert run.errors == []
    assert_mirror_equals(emulator.store, connection)
    assert run.counts["charges"]["created"] == emulator.store.count("charges")
    connection.refresh_from_db()
    assert connection.data_as_of == run.started_at


def test_a_second_sync_changes_nothing(connection, emulator):
    run_sync(connection, actor=ACTOR)
    again = run_sync(connection, actor=ACTOR)
    assert again.status == SyncRun.Status.SUCCEEDED
    assert again.kind == SyncRun.Kind.INCREMENTAL
    assert again.totals()["created"] == 0 and again.totals()["updated"] == 0
    assert_mirror_equals(emulator.store, connection)


def test_automatic_payouts_know_their_transactions(connection, emulator):
    run_sync(connection, actor=ACTOR)
    for payout in emulator.store.objects("payouts"):
        if not payout["automatic"]:
            continue
        page = emulator.store.list("balance_transactions", {"payout": payout["id"], "limit": 100})
        expected = {t["id"] for t in page["data"]}
        linked = BalanceTransaction.objects.filter(connection=connection, payout=payout["id"])
        assert set(linked.values_list("stripe_id", flat=True)) == expected
