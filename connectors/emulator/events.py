"""Which events Stripe would have sent for an object, and the ids events carry.

The seed sends every event at once, after the fact; a sync that catches up from
/v1/events then meets the same types, in the same order, as from a live account. Stripe
keeps events for 30 days only: older ones are neither listed nor retrievable, so a sync
whose cursor has aged out must fall back to listing the objects themselves.
"""

import string

from .ids import ALPHABET, DAY

EVENT_RETENTION = 30 * DAY

CREATED_EVENT = {
    "customer": "customer.created",
    "product": "product.created",
    "price": "price.created",
    "coupon": "coupon.created",
    "promotion_code": "promotion_code.created",
    "subscription": "customer.subscription.created",
    "refund": "refund.created",
    "dispute": "charge.dispute.created",
    "payout": "payout.created",
}

# Digits, then capitals, then small letters: the order in which Python compares strings,
# so fixed-width numbers written with it sort as the numbers do.
SORTABLE = string.digits + string.ascii_uppercase + string.ascii_lowercase


def sortable_number(n: int, width: int) -> str:
    digits = []
    for _ in range(width):
        n, digit = divmod(n, 62)
        digits.append(SORTABLE[digit])
    return "".join(reversed(digits))


class EventIds:
    """Event ids that sort in the order the events happened: the creation time, then a
    sequence number, then random characters. Two events of the same second (a charge and its
    payment intent succeeding together) then list newest first in the order they were made,
    as Stripe lists them, and cursors between them are stable."""

    def __init__(self, rng):
        self.rng = rng
        self.sequence = 0

    def __call__(self, created: int) -> str:
        self.sequence += 1
        tail = "".join(self.rng.choices(ALPHABET, k=12))  # (few: only recent events)
        return f"evt_1{sortable_number(created, 6)}{sortable_number(self.sequence, 5)}{tail}"


def lifecycle_events(obj):
    """(time, event type) of what happened to `obj` as it now stands; balance transactions
    have no events of their own, as with Stripe. Changes after creation that the object does
    not show by itself (an upgrade, a dispute closing) are the Ledger's extra events."""
    kind = obj["object"]
    if kind in CREATED_EVENT:
        events = [(obj["created"], CREATED_EVENT[kind])]
        if kind == "subscription" and obj["ended_at"]:
            events.append((obj["ended_at"], "customer.subscription.deleted"))
        if kind == "dispute" and obj["balance_transactions"]:
            events.append((obj["created"], "charge.dispute.funds_withdrawn"))
        return events
    if kind == "invoice":
        moments = obj["status_transitions"]
        events = [(obj["created"], "invoice.created")]
        if moments["finalized_at"]:
            events.append((moments["finalized_at"], "invoice.finalized"))
        for field, event_type in (
            ("paid_at", "invoice.paid"),
            ("voided_at", "invoice.voided"),
            ("marked_uncollectible_at", "invoice.marked_uncollectible"),
        ):
            if moments[field]:
                events.append((moments[field], event_type))
        if moments["paid_at"] and obj["amount_paid"]:
            events.append((moments["paid_at"], "invoice.payment_succeeded"))
        return events
    if kind == "invoice_payment" and obj["status"] == "paid":
        return [(obj["status_transitions"]["paid_at"], "invoice_payment.paid")]
    if kind == "payment_intent":
        outcome = {
            "succeeded": "payment_intent.succeeded",
            "canceled": "payment_intent.canceled",
            "requires_payment_method": "payment_intent.payment_failed",
        }[obj["status"]]
        return [(obj["created"], "payment_intent.created"), (obj["created"] + 2, outcome)]
    if kind == "charge":
        events = [(obj["created"], f"charge.{obj['status']}")]
        if 0 < obj["amount_captured"] < obj["amount"]:  # a hold, captured in part later
            events.append((obj["created"] + 1, "charge.captured"))
        return events
    return []
