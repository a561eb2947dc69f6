"""The account, its balance, and events, in the shapes of Stripe's current API."""

from .ids import DAY

API_VERSION = "2026-10-28.endive"  # the version the pinned `stripe` library speaks


def _address(country=None, city=None, line1=None, postal_code=None, state=None):
    return {
        "city": city,
        "country": country,
        "line1": line1,
        "line2": None,
        "postal_code": postal_code,
        "state": state,
    }


def _requirements():
    return {
        "alternatives": [],
        "current_deadline": None,
        "currently_due": [],
        "disabled_reason": None,
        "errors": [],
        "eventually_due": [],
        "past_due": [],
        "pending_verification": [],
    }


def account_object(
    id,
    created,
    name=None,
    display_name=None,
    country="US",
    default_currency="usd",
    email=None,
    url=None,
    support_email=None,
    address=None,
    payout_interval="weekly",
    timezone="Etc/UTC",
):
    descriptor = (display_name or name or "").upper()[:22] or None
    return {
        "business_profile": {
            "annual_revenue": None,
            "estimated_worker_count": None,
            "mcc": "5734" if name else None,
            "name": name,
            "product_description": "Analytics software for operations teams" if name else None,
            "support_address": address or _address(),
            "support_email": support_email,
            "support_phone": None,
            "support_url": None,
            "url": url,
            "minority_owned_business_designation": None,
        },
        "business_type": "company" if name else None,
        "capabilities": {"card_payments": "active", "transfers": "active"},
        "charges_enabled": True,
        "controller": {"type": "account"},
        "country": country,
        "created": created,
        "default_currency": default_currency,
        "details_submitted": True,
        "email": email,
        "external_accounts": {
            "data": [],
            "has_more": False,
            "object": "list",
            "url": f"/v1/accounts/{id}/external_accounts",
        },
        "future_requirements": _requirements(),
        "id": id,
        "metadata": {},
        "object": "account",
        "payouts_enabled": True,
        "requirements": _requirements(),
        "settings": {
            "bacs_debit_payments": {"display_name": None, "service_user_number": None},
            "branding": {
                "icon": None,
                "logo": None,
                "primary_color": "#1f6feb",
                "secondary_color": None,
            },
            "card_issuing": {"tos_acceptance": {"date": None, "ip": None}},
            "card_payments": {
                "decline_on": {"avs_failure": False, "cvc_failure": True},
                "statement_descriptor_prefix": descriptor[:10] if descriptor else None,
                "statement_descriptor_prefix_kana": None,
                "statement_descriptor_prefix_kanji": None,
            },
            "dashboard": {"display_name": display_name, "timezone": timezone},
            "invoices": {"default_account_tax_ids": None, "hosted_payment_method_save": "offer"},
            "payments": {
                "statement_descriptor": descriptor,
                "statement_descriptor_kana": None,
                "statement_descriptor_kanji": None,
                "statement_descriptor_prefix_kana": None,
                "statement_descriptor_prefix_kanji": None,
            },
            "payouts": {
                "debit_negative_balances": True,
                "schedule": {"delay_days": 2, "interval": payout_interval},
                "statement_descriptor": None,
            },
            "sepa_debit_payments": {},
        },
        "tos_acceptance": {"date": created + DAY if name else None, "ip": None, "user_agent": None},
        "type": "standard",
    }


def balance_object(available: dict, pending: dict, livemode=False):
    """available/pending: currency -> amount in minor units."""

    def funds(amounts):
        return [
            {"amount": amount, "currency": currency, "source_types": {"card": amount}}
            for currency, amount in sorted(amounts.items())
        ]

    currencies = sorted(set(available) | set(pending)) or ["usd"]
    return {
        "available": funds({c: available.get(c, 0) for c in currencies}),
        "connect_reserved": [{"amount": 0, "currency": c} for c in currencies],
        "livemode": livemode,
        "object": "balance",
        "pending": funds({c: pending.get(c, 0) for c in currencies}),
    }


def empty_balance():
    return balance_object({}, {})


def event_object(id, type, obj, created, request_id=None, livemode=False, previous_attributes=None):
    """`previous_attributes`: for *.updated events, the changed fields' values before."""
    data = {"object": obj}
    if previous_attributes is not None:
        data["previous_attributes"] = previous_attributes
    return {
        "api_version": API_VERSION,
        "created": created,
        "data": data,
        "id": id,
        "livemode": livemode,
        "object": "event",
        "pending_webhooks": 0,
        "request": {"id": request_id, "idempotency_key": None},
        "type": type,
    }
