"""Customers: who they are, their lifetime value, and their subscriptions, invoices and
charges."""

from collections import defaultdict

from django.contrib import admin
from django.db.models import OuterRef, Subquery, Sum
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
from lumen.adminkit import flag_column


def lifetime_values(customers):
    """{customer pk: (value, captured, refunded)}, each {currency: amount}: what a customer's
    succeeded charges captured, less what was refunded of them (refunds succeeded or still
    pending). Two grouped sums for any number of customers, whatever their history."""
    if not customers:
        return {}
    connections = {c.connection_id for c in customers}
    charges = Charge.objects.filter(
        connection_id__in=connections,
        customer__in={c.stripe_id for c in customers},
        status="succeeded",
    )
    captured = charges.order_by().values_list("connection_id", "customer", "currency")
    captured = captured.annotate(total=Sum("amount_captured"))
    charge_customer = Charge.objects.filter(
        connection_id=OuterRef("connection_id"), stripe_id=OuterRef("charge")
    ).values("customer")[:1]
    refunded = (
        Refund.objects.filter(
            connection_id__in=connections,
            charge__in=charges.values("stripe_id"),
            status__in=["succeeded", "pending"],
        )
        .annotate(customer=Subquery(charge_customer))
        .order_by()
        .values_list("connection_id", "customer", "currency")
        .annotate(total=Sum("amount"))
    )
    sums = defaultdict(lambda: ({}, {}))
    for i, rows in enumerate((captured, refunded)):
        for connection_id, customer, currency, total in rows:
            sums[(connection_id, customer)][i][currency] = total
    found = {}
    for c in customers:
        took, gave = sums[(c.connection_id, c.stripe_id)]
        currencies = set(took) | set(gave)
        value = {cur: took.get(cur, 0) - gave.get(cur, 0) for cur in currencies}
        found[c.pk] = (value, took, gave)
    return found


@admin.register(Customer)
class CustomerAdmin(MirrorAdmin):
    list_display = ["display_name", "email", "lifetime_value", "currency_code", "standing",
                    "created_at", "stripe_id", "connection", "view_in_stripe"]  # fmt: skip
    list_display_links = ["display_name"]
    list_filter = ["delinquent", "deleted", "connection"]
    search_fields = ["stripe_id", "email__icontains", "name__icontains"]
    search_help_text = "Part of an email or a name, or an exact customer id (cus_…)."
    detail_fields = ["name", "email", "currency_code", "standing", "created"]
    sections = [
        ("Lifetime value", "lifetime_value_display"),
        ("Subscriptions", "subscriptions"),
        ("Invoices", "invoices"),
        ("Charges", "charges"),
    ]

    standing = flag_column("delinquent", "Standing", "Delinquent", "Good")

    def prepare_page(self, rows):
        values = lifetime_values(rows)
        for customer in rows:
            customer.lifetime = values[customer.pk][0]

    @admin.display(description="Customer", ordering="name")
    def display_name(self, customer):
        return customer.name or customer.email or customer.stripe_id

    @admin.display(description="Lifetime value")
    def lifetime_value(self, customer):
        return format_totals(customer.lifetime)

    @admin.display(description="Lifetime value")
    def lifetime_value_display(self, customer):
        value, captured, refunded = lifetime_values([customer])[customer.pk]
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
