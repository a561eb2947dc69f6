"""Which events Stripe would have sent for an object, given how it stands now.

The seed sends every event at once, after the fact; a sync that catches up from
/v1/events then meets the same types, in the same order, as from a live account.
"""

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


def lifecycle_events(obj):
    """(time, event type) of what happened to `obj` as it now stands; balance transactions
    have no events of their own, as with Stripe."""
    kind = obj["object"]
    if kind in CREATED_EVENT:
        events = [(obj["created"], CREATED_EVENT[kind])]
        if kind == "subscription" and obj["ended_at"]:
            events.append((obj["ended_at"], "customer.subscription.deleted"))
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
        return [(obj["created"], f"charge.{obj['status']}")]
    return []
