"""Where a mirrored object opens: its page in Stripe's dashboard, and its page here, by
admin id or by Stripe id (resolved when clicked, so that a list needs no query per link)."""

from functools import lru_cache

from django.urls import get_script_prefix, get_urlconf, reverse
from django.utils.html import format_html
from django.utils.http import urlencode

from connectors.admin.mirror.display import NONE
from connectors.models import (
    BalanceTransaction,
    Charge,
    Customer,
    Dispute,
    Invoice,
    PaymentIntent,
    Payout,
    Refund,
    Subscription,
)

# Where an object opens in Stripe's dashboard: (dashboard path, the field holding the id to
# open). Refunds and disputes have no page of their own that we are sure of: both are shown
# on their payment's page, /payments/<charge id>.
DASHBOARD = "https://dashboard.stripe.com/"
DASHBOARD_PAGES = {
    "customers": ("customers", "stripe_id"),
    "charges": ("payments", "stripe_id"),
    "payment_intents": ("payments", "stripe_id"),
    "refunds": ("payments", "charge"),
    "disputes": ("payments", "charge"),
    "subscriptions": ("subscriptions", "stripe_id"),
    "invoices": ("invoices", "stripe_id"),
    "invoice_payments": ("invoices", "invoice"),
    "invoice_lines": ("invoices", "invoice"),
    "subscription_items": ("subscriptions", "subscription"),
    "payouts": ("payouts", "stripe_id"),
    "products": ("products", "stripe_id"),
    "prices": ("prices", "stripe_id"),
    "coupons": ("coupons", "stripe_id"),
    "promotion_codes": ("promotion_codes", "stripe_id"),
}
# A balance transaction opens as what it records, when that has a page.
DASHBOARD_PATH_OF_PREFIX = {"ch_": "payments", "py_": "payments", "po_": "payouts"}


def dashboard_url(livemode, page, object_id):
    if not object_id:
        return None
    return f"{DASHBOARD}{'' if livemode else 'test/'}{page}/{object_id}"


def dashboard_url_of(obj):
    if isinstance(obj, BalanceTransaction):
        page = next(
            (p for prefix, p in DASHBOARD_PATH_OF_PREFIX.items() if obj.source.startswith(prefix)),
            None,
        )
        return dashboard_url(obj.livemode, page, obj.source) if page else None
    page, field = DASHBOARD_PAGES[obj.resource]
    return dashboard_url(obj.livemode, page, getattr(obj, field))


def stripe_link(obj, text="View in Stripe"):
    url = dashboard_url_of(obj)
    if not url:
        return NONE
    return format_html(
        '<a href="{}" target="_blank" rel="noopener noreferrer" class="lumen-nowrap">{} ↗</a>',
        url,
        text,
    )


# Mirrored objects by the prefix of their id, for fields that may hold several kinds.
MODEL_OF_PREFIX = {
    "cus_": Customer,
    "ch_": Charge,
    "py_": Charge,
    "pi_": PaymentIntent,
    "re_": Refund,
    "pyr_": Refund,
    "du_": Dispute,
    "dp_": Dispute,
    "po_": Payout,
    "in_": Invoice,
    "sub_": Subscription,
    "txn_": BalanceTransaction,
}


def model_of(stripe_id):
    return next((m for p, m in MODEL_OF_PREFIX.items() if stripe_id.startswith(p)), None)


def mirror_link(model, connection_id, stripe_id, label=None):
    """A link to the page of the mirrored object `stripe_id` (found when clicked)."""
    if not stripe_id:
        return NONE
    if model is None:
        return stripe_id
    url = reverse(
        f"admin:connectors_{model._meta.model_name}_by_stripe_id",
        args=[connection_id, stripe_id],
    )
    return format_html('<a href="{}">{}</a>', url, label or stripe_id)


def change_link(obj, label=None):
    url = reverse(f"admin:connectors_{obj._meta.model_name}_change", args=[obj.pk])
    return format_html('<a href="{}">{}</a>', url, label or obj.stripe_id)


def changelist_url(model, **params):
    name = f"admin:connectors_{model._meta.model_name}_changelist"
    return changelist_path(name, get_script_prefix(), get_urlconf()) + "?" + urlencode(params)


@lru_cache(maxsize=64)
def changelist_path(name, prefix, urlconf):
    """reverse(name), kept per script prefix and URLconf (what else it depends on): 40 µs a
    call, and a year of payouts cites 156 figures, each a link to its records (7 ms of the
    assistant's `report` at 1,000,000 charges)."""
    return reverse(name, urlconf=urlconf)
