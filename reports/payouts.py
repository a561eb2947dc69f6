"""payouts: "Balance, recent payouts and what each payout is made of."

The balance as last read from GET /v1/balance. The payouts whose arrival date falls in the
period (arrival_date is a calendar date, which Stripe gives as its midnight in UTC). An
automatic payout is made of the balance transactions Stripe lists for it (?payout=ID), less
its own (type payout), grouped by reporting category; it reconciles when their net adds up to
its amount. A manual payout names no transactions, so it cannot be reconciled. The fee
breakdown sums each component's fee_details by type, per currency.
"""

from datetime import UTC, datetime, time, timedelta

from connectors.models import Balance, Payout
from connectors.models.mirror import FEE_COLUMNS
from reports import citations, document, sql

COMPONENT_FIGURES = ("amount", "fee", "net")

CTES = """
components AS (
    SELECT t.payout, t.stripe_id, t.reporting_category, t.currency, t.amount, t.fee, t.net,
           {fee_columns}, t.fee_other
    FROM {balance_transaction} t
    WHERE t.connection_id = %(conn)s AND t.type <> 'payout'
      AND t.payout IN (
          SELECT stripe_id FROM {payout}
          WHERE connection_id = %(conn)s AND automatic
            AND arrival_date >= %(start)s AND arrival_date < %(end)s
      )
),
entries(line, figure, record, amount) AS (
    SELECT 'payouts/' || payout || '/components/' || reporting_category, 'amount', stripe_id,
           amount
    FROM components
    UNION ALL
    SELECT 'payouts/' || payout || '/components/' || reporting_category, 'fee', stripe_id, fee
    FROM components
    UNION ALL
    SELECT 'payouts/' || payout || '/components/' || reporting_category, 'net', stripe_id, net
    FROM components
    {fee_entries}
    UNION ALL
    SELECT 'warnings', 'fee_type_unknown', stripe_id, fee_other
    FROM components WHERE fee_other <> 0
    UNION ALL
    SELECT 'warnings', 'fee_details_differ', stripe_id, fee
    FROM components WHERE fee <> {fee_sum} + fee_other
)
"""
FEE_ENTRY = """
    UNION ALL
    SELECT 'fee_breakdown/' || currency, '{type}', stripe_id, {column}
    FROM components WHERE {column} <> 0"""

WARNINGS = {
    "fee_type_unknown": "{count} balance transactions have fees of a type Lumen does not "
    "know, so they are left out of the fee breakdown",
    "fee_details_differ": "{count} balance transactions have a fee that differs from the sum "
    "of their fee_details",
}


def payouts(connection, period, now, run_id):
    # arrival_date is a date, not an instant: compared in UTC, whatever the reporting zone.
    start = datetime.combine(period.first, time(0), tzinfo=UTC)
    end = datetime.combine(period.last + timedelta(days=1), time(0), tzinfo=UTC)
    ctes = sql.render(
        CTES,
        fee_columns=", ".join(f"t.{column}" for column in FEE_COLUMNS.values()),
        fee_entries="".join(
            FEE_ENTRY.format(type=type, column=column) for type, column in FEE_COLUMNS.items()
        ),
        fee_sum=" + ".join(FEE_COLUMNS.values()),
    )
    params = {"conn": connection.pk, "start": sql.moment(start), "end": sql.moment(end)}
    citations.write(run_id, ctes, params)
    figures = citations.figures(run_id)

    components, fee_breakdown = {}, {}
    for (line, figure), value in figures.items():
        parts = line.split("/")
        if parts[0] == "payouts":
            category = components.setdefault(parts[1], {}).setdefault(parts[3], {"count": 0})
            category[figure] = value.total
            category["count"] = value.count
        elif parts[0] == "fee_breakdown":
            fee_breakdown.setdefault(parts[1], {})[figure] = value.total

    listed, warnings = [], []
    rows = Payout.objects.filter(
        connection=connection, arrival_date__gte=start, arrival_date__lt=end
    ).order_by("arrival_date", "stripe_id")
    for payout in rows.values(
        "stripe_id", "amount", "currency", "arrival_date", "status", "automatic"
    ):
        listed.append(_payout(payout, components.get(payout["stripe_id"], {})))
    unread = [p["id"] for p in listed if p["automatic"] and not p["components"]]
    if unread:
        warnings.append(
            f"{len(unread)} automatic payouts have none of their transactions in the mirror: "
            f"{', '.join(unread[: document.EXAMPLES])}."
        )
    balance = Balance.objects.filter(connection=connection).first()
    if balance is None:
        warnings.append("The balance has not been read yet: sync the connection.")
    warnings += document.cited_warnings(run_id, figures, WARNINGS)
    currencies = [p["currency"] for p in listed] + list(fee_breakdown)
    if balance:
        currencies += [*balance.amounts("available"), *balance.amounts("pending")]
    warnings += document.currency_warnings(currencies)
    return {
        "from": period.first.isoformat(),
        "to": period.last.isoformat(),
        "balance": {
            "available": dict(sorted(balance.amounts("available").items())) if balance else {},
            "pending": dict(sorted(balance.amounts("pending").items())) if balance else {},
        },
        "payouts": listed,
        "fee_breakdown": {
            currency: dict(sorted(fees.items())) for currency, fees in sorted(fee_breakdown.items())
        },
        "warnings": warnings,
    }


def _payout(payout, components):
    entry = {
        "id": payout["stripe_id"],
        "amount": payout["amount"],
        "currency": payout["currency"],
        "arrival_date": payout["arrival_date"].astimezone(UTC).date().isoformat()
        if payout["arrival_date"]
        else None,
        "status": payout["status"],
        "automatic": payout["automatic"],
        "reconcilable": payout["automatic"],
    }
    if not payout["automatic"]:
        return {**entry, "reconciled": None, "difference": None, "components": {}}
    total = sum(c.get("net", 0) for c in components.values())
    ordered = {
        category: {
            "count": c["count"],
            **{f: c.get(f, 0) for f in COMPONENT_FIGURES},
        }
        for category, c in sorted(components.items())
    }
    return {
        **entry,
        "reconciled": total == payout["amount"],
        "difference": payout["amount"] - total,
        "components": ordered,
    }
