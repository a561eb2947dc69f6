"""Stripe webhooks: the endpoint Stripe posts a connection's events to, and the staff actions
that set it up (create, rotate the signing secret, delete).

A delivery is checked (its HMAC-SHA256 signature over "<t>.<body>" with the endpoint's
signing secret, its timestamp within five minutes, its body an event of the connection's
mode), stored as a WebhookDelivery and answered 200 at once; a Celery worker applies it to
the mirror (connectors.webhook_tasks). A delivery that fails a check is answered 400 and
leaves nothing behind but a log line. Checking a signature is not a call to Stripe, so it
happens here rather than in the door.

The signing secret is decrypted here and nowhere else; what this module answers, logs and
records says `whsec_…abcd` at most.
"""

import hashlib
import hmac
import json
import logging
import re

from django.conf import settings
from django.core.exceptions import ValidationError
from django.db import IntegrityError, transaction
from django.http import JsonResponse
from django.utils import timezone
from django.views.decorators.csrf import csrf_exempt
from django.views.decorators.debug import sensitive_variables
from django.views.decorators.http import require_POST

from connectors.connections import record_action
from connectors.models import WebhookDelivery, WebhookEndpoint
from connectors.webhook_tasks import process_webhook_delivery

log = logging.getLogger(__name__)

TOLERANCE_SECONDS = 300  # Stripe's own libraries refuse deliveries signed longer ago
WHSEC_PREFIX = "whsec_"
SECRET_SHAPE = re.compile(r"whsec_[A-Za-z0-9_+/=-]{16,200}")
WHERE_TO_COPY_IT_FROM = (
    "Copy it from Stripe's dashboard: Developers → Webhooks → this endpoint → Signing secret."
)


class RefusedDelivery(Exception):
    """Why a delivery is refused. The message is safe to answer and to log."""


# Checking a delivery ----------------------------------------------------------------------


def verify_signature(payload, header, secret, now, tolerance=TOLERANCE_SECONDS):
    """Check a Stripe-Signature header (`t=<unix time>,v1=<hex>[,v1=<hex>...]`) against the
    raw body. The signature is checked first, so that only a holder of the secret learns
    whether its timestamp was the problem."""
    if not header:
        raise RefusedDelivery("No Stripe-Signature header.")
    timestamp, signatures = None, []
    for item in header.split(","):
        name, _, value = item.strip().partition("=")
        if name == "t" and value.isascii() and value.isdigit():
            timestamp = int(value)
        elif name == "v1":
            signatures.append(value.encode())
    if timestamp is None or not signatures:
        raise RefusedDelivery("Malformed Stripe-Signature header.")
    signed = str(timestamp).encode() + b"." + payload
    expected = hmac.new(secret.encode(), signed, hashlib.sha256).hexdigest().encode()
    # Every candidate is compared, in constant time, so the time taken says nothing.
    if not sum(hmac.compare_digest(expected, s) for s in signatures):
        raise RefusedDelivery("The signature does not match this endpoint's signing secret.")
    if abs(now - timestamp) > tolerance:
        raise RefusedDelivery(
            f"The signature's timestamp is more than {tolerance // 60} minutes from now: "
            "a replayed or delayed delivery."
        )


def parse_event(payload):
    """The event a verified body carries, with the fields Lumen relies on checked."""
    try:
        event = json.loads(payload)
    except ValueError:  # includes UnicodeDecodeError
        raise RefusedDelivery("The body is not JSON.") from None
    if not isinstance(event, dict) or event.get("object") != "event":
        raise RefusedDelivery("The body is not a Stripe event.")
    checks = {
        "id": isinstance(event.get("id"), str) and 0 < len(event["id"]) <= 255,
        "type": isinstance(event.get("type"), str) and 0 < len(event["type"]) <= 128,
        "created": isinstance(event.get("created"), int),
        "livemode": isinstance(event.get("livemode"), bool),
        "data.object": isinstance((event.get("data") or {}).get("object"), dict),
    }
    missing = [name for name, ok in checks.items() if not ok]
    if missing:
        raise RefusedDelivery(f"The event's {', '.join(missing)} is missing or malformed.")
    return event


def check_mode(event, connection):
    if event["livemode"] != (connection.mode == connection.Mode.LIVE):
        event_mode = "live" if event["livemode"] else "test"
        raise RefusedDelivery(
            f"A {event_mode}-mode event, but this endpoint's connection is in "
            f"{connection.mode} mode."
        )


# The endpoint -----------------------------------------------------------------------------


def not_found():
    # One answer for an unknown token and a disabled endpoint: the caller learns nothing.
    return JsonResponse({"error": "No such webhook endpoint."}, status=404)


@csrf_exempt
@require_POST
def stripe_webhook(request, token):
    endpoint = (
        WebhookEndpoint.objects.select_related("connection")
        .filter(token=token, enabled=True)
        .first()
    )
    secret = endpoint.signing_secret if endpoint else ""
    if not secret:
        return not_found()
    payload = request.body
    try:
        verify_signature(
            payload,
            request.headers.get("Stripe-Signature", ""),
            secret,
            now=timezone.now().timestamp(),
        )
        event = parse_event(payload)
        check_mode(event, endpoint.connection)
    except RefusedDelivery as refusal:
        log.warning("Webhook delivery refused (%s): %s", endpoint, refusal)
        return JsonResponse({"error": str(refusal)}, status=400)
    delivery = store_delivery(endpoint, event)
    if delivery is None:
        return JsonResponse({"received": True, "duplicate": True})
    return JsonResponse({"received": True})


def store_delivery(endpoint, event):
    """Store a verified delivery and queue its processing once the row is committed.
    Returns None when a delivery of the same event was stored before (Stripe delivers at
    least once; the event is applied once either way)."""
    with transaction.atomic():
        if WebhookDelivery.objects.filter(endpoint=endpoint, event_id=event["id"]).exists():
            return None
        try:
            with transaction.atomic():
                delivery = WebhookDelivery.objects.create(
                    endpoint=endpoint,
                    event_id=event["id"],
                    event_type=event["type"],
                    payload=event,
                )
        except IntegrityError:
            # The same event arriving twice at once, if deliveries are unique per event.
            return None
        WebhookEndpoint.objects.filter(pk=endpoint.pk).update(last_delivery_at=delivery.received_at)
        transaction.on_commit(lambda: enqueue(delivery.pk))
    return delivery


def enqueue(delivery_id):
    # A dedicated queue keeps webhooks from waiting behind a long backfill.
    queue = settings.LUMEN_WEBHOOK_QUEUE
    try:
        options = {"queue": queue} if queue else {}
        process_webhook_delivery.apply_async(args=[delivery_id], **options)
    except Exception:
        # The delivery is committed; answering 500 would only make Stripe send it again.
        # The sweep (webhook_tasks.sweep_webhook_deliveries) applies what was never queued.
        log.exception("Webhook delivery %s stored, not queued; the sweep applies it", delivery_id)


# What staff do ----------------------------------------------------------------------------


def masked_secret(endpoint):
    return f"{WHSEC_PREFIX}…{endpoint.secret_last4}" if endpoint.secret_last4 else ""


@sensitive_variables("secret")
def check_signing_secret(secret):
    """The pasted secret, stripped; a ValidationError (which never repeats it) otherwise."""
    secret = (secret or "").strip()
    if secret.startswith(("sk_", "rk_", "pk_")):
        raise ValidationError(
            "That is a Stripe API key, not a webhook signing secret. " + WHERE_TO_COPY_IT_FROM,
            code="api_key",
        )
    if not secret.startswith(WHSEC_PREFIX):
        raise ValidationError(
            f"A webhook signing secret starts with {WHSEC_PREFIX}. " + WHERE_TO_COPY_IT_FROM,
            code="prefix",
        )
    if not SECRET_SHAPE.fullmatch(secret):
        raise ValidationError(
            "This signing secret is incomplete or has characters a secret never has "
            "(spaces, quotes). " + WHERE_TO_COPY_IT_FROM,
            code="malformed",
        )
    return secret


@sensitive_variables("secret")
def save_endpoint(endpoint, *, secret="", actor, origin=""):
    """Create an endpoint, or change one (a new `secret` rotates it; blank keeps it).
    Raises ValidationError for a bad secret, in which case nothing is saved."""
    creating = endpoint.pk is None
    if creating and not secret:
        raise ValidationError("Paste the endpoint's signing secret. " + WHERE_TO_COPY_IT_FROM)
    if secret:
        secret = check_signing_secret(secret)
        endpoint.signing_secret = secret
        endpoint.secret_last4 = secret[-4:]
    if creating:
        operation = "webhook.created"
    elif secret:
        operation = "webhook.secret_rotated"
    else:
        operation = "webhook.changed"
    with transaction.atomic():
        endpoint.save()
        record_action(
            endpoint.connection,
            actor,
            operation,
            origin,
            secret=masked_secret(endpoint),
            enabled=endpoint.enabled,
        )
    return endpoint


def delete_endpoint(endpoint, *, actor, origin=""):
    with transaction.atomic():
        record_action(
            endpoint.connection, actor, "webhook.deleted", origin, secret=masked_secret(endpoint)
        )
        endpoint.delete()
