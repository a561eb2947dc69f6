"""Money moving: charges, payouts, and the disputes that need an answer."""

from datetime import timedelta
from typing import Annotated, Literal

from django.utils import timezone
from pydantic import Field

from assistant import arguments, records
from assistant.calls import current, refuse, tool
from assistant.shapes import Answer, moment
from connectors import models as mirror

ChargeStatus = Literal["succeeded", "pending", "failed"]
Amount = Annotated[int | None, Field(ge=0, description="In the currency's minor unit (cents).")]


class Charges(Answer):
    charges: list[records.Charge]
    next_cursor: str | None

    def record_count(self):
        return len(self.charges)


@tool(title="Search charges", permission="connectors.view_charge")
def search_charges(
    customer: Annotated[
        str | None,
        Field(description="A customer id (cus_…) or a customer's exact email."),
    ] = None,
    status: Annotated[ChargeStatus | None, Field(description="The charge's status.")] = None,
    date_from: arguments.DateFrom = None,
    date_to: arguments.DateTo = None,
    min_amount: Amount = None,
    max_amount: Amount = None,
    connection: arguments.ConnectionName = None,
    limit: arguments.Limit = arguments.DEFAULT_LIMIT,
    cursor: arguments.Cursor = None,
) -> Charges:
    """Charges (card payments), newest first, by customer, status, the days they were
    created and their amount (in minor units, in the charge's own currency). Each has its
    amount, what was captured and refunded, whether it is disputed, and its card for staff
    with full access. For revenue totals, call `report` with kind revenue instead of adding
    charges up."""
    names = arguments.connections(connection)
    if min_amount is not None and max_amount is not None and min_amount > max_amount:
        raise refuse(f"min_amount {min_amount} is more than max_amount {max_amount}: swap them.")
    start, end = arguments.days(date_from, date_to)
    rows = mirror.Charge.objects.filter(connection_id__in=names).defer("raw")
    if customer:
        rows = rows.filter(customer__in=customer_ids(customer.strip(), names))
    if status:
        rows = rows.filter(status=status)
    if min_amount is not None:
        rows = rows.filter(amount__gte=min_amount)
    if max_amount is not None:
        rows = rows.filter(amount__lte=max_amount)
    rows, next_cursor = arguments.newest_first(
        arguments.within(rows, "created", start, end), limit, cursor
    )
    return Charges(charges=records.charges(rows, names, current().user), next_cursor=next_cursor)


def customer_ids(customer, names):
    """The ids a `customer` argument names: itself, or the customers with that email."""
    if "@" not in customer:
        return [customer]
    ids = list(
        mirror.Customer.objects.filter(connection_id__in=names, email__iexact=customer).values_list(
            "stripe_id", flat=True
        )[: arguments.LIMIT_CAP]
    )
    if not ids:
        raise refuse(f"No customer has the email {customer!r}; find_customers finds one.")
    return ids


class Payouts(Answer):
    payouts: list[records.Payout]
    next_cursor: str | None

    def record_count(self):
        return len(self.payouts)


@tool(title="List payouts", permission="connectors.view_payout")
def list_payouts(
    date_from: arguments.DateFrom = None,
    date_to: arguments.DateTo = None,
    connection: arguments.ConnectionName = None,
    limit: arguments.Limit = arguments.DEFAULT_LIMIT,
    cursor: arguments.Cursor = None,
) -> Payouts:
    """Payouts to the bank, the latest arrival first, by the days they arrive (or are due
    to). For what each payout is made of and whether it reconciles, call `report` with kind
    payouts."""
    names = arguments.connections(connection)
    start, end = arguments.days(date_from, date_to)
    rows = mirror.Payout.objects.filter(connection_id__in=names).defer("raw")
    rows = arguments.within(rows, "arrival_date", start, end)
    rows, next_cursor = arguments.newest_first(rows, limit, cursor, field="arrival_date")
    return Payouts(payouts=records.payouts(rows, names), next_cursor=next_cursor)


class DisputesDue(Answer):
    as_of: str = Field(description="The moment urgency was worked out from (ISO 8601 UTC).")
    disputes: list[records.Dispute] = Field(
        description="Flagged first (overdue, then due today), then by due date."
    )
    by_urgency: dict[str, int]
    more: int = Field(description="Disputes due in the window beyond `limit`.")

    def record_count(self):
        return len(self.disputes)


@tool(title="Disputes due", permission="connectors.view_dispute")
def disputes_due(
    days: Annotated[
        int, Field(ge=1, le=90, description="How many days ahead to look (default 7).")
    ] = 7,
    connection: arguments.ConnectionName = None,
    limit: arguments.Limit = arguments.LIMIT_CAP,
) -> DisputesDue:
    """Open disputes that need a response with evidence due within `days` (overdue ones
    included), by urgency: overdue and due today first (flagged: respond now), then this
    week, then later. Urgency is the disputes report's. Each links to its page in Stripe's
    dashboard, where the evidence is submitted."""
    names = arguments.connections(connection)
    now = timezone.now()
    due = mirror.Dispute.objects.filter(
        connection_id__in=names,
        status__in=records.NEEDS_RESPONSE,
        due_by__isnull=False,
        due_by__lte=now + timedelta(days=days),
    )
    rows = list(due.defer("raw").order_by("due_by", "stripe_id")[: limit + 1])
    more = due.count() - limit if len(rows) > limit else 0
    # By due date is by urgency too: overdue, today, this week, later.
    found = records.disputes(rows[:limit], names, now)
    counts = {}
    for d in found:
        counts[d.urgency] = counts.get(d.urgency, 0) + 1
    return DisputesDue(as_of=moment(now), disputes=found, by_urgency=counts, more=more)
