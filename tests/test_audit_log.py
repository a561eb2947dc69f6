"""The audit log is append-only, and an edit made behind the application's back is found."""

import json
import subprocess
import sys
import time
from datetime import UTC, datetime, timedelta, timezone

import pytest
from django.db import DatabaseError, connection, transaction

from audit.models import GENESIS_HASH, AppendOnlyError, AuditEvent
from audit.recorder import Actor, record, record_many
from tests.audit_fixtures import (
    behind_the_apps_back,
    day,
    event_at,
    keyed_hash,
    legacy_hash,
    rewrite_chain,
    stored_rows,
    verify,
)
from tests.worker import ROOT, child_env

pytestmark = pytest.mark.django_db


def message_of(event):
    return AuditEvent.objects.values_list("message", flat=True).get(pk=event.pk)


# The application refuses ------------------------------------------------------------------


def test_it_refuses_to_save_a_changed_event(three):
    event = AuditEvent.objects.get(pk=three[0].pk)
    event.message = "rewritten"
    with pytest.raises(AppendOnlyError):
        event.save()
    assert message_of(event) == ""


def test_it_refuses_to_delete_an_event(three):
    with pytest.raises(AppendOnlyError):
        three[0].delete()
    assert AuditEvent.objects.count() == 3


def test_it_refuses_queryset_update_and_delete(three):
    with pytest.raises(AppendOnlyError):
        AuditEvent.objects.filter(pk=three[0].pk).update(message="rewritten")
    with pytest.raises(AppendOnlyError):
        AuditEvent.objects.all().delete()
    # bulk_update fails inside its own transaction; a savepoint keeps the test's usable.
    with pytest.raises(AppendOnlyError), transaction.atomic():
        AuditEvent.objects.bulk_update(three, ["message"])
    assert AuditEvent.objects.count() == 3
    assert message_of(three[0]) == ""


def test_it_refuses_bulk_create_which_would_skip_the_chain(db):
    with pytest.raises(AppendOnlyError):
        AuditEvent.objects.bulk_create([AuditEvent(occurred_at=day(1), operation="list")])
    assert AuditEvent.objects.count() == 0


# The database refuses (PostgreSQL and SQLite) ------------------------------------------------


def test_events_appended_together_are_chained_in_order_with_those_before_and_after(db, settings):
    actor = Actor.command("tests")
    first = record(actor=actor, operation="list", path="/v1/charges")
    several = record_many(
        [
            {"actor": actor, "operation": "list", "path": f"/v1/{kind}", "occurred_at": day(2)}
            for kind in ("customers", "invoices", "payouts")
        ]
    )
    last = record(actor=actor, operation="retrieve", path="/v1/balance")
    rows = stored_rows()
    assert [r["path"] for r in rows] == [
        "/v1/charges", "/v1/customers", "/v1/invoices", "/v1/payouts", "/v1/balance",
    ]  # fmt: skip
    assert [e.pk for e in (first, *several, last)] == [r["id"] for r in rows]
    previous = GENESIS_HASH
    for row in rows:
        assert row["chain_hash"] == keyed_hash(previous, row, settings.AUDIT_CHAIN_KEY)
        previous = row["chain_hash"]
    assert verify()[0] == 0
    assert record_many([]) == []
    # Only events chained by the recorder go in that way.
    with pytest.raises(AppendOnlyError):
        AuditEvent.objects.append_chained([AuditEvent(occurred_at=day(1), operation="list")])
    assert AuditEvent.objects.count() == 5


def test_it_refuses_a_raw_sql_update(three):
    refused = pytest.raises(DatabaseError, match="audit events are append-only")
    with refused, transaction.atomic(), connection.cursor() as cursor:
        cursor.execute("UPDATE audit_auditevent SET message = 'x' WHERE id = %s", [three[0].pk])
    assert message_of(three[0]) == ""


def test_it_refuses_a_raw_sql_delete(three):
    refused = pytest.raises(DatabaseError, match="audit events are append-only")
    with refused, transaction.atomic(), connection.cursor() as cursor:
        cursor.execute("DELETE FROM audit_auditevent WHERE id = %s", [three[1].pk])
    assert AuditEvent.objects.count() == 3


# The chain ------------------------------------------------------------------------------------


def test_each_stored_link_is_the_keyed_hash_of_its_row_and_the_link_before(three, settings):
    # Computed here from what the database holds, not by the model that wrote the links.
    rows = stored_rows()
    previous = GENESIS_HASH
    for row in rows:
        assert row["chain_hash"] == keyed_hash(previous, row, settings.AUDIT_CHAIN_KEY)
        assert row["chain_hash"] != legacy_hash(previous, row)  # keyed, not plain SHA-256
        previous = row["chain_hash"]
    assert len({row["chain_hash"] for row in rows}) == 3


def test_it_reports_an_intact_chain(three, audit_anchor_file):
    assert verify() == (
        0,
        f"audit chain intact: 3 events; no anchors in {audit_anchor_file}, so the removal of "
        f"the newest events cannot be found (audit_verify --anchor writes one)\n",
    )
    status, out = verify("--json")
    assert status == 0
    assert json.loads(out) == {
        "intact": True,
        "events": 3,
        "first_broken": None,
        "reason": None,
        "anchors_checked": 0,
        "anchor_file": str(audit_anchor_file),
        "anchor_file_missing": True,
    }


def test_it_reports_an_empty_log_as_intact(db):
    assert verify() == (0, "audit chain intact: 0 events\n")


def test_it_finds_a_row_edited_with_raw_sql(three):
    with behind_the_apps_back() as cursor:
        cursor.execute("UPDATE audit_auditevent SET object_count = 99 WHERE id = %s", [three[1].pk])
    status, out = verify()
    assert status == 1
    assert out.startswith(f"audit chain BROKEN at event #{three[1].pk}: ")
    status, out = verify("--json")
    assert status == 1
    assert json.loads(out) | {"anchor_file": None} == {
        "intact": False,
        "events": 3,
        "first_broken": three[1].pk,
        "reason": "its content or its predecessor changed after it was written",
        "anchors_checked": 0,
        "anchor_file": None,
        "anchor_file_missing": True,
    }


def test_it_finds_a_rehashed_row_by_its_successor(three):
    # Even with the key, whoever edits a row and recomputes its link breaks the next one.
    edited = AuditEvent.objects.get(pk=three[1].pk)
    edited.object_count = 99
    with behind_the_apps_back() as cursor:
        cursor.execute(
            "UPDATE audit_auditevent SET object_count = 99, chain_hash = %s WHERE id = %s",
            [edited.compute_hash(three[0].chain_hash), edited.pk],
        )
    status, out = verify()
    assert (status, out.split(":")[0]) == (1, f"audit chain BROKEN at event #{three[2].pk}")


def test_it_finds_a_row_edited_and_every_later_hash_recomputed(three):
    # A database superuser edits a row and recomputes the chain from there, as the plain
    # SHA-256 chain allowed anyone to: without AUDIT_CHAIN_KEY the new hashes do not fit.
    with behind_the_apps_back() as cursor:
        cursor.execute("UPDATE audit_auditevent SET object_count = 99 WHERE id = %s", [three[1].pk])
    first, *later = stored_rows()
    rewrite_chain(later, legacy_hash, previous_hash=first["chain_hash"])
    status, out = verify()
    assert (status, out.split(":")[0]) == (1, f"audit chain BROKEN at event #{three[1].pk}")


def test_it_finds_a_chain_recomputed_under_another_key(three):
    with behind_the_apps_back() as cursor:
        cursor.execute("UPDATE audit_auditevent SET object_count = 99 WHERE id = %s", [three[1].pk])
    rewrite_chain(stored_rows(), lambda previous, row: keyed_hash(previous, row, "a guess"))
    status, out = verify()
    assert (status, out.split(":")[0]) == (1, f"audit chain BROKEN at event #{three[0].pk}")


def test_it_finds_an_edited_host(db):
    event = event_at(day(1), method="GET", path="/v1/charges", host="api.stripe.com")
    with behind_the_apps_back() as cursor:
        cursor.execute(
            "UPDATE audit_auditevent SET host = 'evil.example' WHERE id = %s", [event.pk]
        )
    status, out = verify()
    assert (status, out.split(":")[0]) == (1, f"audit chain BROKEN at event #{event.pk}")


def test_it_finds_a_deleted_middle_row(three):
    with behind_the_apps_back() as cursor:
        cursor.execute("DELETE FROM audit_auditevent WHERE id = %s", [three[1].pk])
    status, out = verify("--json")
    assert status == 1
    assert json.loads(out)["events"] == 2
    assert json.loads(out)["first_broken"] == three[2].pk


def test_it_keeps_the_chain_for_values_the_database_normalises(db):
    # What the caller passed and what the database gives back differ; the hash must not.
    paris = timezone(timedelta(hours=1))
    record(
        actor=Actor.command("tests"),
        operation="list",
        duration_ms=12.7,  # stored as 12
        http_status="200",  # stored as 200
        date_from=datetime(2025, 1, 1, 1, 0, tzinfo=paris),  # read back as 00:00 UTC
        date_to=1735776000,  # a Unix timestamp, as Stripe filters carry
        params={"limit": 100, "created": (1, 2), 3: "three"},  # tuple and int key
    )
    event = AuditEvent.objects.get()
    assert (event.duration_ms, event.http_status) == (12, 200)
    assert event.date_from == datetime(2025, 1, 1, tzinfo=UTC)
    assert verify()[1].startswith("audit chain intact: 1 events;")


# Concurrent writers -----------------------------------------------------------------------------

WRITER = """
import os, sys, time
from pathlib import Path
from audit.recorder import Actor, record, record_many
folder = Path(sys.argv[1])
(folder / f"ready-{os.getpid()}").touch()
deadline = time.monotonic() + 60
while not (folder / "go").exists() and time.monotonic() < deadline:
    time.sleep(0.01)
for n in range(100):
    record(actor=Actor.command(f"writer-{os.getpid()}"), operation="list", object_count=n)
"""


@pytest.mark.django_db(transaction=True)
def test_writers_in_several_processes_make_one_unbroken_chain(tmp_path):
    script = tmp_path / "writer.py"
    script.write_text(WRITER)
    code = f"import sys; sys.argv[1:] = [{str(tmp_path)!r}]; exec(open({str(script)!r}).read())"
    writers = [
        subprocess.Popen(
            [sys.executable, "manage.py", "shell", "-c", code],
            cwd=ROOT,
            env=child_env(),
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
        )
        for _ in range(3)
    ]
    deadline = time.monotonic() + 60
    while len(list(tmp_path.glob("ready-*"))) < 3 and time.monotonic() < deadline:
        time.sleep(0.01)
    (tmp_path / "go").touch()  # all at once, so that they contend for the head
    for writer in writers:
        output, _ = writer.communicate(timeout=120)
        assert writer.returncode == 0, output
    assert AuditEvent.objects.count() == 300
    assert verify()[1].startswith("audit chain intact: 300 events")
