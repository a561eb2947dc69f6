"""Payments: charges, refunds, disputes (those awaiting a response first) and payment
intents."""

from datetime import timedelta
from decimal import Decimal, InvalidOperation

from django.contrib import admin
from django.db.models import Case, F, OuterRef, Q, Subquery, When
from django.utils import timezone
from django.utils.html import format_html

from connectors import card_access
from connectors.admin.mirror.base import (
    CreatedWithinFilter,
    MirrorAdmin,
    link_column,
    money_column,
    related_section,
    value_filter,
    with_customer_names,
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
from connectors.models import BalanceTransaction, Charge, Customer, Dispute, PaymentIntent, Refund
from connectors.money import THREE_DECIMAL, ZERO_DECIMAL
from lumen import adminkit
from lumen.adminkit import flag_column, readable_column

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
    search_help_text = (
        "A customer's email or name (or part of it), an amount (23.20), the card's last four "
        "digits, or an exact charge, customer or payment intent id."
    )
    detail_fields = ["customer_link", "payment_intent_link", "amount_money", "captured_money",
                     "refunded_money", "status_badge", "outcome", "risk_badge",
                     "failure_readable", "card_display", "dispute_state",
                     "balance_transaction_link", "created"]  # fmt: skip
    sections = [("Refunds", "refunds"), ("Disputes", "disputes")]

    captured_money = money_column("amount_captured", "Captured")
    dispute_state = flag_column("disputed", "Disputed", "Disputed", "No")

    failure_readable = readable_column("failure_code", "Failure")

    def search_match(self, request, term):
        """As people search: ids exactly, a customer by part of their email or name, an
        amount as written ("23.20", "1,250"), and a card's last four digits for those who
        may see card details."""
        match = super().search_match(request, term)
        if len(term) >= 2:
            customers = Customer.objects.filter(
                Q(email__icontains=term) | Q(name__icontains=term)
            ).values("stripe_id")
            match |= Q(customer__in=customers)
        match |= amount_match(term)
        if term.isdigit() and len(term) == 4 and card_access.allowed(request.user):
            match |= Q(card_last4=term)
        return match

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


def amount_match(term):
    """Charges whose amount is `term` as people write it: "23.20" is 2320 in a two-decimal
    currency and 23200 in a three-decimal one; "23" is also 23 yen. Q() matches nothing."""
    text = term.replace(",", "").lstrip("$€£¥")
    try:
        value = Decimal(text)
    except InvalidOperation:
        return Q(pk__in=[])
    if not value.is_finite() or value < 0:
        return Q(pk__in=[])
    match = Q(pk__in=[])
    for places, currencies in ((0, ZERO_DECIMAL), (2, None), (3, THREE_DECIMAL)):
        minor = value * 10**places
        if minor != minor.to_integral_value():
            continue  # "23.20" is no amount of yen
        if currencies is None:
            match |= Q(amount=int(minor)) & ~Q(currency__in=ZERO_DECIMAL | THREE_DECIMAL)
        else:
            match |= Q(amount=int(minor), currency__in=currencies)
    return match


# Refunds ----------------------------------------------------------------------------------

REFUND_STATUSES = ["pending", "requires_action", "succeeded", "failed", "canceled"]


@admin.register(Refund)
class RefundAdmin(MirrorAdmin):
    list_display = ["created_at", "amount_money", "status_badge", "reason_readable",
                    "charge_link", "stripe_id", "view_in_stripe"]  # fmt: skip
    list_display_links = ["stripe_id"]
    list_filter = [value_filter("status", REFUND_STATUSES), CreatedWithinFilter, "connection"]
    search_fields = ["stripe_id", "charge", "payment_intent"]
    search_help_text = "An exact refund, charge or payment intent id."
    detail_fields = ["charge_link", "payment_intent_link", "amount_money", "status_badge",
                     "reason_readable", "balance_transaction_link", "created"]  # fmt: skip

    charge_link = link_column(Charge, "charge", "Charge")
    payment_intent_link = link_column(PaymentIntent, "payment_intent", "Payment intent")
    balance_transaction_link = link_column(
        BalanceTransaction, "balance_transaction", "Balance transaction"
    )


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


def urgency(dispute, now):
    """The disputes report's urgency (reports/disputes.py) of a dispute still needing a
    response: overdue, today (due within 24 hours), this week, later; None otherwise."""
    if dispute.status not in AWAITING_RESPONSE or not dispute.due_by:
        return None
    if dispute.due_by < now:
        return "overdue"
    if dispute.due_by <= now + timedelta(days=1):
        return "today"
    return "this week" if dispute.due_by <= now + timedelta(days=7) else "later"


URGENCY_TONES = {"overdue": "bad", "today": "bad", "this week": "warn", "later": "quiet"}


def due_by(dispute):
    if not dispute.due_by:
        return NONE
    when = moment(dispute.due_by)
    level = urgency(dispute, timezone.now())
    if level is None:
        return when
    label = {"today": "respond today"}.get(level, level)
    return format_html("{} {}", when, adminkit.badge(label, URGENCY_TONES[level]))


@admin.register(Dispute)
class DisputeAdmin(MirrorAdmin):
    list_display = ["amount_money", "customer_link", "reason_readable", "due_by_display",
                    "status_badge", "evidence", "charge_link", "stripe_id",
                    "view_in_stripe"]  # fmt: skip
    list_display_links = ["stripe_id"]
    list_filter = [DisputeResponseFilter, value_filter("status", DISPUTE_STATUSES),
                   value_filter("reason", DISPUTE_REASONS), "connection"]  # fmt: skip
    search_fields = ["stripe_id", "charge", "payment_intent"]
    search_help_text = "An exact dispute, charge or payment intent id."
    detail_fields = ["amount_money", "customer_link", "charge_link", "payment_intent_link",
                     "status_badge", "reason_readable", "due_by_display", "evidence",
                     "submission_count", "created"]  # fmt: skip

    charge_link = link_column(Charge, "charge", "Charge")
    payment_intent_link = link_column(PaymentIntent, "payment_intent", "Payment intent")

    @admin.display(description="Evidence", ordering="has_evidence")
    def evidence(self, dispute):
        if dispute.submission_count:
            return "Submitted"
        return "Drafted" if dispute.has_evidence else "None yet"

    def get_quick_links(self):
        awaiting = Q(status__in=AWAITING_RESPONSE)
        return [
            ("Needs a response", {"response": "awaiting"}, awaiting),
            ("Response overdue", {"response": "overdue"}, awaiting & Q(due_by__lt=timezone.now())),
        ]

    def get_queryset(self, request):
        # A dispute names its charge, and the charge its customer.
        customer = Charge.objects.filter(
            connection=OuterRef("connection"), stripe_id=OuterRef("charge")
        ).values("customer")[:1]
        queryset = (
            super()
            .get_queryset(request)
            .annotate(response_due=Case(When(status__in=AWAITING_RESPONSE, then="due_by")))
            .annotate(customer_id_of=Subquery(customer))
        )
        return with_customer_names(queryset, customer="customer_id_of")

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
    list_display = ["created_at", "customer_link", "amount_money", "received_money",
                    "status_badge", "stripe_id", "view_in_stripe"]  # fmt: skip
    list_display_links = ["stripe_id"]
    list_filter = [value_filter("status", PAYMENT_INTENT_STATUSES), "connection"]
    search_fields = ["stripe_id", "customer", "latest_charge"]
    search_help_text = "An exact payment intent, customer or charge id."
    detail_fields = ["customer_link", "amount_money", "received_money", "status_badge",
                     "latest_charge_link", "created"]  # fmt: skip

    received_money = money_column("amount_received", "Received")
    latest_charge_link = link_column(Charge, "latest_charge", "Latest charge")
