"""A connection's page: "Sync now" and "Verify now" for whoever may, and links to everything
Lumen keeps of the connection, with how many there are."""

from html import unescape

import pytest
from django.contrib import admin
from django.db import connection as db
from django.test.utils import CaptureQueriesContext
from django.urls import reverse

from audit.models import AuditEvent
from audit.recorder import Actor
from connectors import webhook_endpoints
from connectors.models import MIRROR_MODELS, Charge, SyncRun, WebhookEndpoint
from tests.accounts import Account, at
from tests.conftest import member

pytestmark = pytest.mark.django_db


def change_url(connection):
    return reverse("admin:connectors_stripeconnection_change", args=[connection.pk])


def page_of(client, connection):
    response = client.get(change_url(connection))
    assert response.status_code == 200
    return unescape(response.content.decode())


@pytest.fixture
def account():
    acme = Account()
    pro = acme.price(acme.product("Pro"), 10000)
    for name in ("Ada", "Bo"):
        acme.subscribe(acme.customer(name), pro, start=at(2026, 8, 1))
    return acme


@pytest.fixture
def two(mirror, account):
    """Two connections to the same account, both synced: acme and other."""
    return mirror(account), mirror(account, name="other")


def test_the_buttons_show_for_whoever_may_use_them(client, connection, alice):
    tools = ('action="/admin/connectors/stripeconnection/{}/sync/"', ">Sync now</button>",
             ">Verify now</button>")  # fmt: skip
    client.force_login(alice)
    page = page_of(client, connection)
    assert all(tool.format(connection.pk) in page for tool in tools)
    client.force_login(member("vera", "Viewer"))
    page = page_of(client, connection)
    assert not any(tool.format(connection.pk) in page for tool in tools)
    client.force_login(member("connie", "Connection admin"))
    page = page_of(client, connection)
    assert all(tool.format(connection.pk) in page for tool in tools)


def test_sync_now_queues_a_sync_in_the_users_name(client, connection, settings, after_commit):
    settings.LUMEN_SYNC_HISTORY_DAYS = 3650
    client.force_login(member("connie", "Connection admin"))
    url = reverse("admin:connectors_stripeconnection_sync", args=[connection.pk])
    with after_commit():
        r = client.post(url, follow=True)
    assert r.redirect_chain[-1][0] == change_url(connection)
    assert "Sync started: its progress is under Sync runs" in r.content.decode()
    run = SyncRun.objects.get(connection=connection)
    assert (run.status, run.actor_kind, run.actor) == ("succeeded", "user", "connie")


def test_verify_now_queues_a_verification_in_the_users_name(client, connection, after_commit):
    client.force_login(member("connie", "Connection admin"))
    before = AuditEvent.objects.filter(operation="connection.verified").count()
    url = reverse("admin:connectors_stripeconnection_verify", args=[connection.pk])
    with after_commit():
        r = client.post(url, follow=True)
    assert "Verifying acme with Stripe" in r.content.decode()
    verified = AuditEvent.objects.filter(operation="connection.verified").latest("id")
    assert AuditEvent.objects.filter(operation="connection.verified").count() == before + 1
    assert (verified.actor, verified.params["ok"]) == ("connie", True)


def test_the_buttons_refuse_whoever_may_not_and_a_get(client, connection, bob, after_commit):
    client.force_login(bob)  # may view the connection, not sync or verify it
    before = AuditEvent.objects.count()
    for name in ("sync", "verify"):
        url = reverse(f"admin:connectors_stripeconnection_{name}", args=[connection.pk])
        with after_commit():
            assert client.post(url).status_code == 403
    client.force_login(member("connie", "Connection admin"))
    url = reverse("admin:connectors_stripeconnection_sync", args=[connection.pk])
    assert client.get(url).status_code == 405  # a link or a prefetch starts nothing
    assert AuditEvent.objects.count() == before and not SyncRun.objects.exists()


def test_it_links_to_each_kind_of_its_data_with_counts(client, two, alice):
    acme, other = two
    client.force_login(alice)
    page = page_of(client, acme)
    for model in MIRROR_MODELS.values():
        label = str(model._meta.verbose_name_plural).capitalize()
        count = model.objects.filter(connection=acme).count()
        # Invoice lines and subscription items have no list of their own: counted, not linked.
        end = "</a>" if admin.site.is_registered(model) else ""
        assert f'{label}{end} <span class="connection-records-count">{count:,}</span>' in page
    charges = f"/admin/connectors/charge/?connection__id__exact={acme.pk}"
    assert f'href="{charges}"' in page
    # The link opens the list of this connection's charges, not the other's.
    listed = unescape(client.get(charges).content.decode())
    ours = Charge.objects.filter(connection=acme).values_list("pk", flat=True)
    theirs = Charge.objects.filter(connection=other).values_list("pk", flat=True)
    assert ours and all(f"/admin/connectors/charge/{pk}/change/" in listed for pk in ours)
    assert not any(f"/admin/connectors/charge/{pk}/change/" in listed for pk in theirs)

    runs = SyncRun.objects.filter(connection=acme).count()
    assert f'href="/admin/connectors/syncrun/?connection__id__exact={acme.pk}"' in page
    assert f'Sync runs</a> <span class="connection-records-count">{runs}</span>' in page
    events = AuditEvent.objects.filter(connection_id=acme.pk).count()
    assert f'href="/admin/audit/auditevent/?connection={acme.pk}"' in page
    assert f'Audit events</a> <span class="connection-records-count">{events:,}</span>' in page
    assert f'href="/admin/connectors/webhookendpoint/add/?connection={acme.pk}"' in page
    assert "Add a webhook endpoint" in page


def test_counting_costs_one_query_per_kind_and_reads_no_row(client, two, alice):
    acme, _ = two
    client.force_login(alice)
    with CaptureQueriesContext(db) as queries:
        page_of(client, acme)
    for model in MIRROR_MODELS.values():
        table = f'"{model._meta.db_table}"'
        on_table = [q["sql"] for q in queries if f"FROM {table}" in q["sql"]]
        assert len(on_table) == 1, (model, on_table)
        assert "COUNT(*)" in on_table[0] and f'{table}."raw"' not in on_table[0]


def test_each_link_shows_only_to_whoever_may_open_it(client, two):
    acme, _ = two
    client.force_login(member("connie", "Connection admin"))
    page = page_of(client, acme)
    assert "/admin/connectors/syncrun/?connection__id__exact=" in page
    assert "Add a webhook endpoint" in page
    assert "/admin/connectors/charge/" not in page and "/admin/audit/auditevent/" not in page

    client.force_login(member("vera", "Viewer"))
    page = page_of(client, acme)
    assert "/admin/connectors/charge/?connection__id__exact=" in page
    assert "/admin/audit/auditevent/" not in page and "webhookendpoint" not in page


def test_it_links_to_its_webhook_endpoint(client, connection, alice):
    endpoint = WebhookEndpoint(connection=connection)
    webhook_endpoints.save_endpoint(
        endpoint, secret="whsec_" + "T" * 28 + "Ab12", actor=Actor.user(alice)
    )
    client.force_login(alice)
    page = page_of(client, connection)
    url = reverse("admin:connectors_webhookendpoint_change", args=[endpoint.pk])
    assert f'<a href="{url}">Webhook endpoint (enabled)</a>' in page
    assert "Add a webhook endpoint" not in page
