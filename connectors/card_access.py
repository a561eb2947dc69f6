"""Card details are for staff with full access.

Brand and last four, the card's fingerprint and expiry, and billing details (name, address,
email, phone) show only to a user with `connectors.view_card_details` (the "Full access"
role). Everyone else sees "•••• hidden" on pages, and exports leave the columns out. One of
the products Lumen replaces shows the last four digits only at its "Full" access level.

Pages decide from the request: the middleware below records, for the time of one request,
whether its user has full access, so that every place that renders a card (a list column, a
section of related charges, the raw object) asks `visible()` instead of being handed the
request. Outside a request (commands, tasks) card details are hidden.
"""

from contextvars import ContextVar

PERMISSION = "connectors.view_card_details"
HIDDEN = "•••• hidden"

# The typed mirror columns that hold card details (left out of exports without full access).
COLUMNS = frozenset({"card_brand", "card_last4"})

# In the raw objects: what a card (payment_method_details.card, a card source, a payment
# method's card) says about itself, and billing details wherever they are.
CARD_KEYS = frozenset({"brand", "display_brand", "last4", "dynamic_last4", "fingerprint",
                       "exp_month", "exp_year", "iin", "cardholder_name", "wallet"})  # fmt: skip
CARD_CONTAINERS = frozenset({"card", "card_present", "interac_present"})
BILLING_KEYS = frozenset({"billing_details"})
# A card source (an older charge's `source`) carries its owner's name and address inline.
CARD_SOURCE_KEYS = frozenset({"name", "address_line1", "address_line2", "address_city",
                              "address_state", "address_zip", "address_country"})  # fmt: skip

_visible = ContextVar("card_details_visible", default=False)


def allowed(user):
    return bool(user and user.is_authenticated and user.has_perm(PERMISSION))


def visible():
    return _visible.get()


class CardAccessMiddleware:
    """Sets `visible()` for the request's user, rendering included (Django renders a
    TemplateResponse inside the middleware chain)."""

    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        token = _visible.set(allowed(getattr(request, "user", None)))
        try:
            return self.get_response(request)
        finally:
            _visible.reset(token)


def redacted(value, in_card=False):
    """A raw Stripe object as a user without full access may see it: card details and
    billing details replaced by HIDDEN, the shape otherwise kept."""
    if isinstance(value, list):
        return [redacted(v) for v in value]
    if not isinstance(value, dict):
        return value
    card = in_card or value.get("object") == "card"
    hidden = CARD_KEYS | CARD_SOURCE_KEYS if value.get("object") == "card" else CARD_KEYS
    out = {}
    for key, item in value.items():
        billing = key in BILLING_KEYS and item
        if billing or (card and key in hidden and item not in (None, "")):
            out[key] = HIDDEN
        else:
            out[key] = redacted(item, key in CARD_CONTAINERS)
    return out
