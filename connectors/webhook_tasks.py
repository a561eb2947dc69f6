"""Applying stored webhook deliveries to the mirror, in a Celery worker.

A delivery's status (WebhookDelivery.Status) is kept on its own row:

    waiting      processed_at null
    processing   processed_at = when a worker claimed it
    applied, already applied, failed
                 processed_at = when it finished; `error` says why it failed

A worker claims a delivery with a compare-and-set update (waiting -> processing), so two
workers handed the same delivery (a task message delivered again, the sweep, a retry) never
both apply it; the event itself is applied at most once in any case (AppliedEvent). A worker
that dies after claiming leaves its claim behind; the sweep takes over claims older than
CLAIM_SECONDS, and deliveries whose task was never queued (the broker was down).

A failed delivery is not retried on its own: every event Stripe delivers is also on
/v1/events, so the next sync applies it. Staff may have it applied again once its cause is
fixed (a revoked key, say): `retry` puts it back to waiting (failed -> waiting, again by
compare-and-set) and queues it.
"""

import logging
from datetime import timedelta

from celery import shared_task
from django.conf import settings
from django.db import transaction
from django.db.models import Q
from django.utils import timezone

from audit.recorder import Actor
from connectors.door import Door, DoorError
from connectors.models import WebhookDelivery
from connectors.sync import apply_event

log = logging.getLogger(__name__)

Status = WebhookDelivery.Status
# Longer than any delivery takes: applying one event reads Stripe at most a few times, and
# the door gives up on a request after about two minutes of retries.
CLAIM_SECONDS = 15 * 60
# A delivery still waiting this long after it arrived was never queued, or its task lost.
UNQUEUED_SECONDS = 5 * 60


@shared_task
def process_webhook_delivery(delivery_id):
    """Apply one stored delivery (by id). Safe to run twice, or at the same time twice."""
    return process(delivery_id, previous_claim=None)


@shared_task
def sweep_webhook_deliveries():
    """Apply deliveries that were never queued, or whose worker died while applying them.
    Run it every few minutes (a periodic task); it is cheap when there is nothing to do."""
    now = timezone.now()
    unfinished = WebhookDelivery.objects.filter(
        Q(status=Status.WAITING, received_at__lt=now - timedelta(seconds=UNQUEUED_SECONDS))
        | Q(status=Status.PROCESSING, processed_at__lt=now - timedelta(seconds=CLAIM_SECONDS))
    )
    return [
        process(delivery_id, previous_claim=claimed_at)
        for delivery_id, claimed_at in unfinished.order_by("pk").values_list("pk", "processed_at")
    ]


def enqueue(delivery_id):
    # A dedicated queue keeps webhooks from waiting behind a long backfill.
    queue = settings.LUMEN_WEBHOOK_QUEUE
    try:
        options = {"queue": queue} if queue else {}
        process_webhook_delivery.apply_async(args=[delivery_id], **options)
    except Exception:
        # The delivery is committed; failing its caller (answering Stripe 500, say) would
        # only have it sent again. The sweep applies what was never queued.
        log.exception("Webhook delivery %s stored, not queued; the sweep applies it", delivery_id)


def retry(delivery_ids):
    """Put failed deliveries back to waiting and queue each once that is committed. Returns
    the ids put back: any other (not failed, or put back by somebody else at the same
    moment) is left as it is. A retried delivery's old error goes: `error` is only ever the
    reason for its current failure. Having arrived long ago, it is the sweep's to take as
    well as its task's: whichever claims it first applies it."""
    retried = []
    for delivery_id in delivery_ids:
        with transaction.atomic():
            again = WebhookDelivery.objects.filter(pk=delivery_id, status=Status.FAILED).update(
                status=Status.WAITING, processed_at=None, error=""
            )
            if again:
                retried.append(delivery_id)
                transaction.on_commit(lambda delivery_id=delivery_id: enqueue(delivery_id))
    return retried


def process(delivery_id, previous_claim):
    """Claim the delivery (still waiting, or still held by the claim made at
    `previous_claim`), apply its event, record its status."""
    claimed_at = timezone.now()
    if previous_claim is None:
        still = WebhookDelivery.objects.filter(pk=delivery_id, status=Status.WAITING)
    else:
        still = WebhookDelivery.objects.filter(
            pk=delivery_id, status=Status.PROCESSING, processed_at=previous_claim
        )
    if not still.update(status=Status.PROCESSING, processed_at=claimed_at, error=""):
        return {"delivery": delivery_id, "status": "skipped", "message": "done or being applied"}

    delivery = WebhookDelivery.objects.select_related("endpoint__connection").get(pk=delivery_id)
    status, error = apply_delivery(delivery)

    # Only the holder of this claim records: a claim taken over by the sweep is not ours.
    WebhookDelivery.objects.filter(
        pk=delivery_id, status=Status.PROCESSING, processed_at=claimed_at
    ).update(status=status, error=error, processed_at=timezone.now())
    return {"delivery": delivery_id, "event": delivery.event_id, "status": status, "error": error}


def apply_delivery(delivery):
    """Apply the delivery's event: its new status, and why if it failed."""
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
        return Status.FAILED, str(error)
    except Exception as error:
        # A poison delivery must end, not be retried forever; the traceback goes to the log,
        # and only the exception's class to staff (its message may quote anything).
        log.exception("Webhook delivery %s (%s) failed", delivery.pk, delivery.event_id)
        return Status.FAILED, f"{type(error).__name__} (the details are in the worker's log)"
    return (Status.APPLIED if applied else Status.ALREADY_APPLIED), ""
