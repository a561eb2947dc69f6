"""The mirror: one table per Stripe object kind, per connection.

Each row keeps the object as Stripe sent it (`raw`) and, beside it, typed and indexed columns
for what reports filter and sum on. `observed_at` is the moment the stored version describes
(when the page was read, or when the event was created), so that an older version arriving
late never overwrites a newer one. Amounts are integers in the currency's minor unit.
"""

from datetime import UTC, datetime

from django.core.exceptions import ImproperlyConfigured
from django.db import models

from connectors.resources import MIRRORED


def when(value):
    """A Stripe timestamp (seconds since the epoch) as an aware UTC datetime."""
    return datetime.fromtimestamp(int(value), tz=UTC) if value not in (None, "") else None


def dig(obj, path, default=None):
    for part in path.split("."):
        if not isinstance(obj, dict):
            return default
        obj = obj.get(part)
    return default if obj is None else obj


def id_of(value):
    """An expandable field: an id, or the expanded object whose id it is."""
    return value.get("id", "") if isinstance(value, dict) else (value or "")


class StripeJSON(models.JSONField):
    """An object as Stripe sent it, kept as the JSON text the sync or an event serialised.

    - On PostgreSQL the column is `json`, not Django's `jsonb`: jsonb parses each object into
      its binary form and sorts the keys of every object in it, about a third of the
      server's CPU in a sync (`perf`), and nothing looks inside `raw` in SQL (what is looked
      up has a column of its own). `json` only checks the text (migration connectors/0019).
    - On SQLite, without the CHECK (JSON_VALID(raw)) that Django puts on a JSONField's
      column: SQLite parsing each 2.5-4 kB object again before storing it was 8% of a sync
      of 20,000 charges."""

    def db_type(self, connection):
        return "json" if connection.vendor == "postgresql" else super().db_type(connection)

    def db_check(self, connection):
        return None

    def from_db_value(self, value, expression, connection):
        # psycopg parses a `json` column itself (Django has it hand `jsonb` over as text).
        if not isinstance(value, str):
            return value
        return super().from_db_value(value, expression, connection)


class MirrorObject(models.Model):
    """On PostgreSQL the indexed text columns have no varchar_pattern_ops copy (migration
    connectors/0018): ids and codes are matched whole. A test fails should one come back."""

    # No index of its own: the two below begin with it.
    connection = models.ForeignKey(
        "connectors.StripeConnection", on_delete=models.CASCADE, related_name="+", db_index=False
    )
    stripe_id = models.CharField(max_length=255)
    created = models.DateTimeField(null=True, blank=True)
    livemode = models.BooleanField(default=False)
    deleted = models.BooleanField(default=False)
    raw = StripeJSON()
    observed_at = models.DateTimeField()

    # The kind's name in connectors.resources, whose table says everything else about it.
    resource = ""
    # Columns the sync fills from elsewhere than the object itself: a new version of the
    # object leaves them as they are.
    filled_by_sync = ()

    class Meta:
        abstract = True
        ordering = ["-created"]
        # The id first: staff paste an id without saying which connection it belongs to, and
        # the sync looks rows up by their ids alone (connectors.sync.links). One index serves
        # both that and the upsert's conflict on (connection, id), which any order matches;
        # a second index of the ids alone cost every insert a second random place in a tree.
        constraints = [
            models.UniqueConstraint(fields=["stripe_id", "connection"], name="%(class)s_unique")
        ]
        indexes = [models.Index(fields=["connection", "created"], name="%(class)s_created")]

    def __str__(self):
        return self.stripe_id

    @classmethod
    def columns(cls, obj):
        """The typed columns of one Stripe object. Raises KeyError/TypeError/ValueError on an
        object whose shape is not what Stripe sends (the sync records it and goes on)."""
        return {}

    @classmethod
    def values_from(cls, obj):
        if not isinstance(obj, dict) or not isinstance(obj.get("id"), str):
            raise ValueError("object without an id")
        return {
            "stripe_id": obj["id"],
            "created": when(obj.get("created")),
            "livemode": bool(obj.get("livemode", False)),
            "deleted": bool(obj.get("deleted", False)),
            **cls.columns(obj),
        }


class Customer(MirrorObject):
    resource = "customers"
    email = models.CharField(max_length=512, blank=True, db_index=True)
    name = models.CharField(max_length=512, blank=True)
    currency = models.CharField(max_length=3, blank=True)
    delinquent = models.BooleanField(default=False)

    @classmethod
    def columns(cls, o):
        return {
            "email": o.get("email") or "",
            "name": o.get("name") or "",
            "currency": o.get("currency") or "",
            "delinquent": bool(o.get("delinquent")),
        }


class Product(MirrorObject):
    resource = "products"
    name = models.CharField(max_length=512, blank=True)
    active = models.BooleanField(default=True)

    @classmethod
    def columns(cls, o):
        return {"name": o.get("name") or "", "active": bool(o.get("active", True))}


class Price(MirrorObject):
    resource = "prices"
    product = models.CharField(max_length=255, blank=True, db_index=True)
    active = models.BooleanField(default=True)
    currency = models.CharField(max_length=3)
    unit_amount = models.BigIntegerField(null=True, blank=True)
    type = models.CharField(max_length=16, blank=True)
    interval = models.CharField(max_length=8, blank=True)
    interval_count = models.PositiveIntegerField(null=True, blank=True)
    usage_type = models.CharField(max_length=16, blank=True)

    @classmethod
    def columns(cls, o):
        recurring = o.get("recurring") or {}
        return {
            "product": id_of(o.get("product")),
            "active": bool(o.get("active", True)),
            "currency": o["currency"],
            "unit_amount": o.get("unit_amount"),
            "type": o.get("type") or "",
            "interval": recurring.get("interval") or "",
            "interval_count": recurring.get("interval_count"),
            "usage_type": recurring.get("usage_type") or "",
        }


class Coupon(MirrorObject):
    resource = "coupons"
    name = models.CharField(max_length=512, blank=True)
    duration = models.CharField(max_length=16, blank=True)
    duration_in_months = models.PositiveIntegerField(null=True, blank=True)
    percent_off = models.DecimalField(max_digits=7, decimal_places=4, null=True, blank=True)
    amount_off = models.BigIntegerField(null=True, blank=True)
    currency = models.CharField(max_length=3, blank=True)
    valid = models.BooleanField(default=True)

    @classmethod
    def columns(cls, o):
        return {
            "name": o.get("name") or "",
            "duration": o.get("duration") or "",
            "duration_in_months": o.get("duration_in_months"),
            "percent_off": o.get("percent_off"),
            "amount_off": o.get("amount_off"),
            "currency": o.get("currency") or "",
            "valid": bool(o.get("valid", True)),
        }


class PromotionCode(MirrorObject):
    resource = "promotion_codes"
    code = models.CharField(max_length=255, blank=True, db_index=True)
    coupon = models.CharField(max_length=255, blank=True)
    active = models.BooleanField(default=True)

    @classmethod
    def columns(cls, o):
        coupon = o.get("coupon") or dig(o, "promotion.coupon") or ""
        return {
            "code": o.get("code") or "",
            "coupon": id_of(coupon),
            "active": bool(o.get("active", True)),
        }


class Subscription(MirrorObject):
    resource = "subscriptions"
    customer = models.CharField(max_length=255, db_index=True)
    status = models.CharField(max_length=32, db_index=True)
    currency = models.CharField(max_length=3, blank=True)
    start_date = models.DateTimeField(null=True, blank=True)
    ended_at = models.DateTimeField(null=True, blank=True)
    canceled_at = models.DateTimeField(null=True, blank=True)
    # When a cancellation takes effect (set for one at the period's end, too): the true end.
    cancel_at = models.DateTimeField(null=True, blank=True)
    cancel_at_period_end = models.BooleanField(default=False)
    trial_start = models.DateTimeField(null=True, blank=True)
    trial_end = models.DateTimeField(null=True, blank=True)

    @classmethod
    def columns(cls, o):
        return {
            "customer": id_of(o["customer"]),
            "status": o["status"],
            "currency": o.get("currency") or "",
            "start_date": when(o.get("start_date")),
            "ended_at": when(o.get("ended_at")),
            "canceled_at": when(o.get("canceled_at")),
            "cancel_at": when(o.get("cancel_at")),
            "cancel_at_period_end": bool(o.get("cancel_at_period_end")),
            "trial_start": when(o.get("trial_start")),
            "trial_end": when(o.get("trial_end")),
        }


class SubscriptionItem(MirrorObject):
    """Items come inside their subscription; they are stored on their own for queries."""

    resource = "subscription_items"
    subscription = models.CharField(max_length=255, db_index=True)
    price = models.CharField(max_length=255, blank=True)
    product = models.CharField(max_length=255, blank=True, db_index=True)
    quantity = models.PositiveIntegerField(null=True, blank=True)
    current_period_start = models.DateTimeField(null=True, blank=True)
    current_period_end = models.DateTimeField(null=True, blank=True)

    @classmethod
    def columns(cls, o):
        price = o.get("price") or {}
        return {
            "subscription": o.get("subscription") or "",
            "price": id_of(price),
            "product": id_of(price.get("product")) if isinstance(price, dict) else "",
            "quantity": o.get("quantity"),
            "current_period_start": when(o.get("current_period_start")),
            "current_period_end": when(o.get("current_period_end")),
        }


class Invoice(MirrorObject):
    resource = "invoices"
    customer = models.CharField(max_length=255, blank=True, db_index=True)
    subscription = models.CharField(max_length=255, blank=True, db_index=True)
    status = models.CharField(max_length=16, blank=True, db_index=True)
    number = models.CharField(max_length=64, blank=True)
    billing_reason = models.CharField(max_length=64, blank=True)
    currency = models.CharField(max_length=3)
    subtotal = models.BigIntegerField(default=0)
    total = models.BigIntegerField(default=0)
    tax = models.BigIntegerField(default=0)
    amount_due = models.BigIntegerField(default=0)
    amount_paid = models.BigIntegerField(default=0)
    amount_remaining = models.BigIntegerField(default=0)
    period_start = models.DateTimeField(null=True, blank=True)
    period_end = models.DateTimeField(null=True, blank=True)
    due_date = models.DateTimeField(null=True, blank=True)
    paid_at = models.DateTimeField(null=True, blank=True)

    @classmethod
    def columns(cls, o):
        taxes = o.get("total_taxes") or []
        return {
            "customer": id_of(o.get("customer")),
            "subscription": id_of(dig(o, "parent.subscription_details.subscription")),
            "status": o.get("status") or "",
            "number": o.get("number") or "",
            "billing_reason": o.get("billing_reason") or "",
            "currency": o["currency"],
            "subtotal": o.get("subtotal") or 0,
            "total": o.get("total") or 0,
            "tax": sum(int(t.get("amount") or 0) for t in taxes),
            "amount_due": o.get("amount_due") or 0,
            "amount_paid": o.get("amount_paid") or 0,
            "amount_remaining": o.get("amount_remaining") or 0,
            "period_start": when(o.get("period_start")),
            "period_end": when(o.get("period_end")),
            "due_date": when(o.get("due_date")),
            "paid_at": when(dig(o, "status_transitions.paid_at")),
        }


class InvoiceLineItem(MirrorObject):
    """Lines come inside their invoice (the rest fetched from /v1/invoices/ID/lines)."""

    resource = "invoice_lines"
    invoice = models.CharField(max_length=255, db_index=True)
    subscription = models.CharField(max_length=255, blank=True, db_index=True)
    subscription_item = models.CharField(max_length=255, blank=True)
    price = models.CharField(max_length=255, blank=True)
    product = models.CharField(max_length=255, blank=True, db_index=True)
    currency = models.CharField(max_length=3)
    amount = models.BigIntegerField(default=0)
    discount_amount = models.BigIntegerField(default=0)
    quantity = models.BigIntegerField(null=True, blank=True)
    proration = models.BooleanField(default=False)
    period_start = models.DateTimeField(null=True, blank=True)
    period_end = models.DateTimeField(null=True, blank=True)

    @classmethod
    def columns(cls, o):
        parent = o.get("parent") or {}
        details = parent.get("subscription_item_details") or parent.get("invoice_item_details")
        details = details or {}
        price_details = dig(o, "pricing.price_details") or {}
        return {
            "invoice": o.get("invoice") or "",
            "subscription": id_of(details.get("subscription")),
            "subscription_item": details.get("subscription_item") or "",
            "price": id_of(price_details.get("price")),
            "product": id_of(price_details.get("product")),
            "currency": o["currency"],
            "amount": o["amount"],
            "discount_amount": sum(int(d["amount"]) for d in o.get("discount_amounts") or []),
            "quantity": o.get("quantity"),
            "proration": bool(details.get("proration")),
            "period_start": when(dig(o, "period.start")),
            "period_end": when(dig(o, "period.end")),
        }


class InvoicePayment(MirrorObject):
    resource = "invoice_payments"
    invoice = models.CharField(max_length=255, db_index=True)
    payment_intent = models.CharField(max_length=255, blank=True, db_index=True)
    charge = models.CharField(max_length=255, blank=True, db_index=True)
    status = models.CharField(max_length=16, blank=True)
    currency = models.CharField(max_length=3, blank=True)
    amount_paid = models.BigIntegerField(null=True, blank=True)
    amount_requested = models.BigIntegerField(null=True, blank=True)
    is_default = models.BooleanField(default=False)

    @classmethod
    def columns(cls, o):
        payment = o.get("payment") or {}
        return {
            "invoice": id_of(o.get("invoice")),
            "payment_intent": id_of(payment.get("payment_intent")),
            "charge": id_of(payment.get("charge")),
            "status": o.get("status") or "",
            "currency": o.get("currency") or "",
            "amount_paid": o.get("amount_paid"),
            "amount_requested": o.get("amount_requested"),
            "is_default": bool(o.get("is_default")),
        }


class PaymentIntent(MirrorObject):
    resource = "payment_intents"
    customer = models.CharField(max_length=255, blank=True, db_index=True)
    status = models.CharField(max_length=32, blank=True)
    currency = models.CharField(max_length=3)
    amount = models.BigIntegerField(default=0)
    amount_received = models.BigIntegerField(default=0)
    latest_charge = models.CharField(max_length=255, blank=True, db_index=True)

    @classmethod
    def columns(cls, o):
        return {
            "customer": id_of(o.get("customer")),
            "status": o.get("status") or "",
            "currency": o["currency"],
            "amount": o.get("amount") or 0,
            "amount_received": o.get("amount_received") or 0,
            "latest_charge": id_of(o.get("latest_charge")),
        }


class Charge(MirrorObject):
    resource = "charges"
    customer = models.CharField(max_length=255, blank=True, db_index=True)
    payment_intent = models.CharField(max_length=255, blank=True, db_index=True)
    # The invoice this charge paid. Since API version 2025-03-31 a charge no longer says:
    # the way is charge -> payment intent -> invoice payment -> invoice, which the sync
    # follows and keeps here (connectors.sync.links) whichever side arrives first. Older
    # API versions name it on the charge, which is taken as it is.
    invoice = models.CharField(max_length=255, blank=True)
    balance_transaction = models.CharField(max_length=255, blank=True)
    status = models.CharField(max_length=16, db_index=True)
    currency = models.CharField(max_length=3)
    amount = models.BigIntegerField()
    amount_captured = models.BigIntegerField(default=0)
    amount_refunded = models.BigIntegerField(default=0)
    captured = models.BooleanField(default=False)
    refunded = models.BooleanField(default=False)
    disputed = models.BooleanField(default=False)
    # Card numbers never exist here: only what Stripe itself shows of a card.
    card_brand = models.CharField(max_length=32, blank=True)
    card_last4 = models.CharField(max_length=4, blank=True)
    outcome_type = models.CharField(max_length=32, blank=True)
    risk_level = models.CharField(max_length=16, blank=True)
    failure_code = models.CharField(max_length=64, blank=True)

    @classmethod
    def columns(cls, o):
        card = dig(o, "payment_method_details.card") or {}
        return {
            "customer": id_of(o.get("customer")),
            "payment_intent": id_of(o.get("payment_intent")),
            "invoice": id_of(o.get("invoice")),
            "balance_transaction": id_of(o.get("balance_transaction")),
            "status": o["status"],
            "currency": o["currency"],
            "amount": int(o["amount"]),
            "amount_captured": int(o.get("amount_captured") or 0),
            "amount_refunded": int(o.get("amount_refunded") or 0),
            "captured": bool(o.get("captured")),
            "refunded": bool(o.get("refunded")),
            "disputed": bool(o.get("disputed")),
            "card_brand": card.get("brand") or "",
            "card_last4": card.get("last4") or "",
            "outcome_type": dig(o, "outcome.type", ""),
            "risk_level": dig(o, "outcome.risk_level", ""),
            "failure_code": o.get("failure_code") or "",
        }


class Refund(MirrorObject):
    resource = "refunds"
    charge = models.CharField(max_length=255, blank=True, db_index=True)
    payment_intent = models.CharField(max_length=255, blank=True)
    balance_transaction = models.CharField(max_length=255, blank=True)
    status = models.CharField(max_length=32, blank=True, db_index=True)
    reason = models.CharField(max_length=64, blank=True)
    currency = models.CharField(max_length=3)
    amount = models.BigIntegerField()

    @classmethod
    def columns(cls, o):
        return {
            "charge": id_of(o.get("charge")),
            "payment_intent": id_of(o.get("payment_intent")),
            "balance_transaction": id_of(o.get("balance_transaction")),
            "status": o.get("status") or "",
            "reason": o.get("reason") or "",
            "currency": o["currency"],
            "amount": int(o["amount"]),
        }


class Dispute(MirrorObject):
    resource = "disputes"
    charge = models.CharField(max_length=255, blank=True, db_index=True)
    payment_intent = models.CharField(max_length=255, blank=True)
    status = models.CharField(max_length=32, db_index=True)
    reason = models.CharField(max_length=64, blank=True)
    currency = models.CharField(max_length=3)
    amount = models.BigIntegerField()
    due_by = models.DateTimeField(null=True, blank=True)
    has_evidence = models.BooleanField(default=False)
    submission_count = models.PositiveIntegerField(default=0)

    @classmethod
    def columns(cls, o):
        details = o.get("evidence_details") or {}
        return {
            "charge": id_of(o.get("charge")),
            "payment_intent": id_of(o.get("payment_intent")),
            "status": o["status"],
            "reason": o.get("reason") or "",
            "currency": o["currency"],
            "amount": int(o["amount"]),
            "due_by": when(details.get("due_by")),
            "has_evidence": bool(details.get("has_evidence")),
            "submission_count": int(details.get("submission_count") or 0),
        }


# A balance transaction's fee_details by type (Stripe's four documented types), summed into
# a column each so that a fee breakdown is a SUM, not a walk through JSON. A type Stripe adds
# later lands in fee_other, which reports name in their warnings.
FEE_COLUMNS = {
    "stripe_fee": "fee_stripe",
    "application_fee": "fee_application",
    "payment_method_passthrough_fee": "fee_passthrough",
    "tax": "fee_tax",
}


def fee_columns(fee_details):
    fees = dict.fromkeys([*FEE_COLUMNS.values(), "fee_other"], 0)
    for detail in fee_details or []:
        fees[FEE_COLUMNS.get(detail.get("type"), "fee_other")] += int(detail["amount"])
    return fees


class BalanceTransaction(MirrorObject):
    resource = "balance_transactions"
    type = models.CharField(max_length=64, blank=True)
    reporting_category = models.CharField(max_length=64, blank=True, db_index=True)
    status = models.CharField(max_length=16, blank=True)
    currency = models.CharField(max_length=3)
    amount = models.BigIntegerField()
    fee = models.BigIntegerField(default=0)
    fee_stripe = models.BigIntegerField(default=0)
    fee_application = models.BigIntegerField(default=0)
    fee_passthrough = models.BigIntegerField(default=0)
    fee_tax = models.BigIntegerField(default=0)
    fee_other = models.BigIntegerField(default=0)
    net = models.BigIntegerField()
    source = models.CharField(max_length=255, blank=True, db_index=True)
    available_on = models.DateTimeField(null=True, blank=True)
    # Which automatic payout paid this out: learnt from /v1/balance_transactions?payout=ID,
    # since the transaction itself does not say.
    payout = models.CharField(max_length=255, blank=True, db_index=True)
    filled_by_sync = ("payout",)

    class Meta(MirrorObject.Meta):
        indexes = [
            *MirrorObject.Meta.indexes,
            # The few still pending, which an incremental sync reads again once their funds
            # are available (connectors.sync.runner).
            models.Index(
                fields=["connection", "created"],
                condition=models.Q(status="pending"),
                name="balancetransaction_pending",
            ),
        ]

    @classmethod
    def columns(cls, o):
        return {
            "type": o.get("type") or "",
            "reporting_category": o.get("reporting_category") or "",
            "status": o.get("status") or "",
            "currency": o["currency"],
            "amount": int(o["amount"]),
            "fee": int(o.get("fee") or 0),
            **fee_columns(o.get("fee_details")),
            "net": int(o["net"]),
            "source": id_of(o.get("source")),
            "available_on": when(o.get("available_on")),
        }


class Payout(MirrorObject):
    resource = "payouts"
    status = models.CharField(max_length=16, blank=True, db_index=True)
    currency = models.CharField(max_length=3)
    amount = models.BigIntegerField()
    arrival_date = models.DateTimeField(null=True, blank=True, db_index=True)
    automatic = models.BooleanField(default=True)
    method = models.CharField(max_length=16, blank=True)
    balance_transaction = models.CharField(max_length=255, blank=True)

    @classmethod
    def columns(cls, o):
        return {
            "status": o.get("status") or "",
            "currency": o["currency"],
            "amount": int(o["amount"]),
            "arrival_date": when(o.get("arrival_date")),
            "automatic": bool(o.get("automatic", True)),
            "method": o.get("method") or "",
            "balance_transaction": id_of(o.get("balance_transaction")),
        }


class Balance(models.Model):
    """The account's balance as last read from GET /v1/balance."""

    connection = models.OneToOneField(
        "connectors.StripeConnection", on_delete=models.CASCADE, related_name="+"
    )
    raw = models.JSONField()
    observed_at = models.DateTimeField()

    def __str__(self):
        return f"balance of {self.connection}"

    def amounts(self, which):
        """{'usd': 120000, ...} for 'available' or 'pending'."""
        return {f["currency"]: f["amount"] for f in self.raw.get(which) or []}


# Every kind in the table of resources, with the model that mirrors it.
_models = {m.resource: m for m in MirrorObject.__subclasses__()}
if set(_models) != set(MIRRORED):
    raise ImproperlyConfigured(
        f"Each kind of connectors.resources.MIRRORED needs one model naming it: kinds "
        f"without a model {sorted(set(MIRRORED) - set(_models))}, models without a kind "
        f"{sorted(set(_models) - set(MIRRORED))}."
    )
MIRROR_MODELS = {name: _models[name] for name in MIRRORED}
MODEL_OF_OBJECT = {MIRRORED[name]: model for name, model in MIRROR_MODELS.items()}
