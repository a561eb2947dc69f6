"""Money movements that keep an account consistent, for seeding and (later) generating.

Each method creates together the objects Stripe creates together: a payment is a payment
intent, a charge and the charge's balance transaction; a refund carries its own balance
transaction and updates the charge; a dispute withdraws funds; payouts sweep the balance
transactions that became available and link them to the payout. Objects stay in memory
until commit(), which adds them to the store with the balance and the events.
"""

from collections import defaultdict

from . import shapes_funds as funds
from . import shapes_payments as pay
from .events import lifecycle_events
from .ids import DAY, IdMaker, add_business_days, day_start
from .shapes_account import balance_object, event_object

# Where each presentment currency settles, and at what rate: EUR card payments settle in
# USD (a conversion, with an exchange_rate on the balance transaction), JPY settles in JPY.
SETTLEMENT = {"usd": "usd", "eur": "usd", "jpy": "jpy"}
EUR_USD = 1.0842
DISPUTE_FEE = {"usd": 1500, "jpy": 2000}


def _rounded(value: float) -> int:
    return int(value + 0.5) if value >= 0 else -int(-value + 0.5)


class Ledger:
    def __init__(self, store, rng, now, descriptor):
        self.store = store
        self.rng = rng
        self.ids = IdMaker(rng)
        self.now = now
        self.descriptor = descriptor
        self.objects = {}  # id -> object, in creation order
        self.transactions = []  # balance transactions, in creation order
        self.swept = set()  # balance transactions already paid out
        self.payout_links = {}  # automatic payout id -> its balance transaction ids
        self.extra_events = []  # (created, type, object id) beyond the "created" event

    def keep(self, obj):
        self.objects[obj["id"]] = obj
        return obj

    # Balance transactions

    def settle(self, amount, currency, when):
        """(settlement currency, amount there, exchange rate or None)."""
        settled = SETTLEMENT[currency]
        if settled == currency:
            return currency, amount, None
        # A rate that drifts a little month to month, as a real one would.
        rate = round(EUR_USD + ((when // (30 * DAY)) % 7 - 3) * 0.0031, 6)
        return settled, _rounded(amount * rate), rate

    def processing_fees(self, amount, currency, presented):
        """Stripe's standard pricing: 2.9% + 30 cents (3.6% in Japan), and 1% more when the
        payment had to be converted."""
        fee = _rounded(amount * 0.036) if currency == "jpy" else _rounded(amount * 0.029) + 30
        fees = [funds.fee_detail(fee, currency, "Stripe processing fees")]
        if presented != currency:
            conversion = _rounded(amount * 0.01)
            fees.append(funds.fee_detail(conversion, currency, "Stripe currency conversion fee"))
        return fees

    def transaction(
        self,
        created,
        available_on,
        amount,
        currency,
        fee_details,
        source,
        type,
        category,
        description,
        exchange_rate=None,
    ):
        status = "available" if available_on <= self.now else "pending"
        txn = funds.balance_transaction(
            self.ids("txn"),
            created,
            available_on,
            amount,
            currency,
            fee_details,
            source,
            type,
            category,
            description,
            status,
            exchange_rate,
        )
        self.transactions.append(txn)
        return self.keep(txn)

    # Payments

    def pay(self, customer, amount, currency, created, description, card, decline=None):
        """A payment intent and its charge: succeeded, or failed with `decline`.
        Returns (payment_intent, charge)."""
        intent_id = self.ids("pi")
        charge = self.charge(
            customer, amount, currency, created, description, card, intent_id, decline
        )
        intent = pay.payment_intent(
            intent_id,
            created - 2,
            amount,
            currency,
            customer["id"],
            "requires_payment_method" if decline else "succeeded",
            card["payment_method"],
            f"{intent_id}_secret_{self.ids.token(25)}",
            description,
            charge["id"],
            decline,
        )
        return self.keep(intent), charge

    def retry(self, intent, customer, created, card, decline):
        """Another failed attempt on an intent that still needs a payment method."""
        charge = self.charge(
            customer,
            intent["amount"],
            intent["currency"],
            created,
            intent["description"],
            card,
            intent["id"],
            decline,
        )
        intent["latest_charge"] = charge["id"]
        intent["last_payment_error"]["charge"] = charge["id"]
        return charge

    def charge(
        self, customer, amount, currency, created, description, card, intent_id, decline=None
    ):
        """One attempt to charge `card`; a successful one brings its balance transaction."""
        charge_id, txn_id = self.ids("ch"), None
        if not decline:
            settled, settled_amount, rate = self.settle(amount, currency, created)
            fees = self.processing_fees(settled_amount, settled, currency)
            available_on = day_start(created) + 2 * DAY
            txn_id = self.transaction(
                created,
                available_on,
                settled_amount,
                settled,
                fees,
                charge_id,
                "charge",
                "charge",
                description,
                rate,
            )["id"]
        return self.keep(
            pay.charge(
                charge_id,
                created,
                amount,
                currency,
                customer["id"],
                intent_id,
                card["payment_method"],
                card,
                customer["name"],
                customer["email"],
                customer["address"]["country"],
                txn_id,
                status="failed" if decline else "succeeded",
                decline=decline,
                description=description,
                descriptor=self.descriptor,
                receipt_url=f"https://pay.stripe.com/receipts/payment/{self.ids.token(64)}",
            )
        )

    def open_intent(
        self,
        customer,
        amount,
        currency,
        created,
        description,
        card,
        status,
        canceled_at=None,
        cancellation_reason=None,
    ):
        intent_id = self.ids("pi")
        return self.keep(
            pay.payment_intent(
                intent_id,
                created,
                amount,
                currency,
                customer["id"],
                status,
                card["payment_method"],
                f"{intent_id}_secret_{self.ids.token(25)}",
                description,
                canceled_at=canceled_at,
                cancellation_reason=cancellation_reason,
            )
        )

    def refund(self, charge, amount, created, reason="requested_by_customer", status="succeeded"):
        refund_id = self.ids("re")
        settled, settled_amount, rate = self.settle(amount, charge["currency"], created)
        txn = self.transaction(
            created,
            created,
            -settled_amount,
            settled,
            [],
            refund_id,
            "refund",
            "refund",
            "REFUND FOR CHARGE",
            rate,
        )
        refund = funds.refund(
            refund_id,
            created,
            amount,
            charge["currency"],
            charge["id"],
            charge["payment_intent"],
            txn["id"],
            status,
            reason,
        )
        charge["amount_refunded"] += amount
        charge["refunded"] = charge["amount_refunded"] == charge["amount"]
        charge["refunds"]["data"].insert(0, refund)
        self.extra_events.append((created, "charge.refunded", charge["id"]))
        return self.keep(refund)

    def dispute(
        self,
        charge,
        created,
        reason,
        status,
        due_by,
        network_reason_code,
        evidence=None,
        closed_at=None,
    ):
        """A dispute on `charge`. Chargebacks withdraw the amount plus a fee at once; a won
        chargeback returns the amount when it closes; inquiries (warning_*) move no money."""
        dispute_id = self.ids("dp")
        transactions = []
        if not status.startswith("warning_"):
            settled, settled_amount, rate = self.settle(
                charge["amount"], charge["currency"], created
            )
            fee = [funds.fee_detail(DISPUTE_FEE[settled], settled, "Dispute fee")]
            transactions.append(
                self.transaction(
                    created,
                    created,
                    -settled_amount,
                    settled,
                    fee,
                    dispute_id,
                    "adjustment",
                    "dispute",
                    f"Chargeback withdrawal for {charge['id']}",
                    rate,
                )
            )
            if status == "won":
                transactions.append(
                    self.transaction(
                        closed_at,
                        closed_at,
                        settled_amount,
                        settled,
                        [],
                        dispute_id,
                        "adjustment",
                        "dispute_reversal",
                        f"Chargeback reversal for {charge['id']}",
                        rate,
                    )
                )
        dispute = funds.dispute(
            dispute_id,
            created,
            charge["amount"],
            charge["currency"],
            charge["id"],
            charge["payment_intent"],
            reason,
            status,
            due_by,
            charge["payment_method_details"]["card"]["brand"],
            network_reason_code,
            transactions,
            evidence,
            submission_count=1 if evidence else 0,
        )
        charge["disputed"] = True
        if closed_at:
            self.extra_events.append((closed_at, "charge.dispute.closed", dispute_id))
        return self.keep(dispute)

    # Payouts

    def payout(self, created, currency, destination, automatic):
        """Pay out every balance transaction of `currency` available by `created` and not
        yet paid out. Returns the payout, or None when there is nothing positive to pay."""
        due = [
            t
            for t in self.transactions
            if t["currency"] == currency
            and t["id"] not in self.swept
            and t["available_on"] <= created
            and t["type"] != "payout"
        ]
        amount = sum(t["net"] for t in due)
        if amount <= 0:
            return None
        payout_id = self.ids("po")
        arrival = add_business_days(day_start(created), 2)
        status = "paid" if arrival <= self.now else "in_transit"
        txn = self.transaction(
            created, created, -amount, currency, [], payout_id, "payout", "payout", "STRIPE PAYOUT"
        )
        trace = "".join(self.rng.choice("0123456789") for _ in range(15))
        payout = funds.payout(
            payout_id,
            created,
            amount,
            currency,
            arrival,
            automatic,
            txn["id"],
            destination,
            status,
            trace if status == "paid" else None,
        )
        self.swept.update(t["id"] for t in due)
        if automatic:
            self.payout_links[payout_id] = [t["id"] for t in due]
        if status == "paid":
            self.extra_events.append((arrival, "payout.paid", payout_id))
        return self.keep(payout)

    # Into the store

    def balance(self):
        available, pending = defaultdict(int), defaultdict(int)
        for txn in self.transactions:
            funds = available if txn["status"] == "available" else pending
            funds[txn["currency"]] += txn["net"]
        return balance_object(dict(available), dict(pending))

    def commit(self):
        """Add every object, the payout links, the balance and the events of each object's
        life so far to the store."""
        # Links first: balance transactions added after their link are indexed once.
        for payout_id, transaction_ids in self.payout_links.items():
            self.store.link_payout(payout_id, transaction_ids)
        self.store.add_all(self.objects.values())
        self.store.add(self.balance())
        happenings = [
            (when, kind, object_id)
            for object_id, obj in self.objects.items()
            for when, kind in lifecycle_events(obj)
        ]
        happenings += self.extra_events
        self.store.add_all(
            event_object(self.ids("evt"), kind, self.objects[object_id], when)
            for when, kind, object_id in sorted(happenings, key=lambda h: h[0])
            if when <= self.now
        )


def attempt_times(first, count, now, every=3 * DAY):
    """When Smart Retries would have tried a failing invoice: up to `count` tries by `now`."""
    return [first + n * every for n in range(count) if first + n * every <= now]
