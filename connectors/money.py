"""Amounts as people read them.

Stripe amounts are integers in the currency's minor unit: 123456 usd is 1,234.56 USD, 123456
jpy is 123,456 JPY, 123456 kwd is 123.456 KWD. Formatting happens once, at the edge (a page,
a CSV meant for people); everything before it keeps the integers. Amounts in different
currencies are never added up: totals are per currency.
"""

# Stripe's zero-decimal and three-decimal currencies (https://docs.stripe.com/currencies).
# Every other currency has two decimals in the API, including the special cases Stripe keeps
# as two-decimal for backwards compatibility (ISK, HUF, TWD).
ZERO_DECIMAL = frozenset(
    {"bif", "clp", "djf", "gnf", "jpy", "kmf", "krw", "mga",
     "pyg", "rwf", "ugx", "vnd", "vuv", "xaf", "xof", "xpf"}
)  # fmt: skip
THREE_DECIMAL = frozenset({"bhd", "jod", "kwd", "omr", "tnd"})

NO_AMOUNT = "–"


def decimals(currency):
    """How many digits of an amount in `currency` come after the decimal point."""
    currency = (currency or "").lower()
    if currency in ZERO_DECIMAL:
        return 0
    if currency in THREE_DECIMAL:
        return 3
    return 2


def format_amount(amount, currency):
    """123456, "usd" -> "1,234.56 USD"; None -> "–"."""
    if amount is None:
        return NO_AMOUNT
    amount = int(amount)
    places = decimals(currency)
    units, fraction = divmod(abs(amount), 10**places)
    number = f"{units:,}" + (f".{fraction:0{places}d}" if places else "")
    sign = "-" if amount < 0 else ""
    code = (currency or "").upper()
    return f"{sign}{number} {code}".rstrip()


def format_totals(totals):
    """{"usd": 150000, "jpy": 5000} -> "5,000 JPY · 1,500.00 USD" (one figure per currency,
    never a sum across them); an empty mapping -> "–"."""
    if not totals:
        return NO_AMOUNT
    return " · ".join(format_amount(totals[c], c) for c in sorted(totals))
