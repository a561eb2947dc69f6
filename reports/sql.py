"""The few things hand-written report SQL needs to say differently on SQLite and PostgreSQL.

Report kinds are written as SQL because their sums (a charge split over its invoice's
products to the cent, MRR at each month's edge) are window functions over joins that the
ORM would only obscure. Table names come from the models; values are always parameters.

Money stays integral throughout: PostgreSQL's SUM of a bigint is a numeric, so report SQL
casts each SUM back to BIGINT before dividing (SQLite's integers need no such care).
"""

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


def moment(value):
    """A datetime as the database compares it with stored ones: SQLite keeps them as text
    in UTC without an offset, and a parameter must be written the same way."""
    return connection.ops.adapt_datetimefield_value(value)


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
        yield
