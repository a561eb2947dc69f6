"""What deleting a connection takes with it, counted, and deleted in batches.

A connection's mirror can hold millions of rows. Django's cascade would read every one of
them into Python before deleting it; here each kind is deleted by ranges of primary keys, one
DELETE per range, and rows that nothing refers to are never read. The audit log is not
among the parts: it names a connection by id and name in plain columns (audit.models), so
deleting a connection leaves every event of its history as it was written.

connectors.connections.delete_connection is the one caller; it claims the connection first,
so that no sync writes to the mirror meanwhile.
"""

from dataclasses import dataclass

from django.apps import apps
from django.db.models import Max, Min

from connectors.models import (
    MIRROR_MODELS,
    AppliedEvent,
    Balance,
    SyncCheckpoint,
    SyncRun,
    WebhookDelivery,
    WebhookEndpoint,
)

# Primary keys per DELETE: a statement of this size takes milliseconds and keeps the
# transaction log and locks of each one small.
BATCH = 5000


@dataclass(frozen=True)
class Part:
    label: str  # "charges", "sync runs": what the confirmation, the command and the audit say
    model: type
    lookup: str  # how its rows name the connection: "connection", "run__connection"
    # Nothing refers to its rows: deleted with a plain DELETE, no row read. Otherwise
    # Django's collector deletes what refers to them too (reading their primary keys only).
    leaf: bool = True

    def rows(self, connection):
        return self.model.objects.filter(**{self.lookup: connection})


def parts():
    """Everything of a connection but the connection itself, in an order that deletes what
    refers to a row before the row (a report's citations before the report run)."""
    ReportCitation = apps.get_model("reports", "ReportCitation")
    ReportRun = apps.get_model("reports", "ReportRun")
    ReportSchedule = apps.get_model("reports", "ReportSchedule")
    return [
        # First, so that nothing Stripe posts meanwhile is applied to a half-deleted mirror.
        Part("webhook deliveries", WebhookDelivery, "endpoint__connection"),
        Part("webhook endpoints", WebhookEndpoint, "connection", leaf=False),
        *(
            Part(str(model._meta.verbose_name_plural), model, "connection")
            for model in MIRROR_MODELS.values()
        ),
        Part("balances", Balance, "connection"),
        Part("applied events", AppliedEvent, "connection"),
        Part("sync checkpoints", SyncCheckpoint, "connection"),
        Part("report citations", ReportCitation, "run__connection"),
        Part("report runs", ReportRun, "connection", leaf=False),
        Part("report schedules", ReportSchedule, "connection", leaf=False),
        Part("sync runs", SyncRun, "connection", leaf=False),
    ]


def counts(connection):
    """{label: rows} of what deleting the connection deletes: one COUNT per part."""
    return {part.label: part.rows(connection).count() for part in parts()}


def delete_parts(connection, *, progress=None, between=None):
    """Delete everything of the connection but the connection itself; returns {label: rows}.

    `progress(label, rows)` is called as each part is done, `between()` after each batch (to
    renew the claim on the connection during a long deletion)."""
    from reports import schedules

    deleted = {}
    for part in parts():
        if part.label == "report schedules":
            # Their periodic tasks are not theirs by a foreign key: each is forgotten first.
            for schedule in part.rows(connection):
                schedules.forget(schedule)
        deleted[part.label] = delete_in_batches(part, part.rows(connection), between)
        if progress:
            progress(part.label, deleted[part.label])
    return deleted


def delete_in_batches(part, queryset, between=None):
    """Delete the rows of `queryset` BATCH primary keys at a time; return how many.

    The ranges are taken between the lowest and highest key, and taken again until none is
    left, so a row added meanwhile (a webhook applied late) goes too."""
    total = 0
    while True:
        bounds = queryset.aggregate(low=Min("pk"), high=Max("pk"))
        if bounds["low"] is None:
            return total
        for start in range(bounds["low"], bounds["high"] + 1, BATCH):
            batch = queryset.filter(pk__gte=start, pk__lt=start + BATCH)
            if part.leaf:
                total += batch._raw_delete(batch.db)
            else:
                _, per_model = batch.only("pk").delete()
                total += per_model.get(part.model._meta.label, 0)
            if between:
                between()
