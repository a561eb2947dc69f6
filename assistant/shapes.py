"""What the tools answer with: typed records an assistant can cite.

Every record carries its Stripe id and two links (its page in Lumen's admin, its page in
Stripe's dashboard), so that an answer can say where each figure comes from. Money is the
integer Stripe sent, in the currency's minor unit, with the same amount as people read it
(connectors.money, the one place amounts are formatted): a model that adds amounts adds the
integers, and never across currencies.
"""

from datetime import UTC, date, datetime
from typing import Any

from django.conf import settings
from django.urls import reverse
from pydantic import BaseModel, Field

from connectors import card_access
from connectors.admin.mirror.display import CARD_BRANDS
from connectors.admin.mirror.links import dashboard_url_of
from connectors.money import format_amount


class Answer(BaseModel):
    """A tool's answer. `record_count()` is what the audit log records as returned."""

    def record_count(self):
        return 1


class Money(BaseModel):
    amount: int = Field(description="In the currency's minor unit: 1234 usd is 12.34 USD.")
    currency: str = Field(description="Lower-case ISO code, as Stripe writes it.")
    formatted: str = Field(description="As people read it, e.g. '12.34 USD'.")


class Links(BaseModel):
    admin: str = Field(description="The record's page in Lumen's admin.")
    dashboard: str | None = Field(description="The record's page in Stripe's dashboard.")


class Record(BaseModel):
    id: str = Field(description="The Stripe id: cite it.")
    connection: str = Field(description="The Lumen connection (Stripe account) it belongs to.")
    links: Links


def money(amount, currency):
    if amount is None:
        return None
    return Money(amount=amount, currency=currency, formatted=format_amount(amount, currency))


def totals(amounts):
    """{currency: amount} as a list of Money, one per currency (never summed across them)."""
    return [money(amount, currency) for currency, amount in sorted(amounts.items())]


def absolute(path):
    """A path of the admin as a link that works outside it (LUMEN_BASE_URL, as in emails)."""
    return settings.LUMEN_BASE_URL + path


def admin_url(obj):
    return absolute(
        reverse(f"admin:{obj._meta.app_label}_{obj._meta.model_name}_change", args=[obj.pk])
    )


def record(obj, connection_names):
    """The fields every mirrored record carries."""
    return {
        "id": obj.stripe_id,
        "connection": connection_names[obj.connection_id],
        "links": Links(admin=admin_url(obj), dashboard=dashboard_url_of(obj)),
    }


def moment(value):
    """An aware datetime as ISO 8601 UTC ("2026-11-22T09:00:00Z"), as report documents do."""
    return value.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ") if value else None


def day(value: datetime | None) -> date | None:
    """A Stripe date (a payout's arrival, an invoice's due date): the UTC day it names."""
    return value.astimezone(UTC).date() if value else None


def card(charge, user):
    """The card a charge was paid with, only for a user with full access (as in the admin)."""
    if not charge.card_last4:
        return None
    if not card_access.allowed(user):
        return card_access.HIDDEN
    brand = charge.card_brand
    brand = CARD_BRANDS.get(brand) or brand.replace("_", " ").title() or "Card"
    return f"{brand} •••• {charge.card_last4}"


JSON = dict[str, Any]
