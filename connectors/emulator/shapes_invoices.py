"""Subscriptions, invoices, invoice line items and invoice payments, in the shapes of
Stripe's API since 2025-03-31: an invoice names its subscription under
`parent.subscription_details`, a line its price and product under `pricing.price_details`
and its subscription item under `parent.subscription_item_details`, and the payment of an
invoice is an invoice_payment naming the payment intent."""

from .shapes_billing import plan_of, tax_amount

# The same in every invoice: shared, as in shapes_payments.
NO_AUTOMATIC_TAX = {
    "enabled": False,
    "liability": None,
    "status": None,
    "disabled_reason": None,
    "provider": None,
}
ISSUED_BY_ACCOUNT = {"type": "self"}
DEFAULT_PAYMENT_SETTINGS = {
    "default_mandate": None,
    "payment_method_options": None,
    "payment_method_types": None,
}
DEFAULT_RENDERING = {
    "amount_tax_display": None,
    "pdf": {"page_size": "letter"},
    "template": None,
    "template_version": None,
}


def subscription_item(
    id,
    created,
    subscription,
    price,
    quantity,
    current_period_start,
    current_period_end,
    discounts=(),
):
    return {
        "created": created,
        "discounts": list(discounts),
        "id": id,
        "metadata": {},
        "object": "subscription_item",
        "price": price,
        "quantity": quantity,
        "subscription": subscription,
        "tax_rates": [],
        "plan": plan_of(price),
        "current_period_end": current_period_end,
        "current_period_start": current_period_start,
        "billing_thresholds": None,
    }


def subscription(
    id,
    created,
    customer,
    currency,
    items,
    status,
    start_date,
    billing_cycle_anchor,
    latest_invoice=None,
    trial_start=None,
    trial_end=None,
    cancel_at=None,
    canceled_at=None,
    ended_at=None,
    cancel_at_period_end=False,
    cancellation_reason=None,
    discounts=(),
    default_payment_method=None,
    description=None,
    metadata=None,
    default_tax_rates=(),
):
    return {
        "application": None,
        "application_fee_percent": None,
        "automatic_tax": {"enabled": False, "liability": None, "disabled_reason": None},
        "billing_cycle_anchor": billing_cycle_anchor,
        "billing_cycle_anchor_config": None,
        "cancel_at": cancel_at,
        "canceled_at": canceled_at,
        "cancellation_details": {
            "comment": None,
            "feedback": "too_expensive"
            if cancellation_reason == "cancellation_requested"
            else None,
            "reason": cancellation_reason,
        },
        "collection_method": "charge_automatically",
        "created": created,
        "currency": currency,
        "customer": customer,
        "days_until_due": None,
        "default_payment_method": default_payment_method,
        "default_source": None,
        "default_tax_rates": list(default_tax_rates),
        "description": description,
        "discounts": list(discounts),
        "ended_at": ended_at,
        "id": id,
        "invoice_settings": {"account_tax_ids": None, "issuer": {"type": "self"}},
        "items": {
            "data": list(items),
            "has_more": False,
            "object": "list",
            "url": f"/v1/subscription_items?subscription={id}",
        },
        "latest_invoice": latest_invoice,
        "livemode": False,
        "metadata": dict(metadata or {}),
        "next_pending_invoice_item_invoice": None,
        "object": "subscription",
        "on_behalf_of": None,
        "pause_collection": None,
        "payment_settings": {
            "payment_method_options": None,
            "payment_method_types": None,
            "save_default_payment_method": "off",
        },
        "pending_invoice_item_interval": None,
        "pending_setup_intent": None,
        "pending_update": None,
        "schedule": None,
        "start_date": start_date,
        "status": status,
        "test_clock": None,
        "transfer_data": None,
        "trial_end": trial_end,
        "trial_settings": {"end_behavior": {"missing_payment_method": "create_invoice"}},
        "trial_start": trial_start,
        "cancel_at_period_end": cancel_at_period_end,
        "billing_thresholds": None,
        "billing_mode": {"type": "classic", "flexible": None},
    }


def line_item(
    id,
    invoice,
    amount,
    currency,
    description,
    quantity,
    period,
    price,
    product,
    unit_amount_decimal,
    subscription=None,
    subscription_item=None,
    proration=False,
    credited=None,
    invoice_item=None,
    discount_amounts=(),
    taxes=(),
):
    """`period`: (start, end). `credited`: (invoice id, [line ids]) that a proration credits.
    `discount_amounts`: [(discount id, amount)]. `taxes`: [(tax rate id, amount, taxable)]."""
    proration_details = {"credited_items": None}
    if credited:
        proration_details = {
            "credited_items": {"invoice": credited[0], "invoice_line_items": list(credited[1])}
        }
    if subscription_item:
        parent = {
            "invoice_item_details": None,
            "subscription_item_details": {
                "invoice_item": invoice_item,
                "proration": proration,
                "proration_details": proration_details,
                "subscription": subscription,
                "subscription_item": subscription_item,
            },
            "type": "subscription_item_details",
        }
    else:
        parent = {
            "invoice_item_details": {
                "invoice_item": invoice_item,
                "proration": proration,
                "proration_details": proration_details,
                "subscription": subscription,
            },
            "subscription_item_details": None,
            "type": "invoice_item_details",
        }
    return {
        "amount": amount,
        "currency": currency,
        "description": description,
        "discount_amounts": [{"amount": a, "discount": d} for d, a in discount_amounts],
        "discountable": True,
        "discounts": [d for d, _ in discount_amounts],
        "id": id,
        "invoice": invoice,
        "livemode": False,
        "metadata": {},
        "object": "line_item",
        "period": {"end": period[1], "start": period[0]},
        "quantity": quantity,
        "subscription": subscription,
        "pretax_credit_amounts": [],
        "taxes": [tax_amount(a, taxable, rate) for rate, a, taxable in taxes],
        "parent": parent,
        "pricing": {
            "price_details": {"price": price, "product": product},
            "type": "price_details",
            "unit_amount_decimal": unit_amount_decimal,
        },
    }


def invoice(
    id,
    created,
    customer,
    currency,
    lines,
    status,
    billing_reason,
    period,
    customer_name=None,
    customer_email=None,
    customer_address=None,
    number=None,
    subscription=None,
    finalized_at=None,
    paid_at=None,
    voided_at=None,
    marked_uncollectible_at=None,
    attempt_count=0,
    next_payment_attempt=None,
    account_name=None,
    discounts=(),
    automatically_finalizes_at=None,
):
    """`lines`: line_item objects; `period`: (start, end) as Stripe's period_start/_end."""
    subtotal = sum(line["amount"] for line in lines)
    discount_totals = {}
    for line in lines:
        for part in line["discount_amounts"]:
            discount_totals[part["discount"]] = (
                discount_totals.get(part["discount"], 0) + (part["amount"])
            )
    tax_totals = {}
    for line in lines:
        for tax in line["taxes"]:
            rate = tax["tax_rate_details"]["tax_rate"]
            amount, taxable = tax_totals.get(rate, (0, 0))
            tax_totals[rate] = (amount + tax["amount"], taxable + tax["taxable_amount"])
    total_excluding_tax = subtotal - sum(discount_totals.values())
    total = total_excluding_tax + sum(amount for amount, _ in tax_totals.values())
    amount_paid = total if status == "paid" else 0
    open_amount = 0 if status in ("void", "paid") else total
    finalized = status != "draft"
    parent = None
    if subscription:
        parent = {
            "quote_details": None,
            "type": "subscription_details",
            "subscription_details": {"metadata": {}, "subscription": subscription},
        }
    hosted = f"https://invoice.stripe.com/i/{id}" if finalized else None
    return {
        "account_country": "US",
        "account_name": account_name,
        "account_tax_ids": None,
        "amount_due": total,
        "amount_paid": amount_paid,
        "amount_remaining": open_amount,
        "amount_shipping": 0,
        "application": None,
        "attempt_count": attempt_count,
        "attempted": attempt_count > 0,
        "auto_advance": status in ("draft", "open"),
        "automatic_tax": NO_AUTOMATIC_TAX,
        "billing_reason": billing_reason,
        "collection_method": "charge_automatically",
        "created": created,
        "currency": currency,
        "custom_fields": None,
        "customer": customer,
        "customer_address": customer_address,
        "customer_email": customer_email,
        "customer_name": customer_name,
        "customer_phone": None,
        "customer_shipping": None,
        "customer_tax_exempt": "none",
        "customer_tax_ids": [],
        "default_payment_method": None,
        "default_source": None,
        "default_tax_rates": [],
        "description": None,
        "discounts": list(discounts),
        "due_date": None,
        "effective_at": finalized_at,
        "ending_balance": 0 if finalized else None,
        "footer": None,
        "from_invoice": None,
        "hosted_invoice_url": hosted,
        "id": id,
        "invoice_pdf": f"{hosted}/pdf" if hosted else None,
        "issuer": ISSUED_BY_ACCOUNT,
        "last_finalization_error": None,
        "latest_revision": None,
        "lines": {
            "data": list(lines[:10]),
            "has_more": len(lines) > 10,
            "object": "list",
            "url": f"/v1/invoices/{id}/lines",
        },
        "livemode": False,
        "metadata": {},
        "next_payment_attempt": next_payment_attempt,
        "number": number,
        "object": "invoice",
        "on_behalf_of": None,
        "payment_settings": DEFAULT_PAYMENT_SETTINGS,
        "period_end": period[1],
        "period_start": period[0],
        "post_payment_credit_notes_amount": 0,
        "pre_payment_credit_notes_amount": 0,
        "receipt_number": None,
        "rendering": DEFAULT_RENDERING,
        "shipping_cost": None,
        "shipping_details": None,
        "starting_balance": 0,
        "statement_descriptor": None,
        "status": status,
        "status_transitions": {
            "finalized_at": finalized_at,
            "marked_uncollectible_at": marked_uncollectible_at,
            "paid_at": paid_at,
            "voided_at": voided_at,
        },
        # Removed from the API in 2025-03-31 in favour of parent.subscription_details; the
        # field is still sent, empty.
        "subscription": None,
        "subtotal": subtotal,
        "subtotal_excluding_tax": subtotal,
        "test_clock": None,
        "total": total,
        "total_discount_amounts": [
            {"amount": a, "discount": d} for d, a in discount_totals.items()
        ],
        "total_excluding_tax": total_excluding_tax,
        "webhooks_delivered_at": finalized_at or created,
        "automatically_finalizes_at": automatically_finalizes_at,
        "total_pretax_credit_amounts": [],
        "total_taxes": [
            tax_amount(amount, taxable, rate) for rate, (amount, taxable) in tax_totals.items()
        ],
        "amount_overpaid": 0,
        "parent": parent,
    }


def invoice_payment(
    id,
    created,
    invoice,
    currency,
    amount_requested,
    status,
    payment_intent,
    paid_at=None,
    canceled_at=None,
):
    return {
        "amount_paid": amount_requested if status == "paid" else None,
        "amount_requested": amount_requested,
        "created": created,
        "currency": currency,
        "id": id,
        "invoice": invoice,
        "is_default": True,
        "livemode": False,
        "object": "invoice_payment",
        "payment": {"payment_intent": payment_intent, "type": "payment_intent"},
        "status": status,
        "status_transitions": {"canceled_at": canceled_at, "paid_at": paid_at},
    }
