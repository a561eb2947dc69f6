"""Applying Stripe events to the mirror, whether polled from /v1/events or delivered by a
webhook. Each event is applied once (AppliedEvent is unique per connection and event id), and
the object it carries is stored with the event's time, so it never overwrites a version
read later."""

from django.db import transaction

from connectors.models import AppliedEvent
from connectors.models.mirror import MODEL_OF_OBJECT, when
from connectors.sync.upsert import PageResult, lock_mirror, store_objects


def complete_invoice_lines(door, invoice):
    """An invoice embeds at most some of its lines; read the rest through the door."""
    lines = invoice.get("lines") or {}
    if not lines.get("has_more") or not lines.get("data"):
        return invoice
    rest = list(
        door.iter_list(f"invoices/{invoice['id']}/lines", starting_after=lines["data"][-1]["id"])
    )
    return {**invoice, "lines": {**lines, "data": lines["data"] + rest, "has_more": False}}


def event_object(event):
    """(resource, object) of an event, or (None, object) for a kind Lumen does not mirror."""
    obj = (event.get("data") or {}).get("object") or {}
    model = MODEL_OF_OBJECT.get(obj.get("object"))
    if model and event.get("type", "").endswith(".deleted"):
        obj = {**obj, "deleted": True}
    return (model.resource if model else None), obj


def apply_event(connection, event, *, source, door, result=None):
    """Apply one event. Returns False when this event id was applied before."""
    result = result if result is not None else PageResult()
    resource, obj = event_object(event)
    if AppliedEvent.objects.filter(connection=connection, stripe_id=event["id"]).exists():
        return False
    if resource == "invoices":
        obj = complete_invoice_lines(door, obj)  # reads happen outside the transaction
    with transaction.atomic():
        lock_mirror(connection)
        # Checked again under the lock: a webhook and a poll may carry the same event.
        if AppliedEvent.objects.filter(connection=connection, stripe_id=event["id"]).exists():
            return False
        if resource:
            store_objects(connection, resource, [obj], when(event["created"]), result)
        AppliedEvent.objects.create(
            connection=connection,
            stripe_id=event["id"],
            type=event.get("type", ""),
            created=when(event["created"]),
            object_id=obj.get("id", ""),
            source=source,
            raw=event,
        )
    return True
