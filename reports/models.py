"""A report run (what was asked, by whom, how it went, the document it produced) and the
citations behind each figure of that document.

Citations are stored compactly: one row per (run, line, figure, chunk) whose `entries` holds
its share of the figure's records as "id:amount" pairs (a figure is spread over up to CHUNKS
rows), written by the database itself (INSERT ... SELECT) so that a run over a million
charges never holds their ids in Python. The figures of the
document are the sums of these rows, so a figure and the records behind it cannot disagree.
"""

import orjson
from django.conf import settings
from django.db import models
from django.utils import timezone


class ReportRun(models.Model):
    class Kind(models.TextChoices):
        REVENUE = "revenue", "Revenue by product"
        MRR = "mrr", "MRR movements"
        DISPUTES = "disputes", "Open disputes"
        PAYOUTS = "payouts", "Balance and payouts"

    class Status(models.TextChoices):
        QUEUED = "queued", "Queued"
        RUNNING = "running", "Running"
        SUCCEEDED = "succeeded", "Succeeded"
        FAILED = "failed", "Failed"

    class Requester(models.TextChoices):
        USER = "user", "Staff user"
        SCHEDULE = "schedule", "Schedule"
        COMMAND = "command", "Command line"

    kind = models.CharField(max_length=16, choices=Kind.choices)
    connection = models.ForeignKey(
        "connectors.StripeConnection", on_delete=models.CASCADE, related_name="report_runs"
    )
    # As asked ({"from": "2026-10-01", "to": "2026-10-31"}, {"months": 6}, {"days": 30}
    # or {}), so that running it again repeats the question with fresh data.
    parameters = models.JSONField(default=dict, blank=True)
    sync_first = models.BooleanField(
        default=False, help_text="Bring the mirror up to date before computing."
    )
    # Who asked: a staff user, a schedule (by name) or the command line. Read by the task
    # from this row, never from the task's arguments, so a queued message cannot forge it.
    requester_kind = models.CharField(max_length=16, choices=Requester.choices)
    requested_by = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="+",
    )
    requester_name = models.CharField(max_length=150, blank=True)

    status = models.CharField(max_length=16, choices=Status.choices, default=Status.QUEUED)
    created_at = models.DateTimeField(default=timezone.now)
    started_at = models.DateTimeField(null=True, blank=True)
    finished_at = models.DateTimeField(null=True, blank=True)
    # The process computing it ("host:pid"): a run left running by a process that died is
    # taken over by the next attempt (see reports.runner.claim).
    worker = models.CharField(max_length=255, blank=True)
    sync_run = models.ForeignKey(
        "connectors.SyncRun", null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    # The period it covered, resolved from the parameters when it ran.
    period_from = models.DateField(null=True, blank=True)
    period_to = models.DateField(null=True, blank=True)
    data_as_of = models.DateTimeField(null=True, blank=True)
    # The document as JSON text, in the order it was written (PostgreSQL's jsonb would sort
    # its keys), compact: the C encoder writes a large document in a tenth of the time the
    # indenting one takes. The command indents it for people.
    result = models.TextField(blank=True)
    warnings = models.JSONField(default=list, blank=True)
    error = models.TextField(blank=True)
    # A schedule's firing (the Celery task id, the same if the message is delivered again)
    # and when its email went out: a firing runs and emails once.
    firing = models.CharField(max_length=255, blank=True, db_index=True)
    emailed_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-id"]
        # Reading runs (view_reportrun) and running reports are separate: a report run
        # reads the whole account, and with "sync first" calls Stripe.
        permissions = [
            ("run_report", "Can run reports"),
            ("export_reportrun", "Can download report runs (JSON, CSV, XLSX)"),
        ]
        indexes = [
            models.Index(fields=["connection", "kind", "-id"], name="reportrun_conn_kind_id"),
            models.Index(fields=["status", "-id"], name="reportrun_status_id"),
        ]

    def __str__(self):
        return f"{self.get_kind_display()} #{self.pk} of {self.connection}"

    @property
    def requester(self):
        """Who asked, as people read it: "alice", "schedule Monday revenue", "command"."""
        if self.requester_kind == self.Requester.USER:
            return self.requested_by.get_username() if self.requested_by else "(deleted user)"
        if self.requester_kind == self.Requester.SCHEDULE:
            return f"schedule {self.requester_name}"
        return f"command {self.requester_name}".strip()

    @property
    def document(self):
        """The result as a dict (None until the run has succeeded)."""
        return orjson.loads(self.result) if self.result else None

    @property
    def duration(self):
        if not self.started_at:
            return None
        return (self.finished_at or timezone.now()) - self.started_at


class ReportCitation(models.Model):
    """The records behind one figure of a run's document, or a share of them: a figure's
    records are spread over up to CHUNKS rows by the last characters of their ids.

    `line` names where the figure sits in the document ("currencies/usd",
    "currencies/usd/products/prod_1", "months/2026-06/usd", "payouts/po_1/components/charge",
    "warnings"); `figure` names it ("gross", "new", "net"; for warnings, the warning's code).
    `entries` is "id:amount,id:amount,..." where amount is what that record contributed to
    the figure."""

    CHUNKS = 64

    run = models.ForeignKey(ReportRun, on_delete=models.CASCADE, related_name="citations")
    line = models.CharField(max_length=255)
    figure = models.CharField(max_length=64)
    chunk = models.PositiveIntegerField(default=0)
    count = models.PositiveIntegerField()
    total = models.BigIntegerField()
    entries = models.TextField()

    class Meta:
        ordering = ["run", "line", "figure", "chunk"]
        constraints = [
            models.UniqueConstraint(
                fields=["run", "line", "figure", "chunk"], name="reportcitation_unique"
            )
        ]

    def __str__(self):
        return f"{self.line} {self.figure} #{self.chunk}"

    def pairs(self):
        """[(stripe id, amount), ...] of this chunk."""
        if not self.entries:
            return []
        return [(i, int(a)) for i, _, a in (e.rpartition(":") for e in self.entries.split(","))]


class ReportSchedule(models.Model):
    """A report run on a crontab, emailed to its recipients: a rolling period ("last month"),
    so that each firing asks about its own time. Its django-celery-beat task is kept in step
    with it (reports.schedules); each firing is a ReportRun whose requester is this schedule."""

    class Period(models.TextChoices):
        LAST_7_DAYS = "last_7_days", "Last 7 days"
        LAST_30_DAYS = "last_30_days", "Last 30 days"
        THIS_MONTH = "this_month", "This month"
        LAST_MONTH = "last_month", "Last month"
        LAST_6_MONTHS = "last_6_months", "Last 6 months"

    name = models.CharField(max_length=100, unique=True, help_text="e.g. Monday revenue")
    kind = models.CharField(max_length=16, choices=ReportRun.Kind.choices)
    connection = models.ForeignKey(
        "connectors.StripeConnection", on_delete=models.CASCADE, related_name="report_schedules"
    )
    period = models.CharField(
        max_length=16,
        choices=Period.choices,
        default=Period.LAST_7_DAYS,
        help_text="Disputes need none: they show what is open when the schedule fires.",
    )
    crontab = models.ForeignKey(
        "django_celery_beat.CrontabSchedule", on_delete=models.PROTECT, related_name="+"
    )
    recipients = models.TextField(help_text="Email addresses, one a line or comma-separated.")
    sync_first = models.BooleanField(
        default=True, help_text="Bring the mirror up to date before each run."
    )
    enabled = models.BooleanField(default=True)
    periodic_task = models.OneToOneField(
        "django_celery_beat.PeriodicTask",
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="+",
        editable=False,
    )
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="+",
        editable=False,
    )
    created_at = models.DateTimeField(default=timezone.now, editable=False)

    class Meta:
        ordering = ["name"]

    def __str__(self):
        return self.name

    def recipient_list(self):
        return [a.strip() for a in self.recipients.replace("\n", ",").split(",") if a.strip()]
