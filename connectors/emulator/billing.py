"""Subscriptions and their invoices, billed period by period up to `now`.

A SubscriptionStory says what happened to one subscription (its price, trial, coupon,
upgrade, usage, failing card, cancellation); Billing turns it into the subscription, its
invoices with their lines, and the payments through the Ledger, so that every invoice a
report reads agrees with the charges and balance transactions behind it.
"""

from dataclasses import dataclass

from . import shapes_invoices as inv
from .ids import DAY, HOUR, add_months, short_date
from .ledger import attempt_times

SYMBOLS = {"usd": "$", "eur": "€", "jpy": "¥"}
ZERO_DECIMAL = {"jpy"}
THREE_DECIMAL = {"kwd"}


def money(amount, currency):
    symbol = SYMBOLS.get(currency, currency.upper() + " ")
    if currency in ZERO_DECIMAL:
        return f"{symbol}{amount:,}"
    if currency in THREE_DECIMAL:
        return f"{symbol}{amount / 1000:,.3f}"
    return f"{symbol}{amount / 100:,.2f}"


def period_start(anchor: int, n: int, recurring: dict) -> int:
    """The start of the `n`th billing period counted from `anchor`."""
    count = recurring["interval_count"] * n
    interval = recurring["interval"]
    if interval == "year":
        return add_months(anchor, 12 * count)
    if interval == "month":
        return add_months(anchor, count)
    return anchor + count * (7 * DAY if interval == "week" else DAY)


def _rounded(value: float) -> int:
    return int(value + 0.5) if value >= 0 else -int(-value + 0.5)


@dataclass
class SubscriptionStory:
    customer: dict
    card: dict
    price: dict
    start: int
    quantity: int = 1
    extras: tuple = ()  # ((price, quantity), ...): more licensed items, same interval
    trial_days: int = 0
    coupon: dict | None = None
    promotion_code: dict | None = None
    tax_rate: dict | None = None  # the subscription's default tax rate
    upgrade: tuple | None = None  # (when, new price): prorated and invoiced at once
    downgrade: tuple | None = None  # (when, new price): from the next renewal, no proration
    metered: dict | None = None  # a metered price billed in arrears beside the main one
    usage: tuple = (80, 400)  # range of metered units per period
    ends: int | None = None
    end_reason: str | None = None  # "cancellation_requested" or "payment_failed"
    canceled_at: int | None = None  # when the cancellation was asked for
    at_period_end: bool = True  # False: canceled at once, at `ends`, mid-period
    failing: bool = False  # the latest invoice's payment fails: past_due
    unpaid: bool = False  # ... and every retry failed too: unpaid


def not_canceling():
    """A subscription's cancellation fields before anyone asked to cancel it."""
    return {
        "cancel_at": None,
        "cancel_at_period_end": False,
        "canceled_at": None,
        "cancellation_details": {"comment": None, "feedback": None, "reason": None},
    }


class Billing:
    def __init__(self, ledger, products, account_name):
        self.ledger = ledger
        self.ids = ledger.ids
        self.now = ledger.now
        self.products = products  # id -> product
        self.account_name = account_name

    def subscribe(self, story: SubscriptionStory) -> dict:
        ids, now, ledger = self.ids, self.now, self.ledger
        sub_id, item_id = ids("sub"), ids("si")
        extras = [(ids("si"), price, quantity) for price, quantity in story.extras]
        metered_item_id = ids("si") if story.metered else None
        discount_id = ids("di") if story.coupon else None
        trial_end = story.start + story.trial_days * DAY if story.trial_days else None
        recurring = story.price["recurring"]
        price, invoices, period, billed = story.price, [], None, 0

        if trial_end:
            line = self._line(
                story,
                sub_id,
                item_id,
                price,
                0,
                (story.start, trial_end),
                f"Trial period for {self.products[price['product']]['name']}",
            )
            invoices.append(
                self._invoice(
                    story.customer, story.card, story.start, [line], "subscription_create", sub_id
                )
            )
            period = (story.start, trial_end)
        anchor = trial_end or story.start
        for n in range(100_000):
            start, end = period_start(anchor, n, recurring), period_start(anchor, n + 1, recurring)
            if start > now or (story.ends and start >= story.ends):
                break
            if story.downgrade and start >= story.downgrade[0]:
                price = story.downgrade[1]
            period = (start, end)
            lines = []
            for at, (this_id, this_price, quantity) in enumerate(
                [(item_id, price, story.quantity), *extras]
            ):
                amount = this_price["unit_amount"] * quantity
                lines.append(
                    self._line(
                        story,
                        sub_id,
                        this_id,
                        this_price,
                        amount,
                        period,
                        quantity=quantity,
                        discount=self._discount(story, discount_id, n, amount, first=at == 0),
                    )
                )
            if story.metered and n > 0:
                units = ledger.rng.randint(*story.usage)
                previous = (period_start(anchor, n - 1, recurring), start)
                lines.append(
                    self._line(
                        story,
                        sub_id,
                        metered_item_id,
                        story.metered,
                        units * story.metered["unit_amount"],
                        previous,
                        quantity=units,
                    )
                )
            reason = "subscription_cycle" if n or trial_end else "subscription_create"
            last = end > now or (story.ends and end >= story.ends)
            outcome = "pay"
            if last and story.failing:
                outcome = "unpaid" if story.unpaid else "fail"
            if last and story.end_reason == "payment_failed":
                outcome = ("uncollectible", story.ends)
            invoices.append(
                self._invoice(
                    story.customer, story.card, start, lines, reason, sub_id, outcome, period
                )
            )
            billed += 1
            if story.upgrade and start <= story.upgrade[0] < end:
                when, new_price = story.upgrade
                credited = (invoices[-1]["id"], [invoices[-1]["lines"]["data"][0]["id"]])
                invoices.append(
                    self.proration(story, sub_id, item_id, when, price, new_price, period, credited)
                )
                self._price_changed(story, sub_id, item_id, extras, when, price, period)
                price = new_price
        if story.downgrade and story.downgrade[0] <= now:
            old = story.price if price is story.downgrade[1] else price
            self._price_changed(story, sub_id, item_id, extras, story.downgrade[0], old, period)
            price = story.downgrade[1]

        entries = [(item_id, price, story.quantity), *extras]
        if story.metered:
            entries.append((metered_item_id, story.metered, None))
        items = self._items(story, sub_id, entries, period)
        ended = story.ends if story.ends and story.ends <= now else None
        status = "active"
        if ended:
            status = "canceled"
        elif trial_end and trial_end > now:
            status = "trialing"
        elif story.failing:
            status = "unpaid" if story.unpaid else "past_due"
        requested = story.end_reason == "cancellation_requested"
        scheduled = requested and story.at_period_end
        if scheduled and story.canceled_at and story.canceled_at <= now:
            ledger.event(
                story.canceled_at, "customer.subscription.updated", sub_id, not_canceling()
            )
        coupon_live = discount_id and not ended and self._discount(story, discount_id, billed, 1)
        return ledger.keep(
            inv.subscription(
                sub_id,
                story.start,
                story.customer["id"],
                price["currency"],
                items,
                status,
                story.start,
                anchor,
                invoices[-1]["id"] if invoices else None,
                trial_start=story.start if trial_end else None,
                trial_end=trial_end,
                cancel_at=story.ends if scheduled else None,
                canceled_at=(story.canceled_at or story.ends) if story.ends else None,
                ended_at=ended,
                cancel_at_period_end=scheduled,
                cancellation_reason=story.end_reason if story.ends else None,
                discounts=[discount_id] if coupon_live else [],
                default_payment_method=story.card["payment_method"],
                default_tax_rates=[story.tax_rate] if story.tax_rate else [],
            )
        )

    def _items(self, story, sub_id, entries, period):
        return [
            inv.subscription_item(this_id, story.start, sub_id, this_price, quantity, *period)
            for this_id, this_price, quantity in entries
        ]

    def _price_changed(self, story, sub_id, item_id, extras, when, old_price, period):
        """customer.subscription.updated for a change of the main item's price."""
        before = self._items(story, sub_id, [(item_id, old_price, story.quantity), *extras], period)
        previous = {
            "items": {
                "data": before,
                "has_more": False,
                "object": "list",
                "url": f"/v1/subscription_items?subscription={sub_id}",
            }
        }
        if when <= self.now:
            self.ledger.event(when, "customer.subscription.updated", sub_id, previous)

    def one_off(self, customer, card, price, quantity, created, voided_at=None):
        """An invoice for a one-time price, outside any subscription."""
        return self.one_off_items(customer, card, [(price, quantity)], created, voided_at)

    def one_off_items(self, customer, card, items, created, voided_at=None):
        """An invoice for one-time prices, [(price, quantity), ...], outside any subscription."""
        lines = [
            self._line(
                None, None, None, price, price["unit_amount"] * quantity, (created, created),
                quantity=quantity,
            )
            for price, quantity in items
        ]  # fmt: skip
        outcome = ("void", voided_at) if voided_at else "pay"
        return self._invoice(
            customer, card, created, lines, "manual", None, outcome, (created, created)
        )

    # Pieces

    def _discount(self, story, discount_id, n, amount, first=True):
        """The coupon's part of the `n`th period's line: a percentage off every line, an
        amount off the first line only."""
        coupon = story.coupon
        if not coupon:
            return ()
        applies = {
            "forever": True,
            "once": n == 0,
            "repeating": n < (coupon["duration_in_months"] or 0),
        }[coupon["duration"]]
        if not applies:
            return ()
        if coupon["percent_off"] is not None:
            off = int(amount * coupon["percent_off"] / 100 + 0.5)
        elif first:
            off = min(coupon["amount_off"], amount)
        else:
            return ()
        return ((discount_id, off),)

    def _line(
        self,
        story,
        sub_id,
        item_id,
        price,
        amount,
        period,
        description=None,
        quantity=None,
        discount=(),
        proration=False,
        credited=None,
    ):
        """A line item; _invoice() sets its `invoice` once the invoice has an id."""
        quantity = quantity if quantity is not None else (story.quantity if story else 1)
        product = self.products[price["product"]]
        if description is None:
            unit = money(price["unit_amount"], price["currency"])
            every = f" / {price['recurring']['interval']}" if price["recurring"] else ""
            description = f"{quantity} × {product['name']} (at {unit}{every})"
        # Prorations and one-off lines come from invoice items; plain cycle lines do not.
        invoice_item = self.ids("ii") if proration or not story else None
        taxes = ()
        if story and story.tax_rate:
            taxable = amount - sum(off for _, off in discount)
            rate = story.tax_rate
            taxes = ((rate["id"], _rounded(taxable * rate["percentage"] / 100), taxable),)
        return inv.line_item(
            self.ids("il"),
            None,
            amount,
            price["currency"],
            description,
            quantity,
            period,
            price["id"],
            product["id"],
            price["unit_amount_decimal"],
            sub_id,
            item_id,
            proration,
            credited,
            invoice_item,
            discount,
            taxes,
        )

    def proration(self, story, sub_id, item_id, when, old_price, new_price, period, credited=None):
        """The invoice Stripe issues at once for a mid-period upgrade (proration_behavior
        always_invoice): a credit for the unused time on the old price and a charge for the
        rest of the period on the new one. `credited`: (invoice id, [line ids]) credited."""
        day = short_date(when)
        fraction = (period[1] - when) / (period[1] - period[0])
        credit = -_rounded(old_price["unit_amount"] * story.quantity * fraction)
        charge = _rounded(new_price["unit_amount"] * story.quantity * fraction)
        old_name = self.products[old_price["product"]]["name"]
        new_name = self.products[new_price["product"]]["name"]
        rest = (when, period[1])
        lines = [
            self._line(
                story,
                sub_id,
                item_id,
                old_price,
                credit,
                rest,
                f"Unused time on {old_name} after {day}",
                proration=True,
                credited=credited,
            ),
            self._line(
                story,
                sub_id,
                item_id,
                new_price,
                charge,
                rest,
                f"Remaining time on {new_name} after {day}",
                proration=True,
            ),
        ]
        return self._invoice(
            story.customer,
            story.card,
            when,
            lines,
            "subscription_update",
            sub_id,
            "pay",
            (when, when),
            immediate=True,
        )

    def _invoice(
        self,
        customer,
        card,
        created,
        lines,
        billing_reason,
        sub_id,
        outcome="pay",
        period=None,
        immediate=False,
    ):
        """The invoice and what collecting it did. `outcome`: "pay", "fail" (still open, to
        be retried), "unpaid" (open, retries exhausted), ("uncollectible", when) or
        ("void", when). `immediate`: finalized at once rather than after an hour's draft."""
        ledger, now = self.ledger, self.now
        invoice_id = self.ids("in")
        for line in lines:
            line["invoice"] = invoice_id
        currency = lines[0]["currency"]
        discounts = sorted({d["discount"] for line in lines for d in line["discount_amounts"]})

        def make(status, **moments):
            return ledger.keep(
                inv.invoice(
                    invoice_id,
                    created,
                    customer["id"],
                    currency,
                    lines,
                    status,
                    billing_reason,
                    period or (created, created),
                    customer_name=customer["name"],
                    customer_email=customer["email"],
                    customer_address=customer["address"],
                    subscription=sub_id,
                    account_name=self.account_name,
                    discounts=discounts,
                    **moments,
                )
            )

        if not immediate and now - created < HOUR:  # a new invoice stays a draft for an hour
            return make("draft", automatically_finalizes_at=created + HOUR)
        finalized = created if immediate else created + HOUR
        number = f"{customer['invoice_prefix']}-{customer['next_invoice_sequence']:04d}"
        customer["next_invoice_sequence"] += 1
        total = sum(
            line["amount"]
            - sum(d["amount"] for d in line["discount_amounts"])
            + sum(t["amount"] for t in line["taxes"])
            for line in lines
        )
        if total == 0:  # nothing to collect: a trial's first invoice
            return make("paid", number=number, finalized_at=finalized, paid_at=finalized)

        description = {"subscription_create": "Subscription creation"}.get(
            billing_reason, f"Invoice {number}" if sub_id is None else "Subscription update"
        )
        kind, when = (outcome, None) if isinstance(outcome, str) else outcome
        if kind == "pay":
            intent, charge = ledger.pay(customer, total, currency, finalized, description, card)
            status, moments = "paid", dict(paid_at=charge["created"], attempt_count=1)
            payment = dict(status="paid", paid_at=charge["created"])
        elif kind == "void":
            intent = ledger.open_intent(
                customer,
                total,
                currency,
                finalized,
                description,
                card,
                "canceled",
                when,
                "void_invoice",
            )
            status, moments = "void", dict(voided_at=when)
            payment = dict(status="canceled", canceled_at=when)
        else:
            tries = attempt_times(finalized, 4, max(when or now, finalized))
            intent, _ = ledger.pay(
                customer, total, currency, tries[0], description, card, decline="insufficient_funds"
            )
            for moment in tries[1:]:
                ledger.retry(intent, customer, moment, card, "insufficient_funds")
            status = "uncollectible" if kind == "uncollectible" else "open"
            moments = dict(
                attempt_count=len(tries),
                marked_uncollectible_at=when,
                next_payment_attempt=None if when or kind == "unpaid" else tries[-1] + 3 * DAY,
            )
            payment = dict(status="open")
        ledger.keep(
            inv.invoice_payment(
                self.ids("inpay"),
                finalized,
                invoice_id,
                currency,
                total,
                payment_intent=intent["id"],
                **payment,
            )
        )
        return make(status, number=number, finalized_at=finalized, **moments)
