"""What moves money after a payment, in the shapes of Stripe's current API: refunds,
disputes, balance transactions (with their fees) and payouts."""


def refund(
    id,
    created,
    amount,
    currency,
    charge,
    payment_intent,
    balance_transaction,
    status="succeeded",
    reason="requested_by_customer",
):
    return {
        "amount": amount,
        "balance_transaction": balance_transaction,
        "charge": charge,
        "created": created,
        "currency": currency,
        "destination_details": {
            "card": {"type": "pending" if status == "pending" else "refund"},
            "type": "card",
        },
        "id": id,
        "metadata": {},
        "object": "refund",
        "payment_intent": payment_intent,
        "reason": reason,
        "receipt_number": None,
        "source_transfer_reversal": None,
        "status": status,
        "transfer_reversal": None,
    }


EVIDENCE_FIELDS = (
    "access_activity_log",
    "billing_address",
    "cancellation_policy",
    "cancellation_policy_disclosure",
    "cancellation_rebuttal",
    "customer_communication",
    "customer_email_address",
    "customer_name",
    "customer_purchase_ip",
    "customer_signature",
    "duplicate_charge_documentation",
    "duplicate_charge_explanation",
    "duplicate_charge_id",
    "product_description",
    "receipt",
    "refund_policy",
    "refund_policy_disclosure",
    "refund_refusal_explanation",
    "service_date",
    "service_documentation",
    "shipping_address",
    "shipping_carrier",
    "shipping_date",
    "shipping_documentation",
    "shipping_tracking_number",
    "uncategorized_file",
    "uncategorized_text",
)


def dispute(
    id,
    created,
    amount,
    currency,
    charge,
    payment_intent,
    reason,
    status,
    due_by,
    brand,
    network_reason_code,
    balance_transactions=(),
    evidence=None,
    submission_count=0,
    past_due=False,
):
    """`evidence`: the evidence fields submitted so far (name -> text)."""
    inquiry = status.startswith("warning_")
    filled = {name: None for name in EVIDENCE_FIELDS}
    filled.update(evidence or {})
    filled["enhanced_evidence"] = {}
    return {
        "amount": amount,
        "balance_transactions": list(balance_transactions),
        "charge": charge,
        "created": created,
        "currency": currency,
        "evidence": filled,
        "evidence_details": {
            "due_by": due_by,
            "has_evidence": bool(evidence),
            "past_due": past_due,
            "submission_count": submission_count,
            "enhanced_eligibility": {},
        },
        "id": id,
        "is_charge_refundable": inquiry,
        "livemode": False,
        "metadata": {},
        "object": "dispute",
        "payment_intent": payment_intent,
        "payment_method_details": {
            "card": {
                "brand": brand,
                "case_type": "inquiry" if inquiry else "chargeback",
                "network_reason_code": network_reason_code,
            },
            "type": "card",
        },
        "reason": reason,
        "status": status,
        "enhanced_eligibility_types": [],
    }


def fee_detail(amount, currency, description, type="stripe_fee"):
    return {
        "amount": amount,
        "application": None,
        "currency": currency,
        "description": description,
        "type": type,
    }


def balance_transaction(
    id,
    created,
    available_on,
    amount,
    currency,
    fee_details,
    source,
    type,
    reporting_category,
    description,
    status,
    exchange_rate=None,
):
    fee = sum(detail["amount"] for detail in fee_details)
    return {
        "amount": amount,
        "available_on": available_on,
        "created": created,
        "currency": currency,
        "description": description,
        "exchange_rate": exchange_rate,
        "fee": fee,
        "fee_details": list(fee_details),
        "id": id,
        "net": amount - fee,
        "object": "balance_transaction",
        "reporting_category": reporting_category,
        "source": source,
        "status": status,
        "type": type,
        "balance_type": "payments",
    }


def payout(
    id,
    created,
    amount,
    currency,
    arrival_date,
    automatic,
    balance_transaction,
    destination,
    status,
    trace_id=None,
    description="STRIPE PAYOUT",
):
    return {
        "amount": amount,
        "application_fee": None,
        "application_fee_amount": None,
        "arrival_date": arrival_date,
        "automatic": automatic,
        "balance_transaction": balance_transaction,
        "created": created,
        "currency": currency,
        "description": description,
        "destination": destination,
        "failure_balance_transaction": None,
        "failure_code": None,
        "failure_message": None,
        "id": id,
        "livemode": False,
        "metadata": {},
        "method": "standard",
        "object": "payout",
        "original_payout": None,
        "reconciliation_status": ("completed" if status == "paid" else "in_progress")
        if automatic
        else "not_applicable",
        "reversed_by": None,
        "source_type": "card",
        "statement_descriptor": None,
        "status": status,
        "type": "bank_account",
        "trace_id": {"status": "supported" if status == "paid" else "pending", "value": trace_id},
        "payout_method": None,
    }
