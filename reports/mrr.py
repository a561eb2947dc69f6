"""mrr: "MRR, churn and net new MRR for the last 6 months."

History comes from invoices, because a subscription only shows its present state. At an
instant t, a subscription's MRR is set by the latest of its paid, open or uncollectible
invoices whose recurring lines' period starts at or before t (a tie goes to the later
invoice): the sum of those lines' amounts after discounts, times the monthly factor of the
price's interval. Prorations, metered prices and tax never count. Nothing counts before the
subscription starts, from when it ends, or during a trial. A customer's MRR in a currency is
the sum over their subscriptions, rounded half-even to the minor unit.

One refinement of the spec's wording, for a case it does not cover: an invoice of metered
usage only (billed in arrears, such as the last one after a cancellation) sets no MRR, so
it does not displace the invoice that set the recurring amount for the same period. Among an
invoice's lines, only those that carry MRR say which period it is for.

Months: the MRR of each customer is taken at every month's first instant, from 12 months
before the first month shown (to tell new customers from returning ones), and at the end of
the last month (now, for the current one). Each month's movements compare a customer's MRR at
its start (p) and end (c); mrr_end = mrr_start + net_new holds by construction.

Exact arithmetic: the monthly factors (1/n, 1/12n, 52/12n, 365/12n) share the denominator
12*L, where L is the least common multiple of the accounts' interval counts, so the database
sums integers and rounds each customer's total once, half-even.
"""

import math

from connectors.models import Price
from reports import citations, document, sql
from reports.periods import BadParameters, add_months, month_start

HISTORY = 12  # month starts before the first month shown, to tell new from reactivated
FACTORS = {"month": 12, "year": 1, "week": 52, "day": 365}  # times 1 / (12 * interval_count)
# Beyond this common multiple of interval counts the integer sums could overflow 64 bits.
MAX_COMMON_MULTIPLE = 10_000
FIGURES = ("new", "reactivation", "expansion", "contraction", "churned")

CTES = """
instants(idx, at) AS (VALUES {instants}),
months(s_idx, label) AS (VALUES {months}),
lines AS (
    SELECT i.stripe_id AS invoice, i.subscription, i.created, l.period_start, l.period_end,
           l.currency,
           CASE WHEN p.stripe_id IS NULL THEN 'price_not_mirrored'
                WHEN p.usage_type = 'metered' THEN 'metered'
                WHEN p.type <> 'recurring' OR p.interval NOT IN ('month', 'year', 'week', 'day')
                     OR NOT p.interval_count > 0 THEN 'interval_unknown'
                ELSE 'counted' END AS state,
           (l.amount - l.discount_amount)
               * (CASE p.interval WHEN 'month' THEN 12 WHEN 'year' THEN 1
                  WHEN 'week' THEN 52 WHEN 'day' THEN 365 END)
               * (%(multiple)s / NULLIF(p.interval_count, 0)) AS units
    FROM {invoice} i
    JOIN {invoice_line} l ON l.connection_id = i.connection_id AND l.invoice = i.stripe_id
    LEFT JOIN {price} p ON p.connection_id = l.connection_id AND p.stripe_id = l.price
    WHERE i.connection_id = %(conn)s AND i.status IN ('paid', 'open', 'uncollectible')
      AND i.subscription <> '' AND l.subscription_item <> '' AND NOT l.proration
      AND l.period_start <= %(last)s
),
invoices AS (
    SELECT invoice, subscription, currency,
           MAX(CASE WHEN state = 'counted' THEN period_start END) AS starts,
           MAX(created) AS created,
           CAST(SUM(CASE WHEN state = 'counted' THEN units ELSE 0 END) AS BIGINT) AS units,
           MAX(CASE WHEN state NOT IN ('counted', 'metered') AND period_end > %(first)s
                    THEN state END) AS problem
    FROM lines GROUP BY invoice, subscription, currency
),
spans AS (
    SELECT sp.invoice, sp.subscription, sp.currency, sp.starts, sp.units, sp.until,
           s.stripe_id AS found, s.customer, s.start_date, s.ended_at, s.trial_start,
           s.trial_end
    FROM (
        SELECT invoice, subscription, currency, starts, units,
               LEAD(starts) OVER (PARTITION BY subscription ORDER BY starts, created, invoice)
                   AS until
        FROM invoices WHERE starts IS NOT NULL
    ) sp
    LEFT JOIN {subscription} s ON s.connection_id = %(conn)s AND s.stripe_id = sp.subscription
),
at_instants AS (
    SELECT sp.customer, sp.currency, t.idx, CAST(SUM(sp.units) AS BIGINT) AS units
    FROM spans sp
    JOIN instants t ON sp.starts <= t.at AND (sp.until IS NULL OR t.at < sp.until)
    WHERE sp.found IS NOT NULL AND (sp.until IS NULL OR sp.until > %(first)s)
      AND sp.start_date <= t.at AND (sp.ended_at IS NULL OR sp.ended_at > t.at)
      AND NOT (sp.trial_start IS NOT NULL AND sp.trial_end IS NOT NULL
               AND sp.trial_start <= t.at AND t.at < sp.trial_end)
    GROUP BY sp.customer, sp.currency, t.idx
),
floored AS (
    SELECT customer, currency, idx,
           (units - ((units %% %(scale)s) + %(scale)s) %% %(scale)s) / %(scale)s AS whole,
           ((units %% %(scale)s) + %(scale)s) %% %(scale)s AS rest
    FROM at_instants
),
customer_mrr AS (
    SELECT customer, currency, idx,
           whole + CASE WHEN 2 * rest > %(scale)s THEN 1
                        WHEN 2 * rest = %(scale)s THEN ABS(whole) %% 2 ELSE 0 END AS mrr
    FROM floored
),
walked AS (
    SELECT customer, currency, idx, mrr,
           LAG(idx) OVER w AS prev_idx, LAG(mrr) OVER w AS prev_mrr,
           LEAD(idx) OVER w AS next_idx,
           MIN(idx) OVER (PARTITION BY customer, currency) AS first_idx
    FROM customer_mrr
    WHERE mrr > 0
    WINDOW w AS (PARTITION BY customer, currency ORDER BY idx)
),
roles(role) AS (VALUES (1), (2), (3), (4)),
facts AS (
    SELECT w.customer, w.currency,
           CASE WHEN r.role IN (1, 4) THEN w.idx ELSE w.idx - 1 END AS s_idx,
           CASE r.role
               WHEN 1 THEN 'mrr_start'
               WHEN 2 THEN 'mrr_end'
               WHEN 3 THEN CASE
                   WHEN w.prev_idx = w.idx - 1 THEN CASE
                       WHEN w.mrr > w.prev_mrr THEN 'expansion'
                       WHEN w.mrr < w.prev_mrr THEN 'contraction' END
                   WHEN w.first_idx < w.idx THEN 'reactivation'
                   ELSE 'new' END
               WHEN 4 THEN CASE
                   WHEN w.next_idx IS NULL OR w.next_idx <> w.idx + 1 THEN 'churned' END
           END AS figure,
           CASE WHEN r.role = 3 AND w.prev_idx = w.idx - 1 THEN ABS(w.mrr - w.prev_mrr)
                ELSE w.mrr END AS amount
    FROM walked w CROSS JOIN roles r
),
entries(line, figure, record, amount) AS (
    SELECT 'months/' || m.label || '/' || f.currency, f.figure, f.customer, f.amount
    FROM facts f JOIN months m ON m.s_idx = f.s_idx
    WHERE f.figure IS NOT NULL
    UNION ALL
    SELECT 'warnings', problem, invoice, 0 FROM invoices WHERE problem IS NOT NULL
    UNION ALL
    SELECT 'warnings', 'subscription_not_mirrored', invoice, units / %(scale)s
    FROM spans WHERE found IS NULL AND (until IS NULL OR until > %(first)s)
    UNION ALL
    SELECT 'warnings', 'negative', customer, mrr FROM customer_mrr WHERE mrr < 0
)
"""

WARNINGS = {
    "price_not_mirrored": "{count} invoices have subscription lines naming a price that is "
    "not in the mirror; those lines are left out of MRR",
    "interval_unknown": "{count} invoices have subscription lines billed at an interval "
    "Lumen cannot turn into a monthly amount; those lines are left out of MRR",
    "subscription_not_mirrored": "{count} invoices are of subscriptions that are not in the "
    "mirror, so they are left out of MRR",
    "negative": "{count} customers have a negative MRR at some month's edge (lines whose "
    "discounts exceed their amount); they are left out of the movements",
}


def mrr(connection, period, now, run_id):
    shown = [m for m in period.months() if month_start(*m) <= now]
    warnings = []
    if len(shown) < len(period.months()):
        warnings.append(
            f"{len(period.months()) - len(shown)} months of the period have not begun; "
            "MRR is shown up to this month."
        )
    if not shown:
        raise BadParameters("None of the period's months has begun.")
    first = add_months(*shown[0], -HISTORY)
    starts = [month_start(*add_months(*first, n)) for n in range(HISTORY + len(shown))]
    following = month_start(*add_months(*shown[-1], 1))
    instants = [*starts, min(following, now)]
    multiple = _common_multiple(connection)

    labels = [f"{y:04d}-{m:02d}" for y, m in shown]
    params = {
        "conn": connection.pk,
        "multiple": multiple,
        "scale": 12 * multiple,
        "first": sql.moment(instants[0]),
        "last": sql.moment(instants[-1]),
    }
    values = []
    for n, at in enumerate(instants):
        params[f"at{n}"] = sql.moment(at)
        values.append(f"({n}, %(at{n})s)")
    months = []
    for n, label in enumerate(labels):
        params[f"m{n}"] = label
        months.append(f"({HISTORY + n}, %(m{n})s)")
    ctes = sql.render(CTES, instants=", ".join(values), months=", ".join(months))
    figures = citations.write(run_id, ctes, params)

    currencies = sorted({line.split("/")[2] for line, _ in figures if line.startswith("months/")})
    rows = []
    for label in labels:
        for currency in currencies:
            rows.append(_month(label, currency, figures))
    warnings += document.cited_warnings(run_id, figures, WARNINGS)
    warnings += document.currency_warnings(currencies)
    return {"months": rows, "warnings": warnings}


def _month(label, currency, figures):
    def figure(name):
        return figures.get((f"months/{label}/{currency}", name))

    def total(name):
        found = figure(name)
        return found.total if found else 0

    def count(name):
        found = figure(name)
        return found.count if found else 0

    moves = {name: total(name) for name in FIGURES}
    start, end = total("mrr_start"), total("mrr_end")
    net_new = (
        moves["new"]
        + moves["reactivation"]
        + moves["expansion"]
        - moves["contraction"]
        - moves["churned"]
    )
    lost = moves["churned"] + moves["contraction"]
    return {
        "month": label,
        "currency": currency,
        "mrr_start": start,
        **moves,
        "net_new": net_new,
        "mrr_end": end,
        "customers_start": count("mrr_start"),
        "customers_end": count("mrr_end"),
        "churned_customers": count("churned"),
        "customer_churn_rate": document.rate(count("churned"), count("mrr_start")),
        "gross_mrr_churn_rate": document.rate(lost, start),
        "net_mrr_churn_rate": document.rate(
            lost - moves["expansion"] - moves["reactivation"], start
        ),
    }


def _common_multiple(connection):
    counts = set(
        Price.objects.filter(connection=connection, type="recurring", interval_count__gt=0)
        .values_list("interval_count", flat=True)
        .distinct()
    )
    multiple = math.lcm(*counts) if counts else 1
    if multiple > MAX_COMMON_MULTIPLE:
        raise BadParameters(
            f"The account's prices are billed every {', '.join(map(str, sorted(counts)))} "
            "intervals; their least common multiple is too large to sum MRR exactly."
        )
    return multiple
