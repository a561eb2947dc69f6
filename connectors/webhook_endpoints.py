"""What staff do with webhooks: set up a connection's endpoint, rotate its signing secret,
delete it, and have failed deliveries applied again. Each is recorded on the audit log. The
admin pages (connectors.admin.webhooks) and tests call these; the public endpoint Stripe
posts to is connectors.webhooks, which knows nothing of them.

A signing secret passes through here on its way to the encrypted column; what this module
records and raises says `whsec_…abcd` at most.
"""

import re
from collections import defaultdict

from django.core.exceptions import ValidationError
from django.db import transaction
from django.views.decorators.debug import sensitive_variables

from connectors import webhook_tasks
from connectors.connections import record_action

WHSEC_PREFIX = "whsec_"
SECRET_SHAPE = re.compile(r"whsec_[A-Za-z0-9_+/=-]{16,200}")
WHERE_TO_COPY_IT_FROM = (
    "Copy it from Stripe's dashboard: Developers → Webhooks → this endpoint → Signing secret."
)


def masked_secret(endpoint):
    return f"{WHSEC_PREFIX}…{endpoint.secret_last4}" if endpoint.secret_last4 else ""


@sensitive_variables("secret")
def check_signing_secret(secret):
    """The pasted secret, stripped; a ValidationError (which never repeats it) otherwise."""
    secret = (secret or "").strip()
    if secret.startswith(("sk_", "rk_", "pk_")):
        raise ValidationError(
            "That is a Stripe API key, not a webhook signing secret. " + WHERE_TO_COPY_IT_FROM,
            code="api_key",
        )
    if not secret.startswith(WHSEC_PREFIX):
        raise ValidationError(
            f"A webhook signing secret starts with {WHSEC_PREFIX}. " + WHERE_TO_COPY_IT_FROM,
            code="prefix",
        )
    if not SECRET_SHAPE.fullmatch(secret):
        raise ValidationError(
            "This signing secret is incomplete or has characters a secret never has "
            "(spaces, quotes). " + WHERE_TO_COPY_IT_FROM,
            code="malformed",
        )
    return secret


@sensitive_variables("secret")
def save_endpoint(endpoint, *, secret="", actor, origin=""):
    """Create an endpoint, or change one (a new `secret` rotates it; blank keeps it).
    Raises ValidationError for a bad secret, in which case nothing is saved."""
    creating = endpoint.pk is None
    if creating and not secret:
        raise ValidationError("Paste the endpoint's signing secret. " + WHERE_TO_COPY_IT_FROM)
    if secret:
        secret = check_signing_secret(secret)
        endpoint.signing_secret = secret
        endpoint.secret_last4 = secret[-4:]
    if creating:
        operation = "webhook.created"
    elif secret:
        operation = "webhook.secret_rotated"
    else:
        operation = "webhook.changed"
    with transaction.atomic():
        endpoint.save()
        record_action(
            endpoint.connection,
            actor,
            operation,
            origin,
            secret=masked_secret(endpoint),
            enabled=endpoint.enabled,
        )
    return endpoint


def delete_endpoint(endpoint, *, actor, origin=""):
    with transaction.atomic():
        record_action(
            endpoint.connection, actor, "webhook.deleted", origin, secret=masked_secret(endpoint)
        )
        endpoint.delete()


def retry_deliveries(deliveries, *, actor, origin=""):
    """Have failed deliveries applied again, once what made them fail is fixed; the others
    are left as they are. Returns how many were queued again."""
    by_connection = defaultdict(list)
    for delivery in deliveries.select_related("endpoint__connection").defer("payload"):
        by_connection[delivery.endpoint.connection].append(delivery)
    retried = 0
    for connection, chosen in by_connection.items():
        with transaction.atomic():
            ids = webhook_tasks.retry([d.pk for d in chosen])
            if ids:
                events = [d.event_id for d in chosen if d.pk in ids]
                record_action(connection, actor, "webhook.retried", origin, events=events)
        retried += len(ids)
    return retried
