"""Applying Stripe events to the mirror, whether polled from /v1/events or delivered by a
webhook. Each event is applied once (AppliedEvent is unique per connection and event id), and
the object it carries is stored with the event's time, so it never overwrites a version
read later."""

from django.db import transaction
from django.utils import timezone

from connectors.models import AppliedEvent
from connectors.models.mirror import MODEL_OF_OBJECT, id_of, when
from connectors.resources import CHILDREN
from connectors.sync.upsert import PageResult, lock_mirror, store_objects


def complete_children(door, resource, obj):
    """An object embeds at most the first page of its children (an invoice some of its
    lines); read the rest through the door, where the table of resources says they are."""
    for child in CHILDREN.get(resource, ()):
        embedded = obj.get(child.field) or {}
        if not child.rest or not embedded.get("has_more") or not embedded.get("data"):
            continue
        rest = list(
            door.iter_list(
                child.rest.format(id=obj["id"]), starting_after=embedded["data"][-1]["id"]
            )
        )
        data = {**embedded, "data": embedded["data"] + rest, "has_more": False}
        obj = {**obj, child.field: data}
    return obj


def event_object(event):
    """(model, object) of an event; model is None for a kind Lumen does not mirror."""
    obj = (event.get("data") or {}).get("object") or {}
    return MODEL_OF_OBJECT.get(obj.get("object")), obj


def deletes_its_object(event, obj):
    # "customer.deleted" deletes a customer; "customer.subscription.deleted" only ends a
    # subscription, whose object (status canceled) says so itself.
    return event.get("type") == f"{obj.get('object')}.deleted"


def apply_event(connection, event, *, source, door, result=None):
    """Apply one event. Returns False when this event id was applied before."""
    result = result if result is not None else PageResult()
    model, obj = event_object(event)
    if AppliedEvent.objects.filter(connection=connection, stripe_id=event["id"]).exists():
        return False
    # Reads happen outside the transaction.
    if model:
        obj = complete_children(door, model.resource, obj)
    related = []
    if obj.get("object") == "dispute" and obj.get("charge"):
        # A dispute changes its charge (`disputed`), and Stripe sends no charge event for it.
        related = [door.retrieve("charges", id_of(obj["charge"]))]
        # Read after the event existed, so at least as new as it, whatever the clocks say.
        related_seen = max(timezone.now(), when(event["created"]))
    with transaction.atomic():
        lock_mirror(connection)
        # Checked again under the lock: a webhook and a poll may carry the same event.
        if AppliedEvent.objects.filter(connection=connection, stripe_id=event["id"]).exists():
            return False
        if model:
            store_objects(connection, model.resource, [obj], when(event["created"]), result)
            if related:
                store_objects(connection, "charges", related, related_seen, result)
            if deletes_its_object(event, obj):
                model.objects.filter(connection=connection, stripe_id=obj["id"]).update(
                    deleted=True
                )
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
