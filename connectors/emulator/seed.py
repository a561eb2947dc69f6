"""The seeded account: Brightwave Analytics, a small software company selling plans by the
month and the year, in USD, EUR and JPY.

The cast below is the data; Billing and Ledger keep it consistent. Everything is placed
relative to `now` and drawn from an RNG seeded with `seed`, so the same (seed, now) always
gives the same account, down to the ids.
"""

import random
import string

from . import shapes_billing as catalog
from .billing import Billing, SubscriptionStory
from .ids import DAY, HOUR, add_months, day_start, weekday
from .ledger import Ledger
from .shapes_account import account_object

DEFAULT_NOW = 1795338000  # 2026-11-22T09:00:00Z

# fmt: off
PRODUCTS = (  # key, name, description, unit label
    ("starter", "Starter plan", "Dashboards and alerts for teams of up to 5", None),
    ("pro", "Pro plan", "Unlimited dashboards, SSO and audit history", "seat"),
    ("enterprise", "Enterprise plan", "Dedicated support, custom retention and SLAs", None),
    ("onboarding", "Onboarding package", "Guided setup and data import, one time", None),
)
PRICES = (  # key, product, currency, unit amount, interval, usage type, active
    ("starter_legacy", "starter", "usd", 1900, "month", "licensed", False),
    ("starter_monthly", "starter", "usd", 2900, "month", "licensed", True),
    ("starter_annual", "starter", "usd", 29000, "year", "licensed", True),
    ("pro_monthly", "pro", "usd", 9900, "month", "licensed", True),
    ("pro_annual", "pro", "usd", 99000, "year", "licensed", True),
    ("pro_monthly_eur", "pro", "eur", 9200, "month", "licensed", True),
    ("pro_monthly_jpy", "pro", "jpy", 15000, "month", "licensed", True),
    ("enterprise_monthly", "enterprise", "usd", 49900, "month", "licensed", True),
    ("enterprise_overage", "enterprise", "usd", 50, "month", "metered", True),
    ("onboarding", "onboarding", "usd", 150000, None, None, True),
)
CUSTOMERS = (  # key (also their email domain), name, country, city, currency, card brand
    ("kestrel", "Kestrel Labs", "US", "San Francisco", "usd", "visa"),
    ("harbor", "Harbor & Pine Design", "US", "Portland", "usd", "mastercard"),
    ("nordlicht", "Nordlicht GmbH", "DE", "Berlin", "eur", "visa"),
    ("sakura", "Sakura Digital KK", "JP", "Tokyo", "jpy", "jcb"),
    ("bluemesa", "Blue Mesa Logistics", "US", "Phoenix", "usd", "amex"),
    ("copperline", "Copperline Studios", "US", "Austin", "usd", "visa"),
    ("fieldstone", "Fieldstone Clinics", "US", "Denver", "usd", "mastercard"),
    ("orbital", "Orbital Coffee Co.", "US", "Seattle", "usd", "visa"),
    ("quillmark", "Quillmark Legal", "US", "Boston", "usd", "amex"),
    ("tidewater", "Tidewater Analytics", "US", "Charleston", "usd", "discover"),
    ("juniper", "Juniper Schools", "US", "Madison", "usd", "visa"),
    ("granite", "Granite Peak Outfitters", "US", "Boise", "usd", "mastercard"),
)
# fmt: on


def seed_account(store, seed: int = 0, now: int = DEFAULT_NOW) -> dict:
    """Fill `store` with the Brightwave account; returns the account object."""
    return Brightwave(store, seed, now).build()


class Brightwave:
    def __init__(self, store, seed, now):
        self.rng = random.Random(seed)
        self.now = now
        self.store = store

    def jitter(self, hours=12):
        return self.rng.randint(0, hours * HOUR)

    def months_ago(self, months, days=0):
        return add_months(self.now, -months) - days * DAY - self.jitter()

    def build(self):
        now = self.now
        self.ledger = ledger = Ledger(self.store, self.rng, now, "BRIGHTWAVE")
        account = account_object(
            ledger.ids("acct"),
            now - 3 * 365 * DAY,
            name="Brightwave Analytics, Inc.",
            display_name="Brightwave",
            email="finance@brightwave.example",
            url="https://brightwave.example",
            support_email="support@brightwave.example",
            address=catalog.address("US", "Chicago", "222 W Adams St", "60606", "IL"),
        )
        self.products, self.prices = self.make_catalog()
        self.coupons, self.promotion_codes = self.make_discounts()
        self.customers, self.cards = self.make_customers()
        self.billing = Billing(ledger, self.products, account["business_profile"]["name"])
        self.subscribe_everyone()
        self.one_off_sales()
        self.refunds_and_disputes()
        self.payouts()
        ledger.commit()
        self.store.add(account)
        return account

    def make_catalog(self):
        ids, created = self.ledger.ids, self.now - 720 * DAY
        products = {
            key: catalog.product(
                ids("prod"), created + n * HOUR, name, description, unit_label=unit
            )
            for n, (key, name, description, unit) in enumerate(PRODUCTS)
        }
        prices = {}
        for n, (key, product, currency, amount, interval, usage, active) in enumerate(PRICES):
            prices[key] = catalog.price(
                ids("price"),
                created + DAY + n * 60,
                products[product]["id"],
                currency,
                amount,
                interval,
                usage_type=usage or "licensed",
                lookup_key=key,
                active=active,
                nickname=key.replace("_", " ").capitalize(),
            )
        for key, default in (
            ("starter", "starter_monthly"),
            ("pro", "pro_monthly"),
            ("enterprise", "enterprise_monthly"),
            ("onboarding", "onboarding"),
        ):
            products[key]["default_price"] = prices[default]["id"]
            products[key]["updated"] = prices[default]["created"]
        for obj in [*products.values(), *prices.values()]:
            self.ledger.keep(obj)
        return {p["id"]: p for p in products.values()}, prices

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
                "ANNUAL10", now - 200 * DAY, "10% off annual plans", "forever", percent_off=10.0
            ),
            "welcome": catalog.coupon(
                "WELCOME50",
                now - 400 * DAY,
                "$50 off first invoice",
                "once",
                amount_off=5000,
                currency="usd",
                redeem_by=now - 100 * DAY,
                valid=False,
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
        for n, (key, name, country, city, currency, brand) in enumerate(CUSTOMERS):
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
                    self.now - (450 - 25 * n) * DAY - self.jitter(),
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
        now, ago, p = self.now, self.months_ago, self.prices
        juniper_start = ago(14, 4)
        juniper_end = add_months(juniper_start, 12)
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
            self.story("copperline", "starter_annual", ago(10, 2)),
            self.story(
                "fieldstone",
                "pro_monthly",
                ago(4, 6),
                quantity=3,
                coupon=self.coupons["launch"],
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

    def charge_of(self, key, before):
        """The latest successful charge of customer `key` created before `before`."""
        customer_id = self.customers[key]["id"]
        charges = [
            o
            for o in self.ledger.objects.values()
            if o["object"] == "charge"
            and o["customer"] == customer_id
            and o["status"] == "succeeded"
            and o["created"] < before
        ]
        return max(charges, key=lambda c: c["created"])

    def refunds_and_disputes(self):
        ledger, now = self.ledger, self.now
        today_ends = day_start(now) + DAY - 1
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

        disputed = self.charge_of("orbital", now - 40 * DAY)
        ledger.dispute(disputed, now - 9 * DAY, "fraudulent", "needs_response", today_ends, "10.4")
        disputed = self.charge_of("sakura", now - 3 * DAY)
        ledger.dispute(
            disputed,
            now - 2 * DAY,
            "general",
            "warning_needs_response",
            today_ends + 5 * DAY,
            "4853",
        )
        disputed = self.charge_of("tidewater", now - 70 * DAY)
        evidence = {
            "customer_email_address": disputed["billing_details"]["email"],
            "customer_name": disputed["billing_details"]["name"],
            "product_description": "Monthly Starter plan subscription",
            "cancellation_rebuttal": "The customer used the service until the "
            "subscription ended for non-payment.",
        }
        ledger.dispute(
            disputed,
            now - 20 * DAY,
            "subscription_canceled",
            "under_review",
            today_ends - 3 * DAY,
            "13.2",
            evidence=evidence,
        )
        disputed = self.charge_of("harbor", now - 120 * DAY)
        ledger.dispute(
            disputed,
            now - 110 * DAY,
            "product_unacceptable",
            "lost",
            now - 95 * DAY,
            "4853",
            closed_at=now - 60 * DAY,
        )
        disputed = self.charge_of("nordlicht", now - 100 * DAY)
        ledger.dispute(
            disputed,
            now - 95 * DAY,
            "duplicate",
            "won",
            now - 80 * DAY,
            "12.6.1",
            evidence={"duplicate_charge_explanation": "Two different months."},
            closed_at=now - 50 * DAY,
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
