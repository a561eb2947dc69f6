"""A mirror list as CSV: the rows staff are looking at (filtered, searched, or a report's
citations), every typed column, streamed as they are read and recorded on the audit log."""

import csv

from django.http import StreamingHttpResponse
from django.utils import timezone

from audit.recorder import Actor, record
from connectors import card_access
from lumen.spreadsheet import text_cell

CHUNK = 2000


class _Echo:
    def write(self, value):
        return value


def columns_of(model, card_details=False):
    """The typed columns: every concrete field but the raw object and the row's own id, and
    card details only for a user with full access."""
    left_out = {"id", "raw", "connection"} | (set() if card_details else card_access.COLUMNS)
    return [f.attname for f in model._meta.concrete_fields if f.name not in left_out]


def rows(model, queryset, card_details=False):
    writer = csv.writer(_Echo())
    names = columns_of(model, card_details)
    yield writer.writerow(["connection", *names])
    for values in queryset.values_list("connection__name", *names).iterator(chunk_size=CHUNK):
        yield writer.writerow([cell(v) for v in values])


def cell(value):
    if value is None:
        return ""
    if isinstance(value, str):
        return text_cell(value)
    if hasattr(value, "isoformat"):
        return value.isoformat()
    return value


def streamed(request, model, queryset):
    filters = {k: v[0] if len(v) == 1 else v for k, v in request.GET.lists() if k != "p"}
    record(
        actor=Actor.user(request.user),
        operation="mirror.exported",
        origin="admin",
        resource_type=model.resource,
        params={
            "filters": filters,
            "format": "csv",
            "card_details": card_access.allowed(request.user),
        },
    )
    # Decided here, with the request: the rows are written after this view has returned.
    card_details = card_access.allowed(request.user)
    response = StreamingHttpResponse(
        rows(model, queryset, card_details), content_type="text/csv; charset=utf-8"
    )
    filename = f"{model.resource}-{timezone.now():%Y-%m-%d}.csv"
    response["Content-Disposition"] = f'attachment; filename="{filename}"'
    return response
