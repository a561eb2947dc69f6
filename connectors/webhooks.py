"""Stripe webhooks, the receiving side: the public endpoint Stripe posts a connection's events
to, and the checks a delivery must pass. What staff do (set an endpoint up, rotate its
signing secret, have a failed delivery applied again) is in connectors.webhook_endpoints.

A delivery is checked (its HMAC-SHA256 signature over "<t>.<body>" with the endpoint's
signing secret, its timestamp within five minutes, its body an event of the connection's
mode), stored as a WebhookDelivery and answered 200 at once; a Celery worker applies it to
the mirror (connectors.webhook_tasks). A delivery that fails a check is answered 400 and
leaves nothing behind but a log line. Checking a signature is not a call to Stripe, so it
happens here rather than in the door.

The signing secret is decrypted here and nowhere else; what this module answers and logs
never quotes it.
"""

import hashlib
import hmac
import json
import logging

from django.db import IntegrityError, transaction
from django.http import JsonResponse
from django.utils import timezone
from django.views.decorators.csrf import csrf_exempt
from django.views.decorators.debug import sensitive_variables
from django.views.decorators.http import require_POST

from connectors.models import WebhookDelivery, WebhookEndpoint
from connectors.webhook_tasks import enqueue

log = logging.getLogger(__name__)

TOLERANCE_SECONDS = 300  # Stripe's own libraries refuse deliveries signed longer ago


class RefusedDelivery(Exception):
    """Why a delivery is refused. The message is safe to answer and to log."""


# Checking a delivery ----------------------------------------------------------------------


# An error page or error mail never shows the secret, nor a signature made with it.
@sensitive_variables("secret", "expected")
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
@sensitive_variables("secret")
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
