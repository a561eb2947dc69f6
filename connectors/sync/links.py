"""Links the mirror keeps between objects that Stripe keeps apart.

Charge.invoice: since API version 2025-03-31 a charge does not name the invoice it paid; the
way from money to product is charge -> payment intent -> invoice payment -> invoice. Either
end may reach the mirror first (a page of charges, then one of invoice payments; an event
for one, later the other), so both sides look the link up, in the same transaction: a page of
charges before it is written (`with_invoices`), a page of invoice payments after, for the
charges already stored (`link_charges_to_invoices`). The link is right whatever the order.
"""

from django.db import connection as db

from connectors.models import Charge, InvoicePayment
from connectors.sync.statements import rows_where_in

# The kinds whose arrival can complete a charge's way to its invoice.
LINKED = {"charges", "invoice_payments"}
PAYMENTS = InvoicePayment._meta.db_table


def with_invoices(connection, charges):
    """Set the invoice of each row of a page of charges ({Stripe id: (columns, object)})
    before it is written, from the invoice payments already stored: a charge is written once
    with its link. Set afterwards, as it was, each charge was written twice: the second
    version of the row, being on another page of the table, went into all six of its
    indexes again."""
    found = invoices_of(connection, {cid: c["payment_intent"] for cid, (c, _) in charges.items()})
    for stripe_id, invoice in found.items():
        charges[stripe_id][0]["invoice"] = invoice


def link_charges_to_invoices(connection, payment_ids):
    """Set Charge.invoice for the stored charges that the stored invoice payments
    `payment_ids` concern, in a number of statements that does not grow with theirs.

    Rows are looked up by their own ids alone and the connection checked here: given the
    connection too, SQLite without statistics walks the (connection, created) index, the
    whole table, for every page. The statements are written out rather than built by the
    ORM, which took more of a page's CPU than running them (9% of a sync's).
    """
    mine = connection.pk
    stored = rows_where_in(
        PAYMENTS, ("payment_intent", "charge", "connection_id"), "stripe_id", payment_ids
    )
    pairs = [(intent, charge) for intent, charge, owner in stored if owner == mine]
    rows = _charges("payment_intent", {intent for intent, _ in pairs if intent})
    rows += _charges("stripe_id", {charge for _, charge in pairs if charge})
    rows = {
        pk: (stripe_id, intent, current)
        for pk, stripe_id, intent, current, owner in rows
        if owner == mine
    }
    if not rows:
        return
    found = invoices_of(connection, {stripe_id: intent for stripe_id, intent, _ in rows.values()})
    changed = {}
    for pk, (stripe_id, _, current) in rows.items():
        invoice = found.get(stripe_id)
        if invoice and invoice != current:
            changed[pk] = invoice
    if changed:
        set_invoices(changed)


def invoices_of(connection, charges):
    """{charge id: the invoice it paid} for `charges` ({charge id: its payment intent's id
    or ""}) that the stored invoice payments link to one: by the charge first, then by the
    intent."""
    mine = connection.pk
    intents = {intent for intent in charges.values() if intent}
    fields = ("invoice", "payment_intent", "charge", "status", "connection_id")
    found = rows_where_in(PAYMENTS, fields, "payment_intent", intents) + rows_where_in(
        PAYMENTS, fields, "charge", charges
    )
    by_intent, by_charge = {}, {}
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
    return {
        charge: invoice
        for charge, intent in charges.items()
        if (invoice := by_charge.get(charge) or by_intent.get(intent))
    }


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
