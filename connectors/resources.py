"""The Stripe resources Lumen reads, in one table.

The door, the key verification, the emulator, the README's permission list, the sync and the
mirror's models all read this table, so a resource is added in one place: a row here, and
for a kind the sync mirrors, one model in connectors.models.mirror naming it. `permission`
is the name Stripe uses in a 403 ("Having the 'rak_charge_read' permission would allow this
request"); `grant` is how the same permission reads in the dashboard's restricted-key form.
"""

from dataclasses import dataclass, field

# How the first sync (the backfill) reads a kind: the history asked for (money movements,
# LUMEN_SYNC_HISTORY_DAYS or --since), or all of it whatever its age (what describes the
# account's present: a subscription from three years ago may still be billing).
HISTORY = "history"
WHOLE = "whole"


@dataclass(frozen=True)
class Child:
    """Objects that arrive inside another's list field, stored as a kind of their own."""

    name: str  # the mirror's name for the kind (its model's `resource`)
    object: str  # the `object` field Stripe gives them
    field: str  # the parent's list field that holds them
    parent: str  # their own field naming the parent, filled in where Stripe leaves it out
    # Where the rest of them is listed when the parent holds only the first page ("{id}" is
    # the parent's id), or "" when the parent always holds them all.
    rest: str = ""


@dataclass(frozen=True)
class Resource:
    name: str  # URL segment under /v1/, and the name used throughout Lumen
    object: str  # the `object` field of what Stripe returns
    permission: str
    grant: str
    is_list: bool = True
    backfill: str = ""  # HISTORY or WHOLE for a kind the backfill reads; "" otherwise
    params: dict = field(default_factory=dict, hash=False)  # asked of every list of it
    children: tuple = ()


# In the order the backfill reads them, so that what a later kind points at is usually there
# already.
RESOURCES = (
    Resource("products", "product", "rak_product_read", "Products: Read", backfill=WHOLE),
    Resource("prices", "price", "rak_plan_read", "Prices: Read", backfill=WHOLE),
    Resource("coupons", "coupon", "rak_coupon_read", "Coupons: Read", backfill=WHOLE),
    Resource(
        "promotion_codes",
        "promotion_code",
        "rak_promotion_code_read",
        "Promotion codes: Read",
        backfill=WHOLE,
    ),
    Resource("customers", "customer", "rak_customer_read", "Customers: Read", backfill=WHOLE),
    Resource(
        "subscriptions",
        "subscription",
        "rak_subscription_read",
        "Subscriptions: Read",
        backfill=WHOLE,
        # Without it, Stripe leaves canceled subscriptions out of the list, and churn with them.
        params={"status": "all"},
        children=(Child("subscription_items", "subscription_item", "items", "subscription"),),
    ),
    # Invoices are read whatever their age too: MRR at a month's start is set by the latest
    # invoice of each subscription, which for a plan billed every year (or three) is older
    # than any history window, and telling a new customer from a returning one looks 12
    # months further back than the months shown.
    Resource(
        "invoices",
        "invoice",
        "rak_invoice_read",
        "Invoices: Read",
        backfill=WHOLE,
        children=(Child("invoice_lines", "line_item", "lines", "invoice", "invoices/{id}/lines"),),
    ),
    Resource(
        "invoice_payments",
        "invoice_payment",
        "rak_invoice_read",
        "Invoices: Read",
        backfill=HISTORY,
    ),
    Resource(
        "payment_intents",
        "payment_intent",
        "rak_payment_intent_read",
        "PaymentIntents: Read",
        backfill=HISTORY,
    ),
    Resource("charges", "charge", "rak_charge_read", "Charges: Read", backfill=HISTORY),
    Resource("refunds", "refund", "rak_refund_read", "Refunds: Read", backfill=HISTORY),
    Resource("disputes", "dispute", "rak_dispute_read", "Disputes: Read", backfill=HISTORY),
    Resource(
        "balance_transactions",
        "balance_transaction",
        "rak_balance_read",
        "Balance: Read",
        backfill=HISTORY,
    ),
    Resource("payouts", "payout", "rak_payout_read", "Payouts: Read", backfill=HISTORY),
    # Read by every sync, not by the backfill: the balance as it is now, and the events that
    # bring the mirror up to date after the backfill.
    Resource("balance", "balance", "rak_balance_read", "Balance: Read", is_list=False),
    Resource("events", "event", "rak_event_read", "Events: Read"),
)

BY_NAME = {r.name: r for r in RESOURCES}
BY_PERMISSION = {}
for _r in RESOURCES:
    BY_PERMISSION.setdefault(_r.permission, _r)

# What the backfill reads, in order, and every kind the mirror keeps (with the objects that
# arrive inside others): name -> the `object` field Stripe gives it.
BACKFILL = tuple(r for r in RESOURCES if r.backfill)
MIRRORED = {kind.name: kind.object for r in BACKFILL for kind in (r, *r.children)}
CHILDREN = {r.name: r.children for r in BACKFILL if r.children}

# The account itself: read on verify to learn the account's id and name. Stripe grants no
# restricted key the right to read it (there is no such permission); the 403 still names the
# account's id, and invoices carry the account's name.
ACCOUNT = Resource("account", "account", "", "", is_list=False)


def resource_of_path(path):
    """'/v1/charges/ch_1' -> ('charges', 'ch_1'); '/v1/invoices/in_1/lines' -> ('invoices', 'in_1')

    The first segment after /v1 names the resource, the second the object."""
    parts = [p for p in path.split("/") if p]
    if parts and parts[0] == "v1":
        parts = parts[1:]
    if not parts:
        return "", ""
    return parts[0], parts[1] if len(parts) > 1 else ""
