"""Many more customers and a year and a half of their payments: an account of any size.

Volume(company).add(n) adds exactly `n` charges to a Brightwave account being seeded. About
85% come from subscriptions (each one a customer's invoices, invoice payments, payment
intents, charges and balance transactions, made by Billing as for the named customers);
the rest are one-off payments, some of them declined or captured in part. Then some
charges are refunded and some disputed. The account's payouts, made afterwards, sweep all
of it, so every figure reconciles as for the small account.
"""

from .billing import SubscriptionStory, period_start
from .ids import DAY, HOUR
from .shapes_billing import address, customer

SPAN = 540 * DAY  # how far back the oldest of these customers signed up

# fmt: off
FIRST = ("Silver", "North", "Blue", "Granite", "Cedar", "Harbor", "Summit", "Bright",
         "Iron", "Willow", "Prairie", "Coastal", "Maple", "Falcon", "Amber", "Pioneer")
SECOND = ("River", "Peak", "Field", "Stone", "Bridge", "Lake", "Forge", "Meadow",
          "Ridge", "Harvest", "Crest", "Grove", "Point", "Valley", "Hollow", "Works")
KIND = ("Labs", "Studio", "Group", "Health", "Logistics", "Software", "Partners", "Foods",
        "Systems", "Media", "Dental", "Legal", "Schools", "Clinics", "Outfitters", "Co.")
PLACES = {  # currency -> (country, city)
    "usd": (("US", "New York"), ("US", "Chicago"), ("US", "Austin"), ("US", "Denver"),
            ("US", "Atlanta"), ("US", "Seattle"), ("US", "Miami"), ("US", "Detroit")),
    "eur": (("DE", "Munich"), ("FR", "Lyon"), ("NL", "Utrecht"), ("IE", "Cork")),
    "jpy": (("JP", "Osaka"), ("JP", "Fukuoka"), ("JP", "Sapporo")),
}
TAXED = {"TX": "tx", "WA": "wa"}  # cities in states where the company collects tax
STATES = {"Austin": "TX", "Seattle": "WA"}
BRANDS = ("visa", "visa", "visa", "mastercard", "mastercard", "amex", "discover")
PLANS = (  # usd price key, weight
    ("starter_monthly", 34), ("pro_monthly", 24), ("starter_quarterly", 8),
    ("starter_annual", 6), ("pro_annual", 4), ("pipelines_weekly", 4),
    ("enterprise_monthly", 2),
)
ONE_OFFS = {  # currency -> amounts of one-off payments
    "usd": (1500, 2500, 4900, 9900, 25000, 60000),
    "eur": (1400, 4500, 9200, 23000),
    "jpy": (2000, 5000, 12000, 30000),
}
DISPUTE_REASONS = (("fraudulent", "10.4"), ("product_not_received", "13.1"),
                   ("duplicate", "12.6.1"), ("subscription_canceled", "13.2"),
                   ("credit_not_processed", "13.7"), ("unrecognized", "4863"),
                   ("general", "4853"), ("product_unacceptable", "13.3"))
# fmt: on


class Volume:
    def __init__(self, company):
        self.company = company
        self.ledger = company.ledger
        self.rng = company.rng
        self.now = company.now
        self.paying = []  # (customer, card) of every customer made here

    def add(self, charges: int):
        """Add exactly `charges` charges, with everything that comes with them."""
        if charges < 0:
            raise ValueError("charges: cannot remove charges from an account")
        made = self.ledger.charges
        first, target = len(made), len(made) + charges
        by_subscriptions = first + charges * 17 // 20
        while by_subscriptions - len(made) >= 12:
            # Leave room for what a story may add beyond one charge per period: a
            # proration, three more failed attempts, one period more than estimated.
            self.subscribe(by_subscriptions - len(made) - 6)
        while len(made) < target:
            self.one_off()
        self.refunds_and_disputes(made[first:])

    # Customers and their subscriptions

    def new_customer(self):
        rng, ids, n = self.rng, self.ledger.ids, len(self.paying)
        currency = rng.choices(("usd", "eur", "jpy"), (88, 8, 4))[0]
        country, city = rng.choice(PLACES[currency])
        name = f"{rng.choice(FIRST)} {rng.choice(SECOND)} {rng.choice(KIND)}"
        slug = f"{name.split()[0]}{name.split()[1]}{n}".lower()
        # More customers signed up lately than long ago: a growing company.
        created = self.now - int(SPAN * rng.random() ** 1.6) - rng.randint(HOUR, DAY)
        card = {
            "payment_method": ids("pm"),
            "brand": "jcb" if currency == "jpy" else rng.choice(BRANDS),
            "last4": f"{rng.randint(0, 9999):04d}",
            "exp_month": rng.randint(1, 12),
            "exp_year": 2027 + rng.randint(0, 4),
            "country": country,
            "fingerprint": ids.token(16),
            "funding": rng.choice(("credit", "credit", "debit")),
        }
        state = STATES.get(city)
        obj = self.ledger.keep(
            customer(
                ids("cus"),
                created,
                name,
                f"billing@{slug}.example",
                currency,
                address(country, city, state=state),
                ids.token(8).upper(),
                metadata={"crm_account": f"CRM-{20000 + n}"},
                preferred_locales=["ja"] if currency == "jpy" else ["en"],
                default_payment_method=card["payment_method"],
            )
        )
        self.paying.append((obj, card))
        return obj, card

    def subscribe(self, most_charges):
        rng, company, now = self.rng, self.company, self.now
        prices, coupons = company.prices, company.coupons
        buyer, card = self.new_customer()
        currency = buyer["currency"]
        if currency == "usd":
            keys, weights = zip(*PLANS, strict=True)
            price = prices[rng.choices(keys, weights)[0]]
        else:
            price = prices[f"pro_monthly_{currency}"]
        recurring = price["recurring"]
        days = {"week": 7, "month": 30, "year": 365}[recurring["interval"]]
        length = days * DAY * recurring["interval_count"]  # at least the real one
        start = buyer["created"] + rng.randint(HOUR, 3 * DAY)
        if (now - start) // length + 1 > most_charges:
            start = now - (most_charges - 1) * length - rng.randint(HOUR, DAY)
            buyer["created"] = start - rng.randint(HOUR, DAY)
        start = min(start, now - HOUR)
        story = SubscriptionStory(buyer, card, price, start)
        interval = recurring["interval"]
        if price["product"] == company.prices["pro_monthly"]["product"]:
            story.quantity = rng.choices((1, 2, 3, 5, 8, 12), (40, 20, 15, 12, 8, 5))[0]
        if interval == "month" and currency == "usd" and rng.random() < 0.06:
            story.extras = ((prices["support_monthly"], rng.randint(1, 3)),)
        state = buyer["address"]["state"]
        if state in TAXED:
            story.tax_rate = company.tax_rates[TAXED[state]]
        roll = rng.random()
        if roll < 0.12:
            story.trial_days = 14
        elif roll < 0.22:
            if interval == "year":
                story.coupon = coupons["annual"]
            elif currency == "usd":
                story.coupon = coupons["launch" if roll < 0.17 else "first"]
        self.fate(story, length)
        company.billing.subscribe(story)

    def fate(self, story, length):
        """How the subscription changed or ended, if it did."""
        rng, now, recurring = self.rng, self.now, story.price["recurring"]
        anchor = story.start + story.trial_days * DAY
        periods = 0
        while period_start(anchor, periods + 1, recurring) <= now:
            periods += 1
        roll = rng.random()
        prices = self.company.prices
        if periods >= 2 and roll < 0.14:  # churned
            boundary = period_start(anchor, rng.randint(1, periods), recurring)
            story.end_reason = "cancellation_requested"
            if rng.random() < 0.2:
                story.end_reason = "payment_failed"
                story.ends = min(boundary + 12 * DAY, now - HOUR)
            elif rng.random() < 0.7:
                story.ends, story.canceled_at = boundary, boundary - rng.randint(DAY, 20 * DAY)
            else:
                story.ends, story.at_period_end = boundary + rng.randint(DAY, length // 2), False
                story.ends = min(story.ends, now - HOUR)
        elif roll < 0.17:
            story.failing = True
            story.unpaid = rng.random() < 0.35
        elif periods >= 2 and roll < 0.24 and story.price is prices["starter_monthly"]:
            when = period_start(anchor, rng.randint(1, periods), recurring) + rng.randint(
                DAY, 20 * DAY
            )
            if when < now:
                story.upgrade = (when, prices["pro_monthly"])
        elif periods >= 2 and roll < 0.28 and story.price is prices["pro_monthly"]:
            when = period_start(anchor, rng.randint(1, periods), recurring) - rng.randint(
                DAY, 10 * DAY
            )
            story.downgrade = (when, prices["starter_monthly"])

    # Payments outside subscriptions: exactly one charge each

    def one_off(self):
        rng, ledger, company = self.rng, self.ledger, self.company
        if self.paying and rng.random() < 0.9:
            buyer, card = rng.choice(self.paying)
        else:
            key = rng.choice(list(company.customers))
            buyer, card = company.customers[key], company.cards[key]
        currency = buyer["currency"]
        latest = self.now - 2 * HOUR
        created = rng.randint(min(buyer["created"] + HOUR, latest), latest)
        roll = rng.random()
        if roll < 0.2 and currency == "usd":
            company.billing.one_off(buyer, card, company.prices["onboarding"], 1, created)
            return
        amount = rng.choice(ONE_OFFS[currency])
        description = rng.choice(("Usage top-up", "Data export", "Training session"))
        if roll < 0.25:
            decline = rng.choice(("insufficient_funds", "expired_card", "generic_decline"))
            ledger.pay(buyer, amount, currency, created, description, card, decline=decline)
        elif roll < 0.29:
            captured = amount * rng.randint(50, 95) // 100
            ledger.pay(buyer, amount, currency, created, description, card, capture=captured)
        else:
            ledger.pay(buyer, amount, currency, created, description, card)

    # What came back

    def refunds_and_disputes(self, charges):
        rng, ledger, now = self.rng, self.ledger, self.now
        for charge in charges:
            if charge["status"] != "succeeded":
                continue
            roll = rng.random()
            if roll < 0.025:
                asked = charge["created"] + rng.randint(HOUR, 20 * DAY)
                if asked < now - HOUR:
                    amount = charge["amount_captured"]
                    if rng.random() < 0.4:
                        amount = max(1, amount * rng.randint(10, 90) // 100)
                    reason = rng.choices(
                        ("requested_by_customer", "duplicate", "fraudulent"), (85, 10, 5)
                    )[0]
                    ledger.refund(charge, amount, asked, reason=reason)
            elif roll < 0.029:
                opened = charge["created"] + rng.randint(7 * DAY, 60 * DAY)
                if opened < now - HOUR:
                    self.dispute(charge, opened)

    def dispute(self, charge, opened):
        rng, now = self.rng, self.now
        reason, code = rng.choice(DISPUTE_REASONS)
        due_by = opened - opened % DAY + 21 * DAY - 1  # three weeks to answer
        age, closed_at, evidence = now - opened, None, None
        if age < 21 * DAY:
            status = rng.choices(
                (
                    "needs_response",
                    "under_review",
                    "warning_needs_response",
                    "warning_under_review",
                ),
                (60, 25, 10, 5),
            )[0]
        elif age < 75 * DAY:
            status = rng.choices(
                ("under_review", "won", "lost", "warning_closed"), (30, 25, 30, 15)
            )[0]
        else:
            status = rng.choices(("won", "lost", "warning_closed"), (40, 45, 15))[0]
        if status not in ("needs_response", "warning_needs_response"):
            evidence = {
                "customer_email_address": charge["billing_details"]["email"],
                "product_description": charge["description"],
            }
        if status in ("won", "lost", "warning_closed"):
            closed_at = min(opened + rng.randint(25 * DAY, 70 * DAY), now - HOUR)
        self.ledger.dispute(
            charge, opened, reason, status, due_by, code, evidence=evidence, closed_at=closed_at
        )
