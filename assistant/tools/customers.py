"""Customers: finding them, and one customer with their money."""

from typing import Annotated

from django.db.models import Q
from django.utils import timezone
from pydantic import Field

from assistant import arguments, records
from assistant.calls import current, refuse, tool
from assistant.shapes import Answer
from connectors import models as mirror

SECTION_ROWS = 10  # rows of each kind a customer's answer shows, the newest


class Customers(Answer):
    customers: list[records.Customer]
    next_cursor: str | None

    def record_count(self):
        return len(self.customers)


@tool(title="Find customers", permission="connectors.view_customer")
def find_customers(
    query: Annotated[
        str,
        Field(
            min_length=1,
            max_length=200,
            description="Part of an email or a name (any case), or a customer id (cus_…).",
        ),
    ],
    connection: arguments.ConnectionName = None,
    limit: arguments.Limit = arguments.DEFAULT_LIMIT,
    cursor: arguments.Cursor = None,
) -> Customers:
    """Find customers by email, name or id (a partial email or name matches), newest first,
    each with their lifetime value per currency and their subscriptions by status. Then call
    `customer` with an id for their subscriptions, invoices, charges, refunds and disputes."""
    names = arguments.connections(connection)
    term = query.strip()
    match = Q(stripe_id=term) if term.startswith("cus_") else Q(email__icontains=term)
    if not term.startswith("cus_") and "@" not in term:
        match |= Q(name__icontains=term)
    rows = mirror.Customer.objects.filter(match, connection_id__in=names).defer("raw")
    rows, next_cursor = arguments.newest_first(rows, limit, cursor)
    return Customers(customers=records.customers(rows, names), next_cursor=next_cursor)


class CustomerAndMoney(Answer):
    customer: records.Customer
    subscriptions: list[records.Subscription]
    invoices: list[records.Invoice] = Field(description="The newest first.")
    charges: list[records.Charge] = Field(description="The newest first.")
    refunds: list[records.Refund] = Field(description="Of their charges, the newest first.")
    disputes: list[records.Dispute] = Field(description="Of their charges, the newest first.")
    not_shown: list[str] = Field(
        description="What the answer leaves out: kinds of record the user may not see, and "
        "kinds with more records than shown (their admin list has them all)."
    )

    def record_count(self):
        return 1 + sum(len(getattr(self, kind)) for kind in KINDS)


# Each kind of record on a customer's answer: the mirror's model, and the column that ties its
# rows to the customer (a refund or a dispute is of one of the customer's charges).
KINDS = {
    "subscriptions": (mirror.Subscription, "customer"),
    "invoices": (mirror.Invoice, "customer"),
    "charges": (mirror.Charge, "customer"),
    "refunds": (mirror.Refund, "charge"),
    "disputes": (mirror.Dispute, "charge"),
}


@tool(title="Customer", permission="connectors.view_customer")
def customer(
    id: Annotated[str, Field(description="The customer's Stripe id (cus_…).")],
    connection: arguments.ConnectionName = None,
    rows: Annotated[
        int,
        Field(
            ge=1,
            le=arguments.LIMIT_CAP,
            description=f"How many of each kind to show, newest first (default {SECTION_ROWS}).",
        ),
    ] = SECTION_ROWS,
) -> CustomerAndMoney:
    """One customer with their subscriptions, their newest invoices, charges, refunds and
    disputes, and their lifetime value. Find the id with find_customers."""
    names = arguments.connections(connection)
    found = mirror.Customer.objects.filter(connection_id__in=names, stripe_id=id.strip())
    found = list(found.defer("raw")[:2])
    if not found:
        where = "" if connection is None else f" of {connection}"
        raise refuse(
            f"No customer {id!r} in the mirror{where}. find_customers finds one by email or name."
        )
    if len(found) > 1:
        raise refuse(
            f"{id} is in several connections: say which with `connection` (one of "
            f"{', '.join(names[c.connection_id] for c in found)})."
        )
    person = found[0]
    current().connection = mirror.StripeConnection.objects.only("pk", "name").get(
        pk=person.connection_id
    )
    user = current().user
    sections, not_shown = {}, []
    charges = mirror.Charge.objects.filter(
        connection_id=person.connection_id, customer=person.stripe_id
    )
    for kind, (model, field) in KINDS.items():
        if not user.has_perm(f"connectors.view_{model._meta.model_name}"):
            sections[kind] = []
            not_shown.append(f"{kind}: not permitted to {user.get_username()}")
            continue
        owner = person.stripe_id if field == "customer" else charges.values("stripe_id")
        lookup = {field: owner} if field == "customer" else {f"{field}__in": owner}
        queryset = model.objects.filter(connection_id=person.connection_id, **lookup)
        shown = list(queryset.defer("raw").order_by("-created", "-pk")[: rows + 1])
        if len(shown) > rows:
            not_shown.append(f"{kind}: only the newest {rows} are shown")
        sections[kind] = shown[:rows]
    return CustomerAndMoney(
        customer=records.customers([person], names)[0],
        subscriptions=records.subscriptions(sections["subscriptions"], names),
        invoices=records.invoices(sections["invoices"], names),
        charges=records.charges(sections["charges"], names, user),
        refunds=records.refunds(sections["refunds"], names),
        disputes=records.disputes(sections["disputes"], names, timezone.now()),
        not_shown=not_shown,
    )
