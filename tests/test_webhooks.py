"""Webhooks: Stripe posts a connection's events to an unguessable address; a delivery whose
signature and timestamp check out is stored, answered 200 at once and applied by a worker,
once per event; anything else is answered 400 and changes nothing. The signing secret is
never shown again, logged or recorded."""

import hashlib
import hmac
import json
import logging
import time
from datetime import timedelta

import pytest
from django.contrib.auth.models import Permission, User
from django.db import connection as db
from django.urls import reverse
from django.utils import timezone
from django.utils.html import escape
from time_machine import travel

from audit.models import AuditEvent
from audit.recorder import Actor
from connectors import connections, webhook_endpoints, webhook_tasks
from connectors.emulator import (
    AccountChanges,
    EmulatorStore,
    StripeEmulator,
    WebhookSender,
    seed_account,
)
from connectors.models import (
    AppliedEvent,
    Charge,
    Dispute,
    StripeConnection,
    WebhookDelivery,
    WebhookEndpoint,
)
from connectors.webhook_tasks import (
    CLAIM_SECONDS,
    process_webhook_delivery,
    sweep_webhook_deliveries,
)
from lumen.celery import app as celery_app
from tests.conftest import TEST_KEY, grant_key, member, revoke_key
from tests.upgrades import migrate
from tests.worker import celery_worker

pytestmark = pytest.mark.django_db

Status = WebhookDelivery.Status

# Tests that look for the secret where it must not be search for these exact strings.
SECRET = "whsec_" + "LumenWebhookTests" + "NeverShown0" + "Ab12"
ROTATED = "whsec_" + "SecondSigningSecret" + "NeverShown1" + "Cd34"
OTHER_SECRET = "whsec_" + "SomebodyElsesSecret" + "00000000" + "Zz99"


def sign(body, secret=SECRET, timestamp=None):
    """The Stripe-Signature header, computed as Stripe computes it."""
    t = int(time.time() if timestamp is None else timestamp)
    digest = hmac.new(secret.encode(), f"{t}.".encode() + body, hashlib.sha256).hexdigest()
    return f"t={t},v1={digest}"


def body_of(event):
    return json.dumps(event, indent=2).encode()


@pytest.fixture
def post(client, django_capture_on_commit_callbacks):
    """POST a raw body as Stripe does; what the view queues after its commit is sent at once
    (to the task itself with `eager`, to a list with `queued`)."""

    def post(path, body, signature="sign"):
        headers = {}
        if signature == "sign":
            signature = sign(body)
        if signature is not None:
            headers["HTTP_STRIPE_SIGNATURE"] = signature
        with django_capture_on_commit_callbacks(execute=True):
            return client.post(path, data=body, content_type="application/json", **headers)

    return post


def seeded_event(emulator, type):
    event = next(e for e in emulator.store.objects("events") if e["type"] == type)
    return json.loads(json.dumps(event))  # a copy the test may change


def object_id(event):
    return event["data"]["object"]["id"]


@pytest.fixture
def endpoint(connection, alice):
    return webhook_endpoints.save_endpoint(
        WebhookEndpoint(connection=connection), secret=SECRET, actor=Actor.user(alice)
    )


@pytest.fixture
def charge_event(emulator):
    return seeded_event(emulator, "charge.succeeded")


@pytest.fixture
def eager():
    """Queued tasks run at once, in this process."""
    celery_app.conf.task_always_eager = True
    celery_app.conf.task_eager_propagates = True
    yield
    celery_app.conf.changes.pop("task_always_eager", None)
    celery_app.conf.task_eager_propagates = False


@pytest.fixture
def queued(monkeypatch):
    """Queued tasks are kept (their delivery ids), not run."""
    sent = []
    monkeypatch.setattr(
        process_webhook_delivery, "apply_async", lambda args, **options: sent.append(args[0])
    )
    return sent


def nothing_stored(endpoint):
    endpoint.refresh_from_db()
    return (
        not WebhookDelivery.objects.exists()
        and not AppliedEvent.objects.exists()
        and not Charge.objects.exists()
        and endpoint.last_delivery_at is None
    )


DELIVERIES = "admin:connectors_webhookdelivery_changelist"
DELIVERY = "admin:connectors_webhookdelivery_change"
CHANGE = "admin:connectors_webhookendpoint_change"


def admin_page(client, name, *args, query=""):
    return client.get(reverse(name, args=args) + query).content.decode()


def shown_status(label, tone):
    """A delivery's status as the admin pages show it."""
    return f'<span class="lumen-badge lumen-{tone}">{label}</span>'


# A good delivery -----------------------------------------------------------------------


def test_it_stores_a_good_delivery_and_a_worker_applies_it(post, endpoint, charge_event, eager):
    r = post(endpoint.path, body_of(charge_event))

    assert r.status_code == 200 and r.json() == {"received": True}
    delivery = WebhookDelivery.objects.get()
    assert (delivery.endpoint, delivery.event_id) == (endpoint, charge_event["id"])
    assert delivery.event_type == "charge.succeeded" and delivery.payload == charge_event
    assert (delivery.status, delivery.error) == (Status.APPLIED, "")
    assert delivery.processed_at is not None
    charge = Charge.objects.get(connection=endpoint.connection, stripe_id=object_id(charge_event))
    assert charge.raw == charge_event["data"]["object"]
    applied = AppliedEvent.objects.get()
    assert (applied.stripe_id, applied.source) == (charge_event["id"], "webhook")
    endpoint.refresh_from_db()
    assert endpoint.last_delivery_at == delivery.received_at


def test_the_task_is_queued_with_the_delivery_id_only(post, endpoint, charge_event, queued):
    r = post(endpoint.path, body_of(charge_event))

    assert r.status_code == 200
    delivery = WebhookDelivery.objects.get()
    assert queued == [delivery.pk]
    assert delivery.status == Status.WAITING and delivery.processed_at is None  # not applied yet
    assert not Charge.objects.exists()


def test_an_event_that_needs_a_read_goes_through_the_door_as_the_webhook(
    post, endpoint, emulator, eager
):
    event = seeded_event(emulator, "charge.dispute.created")

    assert post(endpoint.path, body_of(event)).status_code == 200

    delivery = WebhookDelivery.objects.get()
    assert delivery.status == Status.APPLIED
    dispute = event["data"]["object"]
    assert Dispute.objects.filter(stripe_id=dispute["id"]).exists()
    assert Charge.objects.filter(stripe_id=dispute["charge"]).exists()
    call = AuditEvent.objects.get(origin=f"webhook_delivery:{delivery.pk}")
    assert (call.actor_kind, call.actor) == ("webhook", str(endpoint))
    assert call.path == f"/v1/charges/{dispute['charge']}"


# Once per event ------------------------------------------------------------------------


def test_the_same_event_delivered_twice_is_stored_and_applied_once(
    post, endpoint, charge_event, eager
):
    first = post(endpoint.path, body_of(charge_event))
    again = post(endpoint.path, body_of(charge_event))

    assert first.status_code == again.status_code == 200
    assert again.json() == {"received": True, "duplicate": True}
    assert WebhookDelivery.objects.count() == 1
    assert AppliedEvent.objects.count() == 1
    assert Charge.objects.count() == 1


def test_an_event_the_sync_already_applied_is_not_applied_again(
    post, endpoint, charge_event, eager
):
    from connectors.door import Door
    from connectors.sync import apply_event

    door = Door(endpoint.connection, actor=Actor.command("tests"))
    assert apply_event(endpoint.connection, charge_event, source="events", door=door)

    assert post(endpoint.path, body_of(charge_event)).status_code == 200

    assert WebhookDelivery.objects.get().status == Status.ALREADY_APPLIED
    assert AppliedEvent.objects.get().source == "events"


def test_a_delivery_is_claimed_once(post, endpoint, charge_event, queued):
    post(endpoint.path, body_of(charge_event))
    delivery_id = queued[0]

    first = process_webhook_delivery(delivery_id)
    second = process_webhook_delivery(delivery_id)  # the task message delivered again

    assert first["status"] == Status.APPLIED
    assert second["status"] == "skipped"
    assert WebhookDelivery.objects.get().status == Status.APPLIED
    assert AppliedEvent.objects.count() == 1


# Nothing is lost -----------------------------------------------------------------------


def test_a_claim_whose_worker_died_is_taken_over_by_the_sweep(
    post, endpoint, charge_event, queued, time_machine
):
    post(endpoint.path, body_of(charge_event))
    # A worker claimed it, then was killed before it applied anything.
    claimed_at = timezone.now()
    WebhookDelivery.objects.update(processed_at=claimed_at, status=Status.PROCESSING)

    assert sweep_webhook_deliveries() == []  # the claim is still fresh: it may be working
    assert process_webhook_delivery(queued[0])["status"] == "skipped"
    time_machine.move_to(claimed_at + timedelta(seconds=CLAIM_SECONDS + 1))
    swept = sweep_webhook_deliveries()

    assert [s["status"] for s in swept] == [Status.APPLIED]
    delivery = WebhookDelivery.objects.get()
    assert delivery.status == Status.APPLIED and delivery.processed_at > claimed_at
    assert Charge.objects.filter(stripe_id=object_id(charge_event)).exists()


def test_a_delivery_that_could_not_be_queued_is_answered_200_and_swept(
    post, endpoint, charge_event, monkeypatch, time_machine
):
    def broker_down(*args, **kwargs):
        raise ConnectionRefusedError("broker unreachable")

    monkeypatch.setattr(process_webhook_delivery, "apply_async", broker_down)
    r = post(endpoint.path, body_of(charge_event))

    assert r.status_code == 200  # stored: Stripe must not send it again
    assert WebhookDelivery.objects.get().status == Status.WAITING
    assert sweep_webhook_deliveries() == []  # it may still be on its way
    time_machine.move_to(timezone.now() + timedelta(minutes=6))
    assert [s["status"] for s in sweep_webhook_deliveries()] == [Status.APPLIED]
    assert sweep_webhook_deliveries() == []


def test_a_delivery_that_fails_says_why(post, client, alice, endpoint, emulator, eager):
    event = seeded_event(emulator, "charge.dispute.created")
    revoke_key(emulator, TEST_KEY)  # its charge cannot be read

    assert post(endpoint.path, body_of(event)).status_code == 200

    delivery = WebhookDelivery.objects.get()
    assert delivery.status == Status.FAILED and delivery.processed_at is not None
    assert delivery.error.startswith("Stripe refused the key")
    assert not AppliedEvent.objects.exists()  # the next sync applies it
    client.force_login(alice)
    detail = admin_page(client, DELIVERY, delivery.pk)
    assert shown_status("Failed", "bad") in detail
    assert escape(delivery.error) in detail
    assert event["id"] in admin_page(client, DELIVERIES, query="?status__exact=failed")
    assert event["id"] not in admin_page(client, DELIVERIES, query="?status__exact=applied")


def test_a_delivery_that_breaks_the_code_fails_naming_only_the_error(
    post, endpoint, charge_event, eager, monkeypatch, caplog
):
    def broken(connection, event, **kwargs):
        raise ValueError(f"cannot apply {event['data']['object']['id']}")

    monkeypatch.setattr(webhook_tasks, "apply_event", broken)

    assert post(endpoint.path, body_of(charge_event)).status_code == 200

    delivery = WebhookDelivery.objects.get()
    assert delivery.status == Status.FAILED
    # An exception's message may quote anything: staff see its kind, the log the rest.
    assert delivery.error == "ValueError (the details are in the worker's log)"
    assert f"cannot apply {object_id(charge_event)}" in caplog.text


# Applied again -------------------------------------------------------------------------


def a_failed_delivery(post, endpoint, emulator):
    """A delivery that failed because the connection's key was revoked; the key works
    again since, so the delivery can be applied now."""
    event = seeded_event(emulator, "charge.dispute.created")
    revoke_key(emulator, TEST_KEY)
    post(endpoint.path, body_of(event))
    grant_key(emulator, TEST_KEY)
    delivery = WebhookDelivery.objects.get()
    assert delivery.status == Status.FAILED and not AppliedEvent.objects.exists()
    return delivery


@pytest.fixture
def connection_admin(db):
    return member("erin", "Connection admin")


@pytest.fixture
def retry_in_admin(client, django_capture_on_commit_callbacks):
    """Choose "Apply the selected failed deliveries again" on the deliveries' page."""

    def retry(*deliveries):
        form = {
            "action": "retry_selected",
            "_selected_action": [d.pk for d in deliveries],
            "index": 0,
        }
        with django_capture_on_commit_callbacks(execute=True):
            return client.post(reverse(DELIVERIES), form, follow=True).content.decode()

    return retry


def test_staff_apply_a_failed_delivery_again_once_its_cause_is_fixed(
    post, client, connection_admin, endpoint, emulator, eager, retry_in_admin
):
    delivery = a_failed_delivery(post, endpoint, emulator)
    failed_at = delivery.processed_at
    client.force_login(connection_admin)

    page = retry_in_admin(delivery)

    assert "1 of the selected deliveries queued to be applied again" in page
    delivery.refresh_from_db()
    assert (delivery.status, delivery.error) == (Status.APPLIED, "")
    assert delivery.processed_at > failed_at
    assert Dispute.objects.filter(stripe_id=object_id(delivery.payload)).exists()
    detail = admin_page(client, DELIVERY, delivery.pk)
    assert shown_status("Applied", "good") in detail and "Stripe refused" not in detail
    assert shown_status("Applied", "good") in admin_page(client, DELIVERIES)
    retried = AuditEvent.objects.get(operation="webhook.retried")
    assert (retried.actor, retried.connection_name) == ("erin", "acme")
    assert retried.params == {"events": [delivery.event_id]}

    # Applied, it is not applied again.
    assert "1 of the selected deliveries had not failed" in retry_in_admin(delivery)
    assert AppliedEvent.objects.count() == 1
    assert AuditEvent.objects.filter(operation="webhook.retried").count() == 1


def test_a_failed_delivery_the_sync_applied_since_is_already_applied_when_retried(
    post, alice, endpoint, emulator, eager, django_capture_on_commit_callbacks
):
    from connectors.door import Door
    from connectors.sync import apply_event

    delivery = a_failed_delivery(post, endpoint, emulator)
    door = Door(endpoint.connection, actor=Actor.command("tests"))
    assert apply_event(endpoint.connection, delivery.payload, source="events", door=door)

    with django_capture_on_commit_callbacks(execute=True):
        retried = webhook_endpoints.retry_deliveries(
            WebhookDelivery.objects.all(), actor=Actor.user(alice)
        )

    assert retried == 1
    delivery.refresh_from_db()
    assert (delivery.status, delivery.error) == (Status.ALREADY_APPLIED, "")
    assert AppliedEvent.objects.get().source == "events"


def test_a_delivery_applied_again_is_applied_once_whoever_takes_it(
    post, endpoint, emulator, queued, time_machine, django_capture_on_commit_callbacks
):
    event = seeded_event(emulator, "charge.dispute.created")
    revoke_key(emulator, TEST_KEY)
    post(endpoint.path, body_of(event))
    delivery_id = queued.pop()
    assert process_webhook_delivery(delivery_id)["status"] == Status.FAILED
    grant_key(emulator, TEST_KEY)

    # Two people ask at the same moment: it is put back, and queued, once.
    with django_capture_on_commit_callbacks(execute=True):
        assert webhook_tasks.retry([delivery_id]) == [delivery_id]
        assert webhook_tasks.retry([delivery_id]) == []

    assert queued == [delivery_id]
    delivery = WebhookDelivery.objects.get()
    assert (delivery.status, delivery.error, delivery.processed_at) == (Status.WAITING, "", None)
    # It arrived long ago, so the sweep takes it as well as its task: whoever claims it first
    # applies it.
    time_machine.move_to(timezone.now() + timedelta(minutes=6))
    assert [s["status"] for s in sweep_webhook_deliveries()] == [Status.APPLIED]
    assert process_webhook_delivery(delivery_id)["status"] == "skipped"
    assert AppliedEvent.objects.count() == 1
    assert WebhookDelivery.objects.get().status == Status.APPLIED


def test_staff_who_may_not_sync_may_not_apply_a_delivery_again(
    post, client, endpoint, emulator, eager, retry_in_admin
):
    delivery = a_failed_delivery(post, endpoint, emulator)
    onlooker = User.objects.create_user("frank", is_staff=True)
    onlooker.user_permissions.set(Permission.objects.filter(codename="view_webhookdelivery"))
    client.force_login(onlooker)

    assert "retry_selected" not in admin_page(client, DELIVERIES)
    retry_in_admin(delivery)

    delivery.refresh_from_db()
    assert delivery.status == Status.FAILED and delivery.error.startswith("Stripe refused")
    assert not AuditEvent.objects.filter(operation="webhook.retried").exists()


# Refused deliveries --------------------------------------------------------------------


@pytest.mark.parametrize(
    "signature, message",
    [
        (None, "No Stripe-Signature header"),
        ("", "No Stripe-Signature header"),
        ("v1=abc", "Malformed"),
        ("t=12345", "Malformed"),
        ("t=now,v1=abc", "Malformed"),
        ("t=1700000000,v0=abc", "Malformed"),  # not the scheme Stripe signs with
        ("other", "Malformed"),
    ],
)
def test_a_missing_or_malformed_signature_is_refused(
    post, endpoint, charge_event, signature, message
):
    r = post(endpoint.path, body_of(charge_event), signature=signature)

    assert r.status_code == 400 and message in r.json()["error"]
    assert nothing_stored(endpoint)


def test_a_wrong_signature_is_refused(post, endpoint, charge_event):
    good = body_of(charge_event)
    tampered = good.replace(b'"amount": ', b'"amount": 1', 1)
    for body, signature in [
        (good, sign(good, secret=OTHER_SECRET)),  # somebody else's secret
        (tampered, sign(good)),  # the body changed after it was signed
        (good, sign(good)[:-2]),  # cut short
    ]:
        r = post(endpoint.path, body, signature=signature)
        assert r.status_code == 400, signature
        assert r.json() == {"error": "The signature does not match this endpoint's signing secret."}
    assert nothing_stored(endpoint)


def test_a_signature_among_several_is_enough(post, endpoint, charge_event, eager):
    # While a secret is rolled in Stripe's dashboard, deliveries carry one v1 per secret.
    body = body_of(charge_event)
    t = int(time.time())
    header = f"{sign(body, OTHER_SECRET, t)},{sign(body, SECRET, t).split(',')[1]}"

    assert post(endpoint.path, body, signature=header).status_code == 200


def test_a_delivery_signed_more_than_five_minutes_ago_is_refused(
    post, endpoint, charge_event, eager
):
    body = body_of(charge_event)
    signed_at = int(time.time())
    signature = sign(body, timestamp=signed_at)

    with travel(signed_at + 301, tick=False):
        late = post(endpoint.path, body, signature=signature)
    with travel(signed_at - 301, tick=False):
        early = post(endpoint.path, body, signature=signature)

    for r in (late, early):
        assert r.status_code == 400
        assert "more than 5 minutes from now: a replayed or delayed" in r.json()["error"]
    assert nothing_stored(endpoint)
    with travel(signed_at + 299, tick=False):
        assert post(endpoint.path, body, signature=signature).status_code == 200
    assert WebhookDelivery.objects.count() == 1


def test_a_replayed_delivery_is_refused_even_with_a_valid_old_signature(
    post, endpoint, charge_event, eager
):
    body = body_of(charge_event)
    captured = sign(body, timestamp=time.time() - 3600)  # seen on the wire an hour ago

    r = post(endpoint.path, body, signature=captured)

    assert r.status_code == 400 and nothing_stored(endpoint)


@pytest.mark.parametrize(
    "body, message",
    [
        (b"{not json", "The body is not JSON."),
        (b"\xff\xfe", "The body is not JSON."),
        (b"[1, 2]", "The body is not a Stripe event."),
        (b'{"object": "charge", "id": "ch_1"}', "The body is not a Stripe event."),
        (
            b'{"object": "event", "id": "evt_1", "type": "charge.succeeded", "livemode": false}',
            "The event's created, data.object is missing or malformed.",
        ),
    ],
)
def test_a_signed_body_that_is_not_an_event_is_refused(post, endpoint, body, message):
    r = post(endpoint.path, body)

    assert r.status_code == 400 and r.json() == {"error": message}
    assert nothing_stored(endpoint)


def test_a_live_event_on_a_test_connection_is_refused(post, endpoint, charge_event):
    charge_event["livemode"] = True

    r = post(endpoint.path, body_of(charge_event))

    assert r.status_code == 400
    assert r.json()["error"] == (
        "A live-mode event, but this endpoint's connection is in test mode."
    )
    assert nothing_stored(endpoint)


def test_an_unknown_or_disabled_endpoint_is_not_found_alike(post, endpoint, charge_event):
    body = body_of(charge_event)
    unknown = post("/webhooks/stripe/not-a-token/", body)
    WebhookEndpoint.objects.filter(pk=endpoint.pk).update(enabled=False)
    disabled = post(endpoint.path, body)

    assert unknown.status_code == disabled.status_code == 404
    assert unknown.content == disabled.content == b'{"error": "No such webhook endpoint."}'
    assert nothing_stored(endpoint)


def test_only_post_is_allowed(client, endpoint):
    for method in (client.get, client.put, client.delete, client.head):
        assert method(endpoint.path).status_code == 405
    assert client.get("/webhooks/stripe/not-a-token/").status_code == 405
    assert not WebhookDelivery.objects.exists()


def test_the_address_is_unguessable_and_its_own(endpoint):
    assert endpoint.path == reverse("stripe_webhook", args=[endpoint.token])
    assert endpoint.path.startswith("/webhooks/stripe/") and len(endpoint.token) >= 43


# The admin -----------------------------------------------------------------------------


ADD = "admin:connectors_webhookendpoint_add"


def hidden_value(page, name):
    start = page.index(f'name="{name}"')
    value_at = page.index('value="', start) + len('value="')
    return page[value_at : page.index('"', value_at)]


def add_endpoint(client, connection, secret=SECRET):
    page = client.get(reverse(ADD)).content.decode()
    form = {
        "connection": connection.pk,
        "secret": secret,
        "enabled": "on",
        "signed_token": hidden_value(page, "signed_token"),
    }
    return page, client.post(reverse(ADD), form, follow=True)


def test_staff_add_an_endpoint_seeing_its_address_first(client, alice, connection):
    client.force_login(alice)

    page, r = add_endpoint(client, connection)

    endpoint = WebhookEndpoint.objects.get()
    # The address shown before saving is the one saved.
    assert f"http://testserver/webhooks/stripe/{endpoint.token}/" in page
    assert r.status_code == 200 and endpoint.connection == connection
    assert endpoint.signing_secret == SECRET and endpoint.secret_last4 == "Ab12"
    change = client.get(reverse(CHANGE, args=[endpoint.pk])).content.decode()
    assert f"http://testserver{endpoint.path}" in change
    assert "whsec_…Ab12" in change and "none yet" in change
    created = AuditEvent.objects.get(operation="webhook.created")
    assert (created.actor, created.connection_name) == ("alice", "acme")
    assert created.params == {"secret": "whsec_…Ab12", "enabled": True}


@pytest.mark.parametrize(
    "secret, message",
    [
        ("", "Paste the endpoint&#x27;s signing secret."),
        (TEST_KEY, "That is a Stripe API key, not a webhook signing secret."),
        ("sEcReT" + SECRET[6:], "A webhook signing secret starts with whsec_."),
        ("whsec_short", "This signing secret is incomplete"),
        (SECRET[:20] + " " + SECRET[20:], "This signing secret is incomplete"),
    ],
)
def test_a_bad_secret_is_refused_and_not_shown_back(client, alice, connection, secret, message):
    client.force_login(alice)

    _, r = add_endpoint(client, connection, secret)

    page = r.content.decode()
    assert r.status_code == 200 and message in page
    assert not WebhookEndpoint.objects.exists()
    assert not AuditEvent.objects.filter(operation__startswith="webhook.").exists()
    if secret:
        assert secret[6:] not in page and TEST_KEY[8:] not in page


def test_an_altered_address_is_replaced_not_trusted(client, alice, connection):
    client.force_login(alice)
    form = {
        "connection": connection.pk,
        "secret": SECRET,
        "enabled": "on",
        "signed_token": "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa",
    }

    r = client.post(reverse(ADD), form)

    assert r.status_code == 200 and "the address above is a new one" in r.content.decode()
    assert not WebhookEndpoint.objects.exists()
    form["signed_token"] = hidden_value(r.content.decode(), "signed_token")
    client.post(reverse(ADD), form)
    assert WebhookEndpoint.objects.get().token != "a" * 43


def test_staff_rotate_the_secret_or_keep_it(client, alice, endpoint):
    client.force_login(alice)
    url = reverse(CHANGE, args=[endpoint.pk])

    client.post(url, {"secret": "", "enabled": "on"})
    endpoint.refresh_from_db()
    assert endpoint.signing_secret == SECRET
    client.post(url, {"secret": ROTATED, "enabled": "on"})
    endpoint.refresh_from_db()
    assert endpoint.signing_secret == ROTATED and endpoint.secret_last4 == "Cd34"

    operations = list(
        AuditEvent.objects.filter(operation__startswith="webhook.")
        .order_by("id")
        .values_list("operation", "params")
    )
    assert operations == [
        ("webhook.created", {"secret": "whsec_…Ab12", "enabled": True}),
        ("webhook.changed", {"secret": "whsec_…Ab12", "enabled": True}),
        ("webhook.secret_rotated", {"secret": "whsec_…Cd34", "enabled": True}),
    ]


def test_a_rotated_secret_is_the_one_checked(post, alice, endpoint, charge_event, queued):
    webhook_endpoints.save_endpoint(endpoint, secret=ROTATED, actor=Actor.user(alice))
    body = body_of(charge_event)

    assert post(endpoint.path, body, signature=sign(body, SECRET)).status_code == 400
    assert post(endpoint.path, body, signature=sign(body, ROTATED)).status_code == 200


def test_staff_see_the_deliveries_read_only(post, client, alice, endpoint, charge_event, eager):
    post(endpoint.path, body_of(charge_event))
    client.force_login(alice)
    delivery = WebhookDelivery.objects.get()

    listing = admin_page(client, DELIVERIES)
    detail = admin_page(client, DELIVERY, delivery.pk)
    change = admin_page(client, CHANGE, endpoint.pk)

    for page in (listing, detail, change):
        assert charge_event["id"] in page and "charge.succeeded" in page
        assert shown_status("Applied", "good") in page
    assert object_id(charge_event) in detail
    assert charge_event["id"] in admin_page(client, DELIVERIES, query="?status__exact=applied")
    assert charge_event["id"] not in admin_page(client, DELIVERIES, query="?status__exact=failed")
    assert 'name="_save"' not in detail  # read-only
    assert client.get(reverse("admin:connectors_webhookdelivery_add")).status_code == 403


def test_staff_see_nothing_of_a_refused_delivery(post, client, alice, endpoint, charge_event):
    body = body_of(charge_event)

    assert post(endpoint.path, body, signature=sign(body, secret=OTHER_SECRET)).status_code == 400

    client.force_login(alice)
    listing = admin_page(client, DELIVERIES)
    assert "0 webhook deliveries" in listing and charge_event["id"] not in listing
    assert "none yet" in admin_page(client, CHANGE, endpoint.pk)


def test_deleting_an_endpoint_is_recorded(client, alice, endpoint):
    client.force_login(alice)

    client.post(
        reverse("admin:connectors_webhookendpoint_delete", args=[endpoint.pk]), {"post": "yes"}
    )

    assert not WebhookEndpoint.objects.exists()
    deleted = AuditEvent.objects.get(operation="webhook.deleted")
    assert deleted.params == {"secret": "whsec_…Ab12"}


# The secret stays secret ---------------------------------------------------------------


def fragments(secret):
    return [secret, secret[6:], secret[6:-4]]


def test_the_secret_appears_nowhere_after_a_full_run(
    post, client, alice, connection, emulator, caplog, eager
):
    caplog.set_level(logging.DEBUG)
    client.force_login(alice)
    seen = []

    page, r = add_endpoint(client, connection)
    seen += [page, r.content.decode()]
    endpoint = WebhookEndpoint.objects.get()
    change = reverse(CHANGE, args=[endpoint.pk])
    seen.append(client.post(change, {"secret": ROTATED, "enabled": "on"}).content)
    seen.append(client.post(change, {"secret": "nope"}).content)
    seen.append(client.get(reverse(CHANGE, args=[endpoint.pk])).content)
    seen.append(client.get(reverse("admin:connectors_webhookendpoint_changelist")).content)
    event = seeded_event(emulator, "charge.succeeded")
    body = body_of(event)
    for signature in (sign(body, ROTATED), sign(body, SECRET), sign(body, ROTATED, 1), "x"):
        seen.append(post(endpoint.path, body, signature=signature).content)
    seen.append(client.get(reverse("admin:connectors_webhookdelivery_changelist")).content)
    seen.append(repr(endpoint) + str(endpoint))
    seen.append(caplog.text)
    seen += [json.dumps(row, default=str) for row in AuditEvent.objects.values()]
    with db.cursor() as cursor:
        cursor.execute("SELECT signing_secret FROM connectors_webhookendpoint")
        seen.append(cursor.fetchone()[0])  # encrypted at rest

    text = "\n".join(s.decode() if isinstance(s, bytes) else s for s in seen)
    for secret in (SECRET, ROTATED):
        for fragment in fragments(secret):
            assert fragment not in text
    assert "whsec_…Cd34" in text  # what staff see instead
    assert WebhookDelivery.objects.get().status == Status.APPLIED


# A real worker, a real HTTP server, the emulator's own webhook sender ------------------


@pytest.mark.worker
@pytest.mark.django_db(transaction=True)
def test_a_worker_applies_what_the_emulator_delivers(live_server, alice, settings):
    store = EmulatorStore()
    seed_account(store, seed=5, now=int(time.time()))
    with StripeEmulator(store, keys=[TEST_KEY]) as emulator:
        settings.STRIPE_API_BASE = emulator.url
        settings.STRIPE_RETRY_BASE_DELAY = 0.001
        settings.STRIPE_RETRY_MAX_DELAY = 0.01
        settings.STRIPE_RATE_LIMIT_TEST = 10_000
        conn = StripeConnection(name="acme")
        connections.save_key(conn, TEST_KEY, actor=Actor.user(alice))
        endpoint = webhook_endpoints.save_endpoint(
            WebhookEndpoint(connection=conn), secret=SECRET, actor=Actor.user(alice)
        )
        sender = WebhookSender(f"{live_server.url}{endpoint.path}", SECRET)
        changes = AccountChanges(store, seed=1)
        changes.listeners.append(sender.deliver)

        with celery_worker() as queue:
            settings.LUMEN_WEBHOOK_QUEUE = queue
            charged = changes.new_charge()
            charge = next(e for e in charged if e["type"] == "charge.succeeded")
            disputed = changes.new_dispute(object_id(charge))
            sender.send(charged[0])  # Stripe delivering one again
            events = charged + disputed
            wait_until_processed(len(events))

    assert [d.status for d in sender.deliveries] == [200] * (len(events) + 1)
    assert json.loads(sender.deliveries[-1].response) == {"received": True, "duplicate": True}
    assert WebhookDelivery.objects.count() == len(events)
    assert set(WebhookDelivery.objects.values_list("status", "error")) == {(Status.APPLIED, "")}
    assert set(AppliedEvent.objects.values_list("stripe_id", flat=True)) == {
        e["id"] for e in events
    }
    assert Charge.objects.get(stripe_id=object_id(charge)).raw["disputed"] is True
    assert Dispute.objects.filter(stripe_id=object_id(disputed[0])).exists()
    reads = AuditEvent.objects.filter(actor_kind="webhook", method="GET")
    assert reads.exists() and all(r.origin.startswith("webhook_delivery:") for r in reads)


def wait_until_processed(count, timeout=120):
    deadline = time.monotonic() + timeout
    done = WebhookDelivery.objects.exclude(status__in=[Status.WAITING, Status.PROCESSING])
    while done.count() < count:
        assert time.monotonic() < deadline, "the worker did not apply the deliveries in time"
        time.sleep(0.2)


# Upgrading -----------------------------------------------------------------------------

BEFORE_STATUS = ("connectors", "0011_subscription_cancel_at")


@pytest.mark.django_db(transaction=True)
def test_the_upgrade_reads_each_status_and_error_from_the_old_outcome():
    # Before, one free-text outcome held both.
    outcomes = {
        "evt_waiting": "",
        "evt_processing": "processing",
        "evt_applied": "applied",
        "evt_already": "already applied",
        "evt_refused": "failed: Stripe refused the key (revoked or rotated): paste a new key.",
        "evt_broken": "failed: KeyError",
    }
    apps = migrate(BEFORE_STATUS)
    try:
        conn = apps.get_model("connectors", "StripeConnection").objects.create(name="old")
        endpoint = apps.get_model("connectors", "WebhookEndpoint").objects.create(
            connection=conn, signing_secret=SECRET, secret_last4="Ab12"
        )
        for event_id, outcome in outcomes.items():
            apps.get_model("connectors", "WebhookDelivery").objects.create(
                endpoint=endpoint, event_id=event_id, event_type="charge.succeeded",
                payload={}, outcome=outcome,
            )  # fmt: skip
    finally:
        migrate()

    rows = WebhookDelivery.objects.values_list("event_id", "status", "error")
    assert {event_id: (status, error) for event_id, status, error in rows} == {
        "evt_waiting": (Status.WAITING, ""),
        "evt_processing": (Status.PROCESSING, ""),
        "evt_applied": (Status.APPLIED, ""),
        "evt_already": (Status.ALREADY_APPLIED, ""),
        "evt_refused": (
            Status.FAILED,
            "Stripe refused the key (revoked or rotated): paste a new key.",
        ),
        "evt_broken": (Status.FAILED, "KeyError"),
    }
