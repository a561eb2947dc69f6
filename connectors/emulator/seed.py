"""The seeded account: Brightwave Analytics, a small software company selling plans by the
week, the month, the quarter and the year, in USD, EUR and JPY.

The cast (cast.py) is the data; the stories below say what happened to each customer;
Billing and Ledger keep it consistent. Everything is placed relative to `now` and drawn from
an RNG seeded with `seed`, so the same (seed, now, charges) always gives the same account,
down to the ids. `charges` sizes it: the named customers' stories, then as many more
customers and payments (volume.py) as make exactly that many charges.
"""

import gc
import random
import string

from . import shapes_billing as catalog
from .billing import Billing, SubscriptionStory, period_start
from .cast import CUSTOMERS, DEFAULT_PRICES, PRICES, PRODUCTS, TAX_RATES
from .ids import DAY, HOUR, add_months, day_start, weekday
from .ledger import Ledger
from .shapes_account import account_object
from .volume import Volume

DEFAULT_NOW = 1795338000  # 2026-11-22T09:00:00Z


def seed_account(store, seed: int = 0, now: int = DEFAULT_NOW, charges: int | None = None):
    """Fill `store` with the Brightwave account and set its clock to `now`; returns the
    account object. With `charges`, the account has exactly that many charges: below the
    stories' own count, it is the catalog and the named customers paying now and then."""
    collecting = gc.isenabled()
    gc.disable()  # millions of new dicts, none of them garbage: halves a large build's time
    try:
        company = Brightwave(store, seed, now)
        company.tell(stories=True)
        if charges is not None and charges < len(company.ledger.charges):
            company = Brightwave(store, seed, now)
            company.tell(stories=False)
        if charges is not None:
            Volume(company).add(charges - len(company.ledger.charges))
        account = company.commit()
    finally:
        if collecting:
            gc.enable()
    if charges is not None:
        # Leave the account's objects out of every later collection: they were made with
        # collection off, so the first few collections would otherwise walk all of them,
        # and a sized account has millions (its first pages would take 0.2 s, not 0.01 s).
        gc.freeze()
    return account


class Brightwave:
    def __init__(self, store, seed, now):
        self.rng = random.Random(seed)
        self.now = now
        self.store = store

    def jitter(self, hours=12):
        return self.rng.randint(0, hours * HOUR)

    def months_ago(self, months, days=0):
        return add_months(self.now, -months) - days * DAY - self.jitter()

    def tell(self, stories=True):
        self.ledger = ledger = Ledger(self.store, self.rng, self.now, "BRIGHTWAVE")
        self.account = account_object(
            ledger.ids("acct"),
            self.now - 3 * 365 * DAY,
            name="Brightwave Analytics, Inc.",
            display_name="Brightwave",
            email="finance@brightwave.example",
            url="https://brightwave.example",
            support_email="support@brightwave.example",
            address=catalog.address("US", "Chicago", "222 W Adams St", "60606", "IL"),
        )
        self.products, self.prices, self.tax_rates = self.make_catalog()
        self.coupons, self.promotion_codes = self.make_discounts()
        self.customers, self.cards = self.make_customers()
        self.billing = Billing(ledger, self.products, self.account["business_profile"]["name"])
        if stories:
            self.subscribe_everyone()
            self.one_off_sales()
            self.refunds_and_disputes()

    def commit(self):
        self.payouts()
        self.ledger.commit()
        self.store.add(self.account)
        return self.account

    def make_catalog(self):
        ids, created = self.ledger.ids, self.now - 720 * DAY
        products = {
            key: catalog.product(
                ids("prod"), created + n * HOUR, name, description, unit_label=unit
            )
            for n, (key, name, description, unit) in enumerate(PRODUCTS)
        }
        prices = {}
        for n, (key, product, currency, amount, interval, count, usage, active) in enumerate(
            PRICES
        ):
            prices[key] = catalog.price(
                ids("price"),
                created + DAY + n * 60,
                products[product]["id"],
                currency,
                amount,
                interval,
                interval_count=count,
                usage_type=usage or "licensed",
                lookup_key=key,
                active=active,
                nickname=key.replace("_", " ").capitalize(),
            )
        for key, default in DEFAULT_PRICES.items():
            products[key]["default_price"] = prices[default]["id"]
            products[key]["updated"] = prices[default]["created"]
        tax_rates = {
            key: catalog.tax_rate(
                ids("txr"), created + n * 60, name, percentage, country, state, state, about
            )
            for n, (key, name, percentage, country, state, about) in enumerate(TAX_RATES)
        }
        for obj in [*products.values(), *prices.values()]:
            self.ledger.keep(obj)
        return {p["id"]: p for p in products.values()}, prices, tax_rates

    def make_discounts(self):
        ids, now = self.ledger.ids, self.now
        coupons = {
            "launch": catalog.coupon(
                "LAUNCH25",
                now - 300 * DAY,
                "Launch: 25% off 3 months",
                "repeating",
                percent_off=25.0,
                duration_in_months=3,
                times_redeemed=1,
            ),
            "annual": catalog.coupon(
                "ANNUAL10",
                now - 400 * DAY,
                "10% off annual plans",
                "forever",
                percent_off=10.0,
                times_redeemed=1,
            ),
            "welcome": catalog.coupon(
                "WELCOME50",
                now - 400 * DAY,
                "$50 off first invoice",
                "once",
                amount_off=5000,
                currency="usd",
                redeem_by=now - 100 * DAY,
                times_redeemed=1,
                valid=False,
            ),
            "first": catalog.coupon(
                "FIRST20", now - 60 * DAY, "20% off the first invoice", "once", percent_off=20.0
            ),
        }
        codes = {
            "launch": catalog.promotion_code(
                ids("promo"), now - 299 * DAY, "LAUNCH25", "LAUNCH25", times_redeemed=1
            ),
            "spring": catalog.promotion_code(
                ids("promo"),
                now - 240 * DAY,
                "SPRING26",
                "ANNUAL10",
                active=False,
                expires_at=now - 150 * DAY,
            ),
            "partner": catalog.promotion_code(
                ids("promo"),
                now - 90 * DAY,
                "PARTNER10",
                "ANNUAL10",
                first_time_transaction=True,
                minimum_amount=50000,
                minimum_amount_currency="usd",
            ),
        }
        for obj in [*coupons.values(), *codes.values()]:
            self.ledger.keep(obj)
        return coupons, codes

    def make_customers(self):
        ids, rng = self.ledger.ids, self.rng
        customers, cards = {}, {}
        for n, (key, name, country, city, currency, brand, since) in enumerate(CUSTOMERS):
            cards[key] = {
                "payment_method": ids("pm"),
                "brand": brand,
                "last4": "".join(rng.choice(string.digits) for _ in range(4)),
                "exp_month": rng.randint(1, 12),
                "exp_year": 2027 + rng.randint(0, 4),
                "country": country,
                "fingerprint": ids.token(16),
                "funding": "credit",
            }
            customers[key] = self.ledger.keep(
                catalog.customer(
                    ids("cus"),
                    self.now - since * DAY - self.jitter(),
                    name,
                    f"billing@{key}.example",
                    currency,
                    catalog.address(country, city),
                    ids.token(8).upper(),
                    metadata={"crm_account": f"CRM-{1040 + n}"},
                    preferred_locales=["de"]
                    if country == "DE"
                    else ["ja"]
                    if country == "JP"
                    else ["en"],
                    default_payment_method=cards[key]["payment_method"],
                )
            )
        return customers, cards

    def story(self, key, price, start, **kwargs):
        customer = self.customers[key]
        customer["created"] = min(customer["created"], start - DAY)
        return SubscriptionStory(customer, self.cards[key], self.prices[price], start, **kwargs)

    def subscribe_everyone(self):
        now, ago, p, c = self.now, self.months_ago, self.prices, self.coupons
        juniper_start = ago(14, 4)
        juniper_end = add_months(juniper_start, 12)
        summit_start = ago(11, 2)
        stories = [
            # Billed 40 minutes ago: this period's invoice is still a draft.
            self.story("kestrel", "pro_monthly", add_months(now - 40 * 60, -8)),
            self.story(
                "harbor", "starter_monthly", ago(7, 3), upgrade=(ago(3, -9), p["pro_monthly"])
            ),
            self.story("nordlicht", "pro_monthly_eur", ago(6, 5)),
            self.story("sakura", "pro_monthly_jpy", ago(5, 11)),
            self.story(
                "bluemesa", "enterprise_monthly", ago(8, 12), metered=p["enterprise_overage"]
            ),
            self.story(
                "copperline",
                "starter_annual",
                ago(10, 2),
                coupon=c["welcome"],
                tax_rate=self.tax_rates["tx"],
            ),
            self.story(
                "fieldstone",
                "pro_monthly",
                ago(4, 6),
                quantity=3,
                coupon=c["launch"],
                promotion_code=self.promotion_codes["launch"],
            ),
            self.story("orbital", "starter_monthly", ago(6, 8), failing=True),
            self.story("quillmark", "pro_monthly", now - 10 * DAY - self.jitter(), trial_days=14),
            self.story(
                "tidewater",
                "starter_monthly",
                ago(7, 1),
                ends=add_months(now, -2) + 5 * DAY,
                end_reason="payment_failed",
            ),
            self.story(
                "juniper",
                "pro_annual",
                juniper_start,
                ends=juniper_end,
                end_reason="cancellation_requested",
                canceled_at=juniper_end - 30 * DAY,
            ),
            self.story(
                "meridian", "starter_quarterly", now - 150 * DAY, tax_rate=self.tax_rates["tx"]
            ),
            self.story(
                "pinecrest", "pipelines_weekly", now - 100 * DAY - self.jitter(), quantity=2
            ),
            self.story(
                "atlas",
                "enterprise_monthly",
                ago(6, 15),
                extras=((p["support_monthly"], 2),),
                tax_rate=self.tax_rates["pa"],
            ),
            # Its latest invoice failed four times over nine days: the subscription is unpaid.
            self.story("vantage", "pro_monthly", ago(6, 20), quantity=2, failing=True, unpaid=True),
            self.story(
                "lakeshore",
                "pro_monthly",
                ago(9, 2),
                downgrade=(ago(3, -12), p["starter_monthly"]),
            ),
            self.story(
                "redwood",
                "starter_monthly",
                ago(7, 4),
                ends=now - 12 * DAY - self.jitter(),
                end_reason="cancellation_requested",
                at_period_end=False,
            ),
            # Asked last week to cancel when the paid year runs out, next month.
            self.story(
                "summit",
                "pro_annual",
                summit_start,
                coupon=c["annual"],
                ends=period_start(summit_start, 1, p["pro_annual"]["recurring"]),
                end_reason="cancellation_requested",
                canceled_at=now - 6 * DAY - self.jitter(),
            ),
            self.story(
                "ember", "starter_monthly", now - 5 * DAY - self.jitter(), coupon=c["first"]
            ),
        ]
        for story in stories:
            self.billing.subscribe(story)

    def one_off_sales(self):
        ledger, now, onboarding = self.ledger, self.now, self.prices["onboarding"]
        bluemesa = self.customers["bluemesa"]
        self.billing.one_off(
            bluemesa, self.cards["bluemesa"], onboarding, 1, self.months_ago(8, 11)
        )
        # Granite Peak was invoiced, then paid by card directly; the invoice was voided.
        granite, card = self.customers["granite"], self.cards["granite"]
        invoiced = now - 45 * DAY - self.jitter()
        self.billing.one_off(granite, card, onboarding, 1, invoiced, voided_at=invoiced + DAY)
        ledger.pay(
            granite,
            onboarding["unit_amount"],
            "usd",
            invoiced + DAY + HOUR,
            "Onboarding package",
            card,
        )
        # Paid this morning: its funds are still pending in the balance.
        self.billing.one_off(
            self.customers["quillmark"],
            self.cards["quillmark"],
            onboarding,
            1,
            now - 5 * HOUR - self.jitter(1),
        )
        # A hold for the full package, captured in part when less of it was delivered.
        pinecrest = self.customers["pinecrest"]
        ledger.pay(
            pinecrest,
            onboarding["unit_amount"],
            "usd",
            now - 60 * DAY - self.jitter(),
            "Onboarding package (two of three sessions)",
            self.cards["pinecrest"],
            capture=onboarding["unit_amount"] * 2 // 3,
        )

    def charge_of(self, key, before):
        """The latest successful charge of customer `key` created before `before`."""
        customer_id = self.customers[key]["id"]
        charges = [
            c
            for c in self.ledger.charges
            if c["customer"] == customer_id and c["status"] == "succeeded" and c["created"] < before
        ]
        return max(charges, key=lambda c: c["created"])

    def refunds_and_disputes(self):
        ledger, now = self.ledger, self.now
        duplicate = self.charge_of("kestrel", now - 80 * DAY)
        ledger.refund(
            duplicate, duplicate["amount"], duplicate["created"] + 2 * DAY, reason="duplicate"
        )
        granite = self.charge_of("granite", now)
        ledger.refund(granite, 50000, now - 20 * DAY - self.jitter())
        nordlicht = self.charge_of("nordlicht", now)
        # Asked for just before the latest payout, so it is paid out of that payout's funds
        # rather than turning the balance negative; the bank has not confirmed it yet.
        asked = self.last_payout_day() - 10 * HOUR - self.jitter(4)
        ledger.refund(nordlicht, 2000, asked, status="pending")

        # Disputes in every status. Those still waiting for an answer fall due around now:
        # one passed yesterday, one today, one this week, one later.
        today_ends = day_start(now) + DAY - 1
        for key, paid, opened, reason, status, due, code, closed, evidence in (
            # customer, charge paid before / dispute opened / closed (days ago), due (days
            # from the end of today), evidence submitted
            ("orbital", 40, 9, "fraudulent", "needs_response", 0, "10.4", None, None),
            ("pinecrest", 30, 22, "credit_not_processed", "needs_response", -1, "4860", None, None),
            ("vantage", 30, 4, "unrecognized", "needs_response", 4, "10.4", None, None),
            ("lakeshore", 2, 1, "product_not_received", "needs_response", 16, "4855", None, None),
            ("sakura", 3, 2, "general", "warning_needs_response", 5, "4853", None, None),
            ("meridian", 10, 12, "product_not_received", "warning_under_review", 2, "4855", None,
             {"service_date": "Service delivered throughout the quarter"}),
            ("tidewater", 70, 20, "subscription_canceled", "under_review", -3, "13.2", None,
             {"cancellation_rebuttal": "The customer used the service until the "
              "subscription ended for non-payment."}),
            ("atlas", 90, 70, "general", "warning_closed", -55, "4853", 50, None),
            ("harbor", 120, 110, "product_unacceptable", "lost", -95, "4853", 60, None),
            ("nordlicht", 100, 95, "duplicate", "won", -80, "12.6.1", 25,
             {"duplicate_charge_explanation": "Two different months."}),
        ):  # fmt: skip
            charge = self.charge_of(key, now - paid * DAY)
            if evidence:
                evidence = {
                    "customer_email_address": charge["billing_details"]["email"],
                    "customer_name": charge["billing_details"]["name"],
                    "product_description": charge["description"],
                    **evidence,
                }
            ledger.dispute(
                charge,
                now - opened * DAY,
                reason,
                status,
                today_ends + due * DAY,
                code,
                evidence=evidence,
                closed_at=now - closed * DAY if closed else None,
            )

    def last_payout_day(self):
        """The latest Friday (automatic payouts go out on Fridays), today included."""
        return day_start(self.now) - (weekday(self.now) - 4) % 7 * DAY

    def payouts(self):
        ledger, now = self.ledger, self.now
        banks = {"usd": ledger.ids("ba"), "jpy": ledger.ids("ba")}
        # Manual payouts until five months ago, then automatic weekly ones.
        for days in (215, 165):
            ledger.payout(day_start(now) - days * DAY + 17 * HOUR, "usd", banks["usd"], False)
        # Every Friday from about five months ago; the latest is still in transit.
        first = self.last_payout_day() - 21 * 7 * DAY + 300
        for moment in range(first, now, 7 * DAY):
            for currency in ("usd", "jpy"):
                ledger.payout(moment, currency, banks[currency], True)
