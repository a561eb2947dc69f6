"""Report periods: calendar dates in the reporting time zone, resolved from what was asked.

A run keeps its parameters as asked ({"from": "2026-10-01", "to": "2026-10-31"},
{"months": 6}, {"days": 30} or {} for the kind's default), so that running it again asks the
same question of fresh data; `resolve()` turns them into dates on the day it runs.
"""

from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from zoneinfo import ZoneInfo

from django.conf import settings

NEEDS_NO_PERIOD = {"disputes"}
# The periods people pick in the admin and schedules, as the parameters a run keeps: rolling,
# so that "Run again" and each firing of a schedule ask about the days of their own time.
PRESETS = {
    "last_7_days": ("Last 7 days", {"days": 7}),
    "last_30_days": ("Last 30 days", {"days": 30}),
    "this_month": ("This month", {"months": 1}),
    "last_month": ("Last month", {"previous_months": 1}),
    "last_6_months": ("Last 6 months", {"months": 6}),
}
DEFAULTS = {"revenue": {"days": 30}, "payouts": {"days": 30}, "mrr": {"months": 6}}
MAX_MONTHS = 120  # ten years of months: far beyond any question, short of a runaway query


class BadParameters(ValueError):
    """What was asked cannot be answered; the message says why, for the person who asked."""


@dataclass(frozen=True)
class Period:
    first: date  # both days included
    last: date

    def start(self, tz=None):
        """The first instant of the period (aware, UTC)."""
        return start_of(self.first, tz)

    def end(self, tz=None):
        """The first instant after the period (aware, UTC)."""
        return start_of(self.last + timedelta(days=1), tz)

    def months(self):
        """The calendar months the period touches, as (year, month), in order."""
        months, (year, month) = [], (self.first.year, self.first.month)
        while (year, month) <= (self.last.year, self.last.month):
            months.append((year, month))
            year, month = (year + 1, 1) if month == 12 else (year, month + 1)
        return months

    def as_dict(self):
        return {"from": self.first.isoformat(), "to": self.last.isoformat()}


def report_timezone():
    return ZoneInfo(settings.LUMEN_REPORT_TIMEZONE)


def start_of(day, tz=None):
    """00:00 of `day` in the reporting time zone, as an aware UTC datetime."""
    return datetime.combine(day, time(0), tzinfo=tz or report_timezone()).astimezone(UTC)


def today(now, tz=None):
    return now.astimezone(tz or report_timezone()).date()


def add_months(year, month, count):
    index = year * 12 + (month - 1) + count
    return index // 12, index % 12 + 1


def month_start(year, month, tz=None):
    return start_of(date(year, month, 1), tz)


def parse_date(value, name):
    try:
        return date.fromisoformat(value)
    except (TypeError, ValueError):
        raise BadParameters(f"--{name} takes a date as YYYY-MM-DD, not {value!r}.") from None


def describe(parameters):
    """The parameters as people say them: "Last 30 days", "2026-10-01 to 2026-10-31"."""
    for label, preset in PRESETS.values():
        if parameters == preset:
            return label
    if "from" in parameters:
        return f"{parameters['from']} to {parameters['to']}"
    if "months" in parameters:
        return f"Last {parameters['months']} months"
    if "days" in parameters:
        return f"Last {parameters['days']} days"
    if "previous_months" in parameters:
        return f"The {parameters['previous_months']} months before this one"
    return "Default period"


def parameters_from(kind, date_from=None, date_to=None, months=None, days=None):
    """The parameters of a run from what a person typed (command options, form fields).
    Raises BadParameters, naming what is wrong, before anything is created."""
    asked = {"from": date_from, "to": date_to, "months": months, "days": days}
    given = {k: v for k, v in asked.items() if v not in (None, "")}
    if kind in NEEDS_NO_PERIOD:
        if given:
            raise BadParameters(f"The {kind} report takes no period: it shows what is open now.")
        return {}
    if ("from" in given) != ("to" in given):
        raise BadParameters("Give both --from and --to, or neither.")
    if "from" in given and ({"months", "days"} & set(given)):
        raise BadParameters("Give either --from and --to, or --months, not both.")
    if "months" in given and "days" in given:
        raise BadParameters("Give either --months or --days, not both.")
    parameters = {}
    if "from" in given:
        first, last = parse_date(given["from"], "from"), parse_date(given["to"], "to")
        if first > last:
            raise BadParameters(f"--from {first} is after --to {last}: the range is inverted.")
        parameters = {"from": first.isoformat(), "to": last.isoformat()}
    for name in ("months", "days"):
        if name in given:
            count = given[name]
            if isinstance(count, str):
                count = int(count) if count.strip().lstrip("-").isdigit() else None
            limit = MAX_MONTHS if name == "months" else MAX_MONTHS * 31
            if not isinstance(count, int) or not 1 <= count <= limit:
                raise BadParameters(f"--{name} takes a whole number from 1 to {limit}.")
            parameters = {name: count}
    return parameters


def resolve(kind, parameters, now):
    """The Period that `parameters` mean for a run at `now` (None for a kind without one).
    Raises BadParameters for parameters that cannot be resolved."""
    if kind in NEEDS_NO_PERIOD:
        return None
    parameters = parameters or DEFAULTS[kind]
    current = today(now)
    if "from" in parameters:
        first = parse_date(parameters["from"], "from")
        last = parse_date(parameters.get("to"), "to")
        if first > last:
            raise BadParameters(f"--from {first} is after --to {last}: the range is inverted.")
        if first > current:
            raise BadParameters(f"--from {first} is in the future: there is nothing to report.")
        if len(Period(first, last).months()) > MAX_MONTHS:
            raise BadParameters(f"The period spans more than {MAX_MONTHS} months.")
        return Period(first, last)
    if "months" in parameters:
        count = int(parameters["months"])
        year, month = add_months(current.year, current.month, -(count - 1))
        end_year, end_month = add_months(current.year, current.month, 1)
        return Period(date(year, month, 1), date(end_year, end_month, 1) - timedelta(days=1))
    if "days" in parameters:
        return Period(current - timedelta(days=int(parameters["days"]) - 1), current)
    if "previous_months" in parameters:
        year, month = add_months(current.year, current.month, -int(parameters["previous_months"]))
        return Period(
            date(year, month, 1), date(current.year, current.month, 1) - timedelta(days=1)
        )
    raise BadParameters(f"Parameters not understood: {parameters!r}.")
