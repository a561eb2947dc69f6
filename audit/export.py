"""The audit log as CSV, streamed: memory stays flat however many rows are exported.

One generator, `csv_records`, serves the admin's export button and `manage.py audit_export`.
It reads `values_list(...).iterator()` in chunks (a server-side cursor on PostgreSQL) and
never builds model instances or the whole file.

Cells are written the same way in every audit export, this one and django-import-export's
`manage.py export` (CSV, XLSX...) through `AuditEventResource` (`cell`): times in ISO 8601
UTC, `params` as compact JSON, and text that a spreadsheet would run as a formula (starting
with = + - @, a tab or a carriage return) prefixed with a single quote.
"""

import csv
import json
from datetime import UTC

from import_export import resources

from audit.models import AuditEvent
from lumen.spreadsheet import FORMULA_START, text_cell

# Every field: those the hash chain covers, and the hash, so an export can be checked.
COLUMNS = ("id", *AuditEvent.CHAINED_FIELDS, "chain_hash")

CHUNK_SIZE = 2000

_as_json = json.JSONEncoder(sort_keys=True, separators=(",", ":"), ensure_ascii=False).encode


def time_cell(value):
    return value.astimezone(UTC).isoformat()


def json_cell(value):
    return text_cell(_as_json(value))


def _kind(name):
    return AuditEvent._meta.get_field(name).get_internal_type()


TIME_COLUMNS = [n for n in COLUMNS if _kind(n) == "DateTimeField"]
JSON_COLUMNS = [n for n in COLUMNS if _kind(n) == "JSONField"]
TEXT_COLUMNS = [n for n in COLUMNS if _kind(n) in ("CharField", "TextField")]
CONVERTERS = {
    **dict.fromkeys(TIME_COLUMNS, time_cell),
    **dict.fromkeys(JSON_COLUMNS, json_cell),
    **dict.fromkeys(TEXT_COLUMNS, text_cell),
}


def cell(name, value):
    """One exported cell of column `name`. None becomes an empty cell."""
    if value is None:
        return ""
    convert = CONVERTERS.get(name)
    return convert(value) if convert else value


class AuditEventResource(resources.ModelResource):
    """django-import-export's view of the log, for its `export` command (audit/management/
    commands/export.py): every column, cells as in the streaming CSV.

    The cells are formatted here rather than by the widgets: django-import-export 4.4.3's own
    IMPORT_EXPORT_ESCAPE_FORMULAE_ON_EXPORT only strips a leading "=" and leaves + - @
    formulas in place.
    """

    class Meta:
        model = AuditEvent
        fields = COLUMNS
        export_order = COLUMNS

    def export_resource(self, instance, selected_fields=None, **kwargs):
        return [
            cell(field.attribute, field.get_value(instance))
            for field in self.get_export_fields(selected_fields)
        ]


class _Echo:
    """A file-like object whose write() returns what it was given, for csv.writer."""

    def write(self, value):
        return value


def csv_records(queryset):
    """Yield the CSV text of a header row, then of each event of `queryset`, one per row.

    Does what `cell` does to each value, inlined: this loop runs once per cell of millions
    of rows, and a function call per cell would double its time.
    """
    writer = csv.writer(_Echo())
    yield writer.writerow(COLUMNS)
    texts = [COLUMNS.index(n) for n in TEXT_COLUMNS]
    times = [COLUMNS.index(n) for n in TIME_COLUMNS]
    jsons = [COLUMNS.index(n) for n in JSON_COLUMNS]
    formula_start = "".join(FORMULA_START)
    for row in queryset.values_list(*COLUMNS).iterator(chunk_size=CHUNK_SIZE):
        row = list(row)
        for i in texts:
            value = row[i]
            if value and value[0] in formula_start:
                row[i] = "'" + value
        for i in times:
            if row[i] is not None:
                row[i] = row[i].astimezone(UTC).isoformat()
        for i in jsons:
            if row[i] is not None:
                row[i] = json_cell(row[i])
        yield writer.writerow(row)


def in_blocks(pieces, size=64 * 1024):
    """Join small strings into blocks of about `size` characters, for a streaming response."""
    block, length = [], 0
    for piece in pieces:
        block.append(piece)
        length += len(piece)
        if length >= size:
            yield "".join(block)
            block, length = [], 0
    if block:
        yield "".join(block)


def write_csv(queryset, out):
    """Write the CSV of `queryset` to the text file `out`; return the number of events."""
    rows = -1  # the header is not an event
    for rows, record in enumerate(csv_records(queryset)):  # noqa: B007
        out.write(record)
    return rows
