"""Stripe-looking ids and calendar arithmetic for seeded data.

Ids come from a seeded RNG so the same seed always builds the same account: tests compare
two seeded stores, and a demo link pasted in a chat still opens the same charge tomorrow.
"""

import calendar
import random
import string
from datetime import UTC, datetime

ALPHABET = string.ascii_letters + string.digits
DAY = 86400
HOUR = 3600

# Stripe's ids differ in length by kind; the lengths here are the ones its dashboard shows.
ID_LENGTHS = {"cus": 14, "prod": 14, "si": 14, "acct": 16}


class IdMaker:
    def __init__(self, rng: random.Random):
        self.rng = rng
        self.issued = set()

    def __call__(self, prefix: str) -> str:
        length = ID_LENGTHS.get(prefix, 24)
        while True:
            body = "".join(self.rng.choice(ALPHABET) for _ in range(length))
            # Stripe's own ids start with a digit-letter pair such as 1P or 3Q.
            candidate = f"{prefix}_{self.rng.choice('123')}{body[1:]}"
            if candidate not in self.issued:
                self.issued.add(candidate)
                return candidate

    def token(self, length: int) -> str:
        return "".join(self.rng.choice(ALPHABET) for _ in range(length))


def day_start(ts: int) -> int:
    return ts - ts % DAY


def add_months(ts: int, months: int) -> int:
    """The same day of month and time, `months` later; clamped to the month's last day as
    Stripe does for billing anchors on the 29th-31st."""
    when = datetime.fromtimestamp(ts, UTC)
    month_index = when.month - 1 + months
    year, month = when.year + month_index // 12, month_index % 12 + 1
    day = min(when.day, calendar.monthrange(year, month)[1])
    return int(when.replace(year=year, month=month, day=day).timestamp())


def iso_date(ts: int) -> str:
    return datetime.fromtimestamp(ts, UTC).strftime("%Y-%m-%d")


def short_date(ts: int) -> str:
    """'12 Aug 2026', as Stripe writes dates in proration line descriptions."""
    when = datetime.fromtimestamp(ts, UTC)
    return f"{when.day} {when:%b %Y}"


def weekday(ts: int) -> int:
    """Monday 0 ... Sunday 6, in UTC."""
    return datetime.fromtimestamp(ts, UTC).weekday()


def add_business_days(ts: int, days: int) -> int:
    """`days` weekdays after `ts`, skipping Saturdays and Sundays (bank holidays aside)."""
    while days:
        ts += DAY
        if weekday(ts) < 5:
            days -= 1
    return ts
