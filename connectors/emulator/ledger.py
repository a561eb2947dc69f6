"""Money movements that keep an account consistent, for seeding and (later) generating.

Each method creates together the objects Stripe creates together: a payment is a payment
intent, a charge and the charge's balance transaction; a refund carries its own balance
transaction and updates the charge; a dispute withdraws funds; payouts sweep the balance
transactions that became available and link them to the payout. Objects stay in memory
until commit(), which adds them to the store with the balance and the events.
"""

import heapq
from collections import defaultdict

from . import shapes_funds as funds
from . import shapes_payments as pay
from .events import EVENT_RETENTION, EventIds, lifecycle_events
from .ids import ALPHABET, DAY, ID_LENGTHS, IdMaker, add_business_days, day_start
from .shapes_account import balance_object, event_object

# Where each presentment currency settles, and at what rate: EUR card payments settle in
# USD (a conversion, with an exchange_rate on the balance transaction), JPY and KWD (three
# decimals: 1 KWD is 1000 fils) settle in themselves.
SETTLEMENT = {"usd": "usd", "eur": "usd", "jpy": "jpy", "kwd": "kwd"}
EUR_USD = 1.0842
DISPUTE_FEE = {"usd": 1500, "jpy": 2000, "kwd": 5000}


def _rounded(value: float) -> int:
    return int(value + 0.5) if value >= 0 else -int(-value + 0.5)


# Random bytes to id characters, at C speed (the small bias toward the first eight
# characters does not matter for ids).
_ID_CHARACTERS = bytes(ord(ALPHABET[n % len(ALPHABET)]) for n in range(256))


class SeededIds(IdMaker):
    """IdMaker drawing each id's characters in one call to the RNG: an account of a
    million charges needs some ten million ids. With 13 to 23 random characters a repeat
    is as good as impossible, so issued ids are not kept."""

    def __call__(self, prefix: str) -> str:
        body = self.rng.randbytes(ID_LENGTHS.get(prefix, 24)).translate(_ID_CHARACTERS)
        # Stripe's own ids start with a digit-letter pair such as 1P or 3Q.
        return f"{prefix}_{'123'[body[0] % 3]}{body[1:].decode()}"

    def token(self, length: int) -> str:
        return self.rng.randbytes(length).translate(_ID_CHARACTERS).decode()


class Ledger:
    def __init__(self, store, rng, now, descriptor):
        self.store = store
        self.rng = rng
        self.ids = SeededIds(rng)
        self.now = now
        self.descriptor = descriptor
        # Every object made, in creation order, each kept once (a list, not a dict by id:
        # an account of a million charges has ten million objects).
        self.objects = []
        self.charges = []  # charges, in creation order
        self.transactions = []  # balance transactions, in creation order
        self.payout_links = {}  # automatic payout id -> its balance transaction ids
        self.extra_events = []  # (created, type, object id, previous attributes or None)
        self._unswept = defaultdict(list)  # currency -> heap of transactions not paid out
        self._queued = 0  # how many of self.transactions are in those heaps

    def keep(self, obj):
        """Keep a new object (or, for live changes, a new version) to add to the store."""
        self.objects.append(obj)
        return obj

    def event(self, created, type, object_id, previous_attributes=None):
        """An event beyond those an object's own fields imply (see lifecycle_events)."""
        self.extra_events.append((created, type, object_id, previous_attributes))

    def drain(self) -> list:
        """The objects made since the last drain, in creation order (for live changes)."""
        made = list(self.objects)
        self.objects.clear()
        self.charges.clear()
        self.transactions.clear()
        self.extra_events.clear()
        return made

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

    def pay(
        self, customer, amount, currency, created, description, card, decline=None, capture=None
    ):
        """A payment intent and its charge: succeeded, or failed with `decline`. `capture`:
        the part of `amount` captured from a hold (manual capture), when not all of it.
        Returns (payment_intent, charge)."""
        intent_id = self.ids("pi")
        charge = self.charge(
            customer, amount, currency, created, description, card, intent_id, decline, capture
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
            capture_method="automatic" if capture is None else "manual",
            amount_received=capture,
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
        self,
        customer,
        amount,
        currency,
        created,
        description,
        card,
        intent_id,
        decline=None,
        capture=None,
    ):
        """One attempt to charge `card`; a successful one brings its balance transaction."""
        charge_id, txn_id = self.ids("ch"), None
        if not decline:
            captured = amount if capture is None else capture
            settled, settled_amount, rate = self.settle(captured, currency, created)
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
        charge = self.keep(
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
                amount_captured=capture,
            )
        )
        self.charges.append(charge)
        return charge

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
        charge["refunded"] = charge["amount_refunded"] == charge["amount_captured"]
        charge["refunds"]["data"].insert(0, refund)
        self.event(created, "charge.refunded", charge["id"])
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
        chargeback returns the amount when it closes; inquiries (warning_*) move no money.
        Statuses past needs_response had evidence submitted; closed ones need `closed_at`."""
        dispute_id = self.ids("dp")
        amount, transactions = charge["amount_captured"], []
        if not status.startswith("warning_"):
            settled, settled_amount, rate = self.settle(amount, charge["currency"], created)
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
            amount,
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
            past_due=due_by < self.now and not evidence,
        )
        charge["disputed"] = True
        if evidence:  # submitted halfway to the deadline
            submitted = (created + min(due_by, closed_at or due_by, self.now)) // 2
            before = "warning_needs_response" if status.startswith("warning_") else "needs_response"
            self.event(submitted, "charge.dispute.updated", dispute_id, {"status": before})
        if status == "won":
            self.event(closed_at, "charge.dispute.funds_reinstated", dispute_id)
        if closed_at:
            self.event(closed_at, "charge.dispute.closed", dispute_id)
        return self.keep(dispute)

    # Payouts

    def payout(self, created, currency, destination, automatic):
        """Pay out every balance transaction of `currency` available by `created` and not
        yet paid out. Returns the payout, or None when there is nothing positive to pay."""
        for n in range(self._queued, len(self.transactions)):
            txn = self.transactions[n]
            if txn["type"] != "payout":
                heapq.heappush(self._unswept[txn["currency"]], (txn["available_on"], n, txn))
        self._queued = len(self.transactions)
        waiting, due = self._unswept[currency], []
        while waiting and waiting[0][0] <= created:
            due.append(heapq.heappop(waiting))
        amount = sum(t["net"] for _, _, t in due)
        if amount <= 0:
            for entry in due:
                heapq.heappush(waiting, entry)
            return None
        due = [t for _, _, t in due]
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
        if automatic:
            self.payout_links[payout_id] = [t["id"] for t in due]
        if status == "paid":
            self.event(arrival, "payout.paid", payout_id)
        return self.keep(payout)

    # Into the store

    def balance(self):
        available, pending = defaultdict(int), defaultdict(int)
        for txn in self.transactions:
            funds = available if txn["status"] == "available" else pending
            funds[txn["currency"]] += txn["net"]
        return balance_object(dict(available), dict(pending))

    def commit(self):
        """Add every object, the payout links, the balance and the events of the last 30
        days (all Stripe still keeps) to the store, and set the store's clock."""
        # Links first: balance transactions added after their link are indexed once.
        for payout_id, transaction_ids in self.payout_links.items():
            self.store.link_payout(payout_id, transaction_ids)
        self.store.add_all(self.objects)
        self.store.add(self.balance())
        since = self.now - EVENT_RETENTION
        happenings = [
            (when, kind, obj, None)
            for obj in self.objects
            for when, kind in lifecycle_events(obj)
            if since <= when
        ]
        extras = [h for h in self.extra_events if since <= h[0]]
        wanted = {object_id for _, _, object_id, _ in extras}
        named = {obj["id"]: obj for obj in self.objects if obj["id"] in wanted}
        happenings += [(when, kind, named[i], previous) for when, kind, i, previous in extras]
        event_ids = EventIds(self.rng)
        self.store.add_all(
            event_object(event_ids(when), kind, obj, when, previous_attributes=previous)
            for when, kind, obj, previous in sorted(happenings, key=lambda h: h[0])
            if when <= self.now
        )
        self.store.now = max(self.store.now or 0, self.now)


def attempt_times(first, count, now, every=3 * DAY):
    """When Smart Retries would have tried a failing invoice: up to `count` tries by `now`."""
    return [first + n * every for n in range(count) if first + n * every <= now]
