"""The MRR report, rule by rule, on small accounts whose figures are worked out by hand.

Months shown: June to November 2026 (--months 6 on 2026-11-22); each month's MRR is taken
at its first instant and at the next month's (now, for November)."""

import pytest

from connectors.models import Price, Subscription
from tests.accounts import Account, at, report

pytestmark = pytest.mark.django_db

MONTHS = ["2026-06", "2026-07", "2026-08", "2026-09", "2026-10", "2026-11"]
MOVES = ("new", "reactivation", "expansion", "contraction", "churned")


def row(doc, month, currency="usd"):
    (found,) = [m for m in doc["months"] if (m["month"], m["currency"]) == (month, currency)]
    return found


def table(doc, currency="usd"):
    """month -> (mrr_start, new, reactivation, expansion, contraction, churned, mrr_end,
    customers_start, customers_end, churned_customers)."""
    return {
        m["month"]: (
            m["mrr_start"],
            *(m[k] for k in MOVES),
            m["mrr_end"],
            m["customers_start"],
            m["customers_end"],
            m["churned_customers"],
        )  # fmt: skip
        for m in doc["months"]
        if m["currency"] == currency
    }


def steady(mrr, customers):
    return (mrr, 0, 0, 0, 0, 0, mrr, customers, customers, 0)


@pytest.fixture
def catalog():
    account = Account()
    account.pro = account.product("Pro")
    account.support = account.product("Support")
    account.starter = account.product("Starter")
    account.pro_monthly = account.price(account.pro, 10000)
    account.support_monthly = account.price(account.support, 5000)
    account.starter_monthly = account.price(account.starter, 5000)
    return account


def test_every_interval_becomes_a_monthly_amount(catalog, mirror):
    a = catalog
    start = at(2026, 5, 10)
    prices = {
        "annual": a.price(a.pro, 120000, interval="year"),  # 10000 a month
        "quarterly": a.price(a.pro, 30000, count=3),  # 10000
        "semiannual": a.price(a.pro, 60000, count=6),  # 10000
        "weekly": a.price(a.pro, 2300, interval="week"),  # 2300 * 52 / 12 = 9966.67 -> 9967
        "daily": a.price(a.pro, 100, interval="day"),  # 100 * 365 / 12 = 3041.67 -> 3042
        "half_even_down": a.price(a.pro, 30006, interval="year"),  # 2500.5 -> 2500
        "half_even_up": a.price(a.pro, 30018, interval="year"),  # 2501.5 -> 2502
    }
    for name, price in prices.items():
        a.subscribe(a.customer(name), price, start)
    # One customer's subscriptions are added before rounding: 9966.67 + 66.67 = 10033.33,
    # where rounding each would give 9967 + 67 = 10034.
    both = a.customer("both")
    a.subscribe(both, prices["weekly"], start)
    a.subscribe(both, a.price(a.pro, 200, count=3), start)

    doc = report(mirror(a), "mrr", months=6)

    total = 10000 * 3 + 9967 + 3042 + 2500 + 2502 + 10033
    assert table(doc) == dict.fromkeys(MONTHS, steady(total, 8))
    assert [m["month"] for m in doc["months"]] == MONTHS
    assert doc["warnings"] == []


def test_new_mrr_with_quantities_several_items_metered_usage_and_tax(catalog, mirror):
    a = catalog
    overage = a.price(a.pro, 50, usage="metered")
    # Three seats of Pro: 30000.
    a.subscribe(a.customer("Quinn"), a.pro_monthly, at(2026, 7, 15), quantity=3)
    # Pro and two Support seats (10000 + 10000), metered usage and 10% tax left out: 20000.
    a.subscribe(a.customer("Rae"), a.pro_monthly, at(2026, 7, 16),
                extras=((a.support_monthly, 2),), metered=overage,
                tax_rate=a.tax_rate(10.0))  # fmt: skip
    eva, kenji = a.customer("Eva", currency="eur"), a.customer("Kenji", currency="jpy")
    a.subscribe(eva, a.price(a.pro, 9000, currency="eur"), at(2026, 8, 10))
    a.subscribe(kenji, a.price(a.pro, 15000, currency="jpy"), at(2026, 6, 20))

    doc = report(mirror(a), "mrr", months=6)

    assert table(doc) == {
        "2026-06": (0, 0, 0, 0, 0, 0, 0, 0, 0, 0),
        "2026-07": (0, 50000, 0, 0, 0, 0, 50000, 0, 2, 0),
        **dict.fromkeys(MONTHS[2:], steady(50000, 2)),
    }
    assert table(doc, "eur") == {
        "2026-06": (0, 0, 0, 0, 0, 0, 0, 0, 0, 0),
        "2026-07": (0, 0, 0, 0, 0, 0, 0, 0, 0, 0),
        "2026-08": (0, 9000, 0, 0, 0, 0, 9000, 0, 1, 0),
        **dict.fromkeys(MONTHS[3:], steady(9000, 1)),
    }
    assert table(doc, "jpy") == {
        "2026-06": (0, 15000, 0, 0, 0, 0, 15000, 0, 1, 0),
        **dict.fromkeys(MONTHS[1:], steady(15000, 1)),
    }
    july = row(doc, "2026-07")
    assert july["net_new"] == 50000
    assert (july["customer_churn_rate"], july["gross_mrr_churn_rate"]) == (None, None)


def test_discounts_forever_repeating_and_once_and_a_trial(catalog, mirror):
    a = catalog
    forever = a.coupon("forever", percent_off=20.0)
    repeating = a.coupon("repeating", percent_off=50.0, months=2)
    once = a.coupon("once", amount_off=3000, currency="usd")
    a.subscribe(a.customer("Dora"), a.pro_monthly, at(2026, 5, 20), coupon=forever)  # 8000
    # 5000 for the periods from June 10th and July 10th, 10000 from August 10th.
    a.subscribe(a.customer("Eli"), a.pro_monthly, at(2026, 6, 10), coupon=repeating)
    # 7000 for the period from July 25th, 10000 from August 25th.
    a.subscribe(a.customer("Fay"), a.pro_monthly, at(2026, 7, 25), coupon=once)
    # In trial from August 20th to September 3rd: nothing until then.
    a.subscribe(a.customer("Gus"), a.pro_monthly, at(2026, 8, 20), trial_days=14)

    doc = report(mirror(a), "mrr", months=6)

    assert table(doc) == {
        "2026-06": (8000, 5000, 0, 0, 0, 0, 13000, 1, 2, 0),
        "2026-07": (13000, 7000, 0, 0, 0, 0, 20000, 2, 3, 0),
        "2026-08": (20000, 0, 0, 8000, 0, 0, 28000, 3, 3, 0),  # Eli +5000, Fay +3000
        "2026-09": (28000, 10000, 0, 0, 0, 0, 38000, 3, 4, 0),  # Gus, after his trial
        "2026-10": steady(38000, 4),
        "2026-11": steady(38000, 4),
    }
    august = row(doc, "2026-08")
    assert (august["gross_mrr_churn_rate"], august["net_mrr_churn_rate"]) == (0.0, -0.4)


def test_churn_contraction_expansion_and_reactivation(catalog, mirror):
    a = catalog
    # Pam's card fails; her subscription is past due, then ends on September 20th.
    a.subscribe(a.customer("Pam"), a.starter_monthly, at(2026, 5, 12), failing=True,
                ends=at(2026, 9, 20), end_reason="payment_failed")  # fmt: skip
    # Uma upgrades on August 20th: prorated at once (not MRR); Pro from September 10th.
    a.subscribe(a.customer("Uma"), a.starter_monthly, at(2026, 6, 10),
                upgrade=(at(2026, 8, 20), a.pro_monthly))  # fmt: skip
    # Gia cancels one of her two subscriptions on August 14th, the other on October 9th.
    gia = a.customer("Gia")
    a.subscribe(gia, a.pro_monthly, at(2026, 5, 3), ends=at(2026, 10, 9),
                end_reason="cancellation_requested", at_period_end=False)  # fmt: skip
    a.subscribe(gia, a.support_monthly, at(2026, 5, 4), ends=at(2026, 8, 14),
                end_reason="cancellation_requested", at_period_end=False)  # fmt: skip
    # Hal leaves when his period ends on July 5th and comes back on September 8th.
    hal = a.customer("Hal")
    a.subscribe(hal, a.pro_monthly, at(2026, 3, 5), ends=at(2026, 7, 5),
                end_reason="cancellation_requested", canceled_at=at(2026, 6, 20))  # fmt: skip
    a.subscribe(hal, a.pro_monthly, at(2026, 9, 8))
    # Ivy paid in spring 2025, more than 12 months before June 2026: back in August, she
    # counts as new.
    ivy = a.customer("Ivy")
    a.subscribe(ivy, a.pro_monthly, at(2025, 3, 10), ends=at(2025, 5, 15),
                end_reason="cancellation_requested", at_period_end=False)  # fmt: skip
    a.subscribe(ivy, a.pro_monthly, at(2026, 8, 5))

    doc = report(mirror(a), "mrr", months=6)

    assert table(doc) == {
        # Pam 5000, Gia 15000, Hal 10000; Uma is new.
        "2026-06": (30000, 5000, 0, 0, 0, 0, 35000, 3, 4, 0),
        # Hal churns.
        "2026-07": (35000, 0, 0, 0, 0, 10000, 25000, 4, 3, 1),
        # Gia contracts; Ivy is new.
        "2026-08": (25000, 10000, 0, 0, 5000, 0, 30000, 3, 4, 0),
        # Pam churns, Uma expands, Hal is back.
        "2026-09": (30000, 0, 10000, 5000, 0, 5000, 40000, 4, 4, 1),
        # Gia churns.
        "2026-10": (40000, 0, 0, 0, 0, 10000, 30000, 4, 3, 1),
        "2026-11": steady(30000, 3),
    }
    september = row(doc, "2026-09")
    assert september["net_new"] == 10000
    assert september["customer_churn_rate"] == 0.25
    assert september["gross_mrr_churn_rate"] == 0.1667  # 5000 / 30000
    assert september["net_mrr_churn_rate"] == -0.3333  # (5000 - 5000 - 10000) / 30000
    july = row(doc, "2026-07")
    assert (july["gross_mrr_churn_rate"], july["net_mrr_churn_rate"]) == (0.2857, 0.2857)


def test_a_draft_invoice_sets_no_mrr(catalog, mirror):
    """Renewed 40 minutes ago at a lower price: the new invoice is still a draft, so the
    month ends at the price last invoiced."""
    a = catalog
    a.subscribe(a.customer("Zed"), a.pro_monthly, at(2026, 4, 22, 8, 20),
                downgrade=(at(2026, 11, 22, 8), a.starter_monthly))  # fmt: skip

    doc = report(mirror(a), "mrr", months=1)

    assert table(doc) == {"2026-11": steady(10000, 1)}


def test_months_of_a_range_and_months_not_begun(catalog, mirror):
    a = catalog
    a.subscribe(a.customer("Ada"), a.pro_monthly, at(2026, 8, 15))
    doc = report(mirror(a), "mrr", date_from="2026-09-10", date_to="2027-01-05")
    assert [m["month"] for m in doc["months"]] == ["2026-09", "2026-10", "2026-11"]
    assert doc["warnings"] == [
        "2 months of the period have not begun; MRR is shown up to this month."
    ]
    assert table(doc)["2026-09"] == steady(10000, 1)


def test_what_the_mirror_lacks_is_a_warning_not_a_guess(catalog, mirror):
    a = catalog
    a.subscribe(a.customer("Ada"), a.pro_monthly, at(2026, 5, 10))
    bob_sub = a.subscribe(a.customer("Bob"), a.support_monthly, at(2026, 5, 11))
    a.subscribe(a.customer("Cy"), a.starter_monthly, at(2026, 5, 12))
    connection = mirror(a)
    # As if the sync had not (yet) read them: Starter's price, and Bob's subscription.
    Price.objects.filter(stripe_id=a.starter_monthly["id"]).delete()
    Subscription.objects.filter(stripe_id=bob_sub["id"]).delete()

    doc = report(connection, "mrr", months=6)

    assert table(doc) == dict.fromkeys(MONTHS, steady(10000, 1))  # Ada's alone
    prices, subscriptions = doc["warnings"]
    assert prices.startswith("7 invoices have subscription lines naming a price that is not")
    assert subscriptions.startswith("7 invoices are of subscriptions that are not in the mirror")
