"""MRR over generated accounts: random subscriptions (every interval, quantities, extra
items, coupons, trials, upgrades, downgrades, metered usage, failed payments, cancellations
at once and at period end, customers who leave and return, in two currencies), synced
through the emulator, and held against the spec computed here a second way: in plain Python,
from the Stripe objects as the emulator serves them.

Whatever the account: every month and currency has mrr_end = mrr_start + net_new, a past
month ends where the next begins, and every figure equals the one computed here.
"""

import random
from fractions import Fraction

import pytest

from connectors.emulator.ids import DAY
from reports.periods import add_months, month_start
from tests.accounts import NOW, Account, at, report

pytestmark = pytest.mark.django_db

FACTORS = {"month": Fraction(1), "year": Fraction(1, 12), "week": Fraction(52, 12),
           "day": Fraction(365, 12)}  # fmt: skip
RECURRING = [("month", 1), ("month", 1), ("month", 3), ("month", 6), ("year", 1),
             ("week", 1), ("week", 2), ("day", 30)]  # fmt: skip
MONTHS = 12
FIELDS = ["mrr_start", "new", "reactivation", "expansion", "contraction", "churned",
          "mrr_end", "customers_start", "customers_end", "churned_customers"]  # fmt: skip


def generated(seed):
    rng = random.Random(seed)
    a = Account(seed=seed)
    products = [a.product(f"Product {n}") for n in range(3)]
    prices = []
    for currency in ("usd", "eur"):
        for interval, count in RECURRING:
            for amount in sorted(rng.sample([900, 2500, 4900, 9999, 30006, 120000], 2)):
                prices.append(
                    a.price(rng.choice(products), amount, currency, interval, count)
                )  # fmt: skip
    metered = {c: a.price(products[0], 7, c, usage="metered") for c in ("usd", "eur")}
    coupons = [
        a.coupon("forever", percent_off=15.0),
        a.coupon("repeating", percent_off=40.0, months=2),
        a.coupon("once", amount_off=500, currency="usd"),
    ]
    first, last = at(2024, 11, 1), at(2026, 11, 20)
    for n in range(18):
        customer = a.customer(f"Customer {n}", currency=rng.choice(["usd", "usd", "eur"]))
        start = rng.randrange(first, last)
        for _ in range(rng.choice([1, 1, 2, 3])):
            price = rng.choice([p for p in prices if p["currency"] == customer["currency"]])
            same = [p for p in prices if p["recurring"] == price["recurring"]
                    and p["currency"] == price["currency"]]  # fmt: skip
            story = {"quantity": rng.choice([1, 1, 2, 5])}
            if rng.random() < 0.3:
                story["extras"] = ((rng.choice(same), rng.choice([1, 3])),)
            if rng.random() < 0.3:
                coupon = rng.choice(coupons)
                if coupon["currency"] in (None, customer["currency"]):
                    story["coupon"] = coupon
            if rng.random() < 0.2:
                story["trial_days"] = rng.choice([7, 14, 30])
            if rng.random() < 0.15 and price["recurring"]["interval"] == "month":
                story["metered"] = metered[customer["currency"]]
            if rng.random() < 0.4:
                ends = start + rng.randrange(20, 400) * DAY
                if ends < a.now:
                    story["ends"] = ends
                    story["end_reason"] = rng.choice(["cancellation_requested",
                                                       "payment_failed"])  # fmt: skip
                    story["at_period_end"] = rng.random() < 0.5
                    story["failing"] = story["end_reason"] == "payment_failed"
            elif rng.random() < 0.2:
                story["failing"] = True
            dearer = [p for p in same if p["unit_amount"] > price["unit_amount"]]
            cheaper = [p for p in same if p["unit_amount"] < price["unit_amount"]]
            change = start + rng.randrange(10, 500) * DAY
            if dearer and rng.random() < 0.25 and change < min(a.now, story.get("ends", a.now)):
                story["upgrade"] = (change, rng.choice(dearer))
            elif cheaper and rng.random() < 0.2 and change < a.now:
                story["downgrade"] = (change, rng.choice(cheaper))
            a.subscribe(customer, price, start, **story)
            # The next subscription of this customer, if any, comes back later.
            start = min(story.get("ends", start) + rng.randrange(1, 200) * DAY, last)
    return a


# The spec, computed from the Stripe objects ----------------------------------------------


def subscription_mrr(subscription, invoices, lines_of, prices, t):
    s = subscription
    if s["start_date"] > t or (s["ended_at"] is not None and s["ended_at"] <= t):
        return Fraction(0)
    if s["trial_start"] is not None and s["trial_start"] <= t < s["trial_end"]:
        return Fraction(0)
    best = None
    for invoice in invoices:
        if invoice["status"] not in ("paid", "open", "uncollectible"):
            continue
        counted = []
        for line in lines_of[invoice["id"]]:
            details = line["parent"]["subscription_item_details"]
            price = prices[line["pricing"]["price_details"]["price"]]
            recurring = price["recurring"]
            if details and not details["proration"] and recurring["usage_type"] == "licensed":
                counted.append((line, recurring))
        if not counted:
            continue
        starts = max(line["period"]["start"] for line, _ in counted)
        if starts <= t:
            key = (starts, invoice["created"], invoice["id"])
            if best is None or key > best[0]:
                best = (key, counted)
    if best is None:
        return Fraction(0)
    return sum(
        (line["amount"] - sum(d["amount"] for d in line["discount_amounts"]))
        * FACTORS[recurring["interval"]]
        / recurring["interval_count"]
        for line, recurring in best[1]
    )


def expected_months(store, now):
    prices = {p["id"]: p for p in store.objects("prices")}
    lines_of = {i["id"]: store.invoice_lines(i["id"], {"limit": 100})["data"]
                for i in store.objects("invoices")}  # fmt: skip
    invoices_of = {}
    for invoice in store.objects("invoices"):
        subscription = (invoice["parent"] or {}).get("subscription_details") or {}
        if subscription.get("subscription"):
            invoices_of.setdefault(subscription["subscription"], []).append(invoice)
    shown = [add_months(NOW.year, NOW.month, n - MONTHS + 1) for n in range(MONTHS)]
    first = add_months(*shown[0], -12)
    starts = [month_start(*add_months(*first, n)) for n in range(12 + MONTHS)]
    instants = [int(t.timestamp()) for t in starts] + [int(now.timestamp())]

    mrr = {}  # (customer, currency) -> [MRR at each instant]
    for s in store.objects("subscriptions"):
        invoices = invoices_of.get(s["id"], [])
        values = [subscription_mrr(s, invoices, lines_of, prices, t) for t in instants]
        series = mrr.setdefault((s["customer"], s["currency"]), [Fraction(0)] * len(instants))
        mrr[(s["customer"], s["currency"])] = [a + b for a, b in zip(series, values, strict=True)]
    rounded = {key: [round(v) for v in series] for key, series in mrr.items()}

    rows = {}
    for m, (year, month) in enumerate(shown):
        label = f"{year:04d}-{month:02d}"
        s_idx = 12 + m
        for (_, currency), series in rounded.items():
            r = rows.setdefault((label, currency), dict.fromkeys(FIELDS, 0))
            p, c = series[s_idx], series[s_idx + 1]
            r["mrr_start"] += p
            r["mrr_end"] += c
            r["customers_start"] += p > 0
            r["customers_end"] += c > 0
            if p == 0 < c:
                seen = any(v > 0 for v in series[:s_idx])
                r["reactivation" if seen else "new"] += c
            elif 0 < p < c:
                r["expansion"] += c - p
            elif 0 < c < p:
                r["contraction"] += p - c
            elif c == 0 < p:
                r["churned"] += p
                r["churned_customers"] += 1
    return {key: r for key, r in rows.items() if any(r.values())}


@pytest.mark.parametrize("seed", [1, 2, 3, 4, 5, 6])
def test_mrr_of_a_generated_account_is_the_spec_exactly(seed, mirror):
    account = generated(seed)
    connection = mirror(account)

    doc = report(connection, "mrr", months=MONTHS)

    for m in doc["months"]:
        moves = m["new"] + m["reactivation"] + m["expansion"] - m["contraction"] - m["churned"]
        assert m["net_new"] == moves
        assert m["mrr_end"] == m["mrr_start"] + m["net_new"], m
    for currency in {m["currency"] for m in doc["months"]}:
        months = [m for m in doc["months"] if m["currency"] == currency]
        for before, after in zip(months, months[1:], strict=False):
            assert before["mrr_end"] == after["mrr_start"]
            assert before["customers_end"] == after["customers_start"]

    expected = expected_months(account.store, NOW)
    got = {
        (m["month"], m["currency"]): {k: m[k] for k in next(iter(expected.values()))}
        for m in doc["months"]
    }
    got = {key: r for key, r in got.items() if any(r.values())}
    assert got == expected
