"""A report document for people: a readable table, or CSV rows for a spreadsheet.

The document keeps integers in each currency's minor unit; this is the edge where they are
formatted, once, each in its own currency (never added across currencies).
"""

import csv
import io
import re
from datetime import datetime

from connectors.money import format_amount, plain_amount
from lumen.spreadsheet import text_cell

NUMBER = re.compile(r"-?[0-9]+(\.[0-9]+)?")
TITLES = {
    "revenue": "Revenue by product",
    "mrr": "MRR movements",
    "disputes": "Open disputes",
    "payouts": "Balance and payouts",
}


# Tables -----------------------------------------------------------------------------------


def grid(headers, rows, indent="  "):
    """Columns padded to their widest cell: text left, figures right."""
    rows = [[str(c) for c in row] for row in rows]
    widths = [max(len(str(h)), *(len(r[n]) for r in rows)) for n, h in enumerate(headers)]
    numeric = [all(_looks_numeric(r[n]) for r in rows) and bool(rows) for n in range(len(headers))]

    def line(cells):
        padded = [
            c.rjust(w) if right else c.ljust(w)
            for c, w, right in zip(cells, widths, numeric, strict=True)
        ]
        return (indent + "  ".join(padded)).rstrip()

    return "\n".join([line([str(h) for h in headers]), *(line(r) for r in rows)])


def _looks_numeric(text):
    head = text.split(" ")[0].replace(",", "").replace(".", "").replace("%", "").lstrip("-")
    return head.isdigit() or text in ("–", "")


def counted(count, noun):
    return f"{count:,} {noun}{'' if count == 1 else 's'}"


def percent(value):
    return "–" if value is None else f"{value * 100:.2f}%"


def when(text):
    if not text:
        return "never"
    return datetime.fromisoformat(text.replace("Z", "+00:00")).strftime("%Y-%m-%d %H:%M UTC")


def as_table(doc):
    title = f"{TITLES[doc['kind']]} of {doc['connection']}"
    if "from" in doc:
        title += f", {doc['from']} to {doc['to']}"
    out = [title, f"data as of {when(doc['data_as_of'])}", ""]
    out += TABLES[doc["kind"]](doc)
    if doc["warnings"]:
        out += ["", "Warnings:"] + [f"  - {w}" for w in doc["warnings"]]
    return "\n".join(out) + "\n"


def revenue_table(doc):
    out = []
    if not doc["currencies"]:
        out.append("No charges, refunds or disputes in this period.")
    for currency, c in doc["currencies"].items():

        def money(amount, currency=currency):
            return format_amount(amount, currency)

        out.append(currency.upper())
        out.append(
            grid(
                ["", "Amount", "Records"],
                [
                    ["Gross", money(c["gross"]), counted(c["charge_count"], "charge")],
                    ["Refunded", money(c["refunded"]), counted(c["refund_count"], "refund")],
                    ["Disputed", money(c["disputed"]), counted(c["dispute_count"], "dispute")],
                    ["Net", money(c["net"]), ""],
                    ["Refund rate", percent(c["refund_rate"]), ""],
                ],
            )
        )
        out.append("")
        out.append(
            grid(
                ["Product", "Gross", "Refunded", "Disputed", "Net"],
                [
                    [
                        p["name"] or p["product"],
                        money(p["gross"]),
                        money(p["refunded"]),
                        money(p["disputed"]),
                        money(p["net"]),
                    ]
                    for p in c["products"]
                ],
            )  # fmt: skip
        )
        out.append("")
    if doc["fees"]:
        out.append("Fees (in the currency of the balance)")
        out.append(grid(["Currency", "Fees"], [[c.upper(), format_amount(a, c)]
                                               for c, a in doc["fees"].items()]))  # fmt: skip
    return out


def mrr_table(doc):
    out = []
    by_currency = {}
    for month in doc["months"]:
        by_currency.setdefault(month["currency"], []).append(month)
    if not by_currency:
        out.append("No recurring revenue in these months.")
    for currency, months in by_currency.items():

        def money(amount, currency=currency):
            return format_amount(amount, currency)

        out.append(currency.upper())
        out.append(
            grid(
                [
                    "Month",
                    "MRR start",
                    "New",
                    "Reactivation",
                    "Expansion",
                    "Contraction",
                    "Churned",
                    "Net new",
                    "MRR end",
                    "Customers",
                    "Churned",
                    "Customer churn",
                    "Gross MRR churn",
                    "Net MRR churn",
                ],
                [
                    [
                        m["month"],
                        money(m["mrr_start"]),
                        money(m["new"]),
                        money(m["reactivation"]),
                        money(m["expansion"]),
                        money(m["contraction"]),
                        money(m["churned"]),
                        money(m["net_new"]),
                        money(m["mrr_end"]),
                        f"{m['customers_start']:,} → {m['customers_end']:,}",
                        f"{m['churned_customers']:,}",
                        percent(m["customer_churn_rate"]),
                        percent(m["gross_mrr_churn_rate"]),
                        percent(m["net_mrr_churn_rate"]),
                    ]
                    for m in months
                ],
            )  # fmt: skip
        )
        out.append("")
    return out


def disputes_table(doc):
    out = [f"As of {when(doc['as_of'])}: {len(doc['open'])} open, "
           f"{sum(d['flagged'] for d in doc['open'])} to answer today or overdue."]  # fmt: skip
    if doc["open"]:
        out.append("")
        out.append(
            grid(
                ["", "Urgency", "Due by", "Dispute", "Reason", "Status", "Amount"],
                [
                    [
                        "!" if d["flagged"] else "",
                        d["urgency"] or "unknown",
                        when(d["due_by"]) if d["due_by"] else "–",
                        d["id"],
                        d["reason"],
                        d["status"],
                        format_amount(d["amount"], d["currency"]),
                    ]
                    for d in doc["open"]
                ],
            )  # fmt: skip
        )
        out.append("")
        out.append("By reason")
        out.append(
            grid(
                ["Reason", "Currency", "Count", "Amount"],
                [
                    [
                        r["reason"],
                        r["currency"].upper(),
                        f"{r['count']:,}",
                        format_amount(r["amount"], r["currency"]),
                    ]
                    for r in doc["by_reason"]
                ],
            )  # fmt: skip
        )
    return out


def payouts_table(doc):
    balance = doc["balance"]
    currencies = sorted({*balance["available"], *balance["pending"]})
    out = ["Balance"]
    out.append(
        grid(
            ["Currency", "Available", "Pending"],
            [
                [
                    c.upper(),
                    format_amount(balance["available"].get(c, 0), c),
                    format_amount(balance["pending"].get(c, 0), c),
                ]
                for c in currencies
            ],
        )  # fmt: skip
    )
    out.append("")
    if not doc["payouts"]:
        out.append("No payouts arrive in this period.")
    for p in doc["payouts"]:
        amount = format_amount(p["amount"], p["currency"])
        if not p["reconcilable"]:
            state = "manual: Stripe does not say what it paid out"
        elif p["reconciled"]:
            state = "reconciled"
        else:
            unexplained = format_amount(p["difference"], p["currency"])
            state = f"does not reconcile: {unexplained} unexplained"
        out.append(f"{p['arrival_date']}  {p['id']}  {p['status']}  {amount}  ({state})")
        if p["components"]:
            out.append(
                grid(
                    ["Category", "Count", "Amount", "Fee", "Net"],
                    [
                        [
                            category,
                            f"{c['count']:,}",
                            format_amount(c["amount"], p["currency"]),
                            format_amount(c["fee"], p["currency"]),
                            format_amount(c["net"], p["currency"]),
                        ]
                        for category, c in p["components"].items()
                    ],
                    indent="    ",
                )  # fmt: skip
            )
        out.append("")
    if doc["fee_breakdown"]:
        out.append("Fees by type")
        out.append(
            grid(
                ["Currency", "Type", "Amount"],
                [
                    [currency.upper(), kind, format_amount(amount, currency)]
                    for currency, fees in doc["fee_breakdown"].items()
                    for kind, amount in fees.items()
                ],
            )  # fmt: skip
        )
    return out


TABLES = {
    "revenue": revenue_table,
    "mrr": mrr_table,
    "disputes": disputes_table,
    "payouts": payouts_table,
}


# CSV --------------------------------------------------------------------------------------


def csv_rows(doc):
    """[header, row, ...]: one row per line of the document, amounts as exact decimals in
    their currency, text that a spreadsheet would run as a formula escaped."""
    header, rows = CSV[doc["kind"]](doc)
    return [header, *([_cell(c) for c in row] for row in rows)]


def as_csv(doc):
    buffer = io.StringIO()
    csv.writer(buffer).writerows(csv_rows(doc))
    return buffer.getvalue()


def as_xlsx(doc):
    """The CSV's rows as a spreadsheet (through tablib, which django-import-export brings)."""
    import tablib

    header, *rows = csv_rows(doc)
    return tablib.Dataset(*rows, headers=header).export("xlsx")


def _cell(value):
    """Numbers (amounts arrive as exact decimal text) are left as they are: "-111.50" is a
    number to a spreadsheet, not a formula. Any other text is made safe."""
    if value is None:
        return ""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, str) and not NUMBER.fullmatch(value):
        return text_cell(value)
    return value


def revenue_csv(doc):
    header = ["currency", "product", "name", "gross", "refunded", "disputed", "net",
              "refund_rate", "charge_count", "refund_count", "dispute_count", "fees"]  # fmt: skip
    rows = []
    for currency, c in doc["currencies"].items():

        def amount(value, currency=currency):
            return plain_amount(value, currency)

        rows.append([currency, "", "All products", amount(c["gross"]), amount(c["refunded"]),
                     amount(c["disputed"]), amount(c["net"]), c["refund_rate"],
                     c["charge_count"], c["refund_count"], c["dispute_count"],
                     amount(doc["fees"].get(currency))])  # fmt: skip
        for p in c["products"]:
            rows.append([currency, p["product"] or "", p["name"], amount(p["gross"]),
                         amount(p["refunded"]), amount(p["disputed"]), amount(p["net"]),
                         None, None, None, None, None])  # fmt: skip
    for currency, fee in doc["fees"].items():
        if currency not in doc["currencies"]:
            rows.append([currency, "", "Fees only", None, None, None, None, None, None, None,
                         None, plain_amount(fee, currency)])  # fmt: skip
    return header, rows


def mrr_csv(doc):
    amounts = ("mrr_start", "new", "reactivation", "expansion", "contraction", "churned",
               "net_new", "mrr_end")  # fmt: skip
    counts = ("customers_start", "customers_end", "churned_customers", "customer_churn_rate",
              "gross_mrr_churn_rate", "net_mrr_churn_rate")  # fmt: skip
    header = ["month", "currency", *amounts, *counts]
    rows = [
        [m["month"], m["currency"], *(plain_amount(m[a], m["currency"]) for a in amounts),
         *(m[c] for c in counts)]
        for m in doc["months"]
    ]  # fmt: skip
    return header, rows


def disputes_csv(doc):
    header = ["section", "id", "charge", "reason", "status", "currency", "amount", "count",
              "due_by", "urgency", "flagged", "has_evidence", "submission_count"]  # fmt: skip
    rows = [
        ["open", d["id"], d["charge"], d["reason"], d["status"], d["currency"],
         plain_amount(d["amount"], d["currency"]), 1, d["due_by"], d["urgency"], d["flagged"],
         d["has_evidence"], d["submission_count"]]
        for d in doc["open"]
    ]  # fmt: skip
    rows += [
        ["by_reason", None, None, r["reason"], None, r["currency"],
         plain_amount(r["amount"], r["currency"]), r["count"], None, None, None, None, None]
        for r in doc["by_reason"]
    ]  # fmt: skip
    return header, rows


def payouts_csv(doc):
    header = ["section", "payout", "arrival_date", "status", "currency", "category", "count",
              "amount", "fee", "net", "reconciled", "difference"]  # fmt: skip
    rows = []
    for which in ("available", "pending"):
        for currency, amount in doc["balance"][which].items():
            rows.append([f"balance {which}", None, None, None, currency, None, None,
                         plain_amount(amount, currency), None, None, None, None])  # fmt: skip
    for p in doc["payouts"]:
        cur = p["currency"]
        rows.append(["payout", p["id"], p["arrival_date"], p["status"], cur,
                     "automatic" if p["automatic"] else "manual", None,
                     plain_amount(p["amount"], cur), None, None, p["reconciled"],
                     plain_amount(p["difference"], cur)])  # fmt: skip
        for category, c in p["components"].items():
            rows.append(["component", p["id"], p["arrival_date"], p["status"], cur, category,
                         c["count"], plain_amount(c["amount"], cur), plain_amount(c["fee"], cur),
                         plain_amount(c["net"], cur), None, None])  # fmt: skip
    for currency, fees in doc["fee_breakdown"].items():
        for kind, amount in fees.items():
            rows.append(["fee", None, None, None, currency, kind, None,
                         plain_amount(amount, currency), None, None, None, None])  # fmt: skip
    return header, rows


CSV = {"revenue": revenue_csv, "mrr": mrr_csv, "disputes": disputes_csv, "payouts": payouts_csv}
