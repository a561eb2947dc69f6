"""What customers are billed: subscriptions, open invoices, and the catalog."""

from typing import Annotated, Literal

from pydantic import Field

from assistant import arguments, records
from assistant.calls import tool
from assistant.shapes import Answer
from connectors import models as mirror

SubscriptionStatus = Literal[
    "active",
    "trialing",
    "past_due",
    "unpaid",
    "incomplete",
    "incomplete_expired",
    "paused",
    "canceled",
]
CustomerId = Annotated[str | None, Field(description="A customer id (cus_…).")]


class Subscriptions(Answer):
    subscriptions: list[records.Subscription]
    next_cursor: str | None

    def record_count(self):
        return len(self.subscriptions)


@tool(title="List subscriptions", permission="connectors.view_subscription")
def list_subscriptions(
    status: Annotated[SubscriptionStatus | None, Field(description="Only this status.")] = None,
    customer: CustomerId = None,
    connection: arguments.ConnectionName = None,
    limit: arguments.Limit = arguments.DEFAULT_LIMIT,
    cursor: arguments.Cursor = None,
) -> Subscriptions:
    """Subscriptions, newest first, by status or customer, each with its plan (product
    names), its MRR now as the MRR report counts it, and when it renews or ends. For MRR
    totals and churn, call `report` with kind mrr instead of adding these up."""
    names = arguments.connections(connection)
    rows = mirror.Subscription.objects.filter(connection_id__in=names).defer("raw")
    if status:
        rows = rows.filter(status=status)
    if customer:
        rows = rows.filter(customer=customer.strip())
    rows, next_cursor = arguments.newest_first(rows, limit, cursor)
    return Subscriptions(subscriptions=records.subscriptions(rows, names), next_cursor=next_cursor)


class Invoices(Answer):
    invoices: list[records.Invoice]
    next_cursor: str | None

    def record_count(self):
        return len(self.invoices)


@tool(title="Open invoices", permission="connectors.view_invoice")
def open_invoices(
    customer: CustomerId = None,
    connection: arguments.ConnectionName = None,
    limit: arguments.Limit = arguments.DEFAULT_LIMIT,
    cursor: arguments.Cursor = None,
) -> Invoices:
    """Invoices still open (finalized, not paid yet), newest first, with what remains due
    and when it is due; of one customer or of all."""
    names = arguments.connections(connection)
    rows = mirror.Invoice.objects.filter(connection_id__in=names, status="open").defer("raw")
    if customer:
        rows = rows.filter(customer=customer.strip())
    rows, next_cursor = arguments.newest_first(rows, limit, cursor)
    return Invoices(invoices=records.invoices(rows, names), next_cursor=next_cursor)


class Products(Answer):
    products: list[records.Product]
    next_cursor: str | None

    def record_count(self):
        return len(self.products)


@tool(title="List products", permission="connectors.view_product")
def list_products(
    connection: arguments.ConnectionName = None,
    limit: arguments.Limit = arguments.DEFAULT_LIMIT,
    cursor: arguments.Cursor = None,
) -> Products:
    """The catalog: products, newest first, each with its prices (amount, interval, whether
    active)."""
    names = arguments.connections(connection)
    rows = mirror.Product.objects.filter(connection_id__in=names).defer("raw")
    rows, next_cursor = arguments.newest_first(rows, limit, cursor)
    return Products(products=records.products(rows, names), next_cursor=next_cursor)


class Coupons(Answer):
    coupons: list[records.Coupon]
    next_cursor: str | None

    def record_count(self):
        return len(self.coupons)


@tool(title="List coupons", permission="connectors.view_coupon")
def list_coupons(
    connection: arguments.ConnectionName = None,
    limit: arguments.Limit = arguments.DEFAULT_LIMIT,
    cursor: arguments.Cursor = None,
) -> Coupons:
    """Coupons, newest first: the discount (percent or amount), how long it lasts, whether
    it can still be redeemed, and the promotion codes customers type for it."""
    names = arguments.connections(connection)
    rows = mirror.Coupon.objects.filter(connection_id__in=names).defer("raw")
    rows, next_cursor = arguments.newest_first(rows, limit, cursor)
    return Coupons(coupons=records.coupons(rows, names), next_cursor=next_cursor)
