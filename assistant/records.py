"""Mirrored records as the tools answer with them, built for a page of rows at a time.

Whatever a record needs from other tables (a customer's lifetime value, a subscription's
plan and MRR, a product's prices) is looked up for the whole page in a few queries, with the
admin's own helpers, so that an assistant reads the same figures staff see on the pages.
"""

from collections import defaultdict
from datetime import timedelta

from django.db.models import Count
from django.utils import timezone
from pydantic import Field

from assistant.shapes import Money, Record, card, day, moment, money, record, totals
from connectors import models as mirror
from connectors.admin.mirror.billing import describe_subscriptions
from connectors.admin.mirror.customers import lifetime_values
from reports.disputes import FLAGGED

# Urgency of a dispute, as the disputes report words it (reports/disputes.py).
UNDER_REVIEW = ("warning_under_review", "under_review")
NEEDS_RESPONSE = ("warning_needs_response", "needs_response")


class Customer(Record):
    name: str
    email: str
    created: str | None
    delinquent: bool
    deleted_in_stripe: bool
    lifetime_value: list[Money] = Field(
        description="Captured by succeeded charges, less refunds (succeeded or pending), per "
        "currency."
    )
    subscriptions: dict[str, int] = Field(description="How many subscriptions, by status.")


class Charge(Record):
    created: str | None
    status: str
    amount: Money
    captured: Money
    refunded: Money
    customer: str | None
    payment_intent: str | None
    invoice: str | None
    disputed: bool
    card: str | None = Field(description="Brand and last four, for staff with full access.")
    failure_code: str | None
    risk_level: str | None


class Subscription(Record):
    customer: str
    status: str
    plan: list[str] = Field(description="The names of its products.")
    mrr: Money | None = Field(
        description="Monthly recurring revenue now, as the MRR report "
        "counts it; none in a trial or once ended."
    )
    created: str | None
    start_date: str | None
    current_period_end: str | None
    cancel_at: str | None
    cancel_at_period_end: bool
    ended_at: str | None
    trial_end: str | None


class Invoice(Record):
    number: str
    customer: str
    subscription: str | None
    status: str
    billing_reason: str
    created: str | None
    due_date: str | None
    total: Money
    amount_due: Money
    amount_paid: Money
    amount_remaining: Money


class Refund(Record):
    charge: str | None
    status: str
    reason: str | None
    amount: Money
    created: str | None


class Dispute(Record):
    charge: str | None
    status: str
    reason: str
    amount: Money
    created: str | None
    due_by: str | None = Field(description="When the evidence is due.")
    urgency: str | None = Field(
        description="overdue, today (due within 24 hours), this_week, later; submitted once "
        "under review; null without a due date."
    )
    flagged: bool = Field(description="Overdue or due today: respond now.")
    has_evidence: bool


class Payout(Record):
    status: str
    amount: Money
    arrival_date: str | None
    automatic: bool
    method: str
    created: str | None


class Price(Record):
    unit_amount: Money | None
    type: str
    interval: str | None
    interval_count: int | None
    usage_type: str | None
    active: bool


class Product(Record):
    name: str
    active: bool
    created: str | None
    prices: list[Price]


class Coupon(Record):
    name: str
    duration: str
    duration_in_months: int | None
    percent_off: float | None
    amount_off: Money | None
    valid: bool
    promotion_codes: list[str]


def customers(rows, names):
    values = lifetime_values(rows)
    states = defaultdict(dict)
    counted = (
        mirror.Subscription.objects.filter(
            connection_id__in={c.connection_id for c in rows},
            customer__in={c.stripe_id for c in rows},
        )
        .order_by()
        .values_list("connection_id", "customer", "status")
        .annotate(n=Count("pk"))
    )
    for connection_id, customer, status, n in counted:
        states[(connection_id, customer)][status] = n
    return [
        Customer(
            **record(c, names),
            name=c.name,
            email=c.email,
            created=moment(c.created),
            delinquent=c.delinquent,
            deleted_in_stripe=c.deleted,
            lifetime_value=totals(values[c.pk][0]),
            subscriptions=states[(c.connection_id, c.stripe_id)],
        )
        for c in rows
    ]


def charges(rows, names, user):
    return [
        Charge(
            **record(c, names),
            created=moment(c.created),
            status=c.status,
            amount=money(c.amount, c.currency),
            captured=money(c.amount_captured, c.currency),
            refunded=money(c.amount_refunded, c.currency),
            customer=c.customer or None,
            payment_intent=c.payment_intent or None,
            invoice=c.invoice or None,
            disputed=c.disputed,
            card=card(c, user),
            failure_code=c.failure_code or None,
            risk_level=c.risk_level or None,
        )
        for c in rows
    ]


def subscriptions(rows, names):
    describe_subscriptions(rows, timezone.now())
    return [
        Subscription(
            **record(s, names),
            customer=s.customer,
            status=s.status,
            plan=s.plan,
            mrr=money(*s.mrr) if s.mrr else None,
            created=moment(s.created),
            start_date=moment(s.start_date),
            current_period_end=moment(s.period_end),
            cancel_at=moment(s.cancel_at),
            cancel_at_period_end=s.cancel_at_period_end,
            ended_at=moment(s.ended_at),
            trial_end=moment(s.trial_end),
        )
        for s in rows
    ]


def invoices(rows, names):
    return [
        Invoice(
            **record(i, names),
            number=i.number,
            customer=i.customer,
            subscription=i.subscription or None,
            status=i.status,
            billing_reason=i.billing_reason,
            created=moment(i.created),
            due_date=str(day(i.due_date)) if i.due_date else None,
            total=money(i.total, i.currency),
            amount_due=money(i.amount_due, i.currency),
            amount_paid=money(i.amount_paid, i.currency),
            amount_remaining=money(i.amount_remaining, i.currency),
        )
        for i in rows
    ]


def refunds(rows, names):
    return [
        Refund(
            **record(r, names),
            charge=r.charge or None,
            status=r.status,
            reason=r.reason or None,
            amount=money(r.amount, r.currency),
            created=moment(r.created),
        )
        for r in rows
    ]


def urgency(dispute, now):
    """As the disputes report has it, from evidence_details.due_by and the time asked."""
    if dispute.status in UNDER_REVIEW:
        return "submitted"
    if dispute.due_by is None:
        return None
    if dispute.due_by < now:
        return "overdue"
    if dispute.due_by <= now + timedelta(hours=24):
        return "today"
    if dispute.due_by <= now + timedelta(days=7):
        return "this_week"
    return "later"


def disputes(rows, names, now):
    found = []
    for d in rows:
        level = urgency(d, now) if d.status in UNDER_REVIEW + NEEDS_RESPONSE else None
        found.append(
            Dispute(
                **record(d, names),
                charge=d.charge or None,
                status=d.status,
                reason=d.reason,
                amount=money(d.amount, d.currency),
                created=moment(d.created),
                due_by=moment(d.due_by),
                urgency=level,
                flagged=level in FLAGGED,
                has_evidence=d.has_evidence,
            )
        )
    return found


def payouts(rows, names):
    return [
        Payout(
            **record(p, names),
            status=p.status,
            amount=money(p.amount, p.currency),
            arrival_date=str(day(p.arrival_date)) if p.arrival_date else None,
            automatic=p.automatic,
            method=p.method,
            created=moment(p.created),
        )
        for p in rows
    ]


def products(rows, names):
    prices = defaultdict(list)
    found = mirror.Price.objects.filter(
        connection_id__in={p.connection_id for p in rows}, product__in={p.stripe_id for p in rows}
    )
    for price in found.defer("raw").order_by("-active", "unit_amount", "pk"):
        prices[(price.connection_id, price.product)].append(
            Price(
                **record(price, names),
                unit_amount=money(price.unit_amount, price.currency),
                type=price.type,
                interval=price.interval or None,
                interval_count=price.interval_count,
                usage_type=price.usage_type or None,
                active=price.active,
            )
        )
    return [
        Product(
            **record(p, names),
            name=p.name,
            active=p.active,
            created=moment(p.created),
            prices=prices[(p.connection_id, p.stripe_id)],
        )
        for p in rows
    ]


def coupons(rows, names):
    codes = defaultdict(list)
    found = mirror.PromotionCode.objects.filter(
        connection_id__in={c.connection_id for c in rows}, coupon__in={c.stripe_id for c in rows}
    )
    for connection_id, coupon, code in found.values_list("connection_id", "coupon", "code"):
        codes[(connection_id, coupon)].append(code)
    return [
        Coupon(
            **record(c, names),
            name=c.name,
            duration=c.duration,
            duration_in_months=c.duration_in_months,
            percent_off=float(c.percent_off) if c.percent_off is not None else None,
            amount_off=money(c.amount_off, c.currency) if c.amount_off is not None else None,
            valid=c.valid,
            promotion_codes=sorted(codes[(c.connection_id, c.stripe_id)]),
        )
        for c in rows
    ]
