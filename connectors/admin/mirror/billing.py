"""Billing: subscriptions, invoices and their payments, and the catalogue (products, prices,
coupons, promotion codes)."""

from collections import defaultdict
from datetime import timedelta
from fractions import Fraction

from django.contrib import admin
from django.db.models import Q
from django.utils import timezone
from django.utils.html import format_html

from connectors.admin.mirror.base import (
    MirrorAdmin,
    day_column,
    link_column,
    money_column,
    related_rows,
    related_section,
    related_table,
    value_filter,
)
from connectors.admin.mirror.display import (
    NONE,
    badge,
    day,
    moment,
    money,
    money_if_any,
    nowrap,
)
from connectors.admin.mirror.links import change_link, mirror_link, stripe_link
from connectors.models import (
    Charge,
    Coupon,
    Invoice,
    InvoiceLineItem,
    InvoicePayment,
    PaymentIntent,
    Price,
    Product,
    PromotionCode,
    Subscription,
    SubscriptionItem,
)
from connectors.money import format_amount
from lumen.adminkit import flag_column, readable_column

# Subscriptions ----------------------------------------------------------------------------

SUBSCRIPTION_STATUSES = ["active", "trialing", "past_due", "unpaid", "incomplete",
                         "incomplete_expired", "paused", "canceled"]  # fmt: skip
SUBSCRIPTION_HEADERS = ["Subscription", "Status", "Started", "Ends", ""]


def subscription_ends(s, period_end=None):
    """When a subscription ends, or ended: not when its cancellation was asked for. A
    cancellation at the period's end takes effect when the current period ends."""
    if s.ended_at:
        return format_html("Ended {}", day(s.ended_at))
    end = s.cancel_at or (period_end if s.cancel_at_period_end else None)
    if end:
        return format_html("Ends {}", day(end))
    if s.cancel_at_period_end:
        return "At the period's end"
    if period_end and s.status not in ENDED_STATUSES:
        return format_html('<span class="lumen-sub">Renews {}</span>', day(period_end))
    return NONE


ENDED_STATUSES = ("canceled", "incomplete_expired")


def subscription_row(s):
    return (change_link(s), badge(s.status), day(s.start_date), subscription_ends(s),
            stripe_link(s, "Stripe"))  # fmt: skip


# A subscription's plan, price and MRR, for a page of them -----------------------------------

# Months in one interval of a price, as a fraction (a week is 12/52 of a month).
MONTHS_IN = {"month": Fraction(1), "year": Fraction(12), "week": Fraction(12, 52),
             "day": Fraction(12, 365)}  # fmt: skip


def product_names(connection_ids, product_ids):
    """{(connection id, product id): name} in one query."""
    rows = Product.objects.filter(connection_id__in=connection_ids, stripe_id__in=product_ids)
    return {(c, i): name for c, i, name in rows.values_list("connection_id", "stripe_id", "name")}


def prices_of(connection_ids, price_ids):
    rows = Price.objects.filter(connection_id__in=connection_ids, stripe_id__in=price_ids)
    return {(p.connection_id, p.stripe_id): p for p in rows.defer("raw")}


def per_interval(price):
    count = price.interval_count or 1
    return price.interval if count == 1 else f"{count} {price.interval}s"


def monthly(amount, price):
    """An amount billed each interval of `price`, per month (exact), or None if it is not a
    recurring licensed price."""
    licensed = price.type == "recurring" and price.usage_type != "metered"
    if not licensed or price.interval not in MONTHS_IN or not (price.interval_count or 0) > 0:
        return None
    return Fraction(amount) / (MONTHS_IN[price.interval] * price.interval_count)


def describe_subscriptions(rows, now):
    """Set on each subscription of a page: its plan (product names), what it bills each
    interval at list price, its MRR now and when its current period ends. MRR is the
    reports' (reports/mrr.py): the latest paid, open or uncollectible invoice's recurring,
    licensed lines that have started, after discounts, per month, rounded half-even; none
    during a trial or once ended. A handful of queries for the whole page."""
    if not rows:
        return
    connections = {s.connection_id for s in rows}
    ids = {s.stripe_id for s in rows}
    items = SubscriptionItem.objects.filter(connection_id__in=connections, subscription__in=ids)
    items = list(items.defer("raw").order_by("pk"))
    invoices = Invoice.objects.filter(connection_id__in=connections, subscription__in=ids,
                                      status__in=["paid", "open", "uncollectible"])  # fmt: skip
    invoice_order = {(i.connection_id, i.stripe_id): (i.created, i.pk) for i in invoices.only(
        "connection_id", "stripe_id", "created")}  # fmt: skip
    lines = list(InvoiceLineItem.objects.filter(
        connection_id__in=connections, subscription__in=ids, proration=False,
        invoice__in=[stripe_id for _, stripe_id in invoice_order],
    ).exclude(subscription_item="").defer("raw"))  # fmt: skip
    prices = prices_of(connections, {i.price for i in items} | {line.price for line in lines})
    names = product_names(connections, {i.product for i in items})

    by_subscription = defaultdict(list)
    for item in items:
        by_subscription[(item.connection_id, item.subscription)].append(item)
    # The lines that carry MRR, by subscription and invoice; the latest such invoice sets it.
    counted = defaultdict(lambda: defaultdict(list))
    for line in lines:
        price = prices.get((line.connection_id, line.price))
        started = line.period_start is None or line.period_start <= now
        order = invoice_order.get((line.connection_id, line.invoice))
        if price is None or order is None or not started:
            continue
        value = monthly(line.amount - line.discount_amount, price)
        if value is not None:
            counted[(line.connection_id, line.subscription)][order].append((line, value))

    for s in rows:
        key = (s.connection_id, s.stripe_id)
        own = by_subscription.get(key, [])
        s.plan = list(dict.fromkeys(names.get((s.connection_id, i.product)) or i.product
                                    for i in own))  # fmt: skip
        billed = defaultdict(int)
        for item in own:
            price = prices.get((s.connection_id, item.price))
            if price is None:
                continue
            if price.usage_type == "metered":
                billed[("metered", price.currency)] += 0
            elif price.unit_amount is not None and price.interval:
                billed[(per_interval(price), price.currency)] += price.unit_amount * (
                    item.quantity or 1
                )
        s.billed = dict(billed)
        ends = [i.current_period_end for i in own if i.current_period_end]
        s.period_end = max(ends) if ends else None
        s.mrr = None
        ended = s.ended_at is not None and s.ended_at <= now
        trial = (
            s.trial_end is not None
            and s.trial_end > now
            and (s.trial_start is None or s.trial_start <= now)
        )
        if counted.get(key) and not ended and not trial and s.status not in ENDED_STATUSES:
            latest = max(counted[key])
            entries = counted[key][latest]
            s.mrr = (round(sum(value for _, value in entries)), entries[0][0].currency)


INVOICE_HEADERS = ["Invoice", "Status", "Total", "Remaining", "Due", "Created", ""]


def invoice_row(i):
    return (
        change_link(i, i.number or i.stripe_id),
        badge(i.status),
        money(i.total, i.currency),
        money_if_any(i.amount_remaining, i.currency),
        day(i.due_date),
        moment(i.created),
        stripe_link(i, "Stripe"),
    )


@admin.register(Subscription)
class SubscriptionAdmin(MirrorAdmin):
    annotate_customers = True
    list_display = ["customer_link", "plan_names", "billed_display", "mrr_display",
                    "status_badge", "ends", "start_date_day", "stripe_id",
                    "view_in_stripe"]  # fmt: skip
    list_display_links = ["stripe_id"]
    list_filter = [value_filter("status", SUBSCRIPTION_STATUSES), "cancel_at_period_end",
                   "connection"]  # fmt: skip
    search_fields = ["stripe_id", "customer"]
    search_help_text = "An exact subscription or customer id."
    detail_fields = ["customer_link", "status_badge", "plan_names", "billed_display",
                     "mrr_display", "ends", "currency_code", "start_date", "trial_start",
                     "trial_end", "cancelling", "canceled_at", "ended_at",
                     "created"]  # fmt: skip
    sections = [("Items", "items"), ("Invoices", "invoices")]

    def get_quick_links(self):
        return [
            ("Past due", {"status": "past_due"}, Q(status="past_due")),
            ("Unpaid", {"status": "unpaid"}, Q(status="unpaid")),
        ]

    start_date_day = day_column("start_date", "Started")
    cancelling = flag_column("cancel_at_period_end", "Cancels at the period's end", "Yes", "No")

    def prepare_page(self, rows):
        describe_subscriptions(rows, timezone.now())

    def get_object(self, request, object_id, from_field=None):
        subscription = super().get_object(request, object_id, from_field)
        if subscription is not None:
            describe_subscriptions([subscription], timezone.now())
        return subscription

    @admin.display(description="Plan")
    def plan_names(self, subscription):
        return " + ".join(subscription.plan) or NONE

    @admin.display(description="Price")
    def billed_display(self, subscription):
        if not subscription.billed:
            return NONE
        parts = [
            "metered"
            if interval == "metered"
            else f"{format_amount(amount, currency)} / {interval}"
            for (interval, currency), amount in subscription.billed.items()
        ]
        return nowrap(" + ".join(parts))

    @admin.display(description="MRR")
    def mrr_display(self, subscription):
        return money(*subscription.mrr) if subscription.mrr else NONE

    @admin.display(description="Ends", ordering="ended_at")
    def ends(self, subscription):
        return subscription_ends(subscription, subscription.period_end)

    @admin.display(description="Items")
    def items(self, subscription):
        def row(item):
            name = names.get((item.connection_id, item.product))
            return (item.stripe_id, mirror_link(Price, item.connection_id, item.price),
                    mirror_link(Product, item.connection_id, item.product, name),
                    item.quantity or NONE, day(item.current_period_start),
                    day(item.current_period_end))  # fmt: skip

        items = list(related_rows(SubscriptionItem, "subscription", subscription))
        names = product_names({subscription.connection_id}, {i.product for i in items})
        headers = ["Item", "Price", "Product", "Quantity", "Period start", "Period end"]
        return related_table(items, headers, row, "No items.")

    @admin.display(description="Invoices")
    def invoices(self, subscription):
        return related_section(Invoice, "subscription", subscription, INVOICE_HEADERS,
                               invoice_row, "invoices")  # fmt: skip


# Invoices ---------------------------------------------------------------------------------

INVOICE_STATUSES = ["draft", "open", "paid", "uncollectible", "void"]
BILLING_REASONS = ["subscription_create", "subscription_cycle", "subscription_update",
                   "subscription_threshold", "manual", "quote_accept",
                   "automatic_pending_invoice_item_invoice"]  # fmt: skip


class DueDateFilter(admin.SimpleListFilter):
    title = "due date"
    parameter_name = "due"

    def lookups(self, request, model_admin):
        return [
            ("overdue", "Open and past due"),
            ("7d", "Due in the next 7 days"),
            ("30d", "Due in the next 30 days"),
            ("none", "No due date"),
        ]

    def queryset(self, request, queryset):
        now, value = timezone.now(), self.value()
        if value == "overdue":
            return queryset.filter(status="open", due_date__lt=now)
        if value in ("7d", "30d"):
            days = 7 if value == "7d" else 30
            return queryset.filter(due_date__gte=now, due_date__lt=now + timedelta(days=days))
        if value == "none":
            return queryset.filter(due_date__isnull=True)
        return queryset


@admin.register(Invoice)
class InvoiceAdmin(MirrorAdmin):
    annotate_customers = True
    list_display = ["number_or_id", "customer_link", "status_badge", "total_money",
                    "remaining_money", "due_day", "created_at", "view_in_stripe"]  # fmt: skip
    list_filter = [value_filter("status", INVOICE_STATUSES), DueDateFilter,
                   value_filter("billing_reason", BILLING_REASONS), "connection"]  # fmt: skip
    search_fields = ["stripe_id", "number", "customer", "subscription"]
    search_help_text = "An exact invoice id or number, customer or subscription id."
    detail_fields = ["number", "customer_link", "subscription_link", "status_badge",
                     "billing_reason_readable", "subtotal_money", "tax_money", "total_money",
                     "amount_due_money", "amount_paid_money", "remaining_money",
                     "period_start", "period_end", "due_date", "paid_at", "created"]  # fmt: skip
    sections = [("Lines", "lines"), ("Payments", "payments")]

    subtotal_money = money_column("subtotal", "Subtotal")
    tax_money = money_column("tax", "Tax")
    total_money = money_column("total", "Total")
    amount_due_money = money_column("amount_due", "Amount due")
    amount_paid_money = money_column("amount_paid", "Paid")
    subscription_link = link_column(Subscription, "subscription", "Subscription")

    billing_reason_readable = readable_column("billing_reason", "Billing reason")

    def get_quick_links(self):
        return [
            ("Open", {"status": "open"}, Q(status="open")),
            (
                "Open and past due",
                {"due": "overdue"},
                Q(status="open", due_date__lt=timezone.now()),
            ),
        ]

    @admin.display(description="Remaining", ordering="amount_remaining")
    def remaining_money(self, invoice):
        return money_if_any(invoice.amount_remaining, invoice.currency)

    @admin.display(description="Invoice", ordering="number")
    def number_or_id(self, invoice):
        return invoice.number or invoice.stripe_id

    @admin.display(description="Due", ordering="due_date")
    def due_day(self, invoice):
        if invoice.status == "open" and invoice.due_date and invoice.due_date < timezone.now():
            due = day(invoice.due_date)
            return format_html('<strong class="lumen-bad">{} · past due</strong>', due)
        return day(invoice.due_date)

    @admin.display(description="Lines")
    def lines(self, invoice):
        def row(line):
            name = names.get((line.connection_id, line.product))
            return (line.stripe_id, mirror_link(Product, line.connection_id, line.product, name),
                    line.quantity or NONE, money(line.amount, line.currency),
                    "Yes" if line.proration else "", day(line.period_start),
                    day(line.period_end))  # fmt: skip

        lines = list(related_rows(InvoiceLineItem, "invoice", invoice))
        names = product_names({invoice.connection_id}, {line.product for line in lines})
        headers = ["Line", "Product", "Quantity", "Amount", "Proration", "From", "To"]
        return related_table(lines, headers, row, "No lines in the mirror.")

    @admin.display(description="Payments")
    def payments(self, invoice):
        def row(p):
            return (change_link(p), badge(p.status), money(p.amount_paid, p.currency),
                    mirror_link(Charge, p.connection_id, p.charge),
                    mirror_link(PaymentIntent, p.connection_id, p.payment_intent))  # fmt: skip

        headers = ["Payment", "Status", "Paid", "Charge", "Payment intent"]
        return related_section(InvoicePayment, "invoice", invoice, headers, row, "payments")


@admin.register(InvoicePayment)
class InvoicePaymentAdmin(MirrorAdmin):
    list_display = ["invoice_link", "amount_paid_money", "status_badge", "default_payment",
                    "created_at", "stripe_id", "view_in_stripe"]  # fmt: skip
    list_display_links = ["stripe_id"]
    list_filter = [value_filter("status", ["open", "paid", "canceled"]), "connection"]
    search_fields = ["stripe_id", "invoice", "charge", "payment_intent"]
    search_help_text = "An exact invoice payment, invoice, charge or payment intent id."
    detail_fields = ["invoice_link", "status_badge", "amount_paid_money", "amount_requested_money",
                     "charge_link", "payment_intent_link", "default_payment",
                     "created"]  # fmt: skip

    default_payment = flag_column("is_default", "Default payment", "Default", "")

    amount_paid_money = money_column("amount_paid", "Paid")
    amount_requested_money = money_column("amount_requested", "Requested")
    invoice_link = link_column(Invoice, "invoice", "Invoice")
    charge_link = link_column(Charge, "charge", "Charge")
    payment_intent_link = link_column(PaymentIntent, "payment_intent", "Payment intent")


# The catalogue ----------------------------------------------------------------------------


@admin.register(Product)
class ProductAdmin(MirrorAdmin):
    list_display = ["name", "state", "created_at", "stripe_id", "view_in_stripe"]
    list_filter = ["active", "connection"]
    search_fields = ["stripe_id", "name__icontains"]
    search_help_text = "Part of a name, or an exact product id."
    detail_fields = ["name", "state", "created"]

    state = flag_column("active", "State", "Active", "Archived")


@admin.register(Price)
class PriceAdmin(MirrorAdmin):
    list_display = ["product_link", "unit_amount_money", "interval_display", "type_readable",
                    "usage_readable", "state", "stripe_id", "view_in_stripe"]  # fmt: skip
    list_display_links = ["stripe_id"]
    list_filter = ["active", value_filter("type", ["recurring", "one_time"]), "connection"]
    search_fields = ["stripe_id", "product"]
    search_help_text = "An exact price or product id."
    detail_fields = ["product_link", "unit_amount_money", "type_readable", "interval_display",
                     "usage_readable", "state", "created"]  # fmt: skip

    unit_amount_money = money_column("unit_amount", "Unit amount")
    state = flag_column("active", "State", "Active", "Archived")

    def prepare_page(self, rows):
        names = product_names({p.connection_id for p in rows}, {p.product for p in rows})
        for price in rows:
            price.product_name = names.get((price.connection_id, price.product))

    def get_object(self, request, object_id, from_field=None):
        price = super().get_object(request, object_id, from_field)
        if price is not None:
            self.prepare_page([price])
        return price

    @admin.display(description="Product", ordering="product")
    def product_link(self, price):
        return mirror_link(Product, price.connection_id, price.product, price.product_name)

    type_readable = readable_column("type", "Type")

    usage_readable = readable_column("usage_type", "Usage")

    @admin.display(description="Billed every")
    def interval_display(self, price):
        return per_interval(price) if price.interval else NONE


@admin.register(Coupon)
class CouponAdmin(MirrorAdmin):
    list_display = ["name_or_id", "discount", "duration_readable", "validity", "stripe_id",
                    "view_in_stripe"]  # fmt: skip
    list_display_links = ["name_or_id"]
    list_filter = ["valid", value_filter("duration", ["forever", "once", "repeating"]),
                   "connection"]  # fmt: skip
    search_fields = ["stripe_id", "name__icontains"]
    search_help_text = "Part of a name, or an exact coupon id."
    detail_fields = ["name", "discount", "duration_readable", "duration_in_months", "validity",
                     "created"]  # fmt: skip

    validity = flag_column("valid", "Valid", "Valid", "No longer valid")

    @admin.display(description="Coupon", ordering="name")
    def name_or_id(self, coupon):
        return coupon.name or coupon.stripe_id

    duration_readable = readable_column("duration", "Duration")

    @admin.display(description="Discount")
    def discount(self, coupon):
        if coupon.percent_off is not None:
            return f"{coupon.percent_off.normalize():f}% off"
        return format_html("{} off", format_amount(coupon.amount_off, coupon.currency))


@admin.register(PromotionCode)
class PromotionCodeAdmin(MirrorAdmin):
    list_display = ["code", "coupon_link", "state", "stripe_id", "view_in_stripe"]
    list_filter = ["active", "connection"]
    search_fields = ["stripe_id", "code__iexact", "coupon"]
    search_help_text = "A code, or an exact promotion code or coupon id."
    detail_fields = ["code", "coupon_link", "state", "created"]

    state = flag_column("active", "State", "Active", "Inactive")

    coupon_link = link_column(Coupon, "coupon", "Coupon")
