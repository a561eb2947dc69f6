"""Documents as people read them: each currency formatted in its own minor unit, once, at the
edge; CSV cells that a spreadsheet would run are escaped, numbers are not."""

import csv
import io

from reports.formats import as_csv, as_table


def revenue_doc(**currencies):
    totals = {
        currency: {"gross": gross, "refunded": 0, "disputed": 0, "net": gross,
                   "refund_rate": 0.0, "charge_count": 1, "refund_count": 0,
                   "dispute_count": 0,
                   "products": [{"product": "prod_1", "name": "@SUM(A1:A9)", "gross": gross,
                                 "refunded": 0, "disputed": 0, "net": gross}]}
        for currency, gross in currencies.items()
    }  # fmt: skip
    return {"kind": "revenue", "connection": "acme", "generated_at": "2026-11-22T09:00:00Z",
            "data_as_of": "2026-11-22T08:00:00Z", "warnings": [], "from": "2026-10-01",
            "to": "2026-10-31", "currencies": totals, "fees": {"usd": -250}}  # fmt: skip


def test_each_currency_in_its_own_minor_unit():
    doc = revenue_doc(usd=123456, jpy=123456, kwd=123456, krw=5, bhd=7)
    table = as_table(doc)
    for text in ("1,234.56 USD", "123,456 JPY", "123.456 KWD", "5 KRW", "0.007 BHD",
                 "-2.50 USD"):  # fmt: skip
        assert text in table
    rows = list(csv.DictReader(io.StringIO(as_csv(doc))))
    gross = {r["currency"]: r["gross"] for r in rows if r["product"] == ""}
    assert gross == {"usd": "1234.56", "jpy": "123456", "kwd": "123.456", "krw": "5",
                     "bhd": "0.007"}  # fmt: skip


def test_a_currency_lumen_does_not_know_stays_in_its_minor_unit():
    doc = revenue_doc(xyz=123456)
    assert "123456 XYZ (minor units)" in as_table(doc)
    rows = list(csv.DictReader(io.StringIO(as_csv(doc))))
    assert rows[0]["gross"] == "123456"


def test_formula_cells_are_escaped_and_negative_numbers_are_not():
    rows = list(csv.DictReader(io.StringIO(as_csv(revenue_doc(usd=100)))))
    assert rows[1]["name"] == "'@SUM(A1:A9)"
    assert rows[0]["fees"] == "-2.50"
