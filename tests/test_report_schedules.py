"""Report schedules: edited in the admin, kept in step with django-celery-beat, each firing a
run requested by the schedule and emailed with its CSV; a failure emailed with its reason."""

import csv
import io
import uuid
from datetime import timedelta

import pytest
from django.core import mail
from django.urls import reverse
from django.utils import timezone
from django_celery_beat.models import PeriodicTask

from reports import schedules
from reports.models import ReportRun, ReportSchedule
from tests.accounts import connect
from tests.test_report_runs import busy_account
from tests.worker import beat_and_worker_until

pytestmark = pytest.mark.django_db

ADD = "/admin/reports/reportschedule/add/"


def form(connection, **changes):
    return {
        "name": "Monday revenue", "kind": "revenue", "connection": connection.pk,
        "period": "last_month", "minute": "0", "hour": "7", "day_of_week": "1",
        "day_of_month": "*", "month_of_year": "*",
        "recipients": "cfo@example.org,\nops@example.org", "sync_first": "", "enabled": "on",
        **changes,
    }  # fmt: skip


@pytest.fixture
def acme(mirror):
    return mirror(busy_account())


def test_a_schedule_made_in_the_admin_is_a_beat_task(acme, client, alice):
    client.force_login(alice)
    response = client.post(ADD, form(acme))
    assert response.status_code == 302, response.content.decode()[:2000]
    schedule = ReportSchedule.objects.get()
    task = PeriodicTask.objects.get(pk=schedule.periodic_task_id)
    assert (task.task, task.args, task.enabled) == ("reports.tasks.run_schedule",
                                                    f"[{schedule.pk}]", True)  # fmt: skip
    c = task.crontab
    assert (c.minute, c.hour, c.day_of_week, c.day_of_month, c.month_of_year) == (
        "0", "7", "1", "*", "*")  # fmt: skip
    assert schedule.recipient_list() == ["cfo@example.org", "ops@example.org"]

    change = reverse("admin:reports_reportschedule_change", args=[schedule.pk])
    client.post(change, form(acme, hour="18", enabled=""))
    task.refresh_from_db()
    assert task.crontab.hour == "18" and task.enabled is False

    delete = reverse("admin:reports_reportschedule_delete", args=[schedule.pk])
    client.post(delete, {"post": "yes"})
    assert not ReportSchedule.objects.exists() and not PeriodicTask.objects.filter(
        pk=task.pk).exists()  # fmt: skip


@pytest.mark.parametrize(
    "changes, message",
    [({"hour": "25"}, "Hour"), ({"recipients": "cfo at example"}, "not an email address"),
     ({"recipients": ""}, "This field is required")],
)  # fmt: skip
def test_a_bad_schedule_is_refused_and_nothing_is_made(acme, client, alice, changes, message):
    client.force_login(alice)
    response = client.post(ADD, form(acme, **changes))
    assert response.status_code == 200 and message in response.content.decode()
    assert not ReportSchedule.objects.exists() and not PeriodicTask.objects.filter(
        task="reports.tasks.run_schedule").exists()  # fmt: skip


def make_schedule(connection, **fields):
    from django_celery_beat.models import CrontabSchedule

    crontab, _ = CrontabSchedule.objects.get_or_create(minute="*", hour="*", timezone="UTC")
    values = {"name": "Monday revenue", "kind": "revenue", "connection": connection,
              "period": "last_month", "crontab": crontab, "recipients": "cfo@example.org",
              "sync_first": False, **fields}  # fmt: skip
    schedule = ReportSchedule.objects.create(**values)
    schedules.keep_in_step(schedule)
    return schedule


def attached_rows(message):
    ((name, content, mimetype),) = message.attachments
    assert mimetype == "text/csv" and name.endswith(".csv")
    return list(csv.DictReader(io.StringIO(content)))


def test_a_firing_runs_the_report_and_emails_it_once(acme, settings):
    settings.LUMEN_BASE_URL = "https://lumen.example.org"
    schedule = make_schedule(acme)

    run = schedules.fire(schedule.pk, firing="task-1")
    again = schedules.fire(schedule.pk, firing="task-1")  # the same message, delivered twice

    assert again.pk == run.pk and ReportRun.objects.count() == 1
    assert run.status == "succeeded" and run.requester == "schedule Monday revenue"
    assert (run.period_from.isoformat(), run.period_to.isoformat()) == ("2026-10-01",
                                                                        "2026-10-31")  # fmt: skip
    (message,) = mail.outbox
    assert message.to == ["cfo@example.org"]
    assert message.subject == "[Lumen] Revenue by product of acme, 2026-10-01 to 2026-10-31"
    assert f"https://lumen.example.org/admin/reports/reportrun/{run.pk}/change/" in message.body
    rows = attached_rows(message)
    usd = next(r for r in rows if r["currency"] == "usd" and r["product"] == "")
    gross = run.document["currencies"]["usd"]["gross"]
    assert usd["gross"] == f"{gross // 100}.{gross % 100:02d}"


def test_a_failed_firing_emails_its_reason_and_shows_on_the_front_page(db, pinned, client,
                                                                        alice):  # fmt: skip
    fresh = connect("fresh")  # never synced, and the schedule does not sync first
    schedule = make_schedule(fresh, kind="disputes")
    run = schedules.fire(schedule.pk, firing="task-2")
    assert run.status == "failed" and "never been synced" in run.error
    (message,) = mail.outbox
    assert message.subject == "[Lumen] FAILED: Open disputes of fresh"
    assert "never been synced" in message.body and not message.attachments
    client.force_login(alice)
    assert "The last run failed" in client.get("/admin/").content.decode()


def test_a_disabled_schedule_does_not_run(acme):
    schedule = make_schedule(acme, enabled=False)
    assert schedules.fire(schedule.pk, firing="task-3") is None
    assert not ReportRun.objects.exists() and not mail.outbox


@pytest.mark.worker
@pytest.mark.django_db(transaction=True)
def test_beat_fires_a_schedule_and_a_worker_emails_it(acme):
    """Celery beat (django-celery-beat's scheduler) and a worker, in this process so that the
    email lands in the locmem outbox, on the broker the suite runs with (Redis in CI)."""
    queue = f"lumen-tests-{uuid.uuid4().hex[:8]}"
    schedule = make_schedule(acme)
    # Last fired an hour ago: due at once.
    PeriodicTask.objects.filter(pk=schedule.periodic_task_id).update(
        queue=queue, last_run_at=timezone.now() - timedelta(hours=1)
    )
    beat_and_worker_until(queue, lambda: mail.outbox)
    (message,) = mail.outbox
    run = ReportRun.objects.get()
    assert run.requester_kind == "schedule" and run.firing and run.emailed_at
    usd = next(r for r in attached_rows(message) if r["currency"] == "usd" and not r["product"])
    assert int(round(float(usd["gross"]) * 100)) == run.document["currencies"]["usd"]["gross"]
