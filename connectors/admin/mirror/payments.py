"""Payments: charges, refunds, disputes (those awaiting a response first) and payment
intents."""

from django.contrib import admin
from django.db.models import Case, F, Q, When
from django.utils import timezone
from django.utils.html import format_html

from connectors.admin.mirror.base import (
    CreatedWithinFilter,
    MirrorAdmin,
    link_column,
    money_column,
    related_section,
    value_filter,
)
from connectors.admin.mirror.display import (
    NONE,
    badge,
    card,
    moment,
    money,
    money_if_any,
    readable,
)
from connectors.admin.mirror.links import change_link, stripe_link
from connectors.models import BalanceTransaction, Charge, Dispute, PaymentIntent, Refund

# Charges ----------------------------------------------------------------------------------

CHARGE_STATUSES = ["succeeded", "pending", "failed"]
RISK_LEVELS = ["normal", "elevated", "highest", "not_assessed", "unknown"]
OUTCOME_TYPES = ["authorized", "manual_review", "issuer_declined", "blocked", "invalid"]

CHARGE_HEADERS = ["Created", "Charge", "Amount", "Status", "Refunded", "Card", "Risk", ""]


def charge_row(c):
    return (
        moment(c.created),
        change_link(c),
        money(c.amount, c.currency),
        badge(c.status),
        money_if_any(c.amount_refunded, c.currency),
        card(c),
        badge(c.risk_level),
        stripe_link(c, "Stripe"),
    )


@admin.register(Charge)
class ChargeAdmin(MirrorAdmin):
    annotate_customers = True
    list_display = ["created_at", "stripe_id", "customer_link", "amount_and_refunds",
                    "status_and_dispute", "payment", "view_in_stripe"]  # fmt: skip
    list_display_links = ["stripe_id"]
    list_filter = [
        value_filter("status", CHARGE_STATUSES),
        CreatedWithinFilter,
        value_filter("risk_level", RISK_LEVELS),
        value_filter("outcome_type", OUTCOME_TYPES),
        "disputed",
        "connection",
    ]
    search_fields = ["stripe_id", "customer", "payment_intent"]
    search_help_text = "An exact charge, customer or payment intent id."
    detail_fields = ["customer_link", "payment_intent_link", "amount_money", "captured_money",
                     "refunded_money", "status_badge", "outcome", "risk_badge",
                     "failure_code", "card_display", "disputed", "balance_transaction_link",
                     "created"]  # fmt: skip
    sections = [("Refunds", "refunds"), ("Disputes", "disputes")]

    captured_money = money_column("amount_captured", "Captured")
    payment_intent_link = link_column(PaymentIntent, "payment_intent", "Payment intent")
    balance_transaction_link = link_column(
        BalanceTransaction, "balance_transaction", "Balance transaction"
    )

    @admin.display(description="Refunded", ordering="amount_refunded")
    def refunded_money(self, charge):
        return money_if_any(charge.amount_refunded, charge.currency)

    @admin.display(description="Risk", ordering="risk_level")
    def risk_badge(self, charge):
        return badge(charge.risk_level)

    @admin.display(description="Outcome", ordering="outcome_type")
    def outcome(self, charge):
        if not charge.risk_level:
            return readable(charge.outcome_type)
        return format_html("{} · {} risk", readable(charge.outcome_type), badge(charge.risk_level))

    @admin.display(description="Card · outcome")
    def payment(self, charge):
        return format_html(
            '{}<br><small class="lumen-sub">{}</small>', card(charge), self.outcome(charge)
        )

    @admin.display(description="Amount", ordering="amount")
    def amount_and_refunds(self, charge):
        if not charge.amount_refunded:
            return money(charge.amount, charge.currency)
        return format_html(
            '{}<br><small class="lumen-sub">{} refunded</small>',
            money(charge.amount, charge.currency),
            money(charge.amount_refunded, charge.currency),
        )

    @admin.display(description="Status", ordering="status")
    def status_and_dispute(self, charge):
        if not charge.disputed:
            return badge(charge.status)
        return format_html("{} {}", badge(charge.status), badge("disputed"))

    @admin.display(description="Card")
    def card_display(self, charge):
        return card(charge)

    @admin.display(description="Refunds")
    def refunds(self, charge):
        def row(r):
            return (change_link(r), money(r.amount, r.currency), badge(r.status), r.reason or NONE,
                    moment(r.created))  # fmt: skip

        headers = ["Refund", "Amount", "Status", "Reason", "Created"]
        return related_section(Refund, "charge", charge, headers, row, "refunds")

    @admin.display(description="Disputes")
    def disputes(self, charge):
        def row(d):
            return (change_link(d), money(d.amount, d.currency), badge(d.status),
                    readable(d.reason), due_by(d))  # fmt: skip

        headers = ["Dispute", "Amount", "Status", "Reason", "Evidence due"]
        return related_section(Dispute, "charge", charge, headers, row, "disputes")


# Refunds ----------------------------------------------------------------------------------

REFUND_STATUSES = ["pending", "requires_action", "succeeded", "failed", "canceled"]


@admin.register(Refund)
class RefundAdmin(MirrorAdmin):
    list_display = ["stripe_id", "charge_link", "amount_money", "status_badge", "reason_readable",
                    "created_at", "view_in_stripe"]  # fmt: skip
    list_filter = [value_filter("status", REFUND_STATUSES), CreatedWithinFilter, "connection"]
    search_fields = ["stripe_id", "charge", "payment_intent"]
    search_help_text = "An exact refund, charge or payment intent id."
    detail_fields = ["charge_link", "payment_intent", "amount_money", "status_badge", "reason",
                     "balance_transaction", "created"]  # fmt: skip

    charge_link = link_column(Charge, "charge", "Charge")


# Disputes ---------------------------------------------------------------------------------

AWAITING_RESPONSE = ["needs_response", "warning_needs_response"]
DISPUTE_STATUSES = ["needs_response", "warning_needs_response", "under_review",
                    "warning_under_review", "won", "lost", "warning_closed"]  # fmt: skip
DISPUTE_REASONS = ["fraudulent", "unrecognized", "product_not_received", "product_unacceptable",
                   "subscription_canceled", "credit_not_processed", "duplicate", "general",
                   "bank_cannot_process", "check_returned", "customer_initiated",
                   "debit_not_authorized", "incorrect_account_details", "insufficient_funds",
                   "noncompliant"]  # fmt: skip


class DisputeResponseFilter(admin.SimpleListFilter):
    title = "response"
    parameter_name = "response"

    def lookups(self, request, model_admin):
        return [("awaiting", "Needs a response"), ("overdue", "Response overdue")]

    def queryset(self, request, queryset):
        if self.value() == "awaiting":
            return queryset.filter(status__in=AWAITING_RESPONSE)
        if self.value() == "overdue":
            return queryset.filter(status__in=AWAITING_RESPONSE, due_by__lt=timezone.now())
        return queryset


def due_by(dispute):
    if not dispute.due_by:
        return NONE
    when = moment(dispute.due_by)
    if dispute.status not in AWAITING_RESPONSE:
        return when
    if dispute.due_by < timezone.now():
        return format_html('<strong class="lumen-bad">{} · overdue</strong>', when)
    return format_html('<strong class="lumen-warn">{}</strong>', when)


@admin.register(Dispute)
class DisputeAdmin(MirrorAdmin):
    list_display = ["stripe_id", "charge_link", "status_badge", "reason_readable", "amount_money",
                    "due_by_display", "has_evidence", "view_in_stripe"]  # fmt: skip
    list_filter = [DisputeResponseFilter, value_filter("status", DISPUTE_STATUSES),
                   value_filter("reason", DISPUTE_REASONS), "connection"]  # fmt: skip
    search_fields = ["stripe_id", "charge", "payment_intent"]
    search_help_text = "An exact dispute, charge or payment intent id."
    detail_fields = ["charge_link", "payment_intent", "status_badge", "reason", "amount_money",
                     "due_by_display", "has_evidence", "submission_count", "created"]  # fmt: skip

    charge_link = link_column(Charge, "charge", "Charge")

    def get_quick_links(self):
        awaiting = Q(status__in=AWAITING_RESPONSE)
        return [
            ("Needs a response", {"response": "awaiting"}, awaiting),
            ("Response overdue", {"response": "overdue"}, awaiting & Q(due_by__lt=timezone.now())),
        ]

    def get_queryset(self, request):
        return (
            super()
            .get_queryset(request)
            .annotate(response_due=Case(When(status__in=AWAITING_RESPONSE, then="due_by")))
        )

    def get_ordering(self, request):
        # Those awaiting a response first, the overdue and then the most urgent at the top;
        # then the others, latest deadline first.
        return [F("response_due").asc(nulls_last=True), F("due_by").desc(nulls_last=True)]

    @admin.display(description="Evidence due", ordering="due_by")
    def due_by_display(self, dispute):
        return due_by(dispute)


# Payment intents --------------------------------------------------------------------------

PAYMENT_INTENT_STATUSES = ["requires_payment_method", "requires_confirmation", "requires_action",
                           "processing", "requires_capture", "canceled", "succeeded"]  # fmt: skip


@admin.register(PaymentIntent)
class PaymentIntentAdmin(MirrorAdmin):
    annotate_customers = True
    list_display = ["stripe_id", "customer_link", "amount_money", "received_money",
                    "status_badge", "created_at", "view_in_stripe"]  # fmt: skip
    list_filter = [value_filter("status", PAYMENT_INTENT_STATUSES), "connection"]
    search_fields = ["stripe_id", "customer", "latest_charge"]
    search_help_text = "An exact payment intent, customer or charge id."
    detail_fields = ["customer_link", "amount_money", "received_money", "status_badge",
                     "latest_charge_link", "created"]  # fmt: skip

    received_money = money_column("amount_received", "Received")
    latest_charge_link = link_column(Charge, "latest_charge", "Latest charge")
