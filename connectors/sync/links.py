"""Links the mirror keeps between objects that Stripe keeps apart.

Charge.invoice: since API version 2025-03-31 a charge does not name the invoice it paid; the
way from money to product is charge -> payment intent -> invoice payment -> invoice. Either
end may reach the mirror first (a page of charges, then one of invoice payments; an event
for one, later the other), so both sides call `link_charges_to_invoices` after they are
stored, in the same transaction, and the link is right whatever the order.
"""

from django.db import connection as db

from connectors.models import Charge, InvoicePayment

# The kinds whose arrival can complete a charge's way to its invoice.
LINKED = {"charges", "invoice_payments"}


def link_charges_to_invoices(connection, resource, stripe_ids):
    """Set Charge.invoice for the charges that the stored `stripe_ids` (of charges or of
    invoice payments) concern: one statement, whatever their number. A charge's invoice is
    that of the invoice payments naming the charge, else of those naming its payment
    intent; a canceled invoice payment is an attempt that paid nothing (a voided invoice's
    intent). Should a payment ever be linked to two invoices, the first id is kept: a rule,
    so that every run and every report makes the same choice.

    Rows are looked up by their own ids, the connection checked beside (`+`: not an index
    SQLite may choose): given the connection too, SQLite without statistics walks the
    (connection, created) index, the whole table, for every page.
    """
    if resource not in LINKED or not stripe_ids:
        return
    q = db.ops.quote_name
    charge, payment = q(Charge._meta.db_table), q(InvoicePayment._meta.db_table)
    ids = ", ".join(["%s"] * len(stripe_ids))
    mine = connection.pk
    if resource == "charges":
        concerned = f"SELECT c.id FROM {charge} c WHERE c.stripe_id IN ({ids})"  # noqa: S608
        concerned += " AND +c.connection_id = %s"
        params = [*stripe_ids, mine]
    else:
        # Two joins rather than one with an OR, which neither database plans by its indexes.
        concerned = " UNION ".join(
            f"SELECT c.id FROM {payment} p JOIN {charge} c ON c.{q(field)} = p.{q(column)} "  # noqa: S608
            f"WHERE p.stripe_id IN ({ids}) AND p.{q(column)} <> '' "
            "AND +p.connection_id = %s AND +c.connection_id = %s"
            for field, column in (("payment_intent", "payment_intent"), ("stripe_id", "charge"))
        )
        params = [*stripe_ids, mine, mine] * 2
    # MIN of an expression, not of the column: given MIN(p.invoice), PostgreSQL walks the
    # invoice index from its start until a row matches, the whole index for a charge that
    # no payment names (seconds a page at 100,000 charges), rather than look the payments
    # up by charge or intent.
    first_invoice = (
        f"NULLIF((SELECT MIN(p.invoice || '') FROM {payment} p "  # noqa: S608
        "WHERE p.{column} = c.{field} "
        "AND c.{field} <> '' AND +p.connection_id = c.connection_id "
        "AND p.status <> 'canceled'), '')"
    )
    by_charge = first_invoice.format(column=q("charge"), field=q("stripe_id"))
    by_intent = first_invoice.format(column=q("payment_intent"), field=q("payment_intent"))
    with db.cursor() as cursor:  # only quoted names are formatted in; values are parameters
        cursor.execute(
            f"UPDATE {charge} SET invoice = linked.invoice FROM ("  # noqa: S608
            f"SELECT c.id AS pk, COALESCE({by_charge}, {by_intent}) AS invoice "
            f"FROM {charge} c WHERE c.id IN ({concerned})"
            f") AS linked WHERE {charge}.id = linked.pk AND linked.invoice IS NOT NULL "
            f"AND {charge}.invoice <> linked.invoice",
            params,
        )
