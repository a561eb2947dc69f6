"""The sync in the admin: polling schedules per connection, "Sync now", and the runs."""

import json

import pytest
from django.urls import reverse
from django_celery_beat.models import PeriodicTask

from connectors.models import SyncRun

CHANGE = "admin:connectors_stripeconnection_change"


@pytest.fixture
def staff_client(client, alice):
    client.force_login(alice)
    return client


def test_a_sync_interval_creates_and_edits_the_schedule(staff_client, connection):
    url = reverse(CHANGE, args=[connection.pk])
    staff_client.post(url, {"name": "acme", "key": "", "sync_interval_minutes": "15"})
    task = PeriodicTask.objects.get(task="connectors.tasks.sync_connection")
    assert task.enabled and json.loads(task.args) == [connection.pk]
    assert (task.interval.every, task.interval.period) == (15, "minutes")

    staff_client.post(url, {"name": "acme", "key": "", "sync_interval_minutes": "60"})
    task.refresh_from_db()
    assert task.interval.every == 60
    staff_client.post(url, {"name": "acme", "key": "", "sync_interval_minutes": "0"})
    task.refresh_from_db()
    assert not task.enabled
    assert PeriodicTask.objects.filter(task="connectors.tasks.sync_connection").count() == 1


def test_a_bad_interval_is_refused(staff_client, connection):
    url = reverse(CHANGE, args=[connection.pk])
    r = staff_client.post(url, {"name": "acme", "key": "", "sync_interval_minutes": "-5"})
    assert r.status_code == 200 and "greater than or equal to 0" in r.content.decode()
    assert not PeriodicTask.objects.filter(task="connectors.tasks.sync_connection").exists()


def test_sync_now_runs_and_the_run_shows_what_it_did(
    staff_client, connection, settings, after_commit
):
    settings.LUMEN_SYNC_HISTORY_DAYS = 3650
    with after_commit():
        staff_client.post(
            reverse("admin:connectors_stripeconnection_changelist"),
            {"action": "sync_selected", "_selected_action": [connection.pk]},
        )
    run = SyncRun.objects.get(connection=connection)
    assert run.status == "succeeded"
    assert (run.actor_kind, run.actor) == ("user", "alice")
    page = staff_client.get(reverse("admin:connectors_syncrun_changelist")).content.decode()
    assert f"{run.totals()['fetched']:,} read" in page
    detail = staff_client.get(reverse("admin:connectors_syncrun_change", args=[run.pk]))
    assert "charges" in detail.content.decode()
