from django.db import models, transaction
from django.db.models import Max
from django.utils import timezone

from connectors.models.connection import StripeConnection


class SyncRun(models.Model):
    """One run of the sync: who started it, what it read, what it changed, how it ended."""

    class Status(models.TextChoices):
        RUNNING = "running", "Running"
        SUCCEEDED = "succeeded", "Succeeded"
        FAILED = "failed", "Failed"
        SKIPPED = "skipped", "Skipped (another sync was running)"

    class Kind(models.TextChoices):
        BACKFILL = "backfill", "Backfill"
        INCREMENTAL = "incremental", "Incremental"
        WEBHOOK = "webhook", "Webhook"

    connection = models.ForeignKey(
        "connectors.StripeConnection", on_delete=models.CASCADE, related_name="sync_runs"
    )
    # 1, 2, 3... per connection, in the order runs were created: "#3 of acme".
    number = models.PositiveIntegerField(editable=False)
    kind = models.CharField(max_length=16, choices=Kind.choices)
    status = models.CharField(max_length=16, choices=Status.choices, default=Status.RUNNING)
    actor_kind = models.CharField(max_length=16)
    actor = models.CharField(max_length=150, blank=True)
    started_at = models.DateTimeField(default=timezone.now)
    finished_at = models.DateTimeField(null=True, blank=True)
    # {"charges": {"fetched": 120, "created": 100, "updated": 20}, ...}
    counts = models.JSONField(default=dict, blank=True)
    api_calls = models.PositiveIntegerField(default=0)
    current = models.CharField(max_length=64, blank=True, help_text="What it is reading now.")
    errors = models.JSONField(default=list, blank=True)
    warnings = models.JSONField(default=list, blank=True)
    message = models.TextField(blank=True)

    class Meta:
        ordering = ["-id"]
        indexes = [models.Index(fields=["connection", "-id"], name="syncrun_conn_id")]
        constraints = [
            models.UniqueConstraint(fields=["connection", "number"], name="syncrun_number_unique")
        ]

    def __str__(self):
        return f"#{self.number} of {self.connection} ({self.get_kind_display().lower()})"

    def save(self, *args, **kwargs):
        if self.number is not None:
            return super().save(*args, **kwargs)
        try:
            with transaction.atomic():
                self.number = self._next_number()
                super().save(*args, **kwargs)
        except BaseException:
            self.number = None  # rolled back with the insert
            raise

    def _next_number(self):
        """The connection's next number, read with the connection's row locked until the
        run is inserted: two runs started at once (one of them skipped) never share one.
        SQLite has no row locks, but its transactions begin IMMEDIATE (see settings), which
        holds every other writer off just the same; the unique constraint stands behind
        both."""
        locked = StripeConnection.objects.select_for_update().filter(pk=self.connection_id)
        list(locked.values_list("pk", flat=True))
        latest = SyncRun.objects.filter(connection_id=self.connection_id).aggregate(n=Max("number"))
        return (latest["n"] or 0) + 1

    @property
    def duration(self):
        end = self.finished_at or timezone.now()
        return end - self.started_at

    @property
    def origin(self):
        """What the audit log records as the origin of the run's calls to Stripe."""
        return f"sync_run:{self.pk}"

    def as_document(self):
        """What `sync --json` prints and the sync task returns."""
        return {
            "connection": self.connection.name,
            "sync_run": self.pk,
            "kind": self.kind,
            "status": self.status,
            "message": self.message,
            "started_at": self.started_at.isoformat(),
            "finished_at": self.finished_at.isoformat() if self.finished_at else None,
            "api_calls": self.api_calls,
            "counts": self.counts,
            "totals": self.totals(),
            "errors": self.errors,
            "warnings": self.warnings,
        }

    def totals(self):
        total = {"fetched": 0, "created": 0, "updated": 0}
        for counts in self.counts.values():
            for key in total:
                total[key] += counts.get(key, 0)
        return total


class SyncCheckpoint(models.Model):
    """How far the backfill of one resource has read, committed with the rows it read.

    A resource's history is read in windows of `created`; each window remembers the last
    object read (`cursor`), so a sync killed mid-page resumes after the last committed page.
    The events checkpoint (`resource = "events"`) holds the newest applied event instead.
    """

    connection = models.ForeignKey(
        "connectors.StripeConnection", on_delete=models.CASCADE, related_name="+"
    )
    resource = models.CharField(max_length=64)
    window_start = models.DateTimeField(null=True, blank=True)
    window_end = models.DateTimeField(null=True, blank=True)
    cursor = models.CharField(max_length=255, blank=True)
    done = models.BooleanField(default=False)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        constraints = [
            models.UniqueConstraint(
                fields=["connection", "resource", "window_start"], name="checkpoint_unique"
            )
        ]

    def __str__(self):
        return (
            f"{self.resource} {self.window_start:%Y-%m-%d}…: {'done' if self.done else self.cursor}"
        )


class AppliedEvent(models.Model):
    """A Stripe event that has been applied to the mirror (once, whichever way it came)."""

    connection = models.ForeignKey(
        "connectors.StripeConnection", on_delete=models.CASCADE, related_name="+"
    )
    stripe_id = models.CharField(max_length=255)
    type = models.CharField(max_length=128, db_index=True)
    created = models.DateTimeField()
    object_id = models.CharField(max_length=255, blank=True, db_index=True)
    source = models.CharField(max_length=16)  # "events" (polled) or "webhook"
    applied_at = models.DateTimeField(default=timezone.now)
    raw = models.JSONField()

    class Meta:
        ordering = ["-created"]
        constraints = [
            models.UniqueConstraint(fields=["connection", "stripe_id"], name="appliedevent_unique")
        ]

    def __str__(self):
        return f"{self.stripe_id} {self.type}"
