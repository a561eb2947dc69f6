"""Upgrading a log written with the plain SHA-256 chain: the migration re-keys it under
AUDIT_CHAIN_KEY, and audit_verify passes on the honest upgraded log; a log whose old chain
was already broken is refused, unchanged."""

from datetime import UTC, datetime
from io import StringIO

import pytest
from django.core.management import call_command

from tests.audit_fixtures import (
    KEYED_FIELDS,
    behind_the_apps_back,
    keyed_hash,
    legacy_hash,
    stored_rows,
)
from tests.upgrades import migrate

pytestmark = pytest.mark.django_db(transaction=True)

BEFORE = ("audit", "0003_auditevent_host")


def legacy_log(apps, count, break_at=None):
    """Write `count` events as Lumen wrote them before the chain was keyed; return their ids."""
    AuditEvent = apps.get_model("audit", "AuditEvent")
    previous, ids = "0" * 64, []
    for n in range(1, count + 1):
        row = dict.fromkeys(KEYED_FIELDS, "") | {
            "occurred_at": datetime(2025, 1, n, 12, 0, 0, 123456, tzinfo=UTC),
            "actor_kind": "schedule",
            "actor": "nightly",
            "connection_id": 7,
            "operation": "list",
            "method": "GET",
            "path": "/v1/charges",
            "date_from": datetime(2025, 1, 1, tzinfo=UTC),
            "date_to": None,
            "params": {"limit": 100, "created": {"gte": 1735689600}},
            "outcome": "ok",
            "http_status": 200,
            "duration_ms": 40 + n,
            "object_count": 100,
            "attempt": 1,
            "host": "api.stripe.com",
        }
        link = legacy_hash(previous, row)
        if n == break_at:
            row["object_count"] = 99  # edited after its link was computed
        ids.append(AuditEvent.objects.create(chain_hash=link, **row).pk)
        previous = link
    return ids


def verify():
    out = StringIO()
    try:
        call_command("audit_verify", stdout=out)
    except SystemExit as e:
        return e.code, out.getvalue()
    return 0, out.getvalue()


def test_an_upgraded_log_is_rekeyed_and_verifies(settings):
    ids = legacy_log(migrate(BEFORE), 3)
    old_head = stored_rows()[-1]["chain_hash"]

    migrate()

    assert verify()[1].startswith("audit chain intact: 4 events")
    rows = stored_rows()
    assert [row["id"] for row in rows[:3]] == ids
    previous = "0" * 64
    for row in rows:
        assert row["chain_hash"] == keyed_hash(previous, row, settings.AUDIT_CHAIN_KEY)
        previous = row["chain_hash"]
    note = rows[3]
    assert (note["actor_kind"], note["actor"], note["operation"]) == (
        "system",
        "migrate",
        "audit.rekeyed",
    )
    assert note["params"] == {"events": 3, "sha256_head": old_head}


def test_a_log_whose_old_chain_is_broken_is_not_rekeyed(settings):
    ids = legacy_log(migrate(BEFORE), 3, break_at=2)
    before = stored_rows()
    try:
        with pytest.raises(RuntimeError, match=f"The audit chain is broken at event #{ids[1]}"):
            migrate()
        assert stored_rows() == before
    finally:
        with behind_the_apps_back() as cursor:
            cursor.execute("DELETE FROM audit_auditevent")
        migrate()


def test_an_empty_log_upgrades_to_an_empty_log(db):
    migrate(BEFORE)
    migrate()
    assert verify() == (0, "audit chain intact: 0 events\n")
