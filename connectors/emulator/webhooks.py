"""Webhook deliveries as Stripe makes them: an event's JSON POSTed to an endpoint with a
`Stripe-Signature: t=<unix time>,v1=<hex HMAC-SHA256 of "<t>.<body>" keyed by the
endpoint's whsec_ secret>` header. The header is computed here, independently of the
`stripe` library, so the library's verify_header() checks it as it checks Stripe's.

A test can also deliver what Stripe never would but an attacker or a network might: the
same delivery twice, a body signed with another secret, or an old timestamp (a replay).

    sender = WebhookSender(url, "whsec_...")
    changes.listeners.append(sender.deliver)    # every change's events, as they happen
    sender.send(event, timestamp=time.time() - 600)   # a replay, ten minutes late
"""

import hashlib
import hmac
import json
import threading
import time
import urllib.error
import urllib.request
from dataclasses import dataclass

USER_AGENT = "Stripe/1.0 (+https://stripe.com/docs/webhooks)"


def signature_header(payload, secret: str, timestamp: int) -> str:
    """The Stripe-Signature header for `payload` (bytes or str) signed at `timestamp`."""
    body = payload.encode() if isinstance(payload, str) else bytes(payload)
    signed = f"{int(timestamp)}.".encode() + body
    digest = hmac.new(secret.encode(), signed, hashlib.sha256).hexdigest()
    return f"t={int(timestamp)},v1={digest}"


def event_payload(event: dict) -> bytes:
    """An event's body as Stripe sends it: pretty-printed JSON."""
    return json.dumps(event, indent=2, ensure_ascii=False).encode()


@dataclass(frozen=True)
class Delivery:
    event_id: str
    status: int | None  # None when the endpoint could not be reached
    payload: bytes
    signature: str
    response: bytes = b""
    error: str | None = None

    @property
    def delivered(self) -> bool:
        return self.status is not None and 200 <= self.status < 300


class WebhookSender:
    def __init__(self, url: str, secret: str, timeout: float = 10.0):
        if not url.startswith(("http://", "https://")):
            raise ValueError("The webhook URL must start with http:// or https://")
        if not secret.startswith("whsec_"):
            raise ValueError("A webhook signing secret starts with whsec_")
        self.url = url
        self.secret = secret
        self.timeout = timeout
        self.deliveries = []  # every Delivery, in order
        self._lock = threading.Lock()

    def deliver(self, events) -> list:
        """Send each event once, signed now: what Stripe does after a change."""
        return [self.send(event) for event in events]

    def send(self, event, *, timestamp=None, secret=None, signature=None) -> Delivery:
        """Deliver one event (a dict, or a body already encoded). `timestamp`: the Unix time
        to sign with (default: now; an old one makes a replay). `secret`: sign with this one
        instead (a bad signature). `signature`: send this header exactly."""
        payload = event if isinstance(event, bytes) else event_payload(event)
        event_id = json.loads(payload).get("id", "")
        if signature is None:
            moment = int(time.time() if timestamp is None else timestamp)
            signature = signature_header(payload, secret or self.secret, moment)
        request = urllib.request.Request(  # noqa: S310 (the scheme is checked in __init__)
            self.url,
            data=payload,
            method="POST",
            headers={
                "Content-Type": "application/json; charset=utf-8",
                "User-Agent": USER_AGENT,
                "Stripe-Signature": signature,
            },
        )
        try:
            with urllib.request.urlopen(request, timeout=self.timeout) as answer:  # noqa: S310
                delivery = Delivery(event_id, answer.status, payload, signature, answer.read())
        except urllib.error.HTTPError as error:
            delivery = Delivery(event_id, error.code, payload, signature, error.read())
        except (urllib.error.URLError, OSError) as error:
            delivery = Delivery(event_id, None, payload, signature, error=str(error))
        with self._lock:
            self.deliveries.append(delivery)
        return delivery
