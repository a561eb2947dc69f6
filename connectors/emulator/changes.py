"""The account going on after the seed: a new payment, a refund, an upgrade, a cancellation,
a dispute opening or closing, time passing. Each change makes the objects Stripe would make,
replaces the objects it alters with new versions (store.add; a dict the store holds is never
edited), and records the events Stripe would send, which it returns.

    changes = AccountChanges(store)
    events = changes.refund("ch_...")          # refund.created, charge.refunded
    changes.advance(days=31)                   # older events drop out of /v1/events

Every change moves the store's clock on by a minute first, so each change's events are newer
than everything before them; within a change, events are ordered as Stripe sends them and
their ids sort the same way (see events.EventIds). Bad arguments raise ValueError or
LookupError and change nothing. Listeners (webhooks.WebhookSender.deliver) receive each
change's events once they are in the store.
"""

import functools
import random
import threading
from bisect import bisect_left

from . import shapes_funds as funds
from .billing import Billing, SubscriptionStory
from .events import EventIds
from .ids import DAY, HOUR, day_start
from .ledger import Ledger
from .shapes_account import balance_object, event_object
from .shapes_billing import plan_of

STEP = 60  # seconds each change moves the clock on
AMOUNTS = {"usd": (2900, 4900, 9900, 25000), "eur": (4500, 9200), "jpy": (5000, 15000)}
CANCELING = {"comment": None, "feedback": None, "reason": "cancellation_requested"}
OPEN_DISPUTES = ("warning_needs_response", "warning_under_review", "needs_response", "under_review")


def change(tick=True):
    """Run a change under the lock; undo the clock and drop what it made if it fails."""

    def wrap(method):
        @functools.wraps(method)
        def run(self, *args, **kwargs):
            with self._lock:
                before = self.store.now
                if tick:
                    self.store.now += STEP
                self.ledger.now = self.store.now
                self._events = []
                try:
                    method(self, *args, **kwargs)
                except Exception:
                    self.store.now = before
                    self.ledger.drain()
                    raise
                self._store_made()
                events = self._events
                for event in events:
                    self.store.add(event)
            for listener in list(self.listeners):
                listener(events)
            return events

        return run

    return wrap


class AccountChanges:
    NAMES = (
        "new_charge",
        "refund",
        "upgrade_subscription",
        "cancel_subscription",
        "new_dispute",
        "submit_evidence",
        "close_dispute",
        "advance",
    )

    def __init__(self, store, seed=0, clock=None):
        if clock is not None:
            if store.now is not None and clock < store.now:
                raise ValueError("clock: the account's clock cannot go back")
            store.now = clock
        if store.now is None:
            raise ValueError("The store has no clock: seed it first, or pass clock=")
        self.store = store
        self.rng = random.Random(f"changes {seed}")
        account = store.account or {}
        descriptor = ((account.get("settings") or {}).get("payments") or {}).get(
            "statement_descriptor"
        )
        self.ledger = Ledger(store, self.rng, store.now, descriptor or "BRIGHTWAVE")
        self.event_ids = EventIds(self.rng)
        self.listeners = []  # callables taking the list of a change's events
        self._lock = threading.RLock()
        self._events = []

    @property
    def now(self) -> int:
        return self.store.now

    def apply(self, name: str, arguments: dict) -> list:
        """A change by name, as the HTTP helper endpoint receives it."""
        if name not in self.NAMES:
            raise LookupError(f"No such change: {name!r}. Changes: {', '.join(self.NAMES)}")
        return getattr(self, name)(**arguments)

    # Payments

    @change()
    def new_charge(self, customer=None, amount=None, currency=None, description=None):
        """A successful card payment: payment_intent.created, charge.succeeded,
        payment_intent.succeeded. Its funds are pending for two days."""
        buyer = self._get("customers", customer) if customer else self._any_customer()
        currency = currency or buyer.get("currency") or "usd"
        if currency not in AMOUNTS:
            raise ValueError(f"currency: the account takes {', '.join(AMOUNTS)}, not {currency}")
        amount = self.rng.choice(AMOUNTS[currency]) if amount is None else int(amount)
        if amount < 1:
            raise ValueError("amount: must be a positive integer in the currency's minor unit")
        intent, charge = self.ledger.pay(
            buyer, amount, currency, self.now, description, self._card_of(buyer)
        )
        self._emit("payment_intent.created", _intent_when_created(intent))
        self._emit("charge.succeeded", charge)
        self._emit("payment_intent.succeeded", intent)

    @change()
    def refund(self, charge_id, amount=None, reason="requested_by_customer"):
        """All that is left of a charge, or `amount` of it: refund.created, charge.refunded."""
        old = self._get("charges", charge_id)
        left = old["amount_captured"] - old["amount_refunded"]
        if old["status"] != "succeeded" or left <= 0:
            raise ValueError(f"{charge_id} has nothing left to refund")
        amount = left if amount is None else int(amount)
        if not 0 < amount <= left:
            raise ValueError(f"amount: between 1 and {left} can be refunded on {charge_id}")
        charge = {**old, "refunds": {**old["refunds"], "data": list(old["refunds"]["data"])}}
        refund = self.ledger.refund(charge, amount, self.now, reason=reason)
        self.ledger.keep(charge)
        self._emit("refund.created", refund)
        self._emit("charge.refunded", charge)

    # Subscriptions

    @change()
    def upgrade_subscription(self, sub_id, price=None):
        """Move the first item to a dearer price, invoiced at once with prorations:
        customer.subscription.updated, then the invoice's and its payment's events."""
        sub = self._get("subscriptions", sub_id)
        if sub["status"] not in ("active", "past_due"):
            raise ValueError(f"{sub_id} is {sub['status']}: only a paying subscription upgrades")
        item = sub["items"]["data"][0]
        old_price = item["price"]
        new_price = self._get("prices", price) if price else self._dearer_than(old_price)
        same = ("currency", "recurring")
        if any(new_price[f] != old_price[f] for f in same) or (
            new_price["unit_amount"] <= old_price["unit_amount"]
        ):
            raise ValueError(f"{new_price['id']} is not an upgrade of {old_price['id']}")
        period = (item["current_period_start"], item["current_period_end"])
        if not period[0] <= self.now < period[1]:
            raise ValueError(f"{sub_id}'s current period has ended; the emulator does not renew")
        buyer = self.ledger.keep(dict(self._get("customers", sub["customer"])))
        story = SubscriptionStory(
            buyer,
            self._card_of(buyer),
            old_price,
            sub["start_date"],
            quantity=item["quantity"] or 1,
            tax_rate=(sub["default_tax_rates"] or [None])[0],
        )
        billed = [
            line["id"]
            for line in self.store.lines.get(sub["latest_invoice"], [])
            if (line["parent"]["subscription_item_details"] or {}).get("subscription_item")
            == item["id"]
        ]
        credited = (sub["latest_invoice"], billed[:1]) if billed else None
        invoice = self._billing().proration(
            story, sub_id, item["id"], self.now, old_price, new_price, period, credited
        )
        upgraded = {**item, "price": new_price, "plan": plan_of(new_price)}
        items = {**sub["items"], "data": [upgraded, *sub["items"]["data"][1:]]}
        new = {**sub, "items": items, "latest_invoice": invoice["id"]}
        self.ledger.keep(new)
        previous = {"items": sub["items"], "latest_invoice": sub["latest_invoice"]}
        self._emit("customer.subscription.updated", new, previous)
        self._emit_invoice(invoice)

    @change()
    def cancel_subscription(self, sub_id, at_period_end=False):
        """At once (customer.subscription.deleted) or when the period ends
        (customer.subscription.updated now; advance() past the end deletes it)."""
        sub = self._get("subscriptions", sub_id)
        if sub["status"] in ("canceled", "incomplete_expired"):
            raise ValueError(f"{sub_id} has already ended")
        now = self.now
        if at_period_end:
            if sub["cancel_at_period_end"]:
                raise ValueError(f"{sub_id} is already set to cancel at the end of its period")
            end = max(item["current_period_end"] for item in sub["items"]["data"])
            changed = {
                "cancel_at": end,
                "cancel_at_period_end": True,
                "canceled_at": now,
                "cancellation_details": dict(CANCELING),
            }
            new = self.ledger.keep({**sub, **changed})
            self._emit("customer.subscription.updated", new, {k: sub[k] for k in changed})
        else:
            new = self.ledger.keep(_ended(sub, now, now))
            self._emit("customer.subscription.deleted", new)

    # Disputes

    @change()
    def new_dispute(self, charge_id, reason="fraudulent", inquiry=False):
        """A chargeback (charge.dispute.created, charge.dispute.funds_withdrawn: amount and
        fee leave the balance at once) or, with `inquiry`, a card network's inquiry."""
        old = self._get("charges", charge_id)
        if old["status"] != "succeeded" or old["disputed"]:
            raise ValueError(f"{charge_id} cannot be disputed")
        charge = dict(old)  # the ledger marks it disputed
        status = "warning_needs_response" if inquiry else "needs_response"
        due_by = day_start(self.now) + (14 if inquiry else 8) * DAY - 1
        code = {"fraudulent": "10.4", "duplicate": "12.6.1"}.get(reason, "4853")
        dispute = self.ledger.dispute(charge, self.now, reason, status, due_by, code)
        self.ledger.keep(charge)
        self._emit("charge.dispute.created", dispute)
        if not inquiry:
            self._emit("charge.dispute.funds_withdrawn", dispute)

    @change()
    def submit_evidence(self, dispute_id, evidence=None):
        """Evidence in answer to a dispute: charge.dispute.updated, now under review."""
        old = self._get("disputes", dispute_id)
        if old["status"] not in ("warning_needs_response", "needs_response"):
            raise ValueError(f"{dispute_id} is {old['status']}: it takes no evidence now")
        evidence = evidence or {"uncategorized_text": "The customer used the service."}
        unknown = set(evidence) - set(funds.EVIDENCE_FIELDS)
        if unknown:
            raise ValueError(f"evidence: unknown fields {sorted(unknown)}")
        details = old["evidence_details"]
        new = {
            **old,
            "status": old["status"].replace("needs_response", "under_review"),
            "evidence": {**old["evidence"], **evidence},
            "evidence_details": {
                **details,
                "has_evidence": True,
                "submission_count": details["submission_count"] + 1,
            },
        }
        self.ledger.keep(new)
        previous = {k: old[k] for k in ("status", "evidence", "evidence_details")}
        self._emit("charge.dispute.updated", new, previous)

    @change()
    def close_dispute(self, dispute_id, won=True):
        """The network's decision: a won chargeback returns its amount (not the fee)
        (charge.dispute.funds_reinstated); then charge.dispute.closed. An inquiry closes as
        warning_closed."""
        old = self._get("disputes", dispute_id)
        if old["status"] not in OPEN_DISPUTES:
            raise ValueError(f"{dispute_id} is already closed ({old['status']})")
        status = (
            "warning_closed" if old["status"].startswith("warning_") else "won" if won else "lost"
        )
        new = {**old, "status": status, "is_charge_refundable": False}
        if status == "won":
            withdrawal = old["balance_transactions"][0]
            reversal = self.ledger.transaction(
                self.now,
                self.now,
                -withdrawal["amount"],
                withdrawal["currency"],
                [],
                dispute_id,
                "adjustment",
                "dispute_reversal",
                f"Chargeback reversal for {old['charge']}",
                withdrawal["exchange_rate"],
            )
            new["balance_transactions"] = [*old["balance_transactions"], reversal]
        self.ledger.keep(new)
        if status == "won":
            self._emit("charge.dispute.funds_reinstated", new)
        self._emit("charge.dispute.closed", new)

    # Time

    @change(tick=False)
    def advance(self, days=0, hours=0, seconds=0):
        """Move the clock on. Funds that became available in the meantime move to the
        available balance (balance.available), and subscriptions set to cancel at their
        period's end end (customer.subscription.deleted), each at the moment it happened.
        Subscriptions are not renewed. Events fall out of /v1/events after 30 days."""
        step = int(days * DAY + hours * HOUR + seconds)
        if step <= 0:
            raise ValueError("advance: the clock only moves forward")
        then, now = self.now, self.now + step
        happenings = [(t["available_on"], 0, t) for t in self._pending_transactions(now)]
        happenings += [
            (s["cancel_at"], 1, s)
            for s in self.store.objects("subscriptions")
            if s["cancel_at"] and s["status"] != "canceled" and then < s["cancel_at"] <= now
        ]
        for moment, kind, obj in sorted(happenings, key=lambda h: (h[0], h[1], h[2]["id"])):
            self.store.now = moment
            if kind == 0:
                self.store.add({**obj, "status": "available"})
                self._move_balance(obj["currency"], obj["net"], -obj["net"])
                last = self._events[-1] if self._events else None
                if last and (last["created"], last["type"]) == (moment, "balance.available"):
                    self._events.pop()  # one balance.available per moment, as it then stood
                self._emit("balance.available", self.store.balance)
            else:
                ended = self.store.add(_ended(obj, obj["canceled_at"], moment))
                self._emit("customer.subscription.deleted", ended)
        self.store.now = now

    # Pieces

    def _get(self, resource, object_id):
        obj = self.store.get(resource, object_id)
        if obj is None:
            raise LookupError(f"No such {resource[:-1].replace('_', ' ')}: {object_id!r}")
        return obj

    def _any_customer(self):
        customers = self.store.objects("customers")
        if not customers:
            raise ValueError("The account has no customers")
        return self.rng.choice(customers)

    def _card_of(self, buyer):
        """The card the customer last paid with, as the ledger takes it."""
        page = self.store.page("charges", {"customer": buyer["id"], "limit": 1})
        if page["data"]:
            charge = page["data"][0]
            card = charge["payment_method_details"]["card"]
            keep = ("brand", "last4", "exp_month", "exp_year", "country", "fingerprint", "funding")
            return {"payment_method": charge["payment_method"], **{k: card[k] for k in keep}}
        ids = self.ledger.ids
        return {
            "payment_method": buyer["invoice_settings"]["default_payment_method"] or ids("pm"),
            "brand": "visa",
            "last4": f"{self.rng.randint(0, 9999):04d}",
            "exp_month": self.rng.randint(1, 12),
            "exp_year": 2030,
            "country": (buyer.get("address") or {}).get("country") or "US",
            "fingerprint": ids.token(16),
            "funding": "credit",
        }

    def _dearer_than(self, price):
        """The cheapest active price dearer than `price` billed the same way."""
        dearer = [
            p
            for p in self.store.objects("prices")
            if p["active"]
            and p["currency"] == price["currency"]
            and p["recurring"] == price["recurring"]
            and (p["unit_amount"] or 0) > (price["unit_amount"] or 0)
        ]
        if not dearer:
            raise ValueError(f"No dearer price than {price['id']} to upgrade to")
        return min(dearer, key=lambda p: (p["unit_amount"], p["id"]))

    def _billing(self):
        products = {p["id"]: p for p in self.store.objects("products")}
        name = ((self.store.account or {}).get("business_profile") or {}).get("name")
        return Billing(self.ledger, products, name)

    def _pending_transactions(self, until):
        """Pending balance transactions that are available by `until`. They are recent:
        the collection's order is searched from a month back only."""
        collection = self.store.collections.get("balance_transactions")
        if collection is None:
            return []
        keys = collection.order
        start = bisect_left(keys, (self.now - 31 * DAY,))
        return [
            txn
            for _, txn_id in keys[start:]
            if (txn := collection.by_id[txn_id])["status"] == "pending"
            and txn["available_on"] <= until
        ]

    def _emit(self, type, obj, previous_attributes=None):
        created = self.store.now
        self._events.append(
            event_object(
                self.event_ids(created),
                type,
                obj,
                created,
                previous_attributes=previous_attributes,
            )
        )

    def _emit_invoice(self, invoice):
        """The events of an invoice finalized and paid at once, in Stripe's order."""
        made = self.ledger.objects
        intent = next(o for o in made if o["object"] == "payment_intent")
        charge = next(o for o in made if o["object"] == "charge")
        payment = next(o for o in made if o["object"] == "invoice_payment")
        self._emit("invoice.created", _invoice_when(invoice, "draft"))
        self._emit("invoice.finalized", _invoice_when(invoice, "open"))
        self._emit("payment_intent.created", _intent_when_created(intent))
        self._emit("charge.succeeded", charge)
        self._emit("payment_intent.succeeded", intent)
        self._emit("invoice_payment.paid", payment)
        self._emit("invoice.paid", invoice)
        self._emit("invoice.payment_succeeded", invoice)

    def _store_made(self):
        """Add what the change made (new objects and new versions) and its money."""
        for obj in self.ledger.drain():
            self.store.add(obj)
            if obj["object"] == "balance_transaction":
                available = obj["status"] == "available"
                net = obj["net"]
                self._move_balance(
                    obj["currency"], net if available else 0, 0 if available else net
                )

    def _move_balance(self, currency, available, pending):
        balance = self.store.balance or balance_object({}, {})
        now_available = {f["currency"]: f["amount"] for f in balance["available"]}
        now_pending = {f["currency"]: f["amount"] for f in balance["pending"]}
        now_available[currency] = now_available.get(currency, 0) + available
        now_pending[currency] = now_pending.get(currency, 0) + pending
        self.store.add(balance_object(now_available, now_pending, livemode=balance["livemode"]))


def _intent_when_created(intent):
    return {
        **intent,
        "status": "requires_confirmation",
        "amount_received": 0,
        "latest_charge": None,
    }


def _invoice_when(invoice, status):
    """The invoice as it stood before it was paid: a draft, or open (finalized)."""
    moments = {**invoice["status_transitions"], "paid_at": None}
    earlier = {
        **invoice,
        "status": status,
        "amount_paid": 0,
        "amount_remaining": invoice["amount_due"],
        "attempt_count": 0,
        "attempted": False,
        "status_transitions": moments,
    }
    if status == "draft":
        earlier.update(
            number=None,
            hosted_invoice_url=None,
            invoice_pdf=None,
            ending_balance=None,
            effective_at=None,
            auto_advance=True,
            status_transitions={**moments, "finalized_at": None},
        )
    return earlier


def _ended(sub, canceled_at, ended_at):
    return {
        **sub,
        "status": "canceled",
        "canceled_at": canceled_at,
        "ended_at": ended_at,
        "cancel_at": sub["cancel_at"] if sub["cancel_at_period_end"] else None,
        "cancellation_details": dict(CANCELING),
    }
