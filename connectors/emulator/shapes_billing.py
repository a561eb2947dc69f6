"""Catalog and billing objects (customer, product, price, coupon, promotion code,
subscription, invoice, line item, invoice payment) in the shapes of Stripe's current API.

Builders take the values that carry meaning and fill every other field the way Stripe does
for an ordinary account, so each object has exactly the fields a real one has.
"""


def address(country=None, city=None, line1=None, postal_code=None, state=None):
    return {
        "city": city,
        "country": country,
        "line1": line1,
        "line2": None,
        "postal_code": postal_code,
        "state": state,
    }


def customer(
    id,
    created,
    name,
    email,
    currency,
    address,
    invoice_prefix,
    next_invoice_sequence=1,
    description=None,
    phone=None,
    metadata=None,
    preferred_locales=(),
    default_payment_method=None,
    tax_exempt="none",
):
    return {
        "address": address,
        "balance": 0,
        "created": created,
        "currency": currency,
        "default_source": None,
        "delinquent": False,
        "description": description,
        "discount": None,
        "email": email,
        "id": id,
        "invoice_prefix": invoice_prefix,
        "invoice_settings": {
            "custom_fields": None,
            "default_payment_method": default_payment_method,
            "footer": None,
            "rendering_options": None,
        },
        "livemode": False,
        "metadata": dict(metadata or {}),
        "name": name,
        "next_invoice_sequence": next_invoice_sequence,
        "object": "customer",
        "phone": phone,
        "preferred_locales": list(preferred_locales),
        "shipping": None,
        "tax_exempt": tax_exempt,
        "test_clock": None,
    }


def product(
    id,
    created,
    name,
    description,
    default_price=None,
    active=True,
    unit_label=None,
    updated=None,
    metadata=None,
):
    return {
        "active": active,
        "created": created,
        "default_price": default_price,
        "description": description,
        "id": id,
        "images": [],
        "livemode": False,
        "marketing_features": [],
        "metadata": dict(metadata or {}),
        "name": name,
        "object": "product",
        "package_dimensions": None,
        "shippable": None,
        "statement_descriptor": None,
        "tax_code": "txcd_10103001",  # Software as a service, business use
        "unit_label": unit_label,
        "updated": updated or created,
        "url": None,
        "type": "service",
    }


def price(
    id,
    created,
    product,
    currency,
    unit_amount,
    interval=None,
    interval_count=1,
    usage_type="licensed",
    nickname=None,
    lookup_key=None,
    active=True,
    metadata=None,
):
    recurring = None
    if interval:
        recurring = {
            "interval": interval,
            "interval_count": interval_count,
            "meter": None,
            "usage_type": usage_type,
            "trial_period_days": None,
        }
    return {
        "active": active,
        "billing_scheme": "per_unit",
        "created": created,
        "currency": currency,
        "custom_unit_amount": None,
        "id": id,
        "livemode": False,
        "lookup_key": lookup_key,
        "metadata": dict(metadata or {}),
        "nickname": nickname,
        "object": "price",
        "product": product,
        "recurring": recurring,
        "tax_behavior": "exclusive",
        "tiers_mode": None,
        "transform_quantity": None,
        "type": "recurring" if interval else "one_time",
        "unit_amount": unit_amount,
        "unit_amount_decimal": str(unit_amount),
    }


def plan_of(price):
    """The legacy `plan` view of a recurring price, which subscription items still carry."""
    recurring = price["recurring"]
    return {
        "active": price["active"],
        "amount": price["unit_amount"],
        "amount_decimal": price["unit_amount_decimal"],
        "billing_scheme": price["billing_scheme"],
        "created": price["created"],
        "currency": price["currency"],
        "id": price["id"],
        "interval": recurring["interval"],
        "interval_count": recurring["interval_count"],
        "livemode": price["livemode"],
        "metadata": dict(price["metadata"]),
        "meter": recurring["meter"],
        "nickname": price["nickname"],
        "object": "plan",
        "product": price["product"],
        "tiers_mode": None,
        "transform_usage": None,
        "trial_period_days": recurring["trial_period_days"],
        "usage_type": recurring["usage_type"],
    }


def coupon(
    id,
    created,
    name,
    duration,
    percent_off=None,
    amount_off=None,
    currency=None,
    duration_in_months=None,
    max_redemptions=None,
    redeem_by=None,
    times_redeemed=0,
    valid=True,
):
    return {
        "amount_off": amount_off,
        "created": created,
        "currency": currency,
        "duration": duration,
        "duration_in_months": duration_in_months,
        "id": id,
        "livemode": False,
        "max_redemptions": max_redemptions,
        "metadata": {},
        "name": name,
        "object": "coupon",
        "percent_off": percent_off,
        "redeem_by": redeem_by,
        "times_redeemed": times_redeemed,
        "valid": valid,
    }


def promotion_code(
    id,
    created,
    code,
    coupon,
    active=True,
    customer=None,
    expires_at=None,
    max_redemptions=None,
    times_redeemed=0,
    first_time_transaction=False,
    minimum_amount=None,
    minimum_amount_currency=None,
):
    return {
        "active": active,
        "code": code,
        "created": created,
        "customer": customer,
        "expires_at": expires_at,
        "id": id,
        "livemode": False,
        "max_redemptions": max_redemptions,
        "metadata": {},
        "object": "promotion_code",
        "restrictions": {
            "first_time_transaction": first_time_transaction,
            "minimum_amount": minimum_amount,
            "minimum_amount_currency": minimum_amount_currency,
        },
        "times_redeemed": times_redeemed,
        "promotion": {"coupon": coupon, "type": "coupon"},
    }


def tax_rate(
    id,
    created,
    display_name,
    percentage,
    country,
    state=None,
    jurisdiction=None,
    description=None,
    tax_type="sales_tax",
    inclusive=False,
):
    return {
        "active": True,
        "country": country,
        "created": created,
        "description": description,
        "display_name": display_name,
        "effective_percentage": percentage,
        "id": id,
        "inclusive": inclusive,
        "jurisdiction": jurisdiction,
        "jurisdiction_level": "state" if state else "country",
        "livemode": False,
        "metadata": {},
        "object": "tax_rate",
        "percentage": percentage,
        "state": state,
        "tax_type": tax_type,
        "flat_amount": None,
        "rate_type": "percentage",
    }


def tax_amount(amount, taxable_amount, tax_rate_id):
    """One entry of a line's `taxes` or an invoice's `total_taxes`."""
    return {
        "amount": amount,
        "tax_behavior": "exclusive",
        "tax_rate_details": {"tax_rate": tax_rate_id},
        "taxability_reason": "standard_rated",
        "taxable_amount": taxable_amount,
        "type": "tax_rate_details",
    }
