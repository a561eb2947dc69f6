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
# The ISO 4217 currencies in use. Lumen formats these; an amount in any other code is shown
# as the integer Stripe sent, and reports name the currency in their warnings, rather than
# guess where its decimal point goes.
KNOWN = frozenset(
    """aed afn all amd ang aoa ars aud awg azn bam bbd bdt bgn bhd bif bmd bnd bob brl bsd btn
    bwp byn bzd cad cdf chf clp cny cop crc cup cve czk djf dkk dop dzd egp ern etb eur fjd fkp
    gbp gel ghs gip gmd gnf gtq gyd hkd hnl htg huf idr ils inr iqd irr isk jmd jod jpy kes kgs
    khr kmf kpw krw kwd kyd kzt lak lbp lkr lrd lsl lyd mad mdl mga mkd mmk mnt mop mru mur mvr
    mwk mxn myr mzn nad ngn nio nok npr nzd omr pab pen pgk php pkr pln pyg qar ron rsd rub rwf
    sar sbd scr sdg sek sgd shp sle sll sos srd ssp stn svc syp szl thb tjs tmt tnd top try ttd
    twd tzs uah ugx usd uyu uzs ves vnd vuv wst xaf xcd xcg xof xpf yer zar zmw zwg zwl""".split()  # noqa: SIM905
)

NO_AMOUNT = "–"


def decimals(currency):
    """How many digits of an amount in `currency` come after the decimal point."""
    currency = (currency or "").lower()
    if currency in ZERO_DECIMAL:
        return 0
    if currency in THREE_DECIMAL:
        return 3
    return 2


def is_known(currency):
    return (currency or "").lower() in KNOWN


def format_amount(amount, currency):
    """123456, "usd" -> "1,234.56 USD"; None -> "–"; a currency Lumen does not know ->
    "123456 XYZ (minor units)", never a guessed decimal point."""
    if amount is None:
        return NO_AMOUNT
    amount = int(amount)
    if not is_known(currency):
        return f"{amount} {(currency or '').upper()} (minor units)".replace("  ", " ")
    places = decimals(currency)
    units, fraction = divmod(abs(amount), 10**places)
    number = f"{units:,}" + (f".{fraction:0{places}d}" if places else "")
    sign = "-" if amount < 0 else ""
    code = (currency or "").upper()
    return f"{sign}{number} {code}".rstrip()


def plain_amount(amount, currency):
    """123456, "usd" -> "1234.56": exact, without separators, for a spreadsheet cell. A
    currency Lumen does not know keeps the integer (in its minor unit)."""
    if amount is None:
        return ""
    amount = int(amount)
    if not is_known(currency):
        return str(amount)
    places = decimals(currency)
    units, fraction = divmod(abs(amount), 10**places)
    sign = "-" if amount < 0 else ""
    return f"{sign}{units}" + (f".{fraction:0{places}d}" if places else "")


def format_totals(totals):
    """{"usd": 150000, "jpy": 5000} -> "5,000 JPY · 1,500.00 USD" (one figure per currency,
    never a sum across them); an empty mapping -> "–"."""
    if not totals:
        return NO_AMOUNT
    return " · ".join(format_amount(totals[c], c) for c in sorted(totals))
