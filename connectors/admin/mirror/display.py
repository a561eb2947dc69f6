"""How mirrored values show on a page: amounts, dates, statuses, cards and tables."""

from datetime import UTC

from django.utils import timezone
from django.utils.formats import date_format
from django.utils.html import format_html, format_html_join

from connectors import card_access
from connectors.money import format_amount
from lumen import adminkit
from lumen.adminkit import NONE, readable

__all__ = ["NONE", "readable"]  # re-exported: the mirror's pages take them from here


def money(amount, currency):
    return nowrap(format_amount(amount, currency))


def money_if_any(amount, currency):
    """An amount, or a dash where there is none (nothing refunded, nothing remaining)."""
    return money(amount, currency) if amount else NONE


def nowrap(text):
    return format_html('<span class="lumen-nowrap">{}</span>', text)


def moment(value):
    return nowrap(date_format(timezone.localtime(value), "DATETIME_FORMAT")) if value else NONE


def day(value):
    """A Stripe date (arrival, due date): midnight UTC of the day it names."""
    return nowrap(value.astimezone(UTC).strftime("%Y-%m-%d")) if value else NONE


STATUS_TONES = {
    **dict.fromkeys(["succeeded", "paid", "active", "won", "available", "normal"], "good"),
    **dict.fromkeys(["pending", "open", "trialing", "incomplete", "in_transit"], "warn"),
    **dict.fromkeys(["under_review", "warning_under_review", "elevated"], "warn"),
    **dict.fromkeys(["failed", "past_due", "unpaid", "lost", "uncollectible"], "bad"),
    **dict.fromkeys(["needs_response", "warning_needs_response", "highest", "disputed"], "bad"),
    "draft": "info",
}


def badge(value):
    """A Stripe status, readable, in the tone it deserves."""
    return adminkit.badge(readable(value), STATUS_TONES.get(value, "quiet")) if value else NONE


CARD_BRANDS = {"amex": "Amex", "jcb": "JCB", "unionpay": "UnionPay", "eftpos_au": "eftpos",
               "cartes_bancaires": "Cartes Bancaires"}  # fmt: skip


def card(charge):
    if not charge.card_last4:
        return NONE
    if not card_access.visible():
        return nowrap(card_access.HIDDEN)
    brand = charge.card_brand
    brand = CARD_BRANDS.get(brand) or brand.replace("_", " ").title() or "Card"
    return nowrap(f"{brand} •••• {charge.card_last4}")


def table(headers, rows):
    """An HTML table of `rows` (tuples of text or safe HTML, escaped as needed)."""
    cells = ((format_html_join("", "<td>{}</td>", ((c,) for c in row)),) for row in rows)
    return format_html(
        '<table class="lumen-related"><thead><tr>{}</tr></thead><tbody>{}</tbody></table>',
        format_html_join("", "<th>{}</th>", ((h,) for h in headers)),
        format_html_join("", "<tr>{}</tr>", cells),
    )


def raw_for_page(value):
    """The raw object as the page's user may see it: never a card number or CVC, and card
    and billing details only with full access."""
    value = without_card_numbers(value)
    return value if card_access.visible() else card_access.redacted(value)


def without_card_numbers(value, in_card=False):
    """The raw object without a card's number or CVC. Stripe never sends them to an account;
    this only makes sure that a page never shows one, whatever a row holds."""
    if isinstance(value, dict):
        return {
            k: without_card_numbers(v, k == "card")
            for k, v in value.items()
            if not (in_card and k in ("number", "cvc"))
        }
    if isinstance(value, list):
        return [without_card_numbers(v) for v in value]
    return value
