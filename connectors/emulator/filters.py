"""The list filters each resource accepts, as Stripe documents them.

A filter says what its parameter holds, how an object matches it, and, for the filters a
sync pages through heavily (charges of a payment intent, balance transactions of a payout),
which value to index so that a page does not scan the whole collection.
"""

from collections.abc import Callable
from dataclasses import dataclass
from fnmatch import fnmatchcase

from .errors import invalid_value
from .params import BOOLEAN, INTEGER, RANGE, STRING, STRINGS, in_range

PAGING = {"limit": INTEGER, "starting_after": STRING, "ending_before": STRING, "expand": STRINGS}


@dataclass(frozen=True)
class Filter:
    kind: object
    matches: Callable  # (object, typed parameter value) -> bool
    indexed: Callable | None = None  # object -> the value an equality filter compares
    index_key: Callable = lambda value: value  # typed parameter value -> index key, or None
    validate: Callable | None = None  # raises StripeError on a value Stripe would refuse


def path(*keys):
    def get(obj):
        for key in keys:
            if not isinstance(obj, dict):
                return None
            obj = obj.get(key)
        return obj

    return get


def equal(*keys, index=False):
    get = path(*keys)
    return Filter(STRING, lambda obj, v: get(obj) == v, get if index else None)


def flag(*keys):
    get = path(*keys)
    return Filter(BOOLEAN, lambda obj, v: bool(get(obj)) == v)


def between(*keys):
    get = path(*keys)
    return Filter(RANGE, lambda obj, v: in_range(get(obj), v))


def one_of(*keys):
    get = path(*keys)
    return Filter(STRINGS, lambda obj, v: get(obj) in v)


def _choice(name, *allowed):
    def check(value):
        if value not in allowed:
            raise invalid_value(name, f"Invalid {name}: must be one of {', '.join(allowed)}")

    return check


SUBSCRIPTION_STATUSES = (
    "active",
    "all",
    "canceled",
    "ended",
    "incomplete",
    "incomplete_expired",
    "past_due",
    "paused",
    "trialing",
    "unpaid",
)
_check_subscription_status = _choice("status", *SUBSCRIPTION_STATUSES)


def _subscription_status(obj, value):
    if value == "all":
        return True
    if value == "ended":
        return obj["status"] in ("canceled", "incomplete_expired")
    return obj["status"] == value


def _subscription_prices(obj):
    return {item["price"]["id"] for item in obj["items"]["data"]}


def _item_period(field):
    def matches(obj, bounds):
        return any(in_range(item.get(field), bounds) for item in obj["items"]["data"])

    return Filter(RANGE, matches)


def _event_type(obj, pattern):
    # Stripe accepts one trailing-or-inner wildcard, e.g. "charge.*" or "*.created".
    return fnmatchcase(obj["type"], pattern)


def _check_event_types(patterns):
    if len(patterns) > 20:
        raise invalid_value("types", "You may pass at most 20 event types.")


def _event_types(obj, patterns):
    return any(fnmatchcase(obj["type"], p) for p in patterns)


# Resource-specific filters; every list also takes `created` and the paging parameters.
FILTERS = {
    "customers": {"email": equal("email"), "test_clock": equal("test_clock")},
    "charges": {
        "customer": equal("customer", index=True),
        "payment_intent": equal("payment_intent", index=True),
        "transfer_group": equal("transfer_group"),
    },
    "refunds": {
        "charge": equal("charge", index=True),
        "payment_intent": equal("payment_intent", index=True),
    },
    "payment_intents": {"customer": equal("customer", index=True)},
    "invoices": {
        "customer": equal("customer", index=True),
        "subscription": equal("parent", "subscription_details", "subscription", index=True),
        "status": Filter(
            STRING,
            lambda obj, v: obj["status"] == v,
            validate=_choice("status", "draft", "open", "paid", "uncollectible", "void"),
        ),
        "collection_method": equal("collection_method"),
        "due_date": between("due_date"),
    },
    "invoice_payments": {
        "invoice": equal("invoice", index=True),
        "status": equal("status"),
        "payment": Filter(
            {"type": STRING, "payment_intent": STRING, "payment_record": STRING},
            lambda obj, v: all(obj["payment"].get(k) == want for k, want in v.items()),
            path("payment", "payment_intent"),
            lambda v: v.get("payment_intent"),
        ),
    },
    "subscriptions": {
        "customer": equal("customer", index=True),
        "status": Filter(STRING, _subscription_status, validate=_check_subscription_status),
        "price": Filter(STRING, lambda obj, v: v in _subscription_prices(obj)),
        "plan": Filter(STRING, lambda obj, v: v in _subscription_prices(obj)),
        "collection_method": equal("collection_method"),
        "test_clock": equal("test_clock"),
        "current_period_start": _item_period("current_period_start"),
        "current_period_end": _item_period("current_period_end"),
        "automatic_tax": Filter(
            {"enabled": BOOLEAN},
            lambda obj, v: obj["automatic_tax"]["enabled"] == v.get("enabled"),
        ),
    },
    "products": {
        "active": flag("active"),
        "ids": one_of("id"),
        "shippable": flag("shippable"),
        "type": equal("type"),
        "url": equal("url"),
    },
    "prices": {
        "active": flag("active"),
        "currency": equal("currency"),
        "product": equal("product", index=True),
        "type": equal("type"),
        "lookup_keys": one_of("lookup_key"),
        "recurring": Filter(
            {"interval": STRING, "usage_type": STRING, "meter": STRING},
            lambda obj, v: (
                obj["recurring"] is not None
                and all(obj["recurring"].get(k) == want for k, want in v.items())
            ),
        ),
    },
    "coupons": {},
    "promotion_codes": {
        "active": flag("active"),
        "code": Filter(STRING, lambda obj, v: obj["code"].lower() == v.lower()),
        "coupon": equal("promotion", "coupon"),
        "customer": equal("customer"),
    },
    "disputes": {
        "charge": equal("charge", index=True),
        "payment_intent": equal("payment_intent", index=True),
    },
    "balance_transactions": {
        "source": equal("source", index=True),
        "type": equal("type"),
        "currency": equal("currency"),
        # `payout` is not a field of a balance transaction: the store answers it from the
        # payout links it keeps (see EmulatorStore.link_payout).
    },
    "payouts": {
        "arrival_date": between("arrival_date"),
        "destination": equal("destination"),
        "status": equal("status"),
    },
    "events": {
        "type": Filter(STRING, _event_type),
        "types": Filter(STRINGS, _event_types, validate=_check_event_types),
        "delivery_success": Filter(BOOLEAN, lambda obj, v: (obj["pending_webhooks"] == 0) == v),
    },
}


def allowed_parameters(resource: str) -> dict:
    kinds = {"created": RANGE, **PAGING}
    kinds.update({name: f.kind for name, f in FILTERS.get(resource, {}).items()})
    if resource == "balance_transactions":
        kinds["payout"] = STRING
    return kinds


def not_canceled(subscription):
    return subscription["status"] != "canceled"


def implicit_filters(resource: str, params: dict) -> list:
    """Filters Stripe applies when a parameter is absent."""
    if resource == "subscriptions" and "status" not in params:
        # Stripe lists only subscriptions that are not canceled unless asked for status=all
        # (or canceled/ended): a sync that forgets this never sees churn.
        return [not_canceled]
    return []


def indexed_fields(resource: str) -> dict:
    return {name: f.indexed for name, f in FILTERS.get(resource, {}).items() if f.indexed}
