"""The audit log: one row per call to Stripe and per staff action that matters.

Rows are append-only. The model refuses updates and deletes, the admin offers neither, and a
trigger (on PostgreSQL and on SQLite) refuses UPDATE and DELETE from any client. Each row also
carries an HMAC-SHA256, keyed with AUDIT_CHAIN_KEY (a secret kept outside the database) and
chained to the previous row, so an edit made behind the application's back (a superuser with
psql, a restored backup) is found by `manage.py audit_verify`, even when its author
recomputed every later link: without the key the links do not fit. Removing the newest rows
leaves a shorter chain that is still whole; anchors (audit.anchors) find that.

Audit knows nothing of Stripe or reports: connection and resource are plain text columns,
not foreign keys, so deleting a connection never touches (or cascades into) its history.
"""

import hmac
import json
from datetime import UTC, datetime

from django.conf import settings
from django.db import models
from django.utils import timezone


class AppendOnlyError(Exception):
    pass


class AuditEventQuerySet(models.QuerySet):
    def update(self, **kwargs):
        raise AppendOnlyError("Audit events cannot be changed.")

    def delete(self):
        raise AppendOnlyError("Audit events cannot be deleted.")

    # bulk_update goes through update(); bulk_create would skip the chain.
    def bulk_create(self, *args, **kwargs):
        raise AppendOnlyError("Audit events are written by audit.recorder, chained.")

    def append_chained(self, events):
        """Insert new events whose chain_hash audit.recorder has set, in order, in one
        statement. Ids grow in the order given, which is the chain's."""
        for event in events:
            if not event._state.adding or not event.chain_hash:
                raise AppendOnlyError("Only new events, chained by audit.recorder, are appended.")
        return super().bulk_create(events)


class AuditEvent(models.Model):
    class ActorKind(models.TextChoices):
        USER = "user", "Staff user"
        SCHEDULE = "schedule", "Schedule"
        WEBHOOK = "webhook", "Webhook"
        COMMAND = "command", "Command"
        SYSTEM = "system", "System"

    class Outcome(models.TextChoices):
        OK = "ok", "OK"
        # Stripe's 403 where a 403 is the answer expected: a restricted key may not read the
        # account (connectors.resources.ACCOUNT), and the refusal still tells its id. Not a
        # failure, so not filed under "Refused by Stripe".
        NOT_PERMITTED = "not_permitted", "Not permitted, as expected (probe)"
        CLIENT_ERROR = "client_error", "Refused by Stripe (4xx)"
        RATE_LIMITED = "rate_limited", "Rate limited (429)"
        SERVER_ERROR = "server_error", "Stripe error (5xx)"
        NETWORK_ERROR = "network_error", "Network error"
        BLOCKED = "blocked", "Blocked before sending"
        # An assistant's tool call (assistant.calls) that was not answered: refused (not
        # permitted, or arguments that ask nothing answerable), or failed while answering.
        REFUSED = "refused", "Refused (not permitted, or bad arguments)"
        FAILED = "failed", "Failed"

    id = models.BigAutoField(primary_key=True)
    occurred_at = models.DateTimeField(db_index=True)
    actor_kind = models.CharField(max_length=16, choices=ActorKind.choices)
    actor = models.CharField(max_length=150, blank=True, help_text="User name or schedule name.")
    origin = models.CharField(
        max_length=200,
        blank=True,
        help_text="What the call was part of: a sync run, an admin action...",
    )
    connection_id = models.BigIntegerField(null=True, blank=True)
    connection_name = models.CharField(max_length=100, blank=True)
    # "list", "retrieve" for Stripe calls; "connection.created", "audit.exported"... for staff.
    operation = models.CharField(max_length=64)
    method = models.CharField(max_length=8, blank=True)
    path = models.CharField(max_length=300, blank=True)
    # Where a call to Stripe went (api.stripe.com, or the emulator in development).
    host = models.CharField(max_length=255, blank=True)
    resource_type = models.CharField(max_length=64, blank=True)
    object_id = models.CharField(max_length=255, blank=True)
    date_from = models.DateTimeField(null=True, blank=True)
    date_to = models.DateTimeField(null=True, blank=True)
    params = models.JSONField(default=dict, blank=True)
    outcome = models.CharField(max_length=16, choices=Outcome.choices, default=Outcome.OK)
    http_status = models.PositiveSmallIntegerField(null=True, blank=True)
    request_id = models.CharField(max_length=255, blank=True)
    duration_ms = models.PositiveIntegerField(null=True, blank=True)
    object_count = models.PositiveIntegerField(null=True, blank=True)
    attempt = models.PositiveSmallIntegerField(default=1)
    message = models.TextField(blank=True)
    chain_hash = models.CharField(max_length=64, editable=False)

    objects = AuditEventQuerySet.as_manager()

    class Meta:
        ordering = ["-id"]
        # Viewing the log and taking a copy of it away are separate rights.
        permissions = [
            ("export_auditevent", "Can export audit events"),
            ("verify_auditevent", "Can verify the audit chain"),
        ]
        # Each filter of the admin is paired with the time, which is how staff narrow a
        # search of millions of rows; the list is ordered by id (the time of insertion).
        indexes = [
            models.Index(fields=["connection_id", "-id"], name="audit_conn_id"),
            models.Index(fields=["actor_kind", "-id"], name="audit_actor_kind_id"),
            models.Index(fields=["operation", "-id"], name="audit_operation_id"),
            models.Index(fields=["resource_type", "-id"], name="audit_resource_id"),
            models.Index(fields=["outcome", "-id"], name="audit_outcome_id"),
            models.Index(fields=["object_id"], name="audit_object_id"),
            models.Index(fields=["request_id"], name="audit_request_id"),
        ]

    def __str__(self):
        what = f"{self.method} {self.path}".strip() or self.operation
        return f"#{self.id} {what} by {self.actor or self.actor_kind}"

    def save(self, *args, **kwargs):
        if not self._state.adding:
            raise AppendOnlyError("Audit events cannot be changed.")
        super().save(*args, **kwargs)

    def delete(self, *args, **kwargs):
        raise AppendOnlyError("Audit events cannot be deleted.")

    # The fields the hash covers, in a fixed order. Adding a field means appending it here and
    # a migration that re-keys the existing rows (as 0005_keyed_chain does); never reorder.
    CHAINED_FIELDS = (
        "occurred_at",
        "actor_kind",
        "actor",
        "origin",
        "connection_id",
        "connection_name",
        "operation",
        "method",
        "path",
        "resource_type",
        "object_id",
        "date_from",
        "date_to",
        "params",
        "outcome",
        "http_status",
        "request_id",
        "duration_ms",
        "object_count",
        "attempt",
        "message",
        "host",
    )

    def compute_hash(self, previous_hash):
        body = [self._as_stored(name) for name in self.CHAINED_FIELDS]
        payload = json.dumps([previous_hash, body], sort_keys=True, separators=(",", ":"))
        return hmac.new(settings.AUDIT_CHAIN_KEY.encode(), payload.encode(), "sha256").hexdigest()

    def _as_stored(self, name):
        """The value of a field as the database will give it back.

        The hash is computed once from what a caller passed and later from what was read
        back; both must agree, or a harmless call such as `duration_ms=12.7` (stored as 12)
        or a `date_from` in another time zone (read back in UTC) breaks the chain.
        """
        field = self._meta.get_field(name)
        value = getattr(self, name)
        if value is None:
            return None
        if isinstance(field, models.JSONField):
            return json.loads(json.dumps(value, cls=field.encoder))
        value = field.to_python(value)
        if isinstance(value, datetime):
            if timezone.is_naive(value):
                value = timezone.make_aware(value, timezone.get_default_timezone())
            return value.astimezone(UTC).isoformat()
        return value


GENESIS_HASH = "0" * 64
