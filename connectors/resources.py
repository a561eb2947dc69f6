"""The Stripe resources Lumen reads, in one table.

The door, the key verification, the emulator and the README's permission list all read this
table, so a resource is added in one place. `permission` is the name Stripe uses in a 403
("Having the 'rak_charge_read' permission would allow this request"); `grant` is how the same
permission reads in the dashboard's restricted-key form.
"""

from dataclasses import dataclass


@dataclass(frozen=True)
class Resource:
    name: str  # URL segment under /v1/, and the name used throughout Lumen
    object: str  # the `object` field of what Stripe returns
    permission: str
    grant: str
    is_list: bool = True


RESOURCES = (
    Resource("customers", "customer", "rak_customer_read", "Customers: Read"),
    Resource("charges", "charge", "rak_charge_read", "Charges: Read"),
    Resource("refunds", "refund", "rak_refund_read", "Refunds: Read"),
    Resource(
        "payment_intents", "payment_intent", "rak_payment_intent_read", "PaymentIntents: Read"
    ),  # noqa: E501
    Resource("invoices", "invoice", "rak_invoice_read", "Invoices: Read"),
    Resource("invoice_payments", "invoice_payment", "rak_invoice_read", "Invoices: Read"),
    Resource("subscriptions", "subscription", "rak_subscription_read", "Subscriptions: Read"),
    Resource("products", "product", "rak_product_read", "Products: Read"),
    Resource("prices", "price", "rak_plan_read", "Prices: Read"),
    Resource("coupons", "coupon", "rak_coupon_read", "Coupons: Read"),
    Resource(
        "promotion_codes", "promotion_code", "rak_promotion_code_read", "Promotion codes: Read"
    ),  # noqa: E501
    Resource("disputes", "dispute", "rak_dispute_read", "Disputes: Read"),
    Resource("balance", "balance", "rak_balance_read", "Balance: Read", is_list=False),
    Resource("balance_transactions", "balance_transaction", "rak_balance_read", "Balance: Read"),
    Resource("payouts", "payout", "rak_payout_read", "Payouts: Read"),
    Resource("events", "event", "rak_event_read", "Events: Read"),
)

BY_NAME = {r.name: r for r in RESOURCES}
BY_PERMISSION = {}
for _r in RESOURCES:
    BY_PERMISSION.setdefault(_r.permission, _r)

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
