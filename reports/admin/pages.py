"""A run's document as staff read it: tables per currency with each amount formatted in its
own currency, every figure a link to the records it cites, and the charts (their data; the
drawing is Plotly's, in the browser).

Nothing here computes a figure: every value comes from the stored document, and every link
names a citation of the run (line, figure) that the mirror pages open as a list.
"""

from connectors.admin.mirror.links import changelist_url, mirror_link
from connectors.models import BalanceTransaction, Charge, Customer, Dispute, Payout, Refund
from connectors.money import decimals, format_amount, is_known
from reports.formats import counted, percent

SELECTION = "cited"  # the kind of mirror selection a citation opens as (see selections)
REVENUE_RECORDS = {"gross": Charge, "refunded": Refund, "disputed": Dispute}
MOVES = ("new", "reactivation", "expansion", "contraction", "churned")


def cited_url(run, model, line, figure):
    value = f"{SELECTION}:{run.pk}|{line}|{figure}"
    return changelist_url(model, selection=value)


def cell(text, url=None, numeric=True):
    return {"text": text, "url": url, "numeric": numeric}


def figure_cell(amount, currency, url):
    """An amount that opens to its records; a zero cites none, so it opens nothing."""
    return cell(format_amount(amount, currency), url if amount else None)


def sections(run):
    """[{"title", "headers", "rows", "note"}]: the tables of a run's page, by kind."""
    doc = run.document
    return {"revenue": revenue, "mrr": mrr, "disputes": disputes, "payouts": payouts}[run.kind](
        run, doc
    )


def revenue(run, doc):
    found = []
    for currency, c in doc["currencies"].items():
        line = f"currencies/{currency}"

        def money(amount, currency=currency):
            return format_amount(amount, currency)

        rows = [
            [cell("Gross", numeric=False),
             figure_cell(c["gross"], currency, cited_url(run, Charge, line, "gross")),
             cell(counted(c["charge_count"], "charge"))],
            [cell("Refunded", numeric=False),
             figure_cell(c["refunded"], currency, cited_url(run, Refund, line, "refunded")),
             cell(counted(c["refund_count"], "refund"))],
            [cell("Disputed", numeric=False),
             figure_cell(c["disputed"], currency, cited_url(run, Dispute, line, "disputed")),
             cell(counted(c["dispute_count"], "dispute"))],
            [cell("Net", numeric=False), cell(money(c["net"])), cell("")],
            [cell("Refund rate", numeric=False), cell(percent(c["refund_rate"])), cell("")],
        ]  # fmt: skip
        if currency in doc["fees"]:
            rows.append([cell("Fees", numeric=False),
                         cell(money(doc["fees"][currency]),
                              cited_url(run, BalanceTransaction, "fees", currency)),
                         cell("")])  # fmt: skip
        found.append({"title": currency.upper(), "headers": ["", "Amount", "Records"],
                      "rows": rows})  # fmt: skip
        products = []
        for p in c["products"]:
            product_line = f"{line}/products/{p['product'] or ''}"
            products.append(
                [cell(p["name"] or p["product"], numeric=False)]
                + [
                    figure_cell(p[f], currency, cited_url(run, REVENUE_RECORDS[f], product_line, f))
                    for f in ("gross", "refunded", "disputed")
                ]
                + [cell(money(p["net"]))]
            )
        found.append({"title": f"{currency.upper()} by product",
                      "headers": ["Product", "Gross", "Refunded", "Disputed", "Net"],
                      "rows": products})  # fmt: skip
    for currency, fee in doc["fees"].items():
        if currency not in doc["currencies"]:
            found.append({"title": f"Fees in {currency.upper()}", "headers": ["", "Amount"],
                          "rows": [[cell("Fees", numeric=False), cell(
                              format_amount(fee, currency),
                              cited_url(run, BalanceTransaction, "fees", currency))]]})  # fmt: skip
    return found


def mrr(run, doc):
    found = []
    for currency in sorted({m["currency"] for m in doc["months"]}):
        rows = []
        for m in (m for m in doc["months"] if m["currency"] == currency):
            line = f"months/{m['month']}/{currency}"

            def linked(figure, m=m, line=line, currency=currency):
                return figure_cell(m[figure], currency, cited_url(run, Customer, line, figure))

            rows.append(
                [cell(m["month"], numeric=False), linked("mrr_start"),
                 *(linked(f) for f in MOVES), cell(format_amount(m["net_new"], currency)),
                 linked("mrr_end"), cell(f"{m['customers_start']:,} → {m['customers_end']:,}"),
                 cell(percent(m["customer_churn_rate"])), cell(percent(m["gross_mrr_churn_rate"])),
                 cell(percent(m["net_mrr_churn_rate"]))]
            )  # fmt: skip
        found.append({
            "title": currency.upper(),
            "headers": ["Month", "MRR start", "New", "Reactivation", "Expansion", "Contraction",
                        "Churned", "Net new", "MRR end", "Customers", "Customer churn",
                        "Gross MRR churn", "Net MRR churn"],
            "rows": rows,
        })  # fmt: skip
    return found


def disputes(run, doc):
    opened = [
        [cell("due today or overdue" if d["flagged"] else "", numeric=False),
         cell(d["urgency"] or "unknown", numeric=False), cell(d["due_by"] or "–", numeric=False),
         cell(mirror_link(Dispute, run.connection_id, d["id"]), numeric=False),
         cell(d["reason"].replace("_", " "), numeric=False),
         cell(d["status"].replace("_", " "), numeric=False),
         cell(format_amount(d["amount"], d["currency"]))]
        for d in doc["open"]
    ]  # fmt: skip
    reasons = [
        [cell(r["reason"].replace("_", " "), numeric=False), cell(r["currency"].upper(),
         numeric=False), cell(f"{r['count']:,}"),
         cell(format_amount(r["amount"], r["currency"]), cited_url(
             run, Dispute, f"by_reason/{r['reason']}/{r['currency']}", "amount"))]
        for r in doc["by_reason"]
    ]  # fmt: skip
    return [
        {"title": "Open disputes, the most urgent first",
         "headers": ["", "Urgency", "Due by", "Dispute", "Reason", "Status", "Amount"],
         "rows": opened},
        {"title": "By reason", "headers": ["Reason", "Currency", "Count", "Amount"],
         "rows": reasons},
    ]  # fmt: skip


def payouts(run, doc):
    balance = doc["balance"]
    currencies = sorted({*balance["available"], *balance["pending"]})
    found = [{
        "title": "Balance",
        "headers": ["Currency", "Available", "Pending"],
        "rows": [[cell(c.upper(), numeric=False),
                  cell(format_amount(balance["available"].get(c, 0), c)),
                  cell(format_amount(balance["pending"].get(c, 0), c))] for c in currencies],
    }]  # fmt: skip
    for p in doc["payouts"]:
        if not p["reconcilable"]:
            state = "Manual payout: Stripe does not say which transactions it paid out."
        elif p["reconciled"]:
            state = "Reconciled: its transactions add up to it."
        else:
            state = (f"Does not reconcile: {format_amount(p['difference'], p['currency'])} "
                     "is not explained by its transactions.")  # fmt: skip
        rows = [
            [cell(category.replace("_", " "), numeric=False), cell(f"{c['count']:,}"),
             cell(format_amount(c["amount"], p["currency"])),
             cell(format_amount(c["fee"], p["currency"])),
             cell(format_amount(c["net"], p["currency"]), cited_url(
                 run, BalanceTransaction, f"payouts/{p['id']}/components/{category}", "net"))]
            for category, c in p["components"].items()
        ]  # fmt: skip
        found.append({
            "title": f"{p['arrival_date']} · {format_amount(p['amount'], p['currency'])} · "
                     f"{p['status']}",
            "link": mirror_link(Payout, run.connection_id, p["id"]),
            "note": state,
            "headers": ["Category", "Count", "Amount", "Fee", "Net"],
            "rows": rows,
        })  # fmt: skip
    if doc["fee_breakdown"]:
        found.append({
            "title": "Fees by type",
            "headers": ["Currency", "Type", "Amount"],
            "rows": [[cell(c.upper(), numeric=False), cell(kind.replace("_", " "), numeric=False),
                      cell(format_amount(amount, c))]
                     for c, fees in doc["fee_breakdown"].items() for kind, amount in fees.items()],
        })  # fmt: skip
    return found


# Charts -----------------------------------------------------------------------------------


def major(amount, currency):
    """An amount in its currency's major unit, for a chart's axis (display only)."""
    return amount if not is_known(currency) else amount / 10 ** decimals(currency)


def charts(run):
    """[{"id", "title", "data", "layout"}]: Plotly figures of the run (one per currency where
    amounts are drawn: currencies are never drawn on one axis)."""
    doc = run.document
    return {"revenue": revenue_charts, "mrr": mrr_charts, "disputes": dispute_charts,
            "payouts": payout_charts}[run.kind](doc)  # fmt: skip


def bar(name, x, y, **extra):
    return {"type": "bar", "name": name, "x": x, "y": y, **extra}


def layout(title, currency=None, **extra):
    axis = {"title": {"text": currency.upper()}} if currency else {}
    return {"title": {"text": title}, "yaxis": axis, "margin": {"t": 40, "r": 60},
            "legend": {"orientation": "h"}, **extra}  # fmt: skip


def mrr_charts(doc):
    found = []
    for currency in sorted({m["currency"] for m in doc["months"]}):
        months = [m for m in doc["months"] if m["currency"] == currency]
        x = [m["month"] for m in months]
        signs = {"new": 1, "expansion": 1, "reactivation": 1, "contraction": -1, "churned": -1}
        data = [
            bar(name.capitalize(), x, [sign * major(m[name], currency) for m in months])
            for name, sign in signs.items()
        ]
        data.append({"type": "scatter", "mode": "lines+markers", "name": "MRR at the end",
                     "x": x, "y": [major(m["mrr_end"], currency) for m in months],
                     "yaxis": "y2"})  # fmt: skip
        found.append({
            "id": f"mrr-{currency}", "title": f"MRR movements, {currency.upper()}",
            "data": data,
            "layout": layout(f"MRR movements, {currency.upper()}", currency, barmode="relative",
                             yaxis2={"overlaying": "y", "side": "right", "showgrid": False}),
        })  # fmt: skip
    return found


def revenue_charts(doc):
    found = []
    for currency, c in doc["currencies"].items():
        names = [p["name"] or p["product"] for p in c["products"]]
        data = [
            bar(figure.capitalize(), names, [major(p[figure], currency) for p in c["products"]])
            for figure in ("gross", "refunded", "disputed")
        ]
        found.append({"id": f"revenue-{currency}", "title": f"By product, {currency.upper()}",
                      "data": data,
                      "layout": layout(f"By product, {currency.upper()}", currency,
                                       barmode="group")})  # fmt: skip
    return found


def dispute_charts(doc):
    reasons = sorted({d["reason"] for d in doc["open"]})
    urgencies = ["overdue", "today", "this_week", "later", "submitted", None]
    data = []
    for urgency in urgencies:
        counts = [sum(1 for d in doc["open"] if d["reason"] == r and d["urgency"] == urgency)
                  for r in reasons]  # fmt: skip
        if any(counts):
            label = (urgency or "unknown").replace("_", " ")
            data.append(bar(label, [r.replace("_", " ") for r in reasons], counts))
    return [{"id": "disputes", "title": "Open disputes by reason and urgency", "data": data,
             "layout": layout("Open disputes by reason and urgency", barmode="stack",
                              yaxis={"title": {"text": "disputes"}})}]  # fmt: skip


def payout_charts(doc):
    found = []
    for currency in sorted({p["currency"] for p in doc["payouts"] if p["components"]}):
        paid = [p for p in doc["payouts"] if p["currency"] == currency and p["components"]]
        x = [f"{p['arrival_date']} {p['id'][-6:]}" for p in paid]
        categories = sorted({c for p in paid for c in p["components"]})
        data = [
            bar(category.replace("_", " "), x,
                [major(p["components"].get(category, {}).get("net", 0), currency) for p in paid])
            for category in categories
        ]  # fmt: skip
        found.append({"id": f"payouts-{currency}",
                      "title": f"What each payout is made of, {currency.upper()}", "data": data,
                      "layout": layout(f"What each payout is made of, {currency.upper()}",
                                       currency, barmode="relative")})  # fmt: skip
    return found
