"""Billing: subscriptions, invoices and their payments, and the catalogue (products, prices,
coupons, promotion codes)."""

from datetime import timedelta

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

# Subscriptions ----------------------------------------------------------------------------

SUBSCRIPTION_STATUSES = ["active", "trialing", "past_due", "unpaid", "incomplete",
                         "incomplete_expired", "paused", "canceled"]  # fmt: skip
SUBSCRIPTION_HEADERS = ["Subscription", "Status", "Started", "Ends", ""]


def subscription_ends(s):
    if s.ended_at or s.canceled_at:
        return day(s.ended_at or s.canceled_at)
    return "at period end" if s.cancel_at_period_end else NONE


def subscription_row(s):
    return (change_link(s), badge(s.status), day(s.start_date), subscription_ends(s),
            stripe_link(s, "Stripe"))  # fmt: skip


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
    list_display = ["stripe_id", "customer_link", "status_badge", "start_date_day", "ends",
                    "trial_end_day", "view_in_stripe"]  # fmt: skip
    list_filter = [value_filter("status", SUBSCRIPTION_STATUSES), "cancel_at_period_end",
                   "connection"]  # fmt: skip
    search_fields = ["stripe_id", "customer"]
    search_help_text = "An exact subscription or customer id."
    detail_fields = ["customer_link", "status_badge", "currency", "start_date", "trial_start",
                     "trial_end", "cancel_at_period_end", "canceled_at", "ended_at",
                     "created"]  # fmt: skip
    sections = [("Items", "items"), ("Invoices", "invoices")]

    def get_quick_links(self):
        return [
            ("Past due", {"status": "past_due"}, Q(status="past_due")),
            ("Unpaid", {"status": "unpaid"}, Q(status="unpaid")),
        ]

    start_date_day = day_column("start_date", "Started")
    trial_end_day = day_column("trial_end", "Trial ends")

    @admin.display(description="Ends")
    def ends(self, subscription):
        return subscription_ends(subscription)

    @admin.display(description="Items")
    def items(self, subscription):
        def row(item):
            return (item.stripe_id, mirror_link(Price, item.connection_id, item.price),
                    mirror_link(Product, item.connection_id, item.product),
                    item.quantity or NONE, day(item.current_period_start),
                    day(item.current_period_end))  # fmt: skip

        items = related_rows(SubscriptionItem, "subscription", subscription)
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
                     "billing_reason", "subtotal_money", "tax_money", "total_money",
                     "amount_due_money", "amount_paid_money", "remaining_money",
                     "period_start", "period_end", "due_date", "paid_at", "created"]  # fmt: skip
    sections = [("Lines", "lines"), ("Payments", "payments")]

    subtotal_money = money_column("subtotal", "Subtotal")
    tax_money = money_column("tax", "Tax")
    total_money = money_column("total", "Total")
    amount_due_money = money_column("amount_due", "Amount due")
    amount_paid_money = money_column("amount_paid", "Paid")
    subscription_link = link_column(Subscription, "subscription", "Subscription")

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
            return (line.stripe_id, mirror_link(Product, line.connection_id, line.product),
                    line.quantity or NONE, money(line.amount, line.currency),
                    "yes" if line.proration else "", day(line.period_start),
                    day(line.period_end))  # fmt: skip

        lines = related_rows(InvoiceLineItem, "invoice", invoice)
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
    list_display = ["stripe_id", "invoice_link", "status_badge", "amount_paid_money",
                    "is_default", "created_at", "view_in_stripe"]  # fmt: skip
    list_filter = [value_filter("status", ["open", "paid", "canceled"]), "connection"]
    search_fields = ["stripe_id", "invoice", "charge", "payment_intent"]
    search_help_text = "An exact invoice payment, invoice, charge or payment intent id."
    detail_fields = ["invoice_link", "status_badge", "amount_paid_money", "amount_requested_money",
                     "charge_link", "payment_intent_link", "is_default", "created"]  # fmt: skip

    amount_paid_money = money_column("amount_paid", "Paid")
    amount_requested_money = money_column("amount_requested", "Requested")
    invoice_link = link_column(Invoice, "invoice", "Invoice")
    charge_link = link_column(Charge, "charge", "Charge")
    payment_intent_link = link_column(PaymentIntent, "payment_intent", "Payment intent")


# The catalogue ----------------------------------------------------------------------------


@admin.register(Product)
class ProductAdmin(MirrorAdmin):
    list_display = ["name", "stripe_id", "active", "created_at", "view_in_stripe"]
    list_filter = ["active", "connection"]
    search_fields = ["stripe_id", "name__icontains"]
    search_help_text = "Part of a name, or an exact product id."
    detail_fields = ["name", "active", "created"]


@admin.register(Price)
class PriceAdmin(MirrorAdmin):
    list_display = ["stripe_id", "product_link", "unit_amount_money", "type", "interval_display",
                    "active", "view_in_stripe"]  # fmt: skip
    list_filter = ["active", value_filter("type", ["recurring", "one_time"]), "connection"]
    search_fields = ["stripe_id", "product"]
    search_help_text = "An exact price or product id."
    detail_fields = ["product_link", "unit_amount_money", "type", "interval_display",
                     "usage_type", "active", "created"]  # fmt: skip

    unit_amount_money = money_column("unit_amount", "Unit amount")
    product_link = link_column(Product, "product", "Product")

    @admin.display(description="Billed every")
    def interval_display(self, price):
        if not price.interval:
            return NONE
        count = price.interval_count or 1
        return price.interval if count == 1 else f"{count} {price.interval}s"


@admin.register(Coupon)
class CouponAdmin(MirrorAdmin):
    list_display = ["stripe_id", "name", "discount", "duration", "valid", "view_in_stripe"]
    list_filter = ["valid", value_filter("duration", ["forever", "once", "repeating"]),
                   "connection"]  # fmt: skip
    search_fields = ["stripe_id", "name__icontains"]
    search_help_text = "Part of a name, or an exact coupon id."
    detail_fields = ["name", "discount", "duration", "duration_in_months", "valid", "created"]

    @admin.display(description="Discount")
    def discount(self, coupon):
        if coupon.percent_off is not None:
            return f"{coupon.percent_off.normalize():f}% off"
        return format_html("{} off", format_amount(coupon.amount_off, coupon.currency))


@admin.register(PromotionCode)
class PromotionCodeAdmin(MirrorAdmin):
    list_display = ["code", "stripe_id", "coupon_link", "active", "view_in_stripe"]
    list_filter = ["active", "connection"]
    search_fields = ["stripe_id", "code__iexact", "coupon"]
    search_help_text = "A code, or an exact promotion code or coupon id."
    detail_fields = ["code", "coupon_link", "active", "created"]

    coupon_link = link_column(Coupon, "coupon", "Coupon")
