"""Staff roles: each group can do what the README says and nothing more; card details only
with full access; actions that call Stripe need their own permission and run in a worker;
who asked for a task is looked up, never taken from the message; the pages that choose what
workers run are for superusers."""

import csv
import io
import json
from html import unescape
from pathlib import Path

import pytest
from django.contrib.auth.models import Group, Permission
from django.urls import reverse

from audit.models import AuditEvent
from connectors import connections
from connectors.models import MIRROR_MODELS, Balance, Charge, SyncRun
from connectors.tasks import sync_connection
from reports.models import ReportRun
from roles.definitions import MIRROR, ROLES
from tests.accounts import Account, at, report_run
from tests.conftest import member

pytestmark = pytest.mark.django_db

CONNECTIONS = reverse("admin:connectors_stripeconnection_changelist")


def codes(group):
    return {
        f"{app}.{code}"
        for app, code in Group.objects.get(name=group).permissions.values_list(
            "content_type__app_label", "codename"
        )
    }


def test_the_migrations_create_each_role_with_exactly_its_permissions():
    assert set(Group.objects.values_list("name", flat=True)) >= set(ROLES)
    for name, permissions in ROLES.items():
        assert codes(name) == set(permissions), name
    assert codes("Viewer") < codes("Analyst")
    # Full access adds card details and nothing else.
    assert codes("Full access") == {"connectors.view_card_details"}


def test_the_viewer_role_reads_every_kind_the_mirror_holds():
    kinds = {model._meta.model_name for model in [*MIRROR_MODELS.values(), Balance]}
    assert kinds == set(MIRROR)


@pytest.fixture
def account():
    acme = Account()
    pro = acme.price(acme.product("Pro"), 10000)
    ada = acme.customer("Ada")
    acme.subscribe(ada, pro, start=at(2026, 9, 1))
    return acme


@pytest.fixture
def acme(mirror, account):
    return mirror(account)


@pytest.fixture
def finished_run(acme):
    return report_run(acme, "revenue", days=30)


def pages(client, run):
    charge = Charge.objects.first()
    return {
        "mirror": reverse("admin:connectors_charge_changelist"),
        "charge": reverse("admin:connectors_charge_change", args=[charge.pk]),
        "run": reverse("admin:reports_reportrun_change", args=[run.pk]),
        "runs": reverse("admin:reports_reportrun_changelist"),
        "run_form": reverse("admin:reports_reportrun_add"),
        "download": reverse("admin:reports_reportrun_download", args=[run.pk, "csv"]),
        "mirror_csv": reverse("admin:connectors_charge_export_csv"),
        "connection": reverse("admin:connectors_stripeconnection_change", args=[run.connection_id]),
        "add_connection": reverse("admin:connectors_stripeconnection_add"),
        "audit": reverse("admin:audit_auditevent_changelist"),
        "webhooks": reverse("admin:connectors_webhookendpoint_add"),
        "periodic_tasks": reverse("admin:django_celery_beat_periodictask_changelist"),
    }


# What each role opens (200) and what it is refused (403).
OPENS = {
    "Viewer": {"mirror", "charge", "run", "runs", "connection"},
    "Analyst": {"mirror", "charge", "run", "runs", "run_form", "download", "mirror_csv",
                "connection"},
    "Connection admin": {"connection", "add_connection", "webhooks"},
    "Auditor": {"audit"},
}  # fmt: skip


@pytest.mark.parametrize("role", OPENS)
def test_each_role_opens_its_pages_and_is_refused_the_others(client, finished_run, role):
    client.force_login(member("someone", role))
    for name, url in pages(client, finished_run).items():
        status = client.get(url).status_code
        assert status == (200 if name in OPENS[role] else 403), (role, name, status)


def test_a_viewer_sees_no_run_button_and_no_downloads(client, finished_run):
    client.force_login(member("dave", "Viewer"))
    html = client.get(reverse("admin:reports_reportrun_change", args=[finished_run.pk])).content
    assert b"Run again" not in html and b'data-format="csv"' not in html
    listing = client.get(reverse("admin:connectors_charge_changelist")).content
    assert b"Download CSV" not in listing


# Card details ---------------------------------------------------------------------------


def test_card_details_show_only_with_full_access(client, acme):
    charge = Charge.objects.filter(connection=acme).exclude(card_last4="").first()
    card = charge.raw["payment_method_details"]["card"]
    billing = charge.raw["billing_details"]
    assert card["fingerprint"] and billing["email"]
    url = reverse("admin:connectors_charge_change", args=[charge.pk])
    analyst = member("carol", "Analyst")
    client.force_login(analyst)
    card_details = (f"•••• {card['last4']}", card["fingerprint"],
                    f'"exp_year": {card["exp_year"]}', '"billing_details": {')  # fmt: skip

    page = unescape(client.get(url).content.decode())
    assert "•••• hidden" in page and '"billing_details": "•••• hidden"' in page
    for secret in card_details:
        assert secret not in page, secret
    # The rest of the object is still there.
    assert charge.stripe_id in page and f'"amount": {charge.amount}' in page

    analyst.groups.add(Group.objects.get(name="Full access"))
    page = unescape(client.get(url).content.decode())
    for shown in card_details:
        assert shown in page, shown


def test_exports_leave_card_details_out_without_full_access(client, acme):
    analyst = member("carol", "Analyst")
    client.force_login(analyst)
    url = reverse("admin:connectors_charge_export_csv")

    def exported():
        body = b"".join(client.get(url).streaming_content).decode()
        return list(csv.DictReader(io.StringIO(body)))

    rows = exported()
    assert rows and "card_last4" not in rows[0] and "card_brand" not in rows[0]
    last4s = set(Charge.objects.exclude(card_last4="").values_list("card_last4", flat=True))
    analyst.groups.add(Group.objects.get(name="Full access"))
    rows = exported()
    assert {r["card_last4"] for r in rows} - {""} == last4s
    recorded = AuditEvent.objects.filter(operation="mirror.exported").order_by("id")
    assert [e.params["card_details"] for e in recorded] == [False, True]


# Actions that call Stripe -------------------------------------------------------------


@pytest.mark.parametrize("action", ["verify_selected", "sync_selected"])
def test_view_only_staff_can_neither_verify_nor_sync(client, connection, bob, emulator, action,
                                                     after_commit):  # fmt: skip
    client.force_login(bob)
    assert action.encode() not in client.get(CONNECTIONS).content
    emulator.clear_log()
    calls = AuditEvent.objects.count()
    with after_commit():
        client.post(CONNECTIONS, {"action": action, "_selected_action": [connection.pk]})
    assert emulator.request_log == []
    assert AuditEvent.objects.count() == calls and not SyncRun.objects.exists()


def test_a_connection_admin_verifies_and_syncs_in_a_worker_not_in_the_request(
    client, connection, emulator, django_capture_on_commit_callbacks, settings
):
    settings.LUMEN_SYNC_HISTORY_DAYS = 3650
    erin = member("erin", "Connection admin")
    client.force_login(erin)
    html = client.get(CONNECTIONS).content
    assert b"verify_selected" in html and b"sync_selected" in html
    emulator.clear_log()
    with django_capture_on_commit_callbacks() as queued:
        r = client.post(
            CONNECTIONS, {"action": "verify_selected", "_selected_action": [connection.pk]},
            follow=True,
        )  # fmt: skip
    # The page answered without calling Stripe: a worker will.
    assert emulator.request_log == [] and len(queued) == 1
    assert "Verifying acme with Stripe" in r.content.decode()

    from lumen.celery import app

    app.conf.task_always_eager = True
    try:
        queued[0]()
    finally:
        app.conf.changes.pop("task_always_eager", None)
    verified = AuditEvent.objects.filter(operation="connection.verified").latest("id")
    assert (verified.actor_kind, verified.actor) == ("user", "erin")
    assert emulator.request_log


def test_only_who_may_run_reports_runs_a_schedule_now(client, acme, after_commit):
    from tests.test_report_schedules import make_schedule

    schedule = make_schedule(acme)
    url = reverse("admin:reports_reportschedule_changelist")
    for role, runs in (("Viewer", 0), ("Analyst", 1)):
        client.force_login(member(role.lower(), role))
        offered = b"run_now" in client.get(url).content
        with after_commit():
            client.post(url, {"action": "run_now", "_selected_action": [schedule.pk]})
        assert (offered, ReportRun.objects.count()) == (bool(runs), runs), role


# Who asked for a task -----------------------------------------------------------------


def test_a_task_cannot_be_told_whose_name_to_sync_in(connection, emulator, settings):
    settings.LUMEN_SYNC_HISTORY_DAYS = 3650
    # The name is no argument at all any more.
    with pytest.raises(TypeError):
        sync_connection.apply(
            args=[connection.pk], kwargs={"actor_kind": "user", "actor_name": "alice-the-cfo"},
            throw=True,
        )  # fmt: skip
    # An id that names nobody is refused, and nothing is read from Stripe.
    emulator.clear_log()
    result = sync_connection.apply(args=[connection.pk], kwargs={"user_id": 10_000}).get()
    assert result["status"] == "skipped" and "No active user" in result["message"]
    result = sync_connection.apply(args=[connection.pk], kwargs={"schedule_id": 10_000}).get()
    assert result["status"] == "skipped" and "No schedule" in result["message"]
    assert emulator.request_log == [] and not SyncRun.objects.exists()


def test_a_schedule_syncs_in_its_own_name(connection, emulator, settings):
    settings.LUMEN_SYNC_HISTORY_DAYS = 3650
    connection.sync_interval_minutes = 15
    connection.save()
    task = connections.schedule_sync(connection)
    assert json.loads(task.kwargs) == {"schedule_id": task.pk}
    # Run the way beat runs it: the task's stored arguments.
    sync_connection.apply(args=json.loads(task.args), kwargs=json.loads(task.kwargs)).get()
    run = SyncRun.objects.get()
    assert (run.actor_kind, run.actor) == ("schedule", task.name)
    calls = AuditEvent.objects.filter(method="GET", origin=f"sync_run:{run.pk}")
    assert set(calls.values_list("actor_kind", "actor")) == {("schedule", task.name)}


# Superusers only ----------------------------------------------------------------------


def test_periodic_tasks_and_task_results_are_for_superusers_only(client, alice):
    # Even holding every permission of those apps, staff are refused.
    everything = member("mallory", "Connection admin")
    everything.user_permissions.set(
        Permission.objects.filter(
            content_type__app_label__in=["django_celery_beat", "django_celery_results"]
        )
    )
    urls = [
        reverse("admin:django_celery_beat_periodictask_changelist"),
        reverse("admin:django_celery_beat_crontabschedule_changelist"),
        reverse("admin:django_celery_results_taskresult_changelist"),
    ]
    client.force_login(everything)
    assert [client.get(url).status_code for url in urls] == [403, 403, 403]
    assert b"Periodic tasks" not in client.get(reverse("admin:index")).content
    client.force_login(alice)
    assert [client.get(url).status_code for url in urls] == [200, 200, 200]


def test_nobody_deletes_a_sync_run(client, alice, connection):
    run = SyncRun.objects.create(connection=connection, kind="backfill", actor_kind="user",
                                 actor="alice", status="succeeded")  # fmt: skip
    client.force_login(alice)
    url = reverse("admin:connectors_syncrun_delete", args=[run.pk])
    assert client.post(url, {"post": "yes"}).status_code == 403
    listing = client.get(reverse("admin:connectors_syncrun_changelist")).content
    assert b"delete_selected" not in listing
    assert SyncRun.objects.filter(pk=run.pk).exists()


def test_the_readme_describes_every_role():
    readme = (Path(__file__).resolve().parents[1] / "README.md").read_text()
    for role in ROLES:
        assert f"**{role}**" in readme, role


def test_an_auditor_verifies_the_chain_from_the_log(client, connection, bob, after_commit):
    listing = reverse("admin:audit_auditevent_changelist")
    verify = reverse("admin:audit_auditevent_verify")
    # Reading the log is not verifying it.
    client.force_login(bob)
    assert b"Verify the chain" not in client.get(listing).content
    assert client.post(verify).status_code == 403

    client.force_login(member("frank", "Auditor"))
    assert "has not been verified from here yet" in client.get(listing).content.decode()
    assert client.get(verify).status_code == 405  # a POST only, with the CSRF check
    before = AuditEvent.objects.count()
    with after_commit():
        assert client.post(verify).status_code == 302
    verified = AuditEvent.objects.get(operation="audit.verified")
    assert (verified.actor_kind, verified.actor, verified.message) == ("user", "frank", "intact")
    assert verified.params["intact"] is True and verified.params["events"] == before
    page = client.get(listing).content.decode()
    assert "Last verified" in page and "<strong>intact</strong>" in page
