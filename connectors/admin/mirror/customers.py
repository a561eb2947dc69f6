"""Customers: who they are, their lifetime value, and their subscriptions, invoices and
charges."""

from django.contrib import admin
from django.db.models import Sum
from django.utils.html import format_html

from connectors.admin.mirror.base import MirrorAdmin, related_section
from connectors.admin.mirror.billing import (
    INVOICE_HEADERS,
    SUBSCRIPTION_HEADERS,
    invoice_row,
    subscription_row,
)
from connectors.admin.mirror.payments import CHARGE_HEADERS, charge_row
from connectors.models import Charge, Customer, Invoice, Refund, Subscription
from connectors.money import format_totals


def lifetime_value(customer):
    """Per currency: what the customer's succeeded charges captured, less what was refunded
    of them (refunds succeeded or still pending). Two grouped sums, whatever the history."""
    charges = Charge.objects.filter(
        connection_id=customer.connection_id, customer=customer.stripe_id, status="succeeded"
    )
    captured = dict(
        charges.order_by().values_list("currency").annotate(total=Sum("amount_captured"))
    )
    refunds = Refund.objects.filter(
        connection_id=customer.connection_id,
        charge__in=charges.values("stripe_id"),
        status__in=["succeeded", "pending"],
    )
    refunded = dict(refunds.order_by().values_list("currency").annotate(total=Sum("amount")))
    currencies = set(captured) | set(refunded)
    return {c: captured.get(c, 0) - refunded.get(c, 0) for c in currencies}, captured, refunded


@admin.register(Customer)
class CustomerAdmin(MirrorAdmin):
    list_display = ["display_name", "email", "stripe_id", "currency", "delinquent",
                    "created_at", "connection", "view_in_stripe"]  # fmt: skip
    list_filter = ["delinquent", "deleted", "connection"]
    search_fields = ["stripe_id", "email__icontains", "name__icontains"]
    search_help_text = "Part of an email or a name, or an exact customer id (cus_…)."
    detail_fields = ["name", "email", "currency", "delinquent", "created"]
    sections = [
        ("Lifetime value", "lifetime_value_display"),
        ("Subscriptions", "subscriptions"),
        ("Invoices", "invoices"),
        ("Charges", "charges"),
    ]

    @admin.display(description="Customer", ordering="name")
    def display_name(self, customer):
        return customer.name or customer.email or customer.stripe_id

    @admin.display(description="Lifetime value")
    def lifetime_value_display(self, customer):
        value, captured, refunded = lifetime_value(customer)
        if not value:
            return "Nothing captured yet."
        return format_html(
            '<strong class="lumen-customer-name">{}</strong><br>'
            '<span class="help">captured {}, less refunds {} (succeeded charges; refunds '
            "succeeded or pending)</span>",
            format_totals(value),
            format_totals(captured),
            format_totals(refunded),
        )

    @admin.display(description="Subscriptions")
    def subscriptions(self, customer):
        return related_section(Subscription, "customer", customer, SUBSCRIPTION_HEADERS,
                               subscription_row, "subscriptions")  # fmt: skip

    @admin.display(description="Invoices")
    def invoices(self, customer):
        return related_section(Invoice, "customer", customer, INVOICE_HEADERS, invoice_row,
                               "invoices")  # fmt: skip

    @admin.display(description="Charges")
    def charges(self, customer):
        return related_section(Charge, "customer", customer, CHARGE_HEADERS, charge_row,
                               "charges")  # fmt: skip
