"""Payment intents and charges in the shapes of Stripe's current API. Cards appear as brand
and last four digits only, as Stripe shows them: no builder here accepts a card number.

Parts that are the same in every object are one shared dict (the store never edits an
object, so nothing edits them): a large account holds millions of these objects.
"""

from .shapes_billing import address

APPROVED = {
    "advice_code": None,
    "network_advice_code": None,
    "network_decline_code": None,
    "network_status": "approved_by_network",
    "reason": None,
    "seller_message": "Payment complete.",
    "type": "authorized",
}
CARD_CHECKS = {
    "address_line1_check": None,
    "address_postal_code_check": "pass",
    "cvc_check": "pass",
}
DISABLED = {"status": "disabled"}
UNAVAILABLE = {"status": "unavailable"}
NO_NETWORK_TOKEN = {"used": False}
NO_TIP = {"tip": {}}
CARD_OPTIONS = {
    "card": {
        "installments": None,
        "mandate_options": None,
        "network": None,
        "request_three_d_secure": "automatic",
    }
}
CARD_ONLY = ["card"]

DECLINES = {
    "insufficient_funds": "Your card has insufficient funds.",
    "expired_card": "Your card has expired.",
    "generic_decline": "Your card was declined.",
}


def card(brand, last4, exp_month, exp_year, country, fingerprint, funding="credit"):
    """What a charge keeps of the card that paid it."""
    return {
        "brand": brand,
        "last4": last4,
        "exp_month": exp_month,
        "exp_year": exp_year,
        "country": country,
        "fingerprint": fingerprint,
        "funding": funding,
    }


def payment_intent(
    id,
    created,
    amount,
    currency,
    customer,
    status,
    payment_method,
    client_secret,
    description=None,
    latest_charge=None,
    decline=None,
    canceled_at=None,
    cancellation_reason=None,
    metadata=None,
    capture_method="automatic",
    amount_received=None,
):
    """`amount_received`: what was captured, when less than `amount` (a partial capture)."""
    error = None
    if decline:
        error = {
            "charge": latest_charge,
            "code": "card_declined",
            "decline_code": decline,
            "doc_url": "https://stripe.com/docs/error-codes/card-declined",
            "message": DECLINES[decline],
            "type": "card_error",
        }
    return {
        "amount": amount,
        "amount_capturable": 0,
        "amount_details": NO_TIP,
        "amount_received": (amount if amount_received is None else amount_received)
        if status == "succeeded"
        else 0,
        "application": None,
        "application_fee_amount": None,
        "automatic_payment_methods": None,
        "canceled_at": canceled_at,
        "cancellation_reason": cancellation_reason,
        "capture_method": capture_method,
        "client_secret": client_secret,
        "confirmation_method": "automatic",
        "created": created,
        "currency": currency,
        "customer": customer,
        "description": description,
        "id": id,
        "last_payment_error": error,
        "latest_charge": latest_charge,
        "livemode": False,
        "metadata": dict(metadata or {}),
        "next_action": None,
        "object": "payment_intent",
        "on_behalf_of": None,
        "payment_method": payment_method,
        "payment_method_configuration_details": None,
        "payment_method_options": CARD_OPTIONS,
        "payment_method_types": CARD_ONLY,
        "processing": None,
        "receipt_email": None,
        "review": None,
        "setup_future_usage": "off_session" if customer else None,
        "shipping": None,
        "statement_descriptor": None,
        "statement_descriptor_suffix": None,
        "status": status,
        "transfer_data": None,
        "transfer_group": None,
        "source": None,
        "excluded_payment_method_types": None,
    }


def charge(
    id,
    created,
    amount,
    currency,
    customer,
    payment_intent,
    payment_method,
    card,
    billing_name,
    billing_email,
    billing_country,
    balance_transaction=None,
    status="succeeded",
    decline=None,
    description=None,
    descriptor=None,
    amount_refunded=0,
    refunds=(),
    disputed=False,
    receipt_url=None,
    metadata=None,
    amount_captured=None,
):
    """`amount_captured`: less than `amount` when only part of an authorization was captured;
    the rest was released, which is not a refund."""
    succeeded = status == "succeeded"
    captured = (amount if amount_captured is None else amount_captured) if succeeded else 0
    outcome = APPROVED
    if not succeeded:
        outcome = {
            **APPROVED,
            "network_status": "declined_by_network",
            "reason": decline,
            "seller_message": "The bank did not return any further details with this decline.",
            "type": "issuer_declined",
        }
    return {
        "amount": amount,
        "amount_captured": captured,
        "amount_refunded": amount_refunded,
        "application": None,
        "application_fee": None,
        "application_fee_amount": None,
        "balance_transaction": balance_transaction,
        "billing_details": {
            "address": address(country=billing_country),
            "email": billing_email,
            "name": billing_name,
            "phone": None,
            "tax_id": None,
        },
        "calculated_statement_descriptor": descriptor,
        "captured": succeeded,
        "created": created,
        "currency": currency,
        "customer": customer,
        "description": description,
        "disputed": disputed,
        "failure_balance_transaction": None,
        "failure_code": None if succeeded else "card_declined",
        "failure_message": None if succeeded else DECLINES[decline],
        "fraud_details": {},
        "id": id,
        "livemode": False,
        "metadata": dict(metadata or {}),
        "object": "charge",
        "on_behalf_of": None,
        "outcome": outcome,
        "paid": succeeded,
        "payment_intent": payment_intent,
        "payment_method": payment_method,
        "payment_method_details": {"card": _card_details(card, amount), "type": "card"},
        "receipt_email": billing_email if succeeded else None,
        "receipt_number": None,
        "receipt_url": receipt_url if succeeded else None,
        "refunded": succeeded and amount_refunded == captured,
        "refunds": {
            "data": list(refunds),
            "has_more": False,
            "object": "list",
            "url": f"/v1/charges/{id}/refunds",
        },
        "review": None,
        "shipping": None,
        "source_transfer": None,
        "statement_descriptor": None,
        "statement_descriptor_suffix": None,
        "status": status,
        "transfer_data": None,
        "transfer_group": None,
        "source": None,
    }


def _card_details(card, amount):
    return {
        "amount_authorized": amount,
        "brand": card["brand"],
        "checks": CARD_CHECKS,
        "country": card["country"],
        "exp_month": card["exp_month"],
        "exp_year": card["exp_year"],
        "extended_authorization": DISABLED,
        "fingerprint": card["fingerprint"],
        "funding": card["funding"],
        "incremental_authorization": UNAVAILABLE,
        "installments": None,
        "last4": card["last4"],
        "mandate": None,
        "multicapture": UNAVAILABLE,
        "network": card["brand"],
        "network_token": NO_NETWORK_TOKEN,
        "overcapture": {"maximum_amount_capturable": amount, "status": "unavailable"},
        "three_d_secure": None,
        "wallet": None,
        "authorization_code": "123456",
        "regulated_status": "unregulated",
        "network_transaction_id": None,
    }
