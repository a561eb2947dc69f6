import secrets

from django.db import models
from django.utils import timezone

from connectors.models.connection import SecretField


def webhook_token():
    return secrets.token_urlsafe(32)


class WebhookEndpoint(models.Model):
    """Where Stripe posts one connection's events: /webhooks/stripe/<token>/.

    The token makes the address unguessable; the signing secret (whsec_…), pasted from
    Stripe's dashboard, proves each delivery came from Stripe.
    """

    connection = models.OneToOneField(
        "connectors.StripeConnection", on_delete=models.CASCADE, related_name="webhook"
    )
    token = models.CharField(max_length=64, unique=True, default=webhook_token, editable=False)
    signing_secret = SecretField(max_length=255, editable=False)
    secret_last4 = models.CharField(max_length=4, editable=False)
    enabled = models.BooleanField(default=True)
    created_at = models.DateTimeField(default=timezone.now, editable=False)
    last_delivery_at = models.DateTimeField(null=True, blank=True, editable=False)

    def __str__(self):
        return f"webhook of {self.connection}"

    def __repr__(self):
        return f"<WebhookEndpoint {self.connection_id} whsec_…{self.secret_last4}>"

    @property
    def path(self):
        return f"/webhooks/stripe/{self.token}/"


class WebhookDelivery(models.Model):
    """A verified delivery, kept until a worker has applied it: the endpoint answers 2xx as
    soon as the row is committed, so nothing Stripe delivered is lost if a worker dies.
    Deliveries that fail a check are refused and not stored.

    Its status moves only by compare-and-set updates (connectors.webhook_tasks):
    waiting -> processing -> applied, already applied or failed; and failed -> waiting when
    staff ask for it to be applied again.
    """

    class Status(models.TextChoices):
        WAITING = "waiting", "Waiting"
        PROCESSING = "processing", "Being applied"
        APPLIED = "applied", "Applied"
        # The sync, or an earlier delivery of the same event, applied it first.
        ALREADY_APPLIED = "already_applied", "Already applied"
        FAILED = "failed", "Failed"

    endpoint = models.ForeignKey(WebhookEndpoint, on_delete=models.CASCADE, related_name="+")
    event_id = models.CharField(max_length=255, db_index=True)
    event_type = models.CharField(max_length=128)
    payload = models.JSONField()
    received_at = models.DateTimeField(default=timezone.now)
    status = models.CharField(max_length=16, choices=Status.choices, default=Status.WAITING)
    # While it is being applied, when the worker claimed it (the claim's identity); after,
    # when it finished.
    processed_at = models.DateTimeField(null=True, blank=True)
    # Why the last attempt failed, in words safe to show staff; blank unless it failed.
    error = models.TextField(blank=True)

    class Meta:
        ordering = ["-id"]
        verbose_name_plural = "webhook deliveries"
        constraints = [
            # Stripe may deliver one event twice at once: only one row may hold it.
            models.UniqueConstraint(fields=["endpoint", "event_id"], name="webhookdelivery_unique")
        ]
        indexes = [
            models.Index(fields=["status", "processed_at"], name="webhookdelivery_unfinished")
        ]

    def __str__(self):
        return f"{self.event_id} ({self.event_type})"
