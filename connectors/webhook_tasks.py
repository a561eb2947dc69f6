"""Applying stored webhook deliveries to the mirror, in a Celery worker.

A delivery goes through three states, all on its own row:

    waiting      processed_at null, outcome ""
    processing   processed_at = when a worker claimed it, outcome "processing"
    done         processed_at = when it finished, outcome "applied", "already applied"
                 or "failed: …"

A worker claims a delivery with a compare-and-set update (waiting -> processing), so two
workers handed the same delivery (a task message delivered again, the sweep) never both
apply it; the event itself is applied at most once in any case (AppliedEvent). A worker that
dies after claiming leaves its claim behind; the sweep takes over claims older than
CLAIM_SECONDS, and deliveries whose task was never queued (the broker was down).

A failed delivery is not retried here: every event Stripe delivers is also on /v1/events,
so the next sync applies it.
"""

import logging
from datetime import timedelta

from celery import shared_task
from django.db.models import Q
from django.utils import timezone

from audit.recorder import Actor
from connectors.door import Door, DoorError
from connectors.models import WebhookDelivery
from connectors.sync import apply_event

log = logging.getLogger(__name__)

PROCESSING = "processing"
# Longer than any delivery takes: applying one event reads Stripe at most a few times, and
# the door gives up on a request after about two minutes of retries.
CLAIM_SECONDS = 15 * 60
# A delivery still waiting this long after it arrived was never queued, or its task lost.
UNQUEUED_SECONDS = 5 * 60
OUTCOME_LENGTH = WebhookDelivery._meta.get_field("outcome").max_length


@shared_task
def process_webhook_delivery(delivery_id):
    """Apply one stored delivery (by id). Safe to run twice, or at the same time twice."""
    return process(delivery_id, previous_claim=None)


@shared_task
def sweep_webhook_deliveries():
    """Apply deliveries that were never queued, or whose worker died while applying them.
    Run it every few minutes (a periodic task); it is cheap when there is nothing to do."""
    now = timezone.now()
    unfinished = WebhookDelivery.objects.filter(outcome__in=["", PROCESSING]).filter(
        Q(processed_at__isnull=True, received_at__lt=now - timedelta(seconds=UNQUEUED_SECONDS))
        | Q(outcome=PROCESSING, processed_at__lt=now - timedelta(seconds=CLAIM_SECONDS))
    )
    return [
        process(delivery_id, previous_claim=claimed_at)
        for delivery_id, claimed_at in unfinished.order_by("pk").values_list("pk", "processed_at")
    ]


def process(delivery_id, previous_claim):
    """Claim the delivery (still waiting, or still held by the claim made at
    `previous_claim`), apply its event, record the outcome."""
    claimed_at = timezone.now()
    still = WebhookDelivery.objects.filter(pk=delivery_id, processed_at=previous_claim)
    if previous_claim is not None:
        still = still.filter(outcome=PROCESSING)
    if not still.update(processed_at=claimed_at, outcome=PROCESSING):
        return {"delivery": delivery_id, "outcome": "skipped (done or being applied)"}

    delivery = WebhookDelivery.objects.select_related("endpoint__connection").get(pk=delivery_id)
    outcome = apply_delivery(delivery)

    # Only the holder of this claim records: a claim taken over by the sweep is not ours.
    WebhookDelivery.objects.filter(
        pk=delivery_id, outcome=PROCESSING, processed_at=claimed_at
    ).update(processed_at=timezone.now(), outcome=outcome[:OUTCOME_LENGTH])
    return {"delivery": delivery_id, "event": delivery.event_id, "outcome": outcome}


def apply_delivery(delivery):
    endpoint = delivery.endpoint
    door = Door(
        endpoint.connection,
        actor=Actor.webhook(str(endpoint)),
        origin=f"webhook_delivery:{delivery.pk}",
    )
    try:
        applied = apply_event(endpoint.connection, delivery.payload, source="webhook", door=door)
    except DoorError as error:
        # Its message is safe to show staff (the door's promise).
        log.warning("Webhook delivery %s (%s) failed: %s", delivery.pk, delivery.event_id, error)
        return f"failed: {error}"
    except Exception as error:
        # A poison delivery must end, not be retried forever; the traceback goes to the log.
        log.exception("Webhook delivery %s (%s) failed", delivery.pk, delivery.event_id)
        return f"failed: {type(error).__name__}"
    return "applied" if applied else "already applied"
