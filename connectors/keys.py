"""What a Stripe key string says about itself, before anything is sent.

Pure functions: no database, no network. Used by the admin form and the `connect` command.
"""

import re
from dataclasses import dataclass

from django.core.exceptions import ValidationError

# Stripe keys: a kind, a mode, then an opaque alphanumeric body (24 to ~100 characters today;
# the bounds are loose so that a longer future key is not refused).
KEY_PATTERN = re.compile(r"^(?P<kind>sk|rk|pk)_(?P<mode>test|live)_(?P<body>[A-Za-z0-9]{16,247})$")

SECRET = "secret"  # noqa: S105 (a key kind, not a password)
RESTRICTED = "restricted"


@dataclass(frozen=True)
class ParsedKey:
    kind: str  # SECRET or RESTRICTED
    mode: str  # "test" or "live"
    warning: str = ""


def mask(key):
    """The only form of a key that may be shown: 'rk_live_…Wxyz'."""
    if not key:
        return ""
    m = KEY_PATTERN.match(key)
    if not m:
        return "…" + key[-4:] if len(key) > 8 else "…"
    return f"{m['kind']}_{m['mode']}_…{key[-4:]}"


def parse_key(raw):
    """Validate a pasted key. Returns ParsedKey or raises ValidationError with a clear message.

    The messages never repeat the key: they end up on pages and in logs.
    """
    key = (raw or "").strip()
    if not key:
        raise ValidationError("Paste a Stripe key.", code="required")
    m = KEY_PATTERN.match(key)
    if not m:
        if key.startswith(("whsec_", "acct_")):
            raise ValidationError(
                "That is not an API key. Paste a restricted key (rk_live_… or rk_test_…) "
                "from Developers → API keys in Stripe's dashboard.",
                code="malformed",
            )
        raise ValidationError(
            "That does not look like a Stripe API key: a key starts with rk_live_, rk_test_, "
            "sk_live_ or sk_test_ followed by letters and digits, with no spaces.",
            code="malformed",
        )
    if m["kind"] == "pk":
        raise ValidationError(
            "That is a publishable key (pk_…): it is meant for browsers and cannot read your "
            "account. Paste a restricted key (rk_…) with read permissions instead.",
            code="publishable",
        )
    if m["kind"] == "sk":
        return ParsedKey(
            SECRET,
            m["mode"],
            warning=(
                "This is a full secret key: it can also create charges, refunds and payouts. "
                "Lumen only reads, so a restricted read-only key is safer. Create one in "
                "Stripe's dashboard with these permissions: " + permissions_to_grant() + "."
            ),
        )
    return ParsedKey(RESTRICTED, m["mode"])


def permissions_to_grant():
    from connectors.resources import RESOURCES

    grants = []
    for r in RESOURCES:
        if r.grant not in grants:
            grants.append(r.grant)
    return ", ".join(grants)
