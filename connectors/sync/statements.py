"""The statement that writes a page of one mirror model, built once per model.

One statement whatever the number of objects on the page, and nothing read back first:
INSERT ... ON CONFLICT (connection_id, stripe_id) DO UPDATE, where the stored version was
seen no later than this one and differs from it, RETURNING the rows it wrote. Django's
bulk_create spent most of a sync preparing each field of each row in Python (545,000 values
for 5,000 charges) and, on PostgreSQL, quoting every JSON document into an array literal.

The rows reach each database the way it reads fastest (measured on pages of 100 charges):
SQLite binds parameters in C, a value each; PostgreSQL gets the page's columns as one JSON
document that it turns into rows itself, and the objects' texts beside it (PostgresUpsert),
since psycopg parses a statement of thousands of placeholders in Python every time (4.5 s of
a 27 s sync of 5,000 charges).

The objects are serialised by orjson: the standard library's encoder took 33 µs of CPU for a
charge and 68 µs for an invoice, orjson 8 and 16, and every object the sync writes is
serialised once.

Beside it, the page's other statements, written out because the ORM took longer to build them
than the databases to run them: the unchanged rows noted as still holding (note_held) and
the lookups of rows by a list of values (rows_where_in).
"""

import functools
import operator
import sqlite3
from datetime import UTC

import orjson
from django.db import connection as db
from django.db import models


def page_cursor():
    """The cursor that writes a page, the database's own rather than Django's usual one.

    - SQLite: a plain sqlite3 cursor, given the statement with SQLite's own placeholders.
      Django's turns each %s of a statement into ? with a regular expression, 5% of a
      sync's CPU on statements of 3,000 placeholders.
    - PostgreSQL: a cursor that sends the page's document as a parameter of the statement
      (server-side binding). Django's psycopg cursor quotes parameters into the statement's
      text, and the server then read the page twice: once as SQL text, a character at a
      time, and once as JSON (1.1 of 11.4 s of the server's CPU at 20,000 charges).

    Never Django's debug cursor: with DEBUG on (development, the benches) it keeps each
    statement with its values in connection.queries, for a page its objects' JSON once
    more, which SQLite is first asked to quote value by value (7% of a sync's CPU in a
    profile), and the sync drops them after each page anyway (runner). The statements
    still pass through connection.execute_wrapper, where tests count them."""
    db.ensure_connection()
    if db.vendor == "postgresql":
        # Here, not above: it loads psycopg, which a SQLite setup does not need.
        from django.db.backends.postgresql.base import ServerBindingCursor

        cursor = ServerBindingCursor(db.connection)
    else:
        cursor = db.connection.cursor()
    return db.make_cursor(cursor)


def upsert_of(model):
    return _upsert_of(model, db.vendor)


@functools.cache
def _upsert_of(model, vendor):
    return (PostgresUpsert if vendor == "postgresql" else SQLiteUpsert)(model)


class Upsert:
    """Rows of `model` created, or updated where the stored version is not newer and
    differs: an unchanged object is not an update, and a re-read writes nothing."""

    # Only the model's quoted table and column names are formatted into the SQL; values are
    # parameters.
    def __init__(self, model):
        q = db.ops.quote_name
        self.table = q(model._meta.db_table)
        page = ("connection_id", "observed_at", "raw")
        own = tuple(model.filled_by_sync)
        # The columns `values_from` gives, and a new row's value of those the sync fills.
        self.fields = tuple(
            f
            for f in model._meta.concrete_fields
            if not f.primary_key and f.attname not in page and f.name not in own
        )
        self.values = operator.itemgetter(*(f.attname for f in self.fields))
        self.defaults = {name: model._meta.get_field(name).get_default() for name in own}
        self.columns = (*page, *(f.attname for f in self.fields), *own)
        updated = [c for c in self.columns if c not in ("connection_id", "stripe_id", *own)]
        self.highest_id = f"SELECT MAX({q('id')}) FROM {self.table}"  # noqa: S608
        raw = q("raw")
        self.head = f"INSERT INTO {self.table} ({', '.join(map(q, self.columns))})"
        self.tail = (
            f"ON CONFLICT ({q('connection_id')}, {q('stripe_id')}) DO UPDATE SET "
            + ", ".join(f"{q(c)} = EXCLUDED.{q(c)}" for c in updated)
            + f" WHERE {self.table}.{q('observed_at')} <= EXCLUDED.{q('observed_at')}"
            f" AND {self.differs(f'{self.table}.{raw}', f'EXCLUDED.{raw}')}"
            f" RETURNING {q('stripe_id')}, {q('id')}"
        )

    # How a value stands in this database's page statements (page_cursor), and a datetime
    # as its cursor takes it.
    mark = "%s"

    def differs(self, stored, new):
        """SQL: the stored object and the new one differ."""
        return f"{stored} <> {new}"

    def datetime_param(self, value):
        return value

    def note_held(self, cursor, connection_id, observed_at, stripe_ids, filled=None):
        """The stored versions of `stripe_ids`, unchanged, are known to hold at the later
        `observed_at`: an event older than it must not overwrite them.

        With `filled` ({column the sync fills: value}), those columns are set on every row
        of `stripe_ids` in the same statement, whatever its version: a row is then written
        once, where the two updates wrote it twice (a payout's transactions: 55,740 rows at
        100,000 charges, each into every index of the table again)."""
        q, mark = db.ops.quote_name, self.mark
        held = self.datetime_param(observed_at)
        if filled:
            later = q("observed_at")
            sets = f"{later} = CASE WHEN {later} < {mark} THEN {mark} ELSE {later} END, "
            sets += ", ".join(f"{q(column)} = {mark}" for column in filled)
            head, where = [held, held, *filled.values()], ""
        else:
            sets = f"{q('observed_at')} = {mark}"
            head, where = [held], f"AND {q('observed_at')} < {mark} "
        for batch in batches(list(stripe_ids), 500):
            cursor.execute(
                f"UPDATE {self.table} SET {sets} "  # noqa: S608 (quoted names only)
                f"WHERE {q('connection_id')} = {mark} {where}"
                f"AND {q('stripe_id')} IN ({', '.join([mark] * len(batch))})",
                [*head, connection_id, *([held] if where else []), *batch],
            )

    def write(self, cursor, connection_id, observed_at, rows):
        """Write `rows` and return ({Stripe id: row id} of the rows written, how many of
        them were created). Ids only grow, and the writers of one connection's mirror take
        turns (lock_mirror): what the upsert returns above the highest id before it, it
        created."""
        cursor.execute(self.highest_id)
        highest = cursor.fetchone()[0] or 0
        applied = {}
        for sql, params in self.statements(connection_id, observed_at, rows):
            cursor.execute(sql, params)
            applied.update(cursor.fetchall())
        return applied, sum(1 for pk in applied.values() if pk > highest)

    def statements(self, connection_id, observed_at, rows):
        """(sql, params) pairs that write `rows`, (columns, object) pairs as `values_from`
        and Stripe give them: one, unless the rows exceed what a statement may carry."""
        raise NotImplementedError


class SQLiteUpsert(Upsert):
    mark = "?"

    def datetime_param(self, value):
        return db.ops.adapt_datetimefield_value(value)

    def statements(self, connection_id, observed_at, rows):
        # Only the values that SQLite does not take as `values_from` gives them are prepared:
        # a row of a charge has 28, of which 2 are dates.
        start = len(("connection_id", "observed_at", "raw"))
        prepared = [
            (start + i, prepare)
            for i, field in enumerate(self.fields)
            if (prepare := preparer(field, db)) is not None
        ]
        page = [connection_id, db.ops.adapt_datetimefield_value(observed_at)]
        defaults = list(self.defaults.values())
        values = []
        for columns, obj in rows:
            # The one serialisation of the object.
            row = [*page, orjson.dumps(obj).decode(), *self.values(columns), *defaults]
            for i, prepare in prepared:
                row[i] = prepare(row[i])
            values.append(row)
        row = f"({', '.join([self.mark] * len(self.columns))})"
        limit = db.connection.getlimit(sqlite3.SQLITE_LIMIT_VARIABLE_NUMBER)
        for batch in batches(values, limit // len(self.columns)):
            params = [v for values in batch for v in values]
            yield f"{self.head} VALUES {', '.join([row] * len(batch))} {self.tail}", params


class PostgresUpsert(Upsert):
    def __init__(self, model):
        super().__init__(model)
        q = db.ops.quote_name
        # The page in two parameters, zipped back into rows by ROWS FROM: its columns as one
        # `json` document, and the objects' texts as they are stored (StripeJSON), one after
        # another between SEPARATORs. The objects are then read once, by the check of
        # `json`; inside the document they were read three times (the document's check, the
        # parse into rows copying each string a character at a time, each object's check):
        # 3,000 charges took the server 220 ms to write that way, 130 ms this way.
        rows = (
            f"ROWS FROM (json_populate_recordset(NULL::{self.table}, %s),"
            f" string_to_table(%s, E'\\x{ord(SEPARATOR):02x}')) AS page"
        )
        columns = ", ".join(
            "page.string_to_table::json" if c == "raw" else f"page.{q(c)}" for c in self.columns
        )
        self.head += f" SELECT {columns} FROM {rows}"  # noqa: S608
        # The highest id before the upsert, read by the upsert itself: a statement's WITH
        # query sees the table as it was when the statement began. One round trip a page
        # and kind fewer than asking first.
        highest = f"SELECT MAX({db.ops.quote_name('id')}) AS highest FROM {self.table}"  # noqa: S608
        self.head = f"WITH before AS ({highest}) {self.head}"
        self.tail += ", (SELECT highest FROM before)"

    def differs(self, stored, new):
        # `json` has no equality: compared as `jsonb`, whatever the spacing or order of keys
        # (a row stored before migration 0019 is jsonb's text). Only where a row is there
        # already: an insert compares nothing.
        return f"{stored}::jsonb <> {new}::jsonb"

    def write(self, cursor, connection_id, observed_at, rows):
        ((sql, params),) = self.statements(connection_id, observed_at, rows)
        cursor.execute(sql, params)
        written = cursor.fetchall()
        applied = {stripe_id: pk for stripe_id, pk, _ in written}
        return applied, sum(1 for _, pk, highest in written if pk > (highest or 0))

    def statements(self, connection_id, observed_at, rows):
        page = {"connection_id": connection_id, "observed_at": observed_at, **self.defaults}
        # Each object serialised once; dates as text PostgreSQL reads back.
        document = orjson.dumps([{**columns, **page} for columns, _ in rows], default=str)
        objects = SEPARATOR.join([orjson.dumps(obj).decode() for _, obj in rows])
        yield f"{self.head} {self.tail}", [document.decode(), objects]


# Between the objects' texts in a page's statement on PostgreSQL. JSON text never holds it:
# a control character inside a string is written escaped (\u001e), and outside strings
# JSON has only its punctuation, literals, numbers and spaces.
SEPARATOR = "\x1e"


def rows_where_in(table, fields, column, values):
    """`fields` of the rows of `table` whose `column` is one of `values`, as a list: a
    statement written out, since the ORM's building of such a lookup took more CPU than
    running it."""
    if not values:
        return []
    q = db.ops.quote_name
    sql = (
        f"SELECT {', '.join(map(q, fields))} FROM {q(table)} "  # noqa: S608 (quoted names only)
        f"WHERE {q(column)} IN ({', '.join(['%s'] * len(values))})"
    )
    with db.cursor() as cursor:
        cursor.execute(sql, list(values))
        return cursor.fetchall()


def preparer(model_field, connection):
    """What turns a value of `model_field`, as `columns()` gives it, into what SQLite takes;
    None for text, numbers and booleans, which `columns()` gives typed."""
    if isinstance(model_field, models.DateTimeField):
        return sqlite_datetime(connection.timezone)
    if isinstance(model_field, models.CharField | models.BooleanField | models.IntegerField):
        return None
    return functools.partial(model_field.get_db_prep_save, connection=connection)


def sqlite_datetime(zone):
    """Django's adapt_datetimefield_value for SQLite, for the aware datetimes `columns()`
    gives (when()): the time in the database's zone, naive, as text. Django's own checks its
    settings and the value's kind for each value, 23 µs a value in a profile, 74,000 values
    for 5,000 charges."""

    def adapt(value):
        if value is None or value.tzinfo is None:
            return value if value is None else str(value)
        if value.tzinfo is zone is UTC:
            return str(value)[:-6]  # without its "+00:00": a third less CPU
        return str(value.astimezone(zone).replace(tzinfo=None))

    return adapt


def batches(items, size):
    for start in range(0, len(items), size):
        yield items[start : start + size]
