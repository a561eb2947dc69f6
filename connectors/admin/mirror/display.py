"""How mirrored values show on a page: amounts, dates, statuses, cards and tables."""

from datetime import UTC

from django.utils import timezone
from django.utils.html import format_html, format_html_join

from connectors import card_access
from connectors.money import format_amount

NONE = "–"


def money(amount, currency):
    return nowrap(format_amount(amount, currency))


def money_if_any(amount, currency):
    """An amount, or a dash where there is none (nothing refunded, nothing remaining)."""
    return money(amount, currency) if amount else NONE


def nowrap(text):
    return format_html('<span style="white-space:nowrap">{}</span>', text)


def moment(value):
    return nowrap(timezone.localtime(value).strftime("%Y-%m-%d %H:%M")) if value else NONE


def day(value):
    """A Stripe date (arrival, due date): midnight UTC of the day it names."""
    return nowrap(value.astimezone(UTC).strftime("%Y-%m-%d")) if value else NONE


def words(value):
    """A Stripe enum value as words: "product_not_received" -> "product not received"."""
    return value.replace("_", " ") if value else NONE


GREEN, AMBER, RED, GREY, BLUE = "#1a7f37", "#9a6700", "#cf222e", "#6e7781", "#0969da"
STATUS_COLOURS = {
    **dict.fromkeys(["succeeded", "paid", "active", "won", "available", "normal"], GREEN),
    **dict.fromkeys(["pending", "open", "trialing", "incomplete", "in_transit"], AMBER),
    **dict.fromkeys(["under_review", "warning_under_review", "elevated"], AMBER),
    **dict.fromkeys(["failed", "past_due", "unpaid", "lost", "uncollectible"], RED),
    **dict.fromkeys(["needs_response", "warning_needs_response", "highest", "disputed"], RED),
    "draft": BLUE,
}


def badge(value):
    if not value:
        return NONE
    return format_html(
        '<span style="color:{};border:1px solid currentColor;border-radius:4px;'
        'padding:0 5px;font-size:11px;font-weight:600;white-space:nowrap">{}</span>',
        STATUS_COLOURS.get(value, GREY),
        value.replace("_", " "),
    )


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
    cells = (
        (format_html_join("", '<td style="vertical-align:middle">{}</td>', ((c,) for c in row)),)
        for row in rows
    )
    return format_html(
        '<table style="width:100%"><thead><tr>{}</tr></thead><tbody>{}</tbody></table>',
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
