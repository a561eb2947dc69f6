"""What every report document shares: its header, how times and rates are written, and the
warnings that name the records they are about."""

from datetime import UTC
from decimal import ROUND_HALF_UP, Decimal

from connectors.money import is_known
from reports import citations

EXAMPLES = 5  # record ids a warning names; the rest are one click away in the citations


def iso(moment):
    """An aware datetime as ISO 8601 UTC: "2026-11-22T09:00:00Z"."""
    if moment is None:
        return None
    return moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def header(kind, connection, now, data_as_of):
    return {
        "kind": kind,
        "connection": connection.name,
        "generated_at": iso(now),
        "data_as_of": iso(data_as_of),
    }


def rate(numerator, denominator):
    """numerator / denominator rounded half up to 4 decimals; None when the divisor is 0."""
    if not denominator:
        return None
    exact = Decimal(numerator) / Decimal(denominator)
    return float(exact.quantize(Decimal("0.0001"), rounding=ROUND_HALF_UP))


def cited_warnings(run_id, figures, messages):
    """The warnings a kind cited records for (line "warnings", figure = the warning's code),
    each as its message with the count and the first ids."""
    found = []
    for code, message in messages.items():
        figure = figures.get((citations.WARNINGS, code))
        if figure is None:
            continue
        ids = [i for i, _ in citations.records(run_id, citations.WARNINGS, code, EXAMPLES)]
        more = f" and {figure.count - len(ids):,} more" if figure.count > len(ids) else ""
        found.append(f"{message.format(count=figure.count)}: {', '.join(ids)}{more}.")
    return found


def currency_warnings(currencies):
    return [
        f"{c.upper()} is not a currency Lumen knows how to format: its amounts are the "
        f"integers Stripe sent, in its minor unit."
        for c in sorted(set(currencies))
        if not is_known(c)
    ]
