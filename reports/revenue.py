"""revenue: "Total successful charges, refunds and net revenue for a period, by product."

Per currency: gross (amount_captured of succeeded charges created in the period), refunded
(succeeded and pending refunds created in the period, whatever the charge's date), disputed
(disputes created in the period whose funds are withdrawn and not returned), net, the refund
rate, and the fees of the counted charges' balance transactions (in their own currency).

By product: a charge is split over the products of the invoice it paid (Charge.invoice, which
the sync keeps from charge -> payment intent -> invoice payment -> invoice), in proportion to
each product's share of the lines' amounts after discounts and before tax, by the largest
remainder method so that the parts add up to the charge exactly; ties go to the product whose
id sorts first. A refund or a dispute is split the same way as its charge. Money that reached
no invoice goes to product null ("No product").
"""

from connectors.models import Product
from reports import citations, document, sql

# Each CTE reads one step of the definition; `entries` is one row per record and figure.
CTES = """
moves(kind, record, currency, amount, invoice, txn) AS (
    SELECT 'gross', stripe_id, currency, amount_captured, invoice, balance_transaction
    FROM {charge}
    WHERE connection_id = %(conn)s AND created >= %(start)s AND created < %(end)s
      AND status = 'succeeded' AND amount_captured > 0
    UNION ALL
    SELECT 'refunded', r.stripe_id, r.currency, r.amount, c.invoice, NULL
    FROM {refund} r
    LEFT JOIN {charge} c ON c.connection_id = r.connection_id AND c.stripe_id = r.charge
    WHERE r.connection_id = %(conn)s AND r.created >= %(start)s AND r.created < %(end)s
      AND r.status IN ('succeeded', 'pending')
    UNION ALL
    SELECT 'disputed', d.stripe_id, d.currency, d.amount, c.invoice, NULL
    FROM {dispute} d
    LEFT JOIN {charge} c ON c.connection_id = d.connection_id AND c.stripe_id = d.charge
    WHERE d.connection_id = %(conn)s AND d.created >= %(start)s AND d.created < %(end)s
      AND d.status IN ('needs_response', 'under_review', 'lost')
),
weights(invoice, product, weight) AS (
    SELECT l.invoice, l.product, CAST(SUM(l.amount - l.discount_amount) AS BIGINT)
    FROM {invoice_line} l
    WHERE l.connection_id = %(conn)s
      AND l.invoice IN (SELECT invoice FROM moves WHERE invoice <> '')
    GROUP BY l.invoice, l.product
),
totals(invoice, total, products, product) AS (
    SELECT invoice, CAST(SUM(weight) AS BIGINT), COUNT(*), MIN(product)
    FROM weights GROUP BY invoice
),
targets AS (
    SELECT m.kind, m.record, m.currency, m.amount, m.invoice, t.total, t.products, t.product
    FROM moves m
    LEFT JOIN totals t ON t.invoice = m.invoice
),
floors AS (
    SELECT g.kind, g.record, g.currency, g.amount, w.product,
           ((g.amount * w.weight) %% g.total + g.total) %% g.total AS remainder,
           (g.amount * w.weight - ((g.amount * w.weight) %% g.total + g.total) %% g.total)
               / g.total AS base
    FROM targets g
    JOIN weights w ON w.invoice = g.invoice
    WHERE g.products > 1 AND g.total > 0
),
ranked AS (
    SELECT kind, record, currency, product, base,
           amount - CAST(SUM(base) OVER (PARTITION BY kind, record) AS BIGINT) AS leftover,
           ROW_NUMBER() OVER (PARTITION BY kind, record ORDER BY remainder DESC, product)
               AS place
    FROM floors
),
fees AS (
    SELECT m.record, m.amount, t.stripe_id AS txn, t.currency, t.fee
    FROM moves m
    LEFT JOIN {balance_transaction} t ON t.connection_id = %(conn)s AND t.stripe_id = m.txn
    WHERE m.kind = 'gross'
),
entries(line, figure, record, amount) AS (
    SELECT 'currencies/' || currency, kind, record, amount FROM moves
    UNION ALL
    SELECT 'currencies/' || currency || '/products/' || product, kind, record, amount
    FROM targets WHERE products = 1 AND total > 0
    UNION ALL
    SELECT 'currencies/' || currency || '/products/' || product, kind, record,
           base + CASE WHEN place <= leftover THEN 1 ELSE 0 END
    FROM ranked
    UNION ALL
    SELECT 'currencies/' || currency || '/products/', kind, record, amount
    FROM targets WHERE total IS NULL OR total <= 0
    UNION ALL
    SELECT 'fees', currency, txn, fee FROM fees WHERE txn IS NOT NULL
    UNION ALL
    SELECT 'warnings', 'no_balance_transaction', record, amount FROM fees WHERE txn IS NULL
    UNION ALL
    SELECT 'warnings', 'charge_not_mirrored', record, amount FROM targets WHERE invoice IS NULL
    UNION ALL
    SELECT 'warnings', 'invoice_not_mirrored', record, amount
    FROM targets WHERE invoice <> '' AND total IS NULL
    UNION ALL
    SELECT 'warnings', 'invoice_not_positive', record, amount FROM targets WHERE total <= 0
)
"""

WARNINGS = {
    "no_balance_transaction": "{count} counted charges have no balance transaction in the "
    "mirror, so their fees are not in `fees`",
    "charge_not_mirrored": "{count} refunds or disputes are of charges that are not in the "
    "mirror (older than its history?), so they are under No product",
    "invoice_not_mirrored": "{count} payments are of invoices whose lines are not in the "
    "mirror, so they are under No product",
    "invoice_not_positive": "{count} payments are of invoices whose lines add up to zero or "
    "less, which cannot be split by product, so they are under No product",
}
FIGURES = ("gross", "refunded", "disputed")


def revenue(connection, period, now, run_id):
    params = {
        "conn": connection.pk,
        "start": sql.moment(period.start()),
        "end": sql.moment(period.end()),
    }
    figures = citations.write(run_id, sql.render(CTES), params)

    totals, products, fees = {}, {}, {}
    for (line, figure), value in figures.items():
        parts = line.split("/")
        if parts[0] == "currencies" and len(parts) == 2:
            totals.setdefault(parts[1], {})[figure] = value
        elif parts[0] == "currencies" and len(parts) == 4:
            key = (parts[1], parts[3] or None)
            products.setdefault(key, {})[figure] = value
        elif parts[0] == "fees":
            fees[figure] = value.total

    names = dict(
        Product.objects.filter(
            connection=connection, stripe_id__in=[p for _, p in products if p]
        ).values_list("stripe_id", "name")
    )
    currencies = {}
    for currency in sorted(totals):
        sums = _sums(totals[currency])
        counts = {f: totals[currency][f].count if f in totals[currency] else 0 for f in FIGURES}
        lines = [
            {"product": product, "name": _name(product, names), **_sums(by_figure)}
            for (of, product), by_figure in products.items()
            if of == currency
        ]
        lines.sort(key=lambda p: (-p["gross"], p["product"] is None, p["product"] or ""))
        currencies[currency] = {
            **sums,
            "refund_rate": document.rate(sums["refunded"], sums["gross"]),
            "charge_count": counts["gross"],
            "refund_count": counts["refunded"],
            "dispute_count": counts["disputed"],
            "products": lines,
        }

    missing = sorted({p for _, p in products if p and p not in names})
    warnings = document.cited_warnings(run_id, figures, WARNINGS)
    if missing:
        warnings.append(
            f"{len(missing)} products are not in the mirror, so they have no name: "
            f"{', '.join(missing[: document.EXAMPLES])}."
        )
    warnings += document.currency_warnings([*currencies, *fees])
    return {
        "from": period.first.isoformat(),
        "to": period.last.isoformat(),
        "currencies": currencies,
        "fees": dict(sorted(fees.items())),
        "warnings": warnings,
    }


def _sums(by_figure):
    sums = {f: by_figure[f].total if f in by_figure else 0 for f in FIGURES}
    sums["net"] = sums["gross"] - sums["refunded"] - sums["disputed"]
    return sums


def _name(product, names):
    if product is None:
        return "No product"
    return names.get(product)
