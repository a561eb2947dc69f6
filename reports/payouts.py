"""payouts: "Balance, recent payouts and what each payout is made of."

The balance as last read from GET /v1/balance. The payouts whose arrival date falls in the
period (arrival_date is a calendar date, which Stripe gives as its midnight in UTC). An
automatic payout is made of the balance transactions Stripe lists for it (?payout=ID), less
its own (type payout), grouped by reporting category; it reconciles when their net adds up to
its amount. A manual payout names no transactions, so it cannot be reconciled. The fee
breakdown sums each component's fee_details by type, per currency.
"""

from datetime import UTC, datetime, time, timedelta

from connectors.models import Balance, BalanceTransaction, Payout
from connectors.models.mirror import FEE_COLUMNS
from reports import citations, document, sql

FEE_SELECT = ", ".join(f"t.{column}" for column in FEE_COLUMNS.values())
FEE_NAMES = ", ".join(FEE_COLUMNS.values())
COMPONENTS = """
components AS (
    SELECT t.payout, t.stripe_id, t.reporting_category, t.amount, t.fee, t.net,
           {fee_columns}, t.fee_other
    FROM {balance_transaction} t
    WHERE t.connection_id = %(conn)s AND t.type <> 'payout' AND {share}
      AND t.payout IN (
          SELECT stripe_id FROM {payout}
          WHERE connection_id = %(conn)s AND automatic
            AND arrival_date >= %(start)s AND arrival_date < %(end)s
      )
)
"""
# A component's records are the same for its amount, fee and net: they are cited once, with
# the net that reconciles the payout, and the amount and fees are tallied in the same pass
# (citations.write), with the transactions that warnings are about (cited by a second
# statement, when there are any).
CTES = """
{components},
entries(line, figure, record, amount, gross, fee, {fee_names}, strange) AS (
    SELECT 'payouts/' || payout || '/components/' || reporting_category, 'net', stripe_id, net,
           amount, fee, {fee_names},
           CASE WHEN fee_other <> 0 OR fee <> {fee_sum} + fee_other THEN 1 ELSE 0 END
    FROM components
)
"""
TALLY = tuple(
    f"CAST(SUM({column}) AS BIGINT)"
    for column in ("gross", "fee", *FEE_COLUMNS.values(), "strange")
)
ODD_FEES = """
{components},
entries(line, figure, record, amount) AS (
    SELECT 'warnings', 'fee_type_unknown', stripe_id, fee_other
    FROM components WHERE fee_other <> 0
    UNION ALL
    SELECT 'warnings', 'fee_details_differ', stripe_id, fee
    FROM components WHERE fee <> {fee_sum} + fee_other
)
"""
# On PostgreSQL, the citations are written by two statements at once, each reading half of
# the balance transactions (citations.write): citing every transaction of a year of payouts
# is most of this report's time.
PARTS = 2
# A payout's components cite its transactions, a week's or a month's: one row a part holds
# them (citations.write), where hashing every transaction into more rows cost a quarter of
# the statement.
CHUNKS = 1

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
    columns = {
        "components": sql.render(COMPONENTS, fee_columns=FEE_SELECT, share=sql.share("t")),
        "fee_names": FEE_NAMES,
        "fee_sum": " + ".join(FEE_COLUMNS.values()),
    }
    params = {"conn": connection.pk, "start": sql.moment(start), "end": sql.moment(end)}
    figures = citations.write(
        run_id, sql.render(CTES, **columns), params, hashed=True, tally=TALLY,
        parts=PARTS, split=BalanceTransaction, chunks=CHUNKS,
    )  # fmt: skip
    rows = Payout.objects.filter(
        connection=connection, arrival_date__gte=start, arrival_date__lt=end
    ).order_by("arrival_date", "stripe_id")
    payouts = list(
        rows.values("stripe_id", "amount", "currency", "arrival_date", "status", "automatic")
    )
    # A payout's transactions are in its currency.
    currency_of = {p["stripe_id"]: p["currency"] for p in payouts}
    components, fee_breakdown, odd = {}, {}, 0
    for (line, _), figure in figures.items():
        _, payout, _, category = line.split("/")
        amount, fee, *fees, strange = figure.tallies
        odd += strange
        components.setdefault(payout, {})[category] = {
            "count": figure.count, "amount": amount, "fee": fee, "net": figure.total,
        }  # fmt: skip
        by_type = fee_breakdown.setdefault(currency_of[payout], {})
        for kind, total in zip(FEE_COLUMNS, fees, strict=True):
            if total:
                by_type[kind] = by_type.get(kind, 0) + total
    fee_breakdown = {currency: fees for currency, fees in fee_breakdown.items() if fees}
    if odd:
        figures |= citations.write(run_id, sql.render(ODD_FEES, **columns), params)

    listed = [_payout(p, components.get(p["stripe_id"], {})) for p in payouts]
    warnings = []
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
    total = sum(c["net"] for c in components.values())
    ordered = dict(sorted(components.items()))
    return {
        **entry,
        "reconciled": total == payout["amount"],
        "difference": payout["amount"] - total,
        "components": ordered,
    }
