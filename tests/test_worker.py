"""Tasks run in a real Celery worker process, against the same database and broker that
production would use (SQLite and SQLAlchemy on the defaults, PostgreSQL and Redis in CI)."""

import importlib
import uuid
from datetime import timedelta

import pytest
from django.apps import apps as django_apps
from django.db import connection as db
from django.utils import timezone
from django_celery_beat.models import PeriodicTask
from django_celery_results.models import TaskResult

from audit.models import AuditEvent
from audit.recorder import Actor
from connectors import connections
from connectors.models import StripeConnection
from connectors.tasks import verify_connection
from tests.conftest import TEST_KEY, revoke_key
from tests.test_key_never_leaks import assert_clean
from tests.worker import beat_and_worker_until, celery_worker

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
    # The task as the result backend keeps it (arguments, result, worker...): the key is in
    # no column of any row.
    rows = task_results()
    assert any(row["task_id"] == result.id and str(conn.pk) in row["task_args"] for row in rows)
    for row in rows:
        for column, value in row.items():
            assert_clean(str(value), f"django_celery_results_taskresult.{column}")


def task_results():
    with db.cursor() as cursor:
        cursor.execute(f"SELECT * FROM {TaskResult._meta.db_table}")
        names = [c[0] for c in cursor.description]
        return [dict(zip(names, row, strict=True)) for row in cursor.fetchall()]


def test_the_worker_reports_a_revoked_key(emulator, alice):
    conn = StripeConnection(name="acme")
    connections.save_key(conn, TEST_KEY, actor=Actor.user(alice))
    revoke_key(emulator, TEST_KEY)

    with celery_worker() as queue:
        outcome = verify_connection.apply_async(args=[conn.pk], queue=queue).get(timeout=120)

    assert outcome["ok"] is False and "paste a new key" in outcome["message"]
    conn.refresh_from_db()
    assert conn.health == "failing"


def test_beat_runs_the_hourly_check_and_it_flips_a_revoked_key_to_failing(emulator, alice):
    """Celery beat (django-celery-beat's scheduler) and a worker, in this process, on the
    broker the suite runs with (Redis in CI)."""
    conn = StripeConnection(name="acme")
    connections.save_key(conn, TEST_KEY, actor=Actor.user(alice))
    assert connections.verify(conn, actor=Actor.user(alice)).ok
    revoke_key(emulator, TEST_KEY)  # in Stripe's dashboard; Lumen has not asked since

    # The schedule as connectors/migrations/0002 makes it (again, if a test before this one
    # flushed the database).
    schedule = importlib.import_module("connectors.migrations.0002_check_connections_schedule")
    schedule.create_schedule(django_apps, None)
    check = PeriodicTask.objects.get(name=schedule.NAME)
    assert (check.interval.every, check.interval.period, check.enabled) == (1, "hours", True)
    queue = f"lumen-tests-{uuid.uuid4().hex[:8]}"
    # Only the schedule under test fires, and it last ran over an hour ago: due at once.
    PeriodicTask.objects.exclude(pk=check.pk).update(enabled=False)
    PeriodicTask.objects.filter(pk=check.pk).update(
        queue=queue, last_run_at=timezone.now() - timedelta(hours=1, minutes=1)
    )

    def failing():
        conn.refresh_from_db()
        return conn.health == "failing"

    beat_and_worker_until(queue, failing)

    assert conn.health == "failing" and "revoked or rotated" in conn.health_reason
    checked = AuditEvent.objects.filter(connection_id=conn.pk, actor=schedule.NAME)
    assert checked.filter(actor_kind="schedule", http_status=401).exists()
