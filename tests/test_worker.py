"""Tasks run in a real Celery worker process, against the same database and broker that
production would use (SQLite and SQLAlchemy on the defaults, PostgreSQL and Redis in CI)."""

import pytest

from audit.models import AuditEvent
from audit.recorder import Actor
from connectors import connections
from connectors.models import StripeConnection
from connectors.tasks import verify_connection
from tests.conftest import TEST_KEY, revoke_key
from tests.worker import celery_worker

pytestmark = [pytest.mark.worker, pytest.mark.django_db(transaction=True)]


def test_a_worker_verifies_a_connection_by_its_id(emulator, alice):
    conn = StripeConnection(name="acme")
    connections.save_key(conn, TEST_KEY, actor=Actor.user(alice))
    assert conn.health == "unverified"
    emulator.clear_log()

    with celery_worker() as queue:
        result = verify_connection.apply_async(args=[conn.pk, alice.pk], queue=queue)
        outcome = result.get(timeout=120)

    assert outcome["ok"] is True and outcome["connection"] == "acme"
    conn.refresh_from_db()
    assert conn.health == "ok" and conn.account_id.startswith("acct_")
    calls = AuditEvent.objects.filter(method="GET", connection_id=conn.pk)
    assert calls.count() == len(emulator.request_log) > 0
    # Who asked is looked up from the user's id, never taken from the message as a name.
    assert set(calls.values_list("actor_kind", "actor")) == {("user", "alice")}
    assert set(calls.values_list("origin", flat=True)) == {f"task:verify_connection:{conn.pk}"}
    # The task's arguments, as the broker and the result backend hold them, are ids only.
    assert TEST_KEY not in repr(result.args) + repr(result.kwargs)


def test_the_worker_reports_a_revoked_key(emulator, alice):
    conn = StripeConnection(name="acme")
    connections.save_key(conn, TEST_KEY, actor=Actor.user(alice))
    revoke_key(emulator, TEST_KEY)

    with celery_worker() as queue:
        outcome = verify_connection.apply_async(args=[conn.pk], queue=queue).get(timeout=120)

    assert outcome["ok"] is False and "paste a new key" in outcome["message"]
    conn.refresh_from_db()
    assert conn.health == "failing"
