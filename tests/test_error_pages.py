"""An error while a key or a signing secret is being saved or used shows neither on Django's
debug page nor in the error report mailed to ADMINS. The error is real: the database refuses
the write (a trigger standing in for a full disk or a read-only replica), nothing in Lumen is
patched."""

import hmac
import json
import time

import pytest
from django.core import mail
from django.db import connection as database
from django.test import Client

from audit.recorder import Actor
from connectors import webhook_endpoints
from connectors.models import StripeConnection, WebhookDelivery, WebhookEndpoint
from tests.conftest import TEST_KEY

SIGNING_SECRET = "whsec_" + "NeverOnAnErrorPage" + "0123456789abcdef"


@pytest.fixture
def refusing_database(db):
    """Every insert (or update) into the given table fails, as a database that cannot write
    would."""

    def refuse(table, statement="INSERT"):
        with database.cursor() as cursor:
            if database.vendor == "postgresql":
                cursor.execute(
                    "CREATE FUNCTION lumen_test_refuse() RETURNS trigger AS $$ BEGIN "
                    "RAISE EXCEPTION 'could not extend file: No space left on device'; END; "
                    "$$ LANGUAGE plpgsql"
                )
                cursor.execute(
                    f"CREATE TRIGGER lumen_test_refuse BEFORE {statement} ON {table} "
                    "FOR EACH ROW EXECUTE FUNCTION lumen_test_refuse()"
                )
            else:
                cursor.execute(
                    f"CREATE TRIGGER lumen_test_refuse BEFORE {statement} ON {table} BEGIN "
                    "SELECT RAISE(ABORT, 'database or disk is full'); END"
                )

    return refuse


def post_add_connection(user):
    client = Client(raise_request_exception=False)
    client.force_login(user)
    return client.post(
        "/admin/connectors/stripeconnection/add/",
        {"name": "acme", "key": TEST_KEY, "sync_interval_minutes": "0"},
    )


def assert_no_key(text):
    assert TEST_KEY not in text and TEST_KEY[8:-4] not in text


def test_the_debug_page_hides_a_pasted_key(refusing_database, alice, emulator, settings):
    refusing_database(StripeConnection._meta.db_table)
    settings.DEBUG = True
    response = post_add_connection(alice)
    page = response.content.decode()
    assert response.status_code == 500
    assert "No space left on device" in page or "disk is full" in page  # the real error
    assert "Traceback" in page and "save_key" in page  # the debug page, with its frames
    assert_no_key(page)
    assert not StripeConnection.objects.exists()


def test_the_error_report_hides_a_pasted_key(refusing_database, alice, emulator, settings):
    refusing_database(StripeConnection._meta.db_table)
    settings.DEBUG = False
    settings.ADMINS = [("Ops", "ops@example.org")]
    response = post_add_connection(alice)
    assert response.status_code == 500
    assert_no_key(response.content.decode())
    [report] = mail.outbox
    assert "Internal Server Error: /admin/connectors/stripeconnection/add/" in report.subject
    assert "POST:" in report.body and "save_key" in report.body  # the request and frames
    assert_no_key(report.body)
    assert "key = '********************'" in report.body


def test_the_debug_page_hides_a_pasted_signing_secret(
    refusing_database, alice, connection, settings
):
    refusing_database(WebhookEndpoint._meta.db_table)
    settings.DEBUG = True
    client = Client(raise_request_exception=False)
    client.force_login(alice)
    form = client.get("/admin/connectors/webhookendpoint/add/").context["adminform"].form
    response = client.post(
        "/admin/connectors/webhookendpoint/add/",
        {
            "connection": connection.pk,
            "secret": SIGNING_SECRET,
            "enabled": "on",
            "signed_token": form.initial["signed_token"],
        },
    )
    page = response.content.decode()
    assert response.status_code == 500 and "Traceback" in page
    assert SIGNING_SECRET not in page and SIGNING_SECRET[6:] not in page


def test_the_debug_page_hides_the_signing_secret_a_delivery_is_checked_with(
    refusing_database, alice, connection, settings
):
    endpoint = webhook_endpoints.save_endpoint(
        WebhookEndpoint(connection=connection), secret=SIGNING_SECRET, actor=Actor.user(alice)
    )
    # The delivery checks out; the database fails as it is stored.
    refusing_database(WebhookEndpoint._meta.db_table, "UPDATE")
    settings.DEBUG = True
    event = {"object": "event", "id": "evt_1", "type": "charge.succeeded", "created": 1,
             "livemode": False, "data": {"object": {"id": "ch_1", "object": "charge"}}}  # fmt: skip
    body = json.dumps(event).encode()
    t = int(time.time())
    digest = hmac.new(SIGNING_SECRET.encode(), f"{t}.".encode() + body, "sha256").hexdigest()

    response = Client(raise_request_exception=False).post(
        endpoint.path,
        body,
        content_type="application/json",
        HTTP_STRIPE_SIGNATURE=f"t={t},v1={digest}",
    )

    page = response.content.decode()
    assert response.status_code == 500 and "stripe_webhook" in page  # the view's own frame
    assert SIGNING_SECRET not in page and SIGNING_SECRET[6:] not in page
    assert not WebhookDelivery.objects.exists()
