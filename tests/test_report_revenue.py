"""The revenue report, rule by rule, on small accounts whose figures are worked out by hand.

Stripe's processing fee in the emulator is 2.9% + 30 cents, rounded half up: 15000 -> 465,
2500 -> 103, 12000 -> 378."""

import pytest

from tests.accounts import Account, at, report

pytestmark = pytest.mark.django_db

OCTOBER = {"date_from": "2026-10-01", "date_to": "2026-10-31"}


def products_of(doc, currency="usd"):
    return {p["product"]: p for p in doc["currencies"][currency]["products"]}


@pytest.fixture
def shop():
    """Pro (100.00 USD a month) and Support (50.00 USD a month) sold together."""
    account = Account()
    account.pro = account.product("Pro")
    account.support = account.product("Support")
    account.pro_monthly = account.price(account.pro, 10000)
    account.support_monthly = account.price(account.support, 5000)
    return account


def test_charges_refunds_and_disputes_of_a_month_by_product(shop, mirror):
    ada, bob, carol = shop.customer("Ada"), shop.customer("Bob"), shop.customer("Carol")
    # Ada: Pro + Support from September 5th, a 150.00 charge on the 5th of each month.
    shop.subscribe(ada, shop.pro_monthly, at(2026, 9, 5), extras=((shop.support_monthly, 1),))
    september, october, november = shop.charges_of(ada)
    # A partial refund in October of September's charge: 10.00 split 2:1 with a remainder
    # (666.67 and 333.33 cents): the cent left over goes to Pro, whose remainder is larger.
    shop.refund(september, 1000, at(2026, 10, 10))
    # September's charge is disputed in October (funds withdrawn, under review): 150.00.
    shop.dispute(september, at(2026, 10, 11), "under_review")
    # Bob pays 25.00 without an invoice, and loses a dispute over it.
    bob_paid = shop.pay(bob, 2500, at(2026, 10, 12))
    shop.dispute(bob_paid, at(2026, 10, 20), "lost", closed_at=at(2026, 10, 30))
    # Carol's hold of 200.00 is captured in part (120.00); an inquiry moves no money.
    carol_paid = shop.pay(carol, 20000, at(2026, 10, 15), capture=12000)
    shop.dispute(carol_paid, at(2026, 10, 16), "warning_needs_response")
    # Ada's October charge is disputed and won: its funds came back.
    shop.dispute(october, at(2026, 10, 21), "won", closed_at=at(2026, 10, 28))
    # Outside October: nothing of these counts.
    shop.refund(november, 500, at(2026, 11, 6))
    shop.pay(bob, 9900, at(2026, 9, 30, 23, 59))

    doc = report(mirror(shop), "revenue", **OCTOBER)

    assert doc["kind"] == "revenue" and doc["connection"] == "acme"
    assert (doc["from"], doc["to"]) == ("2026-10-01", "2026-10-31")
    usd = doc["currencies"]["usd"]
    assert {k: v for k, v in usd.items() if k != "products"} == {
        "gross": 15000 + 2500 + 12000,  # Ada's October, Bob, Carol's captured part
        "refunded": 1000,
        "disputed": 15000 + 2500,  # under review and lost; not the won one, not the inquiry
        "net": 29500 - 1000 - 17500,
        "refund_rate": 0.0339,  # 1000 / 29500 = 0.033898...
        "charge_count": 3,
        "refund_count": 1,
        "dispute_count": 2,
    }
    assert products_of(doc) == {
        shop.pro["id"]: {"product": shop.pro["id"], "name": "Pro", "gross": 10000,
                         "refunded": 667, "disputed": 10000, "net": -667},
        shop.support["id"]: {"product": shop.support["id"], "name": "Support", "gross": 5000,
                             "refunded": 333, "disputed": 5000, "net": -333},
        None: {"product": None, "name": "No product", "gross": 14500, "refunded": 0,
               "disputed": 2500, "net": 12000},
    }  # fmt: skip
    # Products are listed by gross, the largest first.
    assert [p["product"] for p in usd["products"]] == [None, shop.pro["id"], shop.support["id"]]
    assert doc["fees"] == {"usd": 465 + 103 + 378}
    assert doc["warnings"] == []


def test_an_invoice_split_with_its_discounts_and_tax(shop, mirror):
    """The split follows the lines after discounts and before tax; the whole charge (tax
    included) is split, so the parts add up to it."""
    ada, bob = shop.customer("Ada"), shop.customer("Bob")
    quarter_off = shop.coupon("forever", percent_off=25.0)
    # 25% off each line: Pro 10000 - 2500 = 7500, Support 5000 - 1250 = 3750; charge 11250.
    shop.subscribe(ada, shop.pro_monthly, at(2026, 10, 3),
                   extras=((shop.support_monthly, 1),), coupon=quarter_off)  # fmt: skip
    # 10% tax on 10000 + 5000: the charge is 16500, split 2:1.
    shop.subscribe(bob, shop.pro_monthly, at(2026, 10, 4),
                   extras=((shop.support_monthly, 1),), tax_rate=shop.tax_rate(10.0))  # fmt: skip

    doc = report(mirror(shop), "revenue", **OCTOBER)

    assert doc["currencies"]["usd"]["gross"] == 11250 + 16500
    products = products_of(doc)
    assert products[shop.pro["id"]]["gross"] == 7500 + 11000
    assert products[shop.support["id"]]["gross"] == 3750 + 5500
    assert None not in products


def test_a_one_off_invoice_of_three_products_splits_to_the_cent(shop, mirror):
    """A 100.00 refund of a charge for three lines of 1.00 each: 33.33 each and one cent
    left, which goes to the product whose id sorts first (all remainders are equal)."""
    ada = shop.customer("Ada")
    lines = [shop.product(name) for name in ("Alpha", "Beta", "Gamma")]
    prices = [shop.price(product, 100, interval=None) for product in lines]
    _, charge = shop.invoice(ada, [(price, 1) for price in prices], at(2026, 9, 20))
    shop.refund(charge, 100, at(2026, 10, 2))
    shop.refund(charge, 200, at(2026, 10, 3))

    doc = report(mirror(shop), "revenue", **OCTOBER)

    ids = sorted(product["id"] for product in lines)
    refunded = {p: row["refunded"] for p, row in products_of(doc).items()}
    # 100 -> 34, 33, 33; 200 -> 67, 67, 66 (66.67 each: two cents left, to the first two).
    assert refunded == {ids[0]: 34 + 67, ids[1]: 33 + 67, ids[2]: 33 + 66}
    assert doc["currencies"]["usd"]["gross"] == 0
    assert doc["currencies"]["usd"]["refund_rate"] is None


def test_currencies_are_never_added_together(shop, mirror):
    ada, kenji = shop.customer("Ada"), shop.customer("Kenji", currency="jpy")
    amal, eva = shop.customer("Amal", currency="kwd"), shop.customer("Eva", currency="eur")
    shop.pay(ada, 10000, at(2026, 10, 5))
    shop.pay(kenji, 15000, at(2026, 10, 6))  # 15,000 yen: JPY has no minor unit
    shop.pay(amal, 12345, at(2026, 10, 7))  # 12.345 dinars: KWD has three decimals
    shop.pay(eva, 9200, at(2026, 10, 8))  # settles in USD, so its fee is in USD

    doc = report(mirror(shop), "revenue", **OCTOBER)

    gross = {c: v["gross"] for c, v in doc["currencies"].items()}
    assert gross == {"usd": 10000, "jpy": 15000, "kwd": 12345, "eur": 9200}
    # JPY: 3.6% of 15000 = 540; KWD: 2.9% of 12345 = 358.005 -> 358, + 30 = 388.
    # EUR: 9200 at that month's rate (1.0842 + 0.0031 * ((t // 30 days) % 7 - 3)) in USD.
    rate = round(1.0842 + ((at(2026, 10, 8) // (30 * 86400)) % 7 - 3) * 0.0031, 6)
    settled = int(9200 * rate + 0.5)
    eur_fee = int(settled * 0.029 + 0.5) + 30 + int(settled * 0.01 + 0.5)
    assert doc["fees"] == {"usd": 320 + eur_fee, "jpy": 540, "kwd": 388}
    assert doc["warnings"] == []


def test_the_period_is_calendar_days_in_the_reporting_time_zone(shop, mirror, settings):
    settings.LUMEN_REPORT_TIMEZONE = "Europe/Berlin"  # UTC+1 in November, UTC+2 in October
    ada = shop.customer("Ada")
    shop.pay(ada, 1111, at(2026, 9, 30, 21, 30))  # 23:30 in Berlin: September
    shop.pay(ada, 2222, at(2026, 9, 30, 22, 30))  # 00:30 on October 1st in Berlin
    shop.pay(ada, 3333, at(2026, 10, 31, 22, 30))  # 23:30 on the 31st (winter time)
    shop.pay(ada, 4444, at(2026, 10, 31, 23, 30))  # 00:30 on November 1st

    doc = report(mirror(shop), "revenue", **OCTOBER)

    assert doc["currencies"]["usd"]["gross"] == 2222 + 3333


def test_a_refund_of_a_charge_older_than_the_mirror_is_a_warning_not_a_guess(
    shop, mirror, settings
):
    settings.LUMEN_SYNC_HISTORY_DAYS = 60  # the mirror starts in late September
    ada = shop.customer("Ada")
    old = shop.pay(ada, 5000, at(2026, 3, 1))
    shop.refund(old, 5000, at(2026, 10, 9))

    doc = report(mirror(shop), "revenue", **OCTOBER)

    assert doc["currencies"]["usd"]["refunded"] == 5000
    assert products_of(doc)[None]["refunded"] == 5000
    (warning,) = doc["warnings"]
    assert warning.startswith("1 refunds or disputes are of charges that are not in the mirror")
    assert old["refunds"]["data"][0]["id"] in warning


def test_an_empty_period_has_no_currencies(shop, mirror):
    shop.pay(shop.customer("Ada"), 1000, at(2026, 9, 1))
    doc = report(mirror(shop), "revenue", date_from="2026-10-01", date_to="2026-10-02")
    assert doc["currencies"] == {} and doc["fees"] == {} and doc["warnings"] == []
