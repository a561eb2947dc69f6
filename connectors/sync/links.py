"""Links the mirror keeps between objects that Stripe keeps apart.

Charge.invoice: since API version 2025-03-31 a charge does not name the invoice it paid; the
way from money to product is charge -> payment intent -> invoice payment -> invoice. Either
end may reach the mirror first (a page of charges, then one of invoice payments; an event
for one, later the other), so both sides call `link_charges_to_invoices` after they are
stored, in the same transaction, and the link is right whatever the order.
"""

from django.db import connection as db

from connectors.models import Charge, InvoicePayment
from connectors.sync.statements import rows_where_in

# The kinds whose arrival can complete a charge's way to its invoice.
LINKED = {"charges", "invoice_payments"}
PAYMENTS = InvoicePayment._meta.db_table


def link_charges_to_invoices(connection, resource, stripe_ids):
    """Set Charge.invoice for the charges that the stored `stripe_ids` (of charges or of
    invoice payments) concern, in a number of statements that does not grow with theirs.

    Rows are looked up by their own ids alone and the connection checked here: given the
    connection too, SQLite without statistics walks the (connection, created) index, the
    whole table, for every page. The statements are written out rather than built by the
    ORM, which took more of a page's CPU than running them (9% of a sync's).
    """
    mine = connection.pk
    if resource == "charges":
        rows = _charges("stripe_id", stripe_ids)
    elif resource == "invoice_payments":
        stored = rows_where_in(
            PAYMENTS, ("payment_intent", "charge", "connection_id"), "stripe_id", stripe_ids
        )
        pairs = [(intent, charge) for intent, charge, owner in stored if owner == mine]
        rows = _charges("payment_intent", {intent for intent, _ in pairs if intent})
        rows += _charges("stripe_id", {charge for _, charge in pairs if charge})
    else:
        return
    rows = {
        pk: (stripe_id, intent, current)
        for pk, stripe_id, intent, current, owner in rows
        if owner == mine
    }
    if not rows:
        return
    intents = {intent for _, intent, _ in rows.values() if intent}
    ids = {stripe_id for stripe_id, _, _ in rows.values()}
    by_intent, by_charge = {}, {}
    fields = ("invoice", "payment_intent", "charge", "status", "connection_id")
    found = rows_where_in(PAYMENTS, fields, "payment_intent", intents) + rows_where_in(
        PAYMENTS, fields, "charge", ids
    )
    for invoice, intent, charge, status, owner in found:
        # A canceled invoice payment is an attempt that paid nothing (a voided invoice's
        # intent).
        if owner != mine or status == "canceled":
            continue
        # Should a payment ever be linked to two invoices, the first id is kept: a rule, so
        # that every run and every report makes the same choice.
        if intent:
            by_intent[intent] = min(invoice, by_intent.get(intent, invoice))
        if charge:
            by_charge[charge] = min(invoice, by_charge.get(charge, invoice))
    changed = {}
    for pk, (stripe_id, intent, current) in rows.items():
        invoice = by_charge.get(stripe_id) or by_intent.get(intent)
        if invoice and invoice != current:
            changed[pk] = invoice
    if changed:
        set_invoices(changed)


def _charges(column, values):
    fields = ("id", "stripe_id", "payment_intent", "invoice", "connection_id")
    return rows_where_in(Charge._meta.db_table, fields, column, values)


def set_invoices(invoice_of):
    """One UPDATE for {charge pk: invoice id}. Django's bulk_update builds an expression per
    row in Python: 30 ms for a page of 100 charges, more than writing the page."""
    q = db.ops.quote_name
    table, pk, invoice = q(Charge._meta.db_table), q("id"), q("invoice")
    cases = " ".join(["WHEN %s THEN %s"] * len(invoice_of))
    rows = ", ".join(["%s"] * len(invoice_of))
    with db.cursor() as cursor:  # only quoted names are formatted in; values are parameters
        cursor.execute(
            f"UPDATE {table} SET {invoice} = CASE {pk} {cases} END WHERE {pk} IN ({rows})",  # noqa: S608
            [*(v for pair in invoice_of.items() for v in pair), *invoice_of],
        )
