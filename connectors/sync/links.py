"""Links the mirror keeps between objects that Stripe keeps apart.

Charge.invoice: since API version 2025-03-31 a charge does not name the invoice it paid; the
way from money to product is charge -> payment intent -> invoice payment -> invoice. Either
end may reach the mirror first (a page of charges, then one of invoice payments; an event
for one, later the other), so both sides call `link_charges_to_invoices` after they are
stored, in the same transaction, and the link is right whatever the order.
"""

from connectors.models import Charge, InvoicePayment


def link_charges_to_invoices(connection, resource, stripe_ids):
    """Set Charge.invoice for the charges that the stored `stripe_ids` (of charges or of
    invoice payments) concern."""
    if resource == "charges":
        charges = Charge.objects.filter(connection=connection, stripe_id__in=stripe_ids)
    elif resource == "invoice_payments":
        stored = InvoicePayment.objects.filter(connection=connection, stripe_id__in=stripe_ids)
        pairs = list(stored.values_list("payment_intent", "charge"))
        intents = {intent for intent, _ in pairs if intent}
        paid = {charge for _, charge in pairs if charge}
        charges = Charge.objects.filter(connection=connection, payment_intent__in=intents)
        charges |= Charge.objects.filter(connection=connection, stripe_id__in=paid)
    else:
        return
    rows = list(charges.order_by().values_list("pk", "stripe_id", "payment_intent", "invoice"))
    if not rows:
        return
    intents = {intent for _, _, intent, _ in rows if intent}
    ids = {stripe_id for _, stripe_id, _, _ in rows}
    by_intent, by_charge = {}, {}
    # A canceled invoice payment is an attempt that paid nothing (a voided invoice's intent).
    payments = (
        InvoicePayment.objects.filter(connection=connection).exclude(status="canceled").order_by()
    )
    fields = ("invoice", "payment_intent", "charge")
    found = payments.filter(payment_intent__in=intents).values_list(*fields)
    found = found.union(payments.filter(charge__in=ids).values_list(*fields))
    for invoice, intent, charge in found:
        # Should a payment ever be linked to two invoices, the first id is kept: a rule, so
        # that every run and every report makes the same choice.
        if intent:
            by_intent[intent] = min(invoice, by_intent.get(intent, invoice))
        if charge:
            by_charge[charge] = min(invoice, by_charge.get(charge, invoice))
    changed = {}
    for pk, stripe_id, intent, current in rows:
        invoice = by_charge.get(stripe_id) or by_intent.get(intent)
        if invoice and invoice != current:
            changed.setdefault(invoice, []).append(pk)
    for invoice, pks in changed.items():
        Charge.objects.filter(pk__in=pks).update(invoice=invoice)
