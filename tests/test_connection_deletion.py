"""Deleting a connection: confirmed, for whoever may delete it, in batches, refused while a
sync runs, with the audit log kept as it was written and the deletion added to it."""

import io
import json
import re
from datetime import timedelta
from html import unescape

import pytest
from django.core.management import CommandError, call_command
from django.db import connection as db
from django.test.utils import CaptureQueriesContext
from django.urls import reverse
from django.utils import timezone
from django_celery_beat.models import CrontabSchedule, PeriodicTask

from audit import verification
from audit.models import AuditEvent
from audit.recorder import Actor
from connectors import connections, deletion, webhook_endpoints
from connectors.models import (
    MIRROR_MODELS,
    AppliedEvent,
    Charge,
    StripeConnection,
    SyncRun,
    WebhookDelivery,
    WebhookEndpoint,
)
from reports import schedules
from reports.models import ReportCitation, ReportRun, ReportSchedule
from tests.accounts import Account, at, report_run
from tests.conftest import member
from tests.worker import manage

pytestmark = pytest.mark.django_db

LIST = reverse("admin:connectors_stripeconnection_changelist")


def delete_url(connection):
    return reverse("admin:connectors_stripeconnection_delete", args=[connection.pk])


@pytest.fixture
def account():
    acme = Account()
    pro = acme.price(acme.product("Pro"), 10000)
    for name in ("Ada", "Bo", "Cy"):
        acme.subscribe(acme.customer(name), pro, start=at(2026, 7, 1))
    return acme


@pytest.fixture
def acme(mirror, account, alice):
    """A synced connection with everything a connection gathers: a report run and its
    citations, a report schedule and its periodic task, a webhook endpoint and a delivery."""
    connection = mirror(account)
    report_run(connection, "revenue", months=3)
    schedule = ReportSchedule.objects.create(
        name="Monday revenue", kind="revenue", connection=connection,
        crontab=CrontabSchedule.objects.create(minute="0", hour="8", day_of_week="1"),
        recipients="finance@example.org",
    )  # fmt: skip
    schedules.keep_in_step(schedule)
    endpoint = WebhookEndpoint(connection=connection)
    webhook_endpoints.save_endpoint(
        endpoint, secret="whsec_" + "D" * 28 + "Ab12", actor=Actor.user(alice)
    )
    WebhookDelivery.objects.create(
        endpoint=endpoint, event_id="evt_1", event_type="charge.updated", payload={}
    )
    return connection


def held_by_a_sync(connection):
    """As a sync running in another process holds it."""
    StripeConnection.objects.filter(pk=connection.pk).update(
        sync_holder="worker-elsewhere:4242", sync_lease_until=timezone.now() + timedelta(hours=1)
    )


def what_remains(pk):
    """Rows of every kind that still name the connection `pk`."""
    remains = {
        "connection": StripeConnection.objects.filter(pk=pk).count(),
        "sync runs": SyncRun.objects.filter(connection_id=pk).count(),
        "report runs": ReportRun.objects.filter(connection_id=pk).count(),
        "citations": ReportCitation.objects.filter(run__connection_id=pk).count(),
        "schedules": ReportSchedule.objects.filter(connection_id=pk).count(),
        "endpoints": WebhookEndpoint.objects.filter(connection_id=pk).count(),
        "deliveries": WebhookDelivery.objects.filter(endpoint__connection_id=pk).count(),
        "applied events": AppliedEvent.objects.filter(connection_id=pk).count(),
    }
    for resource, model in MIRROR_MODELS.items():
        remains[resource] = model.objects.filter(connection_id=pk).count()
    return {kind: rows for kind, rows in remains.items() if rows}


@pytest.mark.parametrize("who", ["alice", "connection admin"])
def test_whoever_may_delete_a_connection_deletes_it_with_its_data(client, acme, alice, who):
    client.force_login(alice if who == "alice" else member("connie", "Connection admin"))
    pk, charges = acme.pk, Charge.objects.filter(connection=acme).count()
    assert charges and ReportCitation.objects.filter(run__connection=acme).exists()
    history = list(
        AuditEvent.objects.filter(connection_id=pk).order_by("id").values_list("id", "chain_hash")
    )

    confirm = unescape(client.get(delete_url(acme)).content.decode())
    assert "Are you sure you want to delete the Stripe connection" in confirm
    assert f"Charges: {charges:,}" in confirm and "Report citations:" in confirm
    assert "The audit log is kept" in confirm
    r = client.post(delete_url(acme), {"post": "yes"}, follow=True)

    assert r.redirect_chain[-1][0] == LIST
    assert "was deleted successfully" in r.content.decode()
    assert what_remains(pk) == {}
    assert not PeriodicTask.objects.filter(name__startswith="Report schedule: Monday").exists()
    # The history stays as it was written, the deletion is added to it, and the chain holds.
    kept = AuditEvent.objects.filter(connection_id=pk).exclude(operation="connection.deleted")
    assert list(kept.order_by("id").values_list("id", "chain_hash")) == history
    deleted = AuditEvent.objects.get(operation="connection.deleted")
    assert (deleted.connection_id, deleted.connection_name, deleted.origin) == (pk, "acme", "admin")
    assert deleted.params["deleted"]["charges"] == charges
    assert deleted.params["key"] == "rk_test_…Wxyz"
    assert verification.verify().intact


def test_whoever_may_not_delete_cannot(client, acme, bob):
    for user in (bob, member("vera", "Viewer")):
        client.force_login(user)
        assert client.get(delete_url(acme)).status_code == 403
        assert client.post(delete_url(acme), {"post": "yes"}).status_code == 403
    assert StripeConnection.objects.filter(pk=acme.pk).exists()
    assert not AuditEvent.objects.filter(operation="connection.deleted").exists()


def test_the_mirror_goes_in_batches_without_reading_its_rows(acme, monkeypatch):
    monkeypatch.setattr(deletion, "BATCH", 7)
    charges = Charge.objects.filter(connection=acme).count()
    assert charges > 2 * 7
    with CaptureQueriesContext(db) as queries:
        deleted = connections.delete_connection(acme, actor=Actor.command("tests"))
    assert deleted["charges"] == charges
    on_charges = [q["sql"] for q in queries if '"connectors_charge"' in q["sql"]]
    deletes = [sql for sql in on_charges if sql.startswith("DELETE")]
    assert len(deletes) >= charges // 7
    # Besides the DELETEs, only the bounds of the keys are read, never a row.
    reads = [sql for sql in on_charges if not sql.startswith("DELETE")]
    assert reads and all("MIN(" in sql or "MAX(" in sql for sql in reads), reads


def test_a_connection_being_synced_is_not_deleted(client, acme, alice):
    held_by_a_sync(acme)
    client.force_login(alice)
    for request in (client.get, lambda url: client.post(url, {"post": "yes"})):
        r = request(delete_url(acme))
        assert r.status_code == 302
        assert r.url == reverse("admin:connectors_stripeconnection_change", args=[acme.pk])
    page = client.get(r.url).content.decode()
    assert "The connection acme is being synced now (by worker-elsewhere:4242)" in unescape(page)
    assert "Nothing was deleted." in page
    r = client.post(
        LIST, {"action": "delete_selected", "_selected_action": [acme.pk], "post": "yes"}
    )
    assert StripeConnection.objects.filter(pk=acme.pk).exists()
    assert Charge.objects.filter(connection=acme).exists()
    with pytest.raises(connections.ConnectionBusy):
        connections.delete_connection(acme, actor=Actor.command("tests"))
    assert not AuditEvent.objects.filter(operation="connection.deleted").exists()
    # A lease run out is a sync that died: no longer in the way.
    StripeConnection.objects.filter(pk=acme.pk).update(
        sync_lease_until=timezone.now() - timedelta(seconds=1)
    )
    connections.delete_connection(acme, actor=Actor.command("tests"))
    assert not StripeConnection.objects.exists()


def test_the_list_action_confirms_then_deletes_each(client, mirror, account, alice):
    acme, other = mirror(account), mirror(account, name="other")
    client.force_login(alice)
    selected = {"action": "delete_selected", "_selected_action": [acme.pk, other.pk]}
    confirm = unescape(client.post(LIST, selected).content.decode())
    assert "Stripe connection: acme (rk_test_…Wxyz)" in confirm
    assert "Stripe connection: other (rk_test_…Wxyz)" in confirm
    assert f"Charges: {Charge.objects.count():,}" in confirm  # the two, in the summary
    assert StripeConnection.objects.count() == 2  # nothing yet
    r = client.post(LIST, {**selected, "post": "yes"}, follow=True)
    page = unescape(r.content.decode())
    assert "The connection acme was deleted:" in page
    assert "The connection other was deleted:" in page
    assert not StripeConnection.objects.exists() and not Charge.objects.exists()
    assert AuditEvent.objects.filter(operation="connection.deleted").count() == 2


# The command -----------------------------------------------------------------------------


def delete_command(*args, stdin=None, tty=False, monkeypatch=None):
    out, err = io.StringIO(), io.StringIO()
    if monkeypatch is not None:
        fake = io.StringIO(stdin or "")
        fake.isatty = lambda: tty
        monkeypatch.setattr("sys.stdin", fake)
    call_command("delete_connection", *args, stdout=out, stderr=err)
    return out.getvalue()


def test_the_command_deletes_with_yes_and_records_who(acme, monkeypatch):
    pk, charges = acme.pk, Charge.objects.filter(connection=acme).count()
    out = delete_command("acme", "--yes", monkeypatch=monkeypatch)
    assert re.search(rf"^  charges +{charges:,} deleted$", out, re.M), out
    assert "acme deleted" in out and "audit log is kept" in out
    assert what_remains(pk) == {}
    deleted = AuditEvent.objects.get(operation="connection.deleted")
    assert deleted.actor_kind == "command" and deleted.actor.startswith("delete_connection (")
    assert deleted.origin == "command:delete_connection"


def test_the_command_asks_on_a_terminal(acme, monkeypatch):
    with pytest.raises(CommandError, match="Nothing was deleted"):
        delete_command("acme", stdin="no\n", tty=True, monkeypatch=monkeypatch)
    assert StripeConnection.objects.filter(pk=acme.pk).exists()
    out = delete_command("acme", stdin="acme\n", tty=True, monkeypatch=monkeypatch)
    assert "Deleting it deletes:" in out and "charges" in out and "acme deleted" in out
    assert not StripeConnection.objects.exists()


def test_the_command_prints_json(acme, monkeypatch):
    charges = Charge.objects.filter(connection=acme).count()
    document = json.loads(delete_command("acme", "--yes", "--json", monkeypatch=monkeypatch))
    assert document["connection"] == "acme" and document["deleted"]["charges"] == charges


def test_the_command_refuses_while_a_sync_runs(acme, monkeypatch):
    held_by_a_sync(acme)
    with pytest.raises(CommandError, match="is being synced now"):
        delete_command("acme", "--yes", monkeypatch=monkeypatch)
    assert StripeConnection.objects.filter(pk=acme.pk).exists()


@pytest.mark.django_db(transaction=True)
def test_the_command_exits_2_on_an_unknown_name_or_without_yes_off_a_terminal(emulator, alice):
    connection = StripeConnection(name="acme")
    connections.save_key(connection, "rk_test_" + "x" * 24, actor=Actor.user(alice))
    unknown = manage("delete_connection", "acme-eu", "--yes")
    assert unknown.returncode == 2
    assert "No connection named 'acme-eu'. Connections: acme." in unknown.stderr
    unasked = manage("delete_connection", "acme", stdin="")
    assert unasked.returncode == 2 and "give --yes" in unasked.stderr
    assert StripeConnection.objects.filter(name="acme").exists()
    deleted = manage("delete_connection", "acme", "--yes")
    assert deleted.returncode == 0, deleted.stderr
    assert not StripeConnection.objects.exists()
