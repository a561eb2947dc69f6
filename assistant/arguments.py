"""The arguments several tools share: which connection, which days, and pages of a list.

Each is typed for the SDK (Annotated with a description the model reads) and checked here
with a message the model can act on: a wrong argument is refused (calls.refuse) before
anything is read.
"""

import base64
import binascii
import json
from datetime import date, datetime, timedelta
from typing import Annotated

from django.utils.dateparse import parse_datetime
from pydantic import Field

from assistant.calls import current, refuse
from connectors.models import StripeConnection
from reports.periods import start_of

DEFAULT_LIMIT = 20
LIMIT_CAP = 100

ConnectionName = Annotated[
    str | None,
    Field(
        description="The name of a connection (a Stripe account; see list_connections). "
        "Omit it to look in every connection."
    ),
]
Limit = Annotated[
    int,
    Field(
        ge=1,
        le=LIMIT_CAP,
        description=f"How many to return, newest first: 1 to {LIMIT_CAP}. For more, call "
        "again with the answer's next_cursor.",
    ),
]
Cursor = Annotated[
    str | None,
    Field(
        description="The next_cursor of the previous answer, to get the page after it. "
        "Omit it for the newest."
    ),
]
DateFrom = Annotated[
    date | None,
    Field(description="The first day included (YYYY-MM-DD), in Lumen's reporting time zone."),
]
DateTo = Annotated[
    date | None,
    Field(description="The last day included (YYYY-MM-DD), in Lumen's reporting time zone."),
]


def connections(name):
    """{id: name} of the connection named (all of them for None); refuses an unknown name,
    naming the ones there are. A single connection becomes the call's, for the audit log."""
    if name is not None:
        chosen = connection(name)
        return {chosen.pk: chosen.name}
    known = dict(StripeConnection.objects.order_by("name").values_list("pk", "name"))
    if len(known) == 1:
        current().connection = StripeConnection.objects.only("pk", "name").get()
    return known


def connection(name):
    """The StripeConnection named, for the tools that need exactly one: one query, and its
    key left encrypted (deferred), as no tool uses it."""
    found = StripeConnection.objects.defer("secret_key").filter(name=name).first()
    if found is None:
        names = StripeConnection.objects.order_by("name").values_list("name", flat=True)
        raise refuse(
            f"There is no connection named {name!r}. The connections are: "
            f"{', '.join(names) or 'none yet'} (list_connections describes them)."
        )
    current().connection = found
    return found


def days(date_from, date_to):
    """The period [date_from 00:00, date_to 24:00) in the reporting time zone, as the
    reports count it; either end may be open (None)."""
    if date_from and date_to and date_from > date_to:
        raise refuse(
            f"date_from {date_from} is after date_to {date_to}: the range is inverted. Swap "
            "them (both days are included)."
        )
    start = start_of(date_from) if date_from else None
    end = start_of(date_to + timedelta(days=1)) if date_to else None
    return start, end


def within(queryset, field, start, end):
    if start:
        queryset = queryset.filter(**{f"{field}__gte": start})
    if end:
        queryset = queryset.filter(**{f"{field}__lt": end})
    return queryset


def newest_first(queryset, limit, cursor, field="created"):
    """A page of `queryset`, newest first by `field` (ties by id), and the cursor of the
    next page (None on the last). The cursor is the last row's (field, id): a page reads
    the same whatever was added since the first one, and costs an index range, not an
    OFFSET over everything before it."""
    queryset = queryset.filter(**{f"{field}__isnull": False}).order_by(f"-{field}", "-pk")
    if cursor:
        moment, pk = decoded(cursor)
        queryset = queryset.filter(**{f"{field}__lte": moment}).exclude(
            **{field: moment, "pk__gte": pk}
        )
    rows = list(queryset[: limit + 1])
    if len(rows) <= limit:
        return rows, None
    rows = rows[:limit]
    last = rows[-1]
    return rows, encoded(getattr(last, field), last.pk)


def encoded(moment, pk):
    text = json.dumps([current().tool, moment.isoformat(), pk])
    return base64.urlsafe_b64encode(text.encode()).decode().rstrip("=")


def decoded(cursor):
    """(moment, id) of a cursor this tool handed out; refuses anything else."""
    try:
        padded = cursor + "=" * (-len(cursor) % 4)
        tool, moment, pk = json.loads(base64.urlsafe_b64decode(padded.encode()))
        moment = parse_datetime(moment)
        if tool != current().tool or not isinstance(moment, datetime) or not isinstance(pk, int):
            raise ValueError(cursor)
    except (ValueError, TypeError, binascii.Error, UnicodeDecodeError):
        raise refuse(
            "That cursor is not a next_cursor this tool returned. Pass the next_cursor of "
            "this tool's previous answer, or omit it to start from the newest."
        ) from None
    return moment, pk
