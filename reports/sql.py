"""The few things hand-written report SQL needs to say differently on SQLite and PostgreSQL.

Report kinds are written as SQL because their sums (a charge split over its invoice's
products to the cent, MRR at each month's edge) are window functions over joins that the
ORM would only obscure. Table names come from the models; values are always parameters.

Money stays integral throughout: PostgreSQL's SUM of a bigint is a numeric, so report SQL
casts each SUM back to BIGINT before dividing (SQLite's integers need no such care).
"""

import threading
from contextlib import contextmanager

from django.db import connection, transaction

from connectors.models import MIRROR_MODELS


def tables():
    """{"charge": '"connectors_charge"', ...}: the mirror's tables (and the citation table)
    by the model's name, quoted, for str.format() on report SQL."""
    from reports.models import ReportCitation

    quote = connection.ops.quote_name
    names = {m._meta.model_name: quote(m._meta.db_table) for m in MIRROR_MODELS.values()}
    names["invoice_line"] = names["invoicelineitem"]
    names["invoice_payment"] = names["invoicepayment"]
    names["balance_transaction"] = names["balancetransaction"]
    names["subscription_item"] = names["subscriptionitem"]
    names["citation"] = quote(ReportCitation._meta.db_table)
    return names


def render(template, **extra):
    """Report SQL with its table names (and any other trusted, non-user text) filled in."""
    return template.format(**tables(), **extra)


def string_agg(expression):
    if connection.vendor == "postgresql":
        return f"STRING_AGG({expression}, ',')"
    return f"GROUP_CONCAT({expression}, ',')"


def writes_in_with():
    """PostgreSQL runs an INSERT inside WITH, with the rest of the statement; SQLite does
    not."""
    return connection.vendor == "postgresql"


# A TID past any block PostgreSQL can address: the last share runs to the end of the table.
BEYOND = "(4294967295,0)"


def share(alias):
    """A condition that keeps the rows of one share of a table (see shares()), for a kind to
    put on the scan that citations.write(split=...) splits. True on SQLite."""
    if connection.vendor == "postgresql":
        return f"{alias}.ctid >= %(share_from)s::tid AND {alias}.ctid < %(share_to)s::tid"
    return "1 = 1"


def shares(model, parts, blocks=None):
    """[{share_from, share_to}, ...]: `parts` ranges of the table's blocks, as parameters
    for share(). Rows are as likely in one block as in another, so equal ranges are equal
    work; a row written after this (in a block past the last) is in the last range.
    `blocks`: the table's size in blocks, when the caller knows it (tests)."""
    if connection.vendor != "postgresql" or parts == 1:
        return [{"share_from": "(0,0)", "share_to": BEYOND}]
    blocks = (
        blocks
        if blocks is not None
        else fetchall(
            "SELECT pg_relation_size(%s::regclass) / current_setting('block_size')::int",
            [model._meta.db_table],
        )[0][0]
    )
    edges = [blocks * n // parts for n in range(parts)]
    return [
        {"share_from": f"({start},0)", "share_to": BEYOND if end is None else f"({end},0)"}
        for start, end in zip(edges, [*edges[1:], None], strict=True)
    ]


def bytewise(expression):
    """Text compared byte by byte: PostgreSQL otherwise sorts and groups by the database's
    collation, which costs several times more and means nothing for ids and paths."""
    if connection.vendor == "postgresql":
        return f'({expression} COLLATE "C")'
    return expression


def bucket(expression, buckets):
    """A number from 0 to buckets - 1 that a text hashes to: PostgreSQL's hashtext; on
    SQLite, which has no hash function, the codes of the last two characters (random in
    Stripe's ids)."""
    if connection.vendor == "postgresql":
        return f"ABS(HASHTEXT({expression}) %% {buckets})"
    last = f"COALESCE(UNICODE(SUBSTR({expression}, -1, 1)), 0)"
    before = f"COALESCE(UNICODE(SUBSTR({expression}, -2, 1)), 0)"
    return f"(({last} + 128 * {before}) %% {buckets})"


def iso(column):
    """A stored datetime as reports.document.iso() writes it: UTC, whole seconds, "Z"."""
    if connection.vendor == "postgresql":
        return f"""TO_CHAR({column} AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS"Z"')"""
    return f"STRFTIME('%%Y-%%m-%%dT%%H:%%M:%%SZ', {column})"


def moment(value):
    """A datetime as the database compares it with stored ones: SQLite keeps them as text
    in UTC without an offset, and a parameter must be written the same way."""
    return connection.ops.adapt_datetimefield_value(value)


@contextmanager
def hash_grouping(wanted=True):
    """Inside a transaction: PostgreSQL groups by hashing rather than sorting, when it can."""
    if not wanted or connection.vendor != "postgresql":
        yield
        return
    execute("SET LOCAL enable_sort = off", [])
    try:
        yield
    finally:
        execute("SET LOCAL enable_sort = on", [])


def execute(sql, params):
    with connection.cursor() as cursor:
        cursor.execute(sql, params)
        return cursor.rowcount


def fetchall(sql, params):
    with connection.cursor() as cursor:
        cursor.execute(sql, params)
        return cursor.fetchall()


@contextmanager
def snapshot():
    """One transaction in which every query sees the mirror as it was when the first one
    ran, so that the figures of a document agree with each other even while a sync commits
    pages. PostgreSQL needs REPEATABLE READ for that; a SQLite transaction has it already.
    Inside an enclosing transaction (tests) the isolation is the enclosing one's."""
    outermost = not connection.in_atomic_block
    with transaction.atomic():
        if outermost and connection.vendor == "postgresql":
            execute("SET TRANSACTION ISOLATION LEVEL REPEATABLE READ", [])
            connection.lumen_shared_snapshot = fetchall("SELECT pg_export_snapshot()", [])[0][0]
        tune()
        try:
            yield
        finally:
            connection.lumen_shared_snapshot = None


def alongside(query, params, hashed=False):
    """Start `query` on a database connection of its own, seeing exactly what this
    snapshot() sees, while this connection goes on with other work; returns a function that
    waits for its rows.

    A statement that writes commits on its own connection before the function returns,
    so before this snapshot's transaction does, and this transaction does not see its rows.
    `hashed`: under hash_grouping().

    On a big account a report's heaviest statement (writing its citations) scans every
    record it cites, and an INSERT never runs in parallel on PostgreSQL: split in parts, it
    runs on two cores at once only from two connections, and an exported snapshot lets the
    second see the same mirror as the first. Where that cannot be (SQLite, or inside an
    enclosing transaction, whose uncommitted rows no other connection sees) the query
    simply runs here, when its rows are asked for."""

    def run():
        with hash_grouping(hashed):
            return fetchall(query, params)

    shared = getattr(connection, "lumen_shared_snapshot", None)
    if not shared:
        return run
    found = {}

    def read():
        from django.db import connection as own  # this thread's own connection

        try:
            with transaction.atomic():
                execute("SET TRANSACTION ISOLATION LEVEL REPEATABLE READ", [])
                execute("SET TRANSACTION SNAPSHOT %s", [shared])
                tune()
                found["rows"] = run()
        except Exception as error:  # handed to the caller's thread, which raises it
            found["error"] = error
        finally:
            own.close()

    worker = threading.Thread(target=read, name="report-alongside", daemon=True)
    worker.start()

    def rows():
        worker.join()
        if "error" in found:
            raise found["error"]
        return found["rows"]

    return rows


def tune():
    """Settings for the rest of the transaction, for queries that read much and return
    little. PostgreSQL: sort a report's entries in memory (the default 4 MB of work_mem
    spilled them to disk), and skip JIT compilation, which cost more than it saved on every
    report measured (bench/reports.py runs the floors under the same settings)."""
    if connection.vendor == "postgresql":
        execute("SET LOCAL work_mem = '128MB'", [])
        execute("SET LOCAL jit = off", [])
