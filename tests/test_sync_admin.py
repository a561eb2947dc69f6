"""The sync in the admin: polling schedules per connection, "Sync now", and the runs."""

import json
import re
from datetime import timedelta
from html import unescape

import pytest
from django.db import IntegrityError, transaction
from django.urls import reverse
from django.utils import timezone
from django_celery_beat.models import PeriodicTask

from audit.models import AuditEvent
from audit.recorder import Actor, record
from connectors import connections
from connectors.models import StripeConnection, SyncRun
from connectors.sync import run_sync
from tests.conftest import TEST_KEY, member

CHANGE = "admin:connectors_stripeconnection_change"
ACTOR = Actor.command("tests")


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


# Runs numbered per connection, and linked to their calls on the audit log ------------------


def test_runs_are_numbered_per_connection(staff_client, connection, emulator, alice):
    first = run_sync(connection, actor=ACTOR)
    # A second sync while another process holds the connection is skipped, and numbered too.
    StripeConnection.objects.filter(pk=connection.pk).update(
        sync_holder="elsewhere:1", sync_lease_until=timezone.now() + timedelta(hours=1)
    )
    skipped = run_sync(connection, actor=ACTOR)
    globex = StripeConnection(name="globex", created_by=alice)
    connections.save_key(globex, TEST_KEY, actor=Actor.user(alice))
    other = run_sync(globex, actor=ACTOR)

    assert [first.number, skipped.number, other.number] == [1, 2, 1]
    assert (str(first), str(skipped), str(other)) == (
        "#1 of acme (backfill)",
        "#2 of acme (incremental)",
        "#1 of globex (backfill)",
    )
    page = staff_client.get(reverse("admin:connectors_syncrun_changelist")).content.decode()
    for label in ("#1 of acme (backfill)", "#2 of acme (incremental)", "#1 of globex (backfill)"):
        assert label in page
    thead = re.search(r'<table id="result_list">.*?</thead>', page, re.DOTALL)[0]
    headers = [
        " ".join(re.sub(r"<[^>]+>", " ", th).split())
        for th in re.findall(r'<th scope="col"[^>]*>(.*?)</th>', thead, re.DOTALL)
    ]
    assert headers == ["Sync run", "Status", "Started at", "Duration", "Progress", "API calls",
                       "Errors"]  # fmt: skip
    assert '<span class="lumen-badge lumen-good">Succeeded</span>' in page


def test_a_number_is_never_taken_twice(connection):
    SyncRun.objects.create(connection=connection, kind="backfill", actor_kind="user")
    with pytest.raises(IntegrityError), transaction.atomic():
        SyncRun.objects.create(connection=connection, number=1, kind="backfill", actor_kind="user")
    third = SyncRun.objects.create(connection=connection, kind="backfill", actor_kind="user")
    assert third.number == 2


def test_a_runs_page_links_to_exactly_its_audit_events(staff_client, connection, emulator):
    # Runs before and after it, on the same connection, have calls of their own.
    run_sync(connection, actor=ACTOR)

    def meanwhile(run):
        # What else happens to the connection while the run reads: it is on the log, with
        # the connection and inside the run's time, but it is not one of the run's calls.
        if not AuditEvent.objects.filter(origin="webhook_delivery:1").exists():
            record(actor=Actor.webhook(), operation="webhook.applied",
                   origin="webhook_delivery:1", connection_id=connection.pk,
                   connection_name=connection.name)  # fmt: skip

    run = run_sync(connection, actor=ACTOR, full=True, progress=meanwhile)
    run_sync(connection, actor=ACTOR)
    intruder = AuditEvent.objects.get(origin="webhook_delivery:1")
    assert run.started_at <= intruder.occurred_at <= run.finished_at
    calls = set(AuditEvent.objects.filter(origin=f"sync_run:{run.pk}").values_list("id", flat=True))
    assert len(calls) == run.api_calls > 0

    detail = staff_client.get(reverse("admin:connectors_syncrun_change", args=[run.pk]))
    link = re.search(
        r'<a href="([^"]*/audit/auditevent/\?[^"]*)">([^<]*)</a>', detail.content.decode()
    )
    assert link[2] == f"{len(calls):,} calls to Stripe on the audit log"
    listing = staff_client.get(unescape(link[1]))
    assert listing.status_code == 200
    assert set(listing.context["cl"].queryset.values_list("id", flat=True)) == calls
    # The filter says what the list is of, and can be cleared.
    assert f"sync_run:{run.pk}" in listing.content.decode()


def test_a_skipped_run_links_to_nothing(staff_client, connection):
    StripeConnection.objects.filter(pk=connection.pk).update(
        sync_holder="elsewhere:1", sync_lease_until=timezone.now() + timedelta(hours=1)
    )
    run = run_sync(connection, actor=ACTOR)
    assert run.status == "skipped"
    page = staff_client.get(reverse("admin:connectors_syncrun_change", args=[run.pk]))
    field = re.search(
        r'field-audit_events.*?<div class="readonly">(.*?)</div>', page.content.decode(), re.DOTALL
    )
    assert field[1] == "–"  # no call to Stripe, no link


def test_the_link_shows_only_to_whoever_may_read_the_audit_log(client, connection, emulator):
    run = run_sync(connection, actor=ACTOR)
    url = reverse("admin:connectors_syncrun_change", args=[run.pk])
    client.force_login(member("dave", "Viewer"))  # sees sync runs, not the audit log
    page = client.get(url)
    assert page.status_code == 200 and "field-audit_events" not in page.content.decode()
    client.force_login(member("erin", "Viewer", "Auditor"))
    assert "calls to Stripe on the audit log" in client.get(url).content.decode()
