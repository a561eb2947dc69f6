"""Running a report: the one path that the command, the Celery task, the admin and schedules
all take, so a document is the same whoever asks for it.

    run = runner.create(kind, connection, parameters, requester...)   # validated, queued
    runner.execute(run.pk)                                            # claim, compute, store

A run is claimed with a compare-and-set update, so two workers handed the same run (a
message delivered twice, a retry) compute it once; a run left running by a process that died
is taken over. Its citations and result are written in one transaction, so a run killed half
way leaves nothing behind and is simply computed again.
"""

import logging

import orjson
from django.conf import settings
from django.db import transaction
from django.db.models import Q
from django.utils import timezone

from audit.recorder import Actor
from connectors.models import StripeConnection, SyncRun
from connectors.sync import run_sync
from connectors.sync.lease import holder_is_dead, holder_name
from reports import citations, document, periods, sql
from reports.disputes import disputes
from reports.models import ReportRun
from reports.mrr import mrr
from reports.payouts import payouts
from reports.revenue import revenue

log = logging.getLogger(__name__)

KINDS = {"revenue": revenue, "mrr": mrr, "disputes": disputes, "payouts": payouts}
# What execute() reads back of a run it has computed: all but the document.
READ_BACK = [f.attname for f in ReportRun._meta.concrete_fields if f.name != "result"]


class NotReady(periods.BadParameters):
    """The connection cannot be reported on yet (never synced)."""


def never_synced(connection):
    return NotReady(
        f"The connection {connection.name!r} has never been synced, so there is nothing to "
        f"report yet: run `manage.py sync {connection.name}` first, or ask for a sync first."
    )


def check(kind, connection, parameters, sync_first=False):
    """Raise BadParameters, saying why, unless a run of `kind` can answer `parameters`."""
    if kind not in KINDS:
        raise periods.BadParameters(f"Unknown report {kind!r}: one of {', '.join(KINDS)}.")
    periods.resolve(kind, parameters, timezone.now())
    if connection.data_as_of is None and not sync_first:
        raise never_synced(connection)


def create(kind, connection, parameters, *, requester_kind, user=None, name="",
           sync_first=False):  # fmt: skip
    """A queued run, once what was asked makes sense. Raises BadParameters (and creates
    nothing) when it does not."""
    check(kind, connection, parameters, sync_first)
    return ReportRun.objects.create(
        kind=kind,
        connection=connection,
        parameters=parameters,
        sync_first=sync_first,
        requester_kind=requester_kind,
        requested_by=user,
        requester_name=name,
    )


def queue(run):
    """Have a Celery worker compute the run once the transaction that created it commits
    (on a queue of its own when LUMEN_REPORT_QUEUE names one)."""
    from reports.tasks import run_report

    options = {"queue": settings.LUMEN_REPORT_QUEUE} if settings.LUMEN_REPORT_QUEUE else {}
    transaction.on_commit(lambda: run_report.apply_async(args=[run.pk], **options))


def claim(run_id):
    """Take the run for this process. True if this process is now the one computing it."""
    me = holder_name()
    claimable = Q(status=ReportRun.Status.QUEUED) | Q(status=ReportRun.Status.RUNNING, worker=me)
    started = timezone.now()
    values = {"status": ReportRun.Status.RUNNING, "worker": me, "started_at": started}
    if ReportRun.objects.filter(claimable, pk=run_id).update(**values):
        return True
    current = ReportRun.objects.filter(pk=run_id, status=ReportRun.Status.RUNNING).first()
    if current and current.worker and holder_is_dead(current.worker):
        # Compare-and-set on the dead worker's name: one of two takers wins.
        return bool(
            ReportRun.objects.filter(
                pk=run_id, status=ReportRun.Status.RUNNING, worker=current.worker
            ).update(**values)
        )
    return False


def actor_of(run):
    if run.requester_kind == ReportRun.Requester.USER and run.requested_by:
        return Actor.user(run.requested_by)
    if run.requester_kind == ReportRun.Requester.SCHEDULE:
        return Actor.schedule(run.requester_name)
    return Actor.command(run.requester_name or "report")


def execute(run_id):
    """Compute a run (safe to call again: a finished run is left as it is). Returns it."""
    if not claim(run_id):
        return ReportRun.objects.filter(pk=run_id).first()
    run = ReportRun.objects.select_related("connection", "requested_by").get(pk=run_id)
    warnings, written = [], None
    try:
        if run.sync_first:
            warnings += sync_first(run)
        written = compute(run, warnings)
    except Exception as e:
        expected = isinstance(e, periods.BadParameters)
        if not expected:
            log.exception("report run %s failed", run.pk)
        reason = str(e) if expected else f"{type(e).__name__}: {e}"
        citations.clear(run.pk)  # any a connection beside the run's own had committed
        ReportRun.objects.filter(pk=run.pk).update(
            status=ReportRun.Status.FAILED,
            error=reason,
            warnings=warnings,
            finished_at=timezone.now(),
        )
    # The run as stored, but for the document it has just written, which is not read back:
    # half a megabyte for the open disputes of a big account, a tenth of that report's time.
    run.refresh_from_db(fields=READ_BACK)
    if written is not None:
        run.result = written
    return run


def sync_first(run):
    """Bring the mirror up to date for this run, on behalf of whoever asked for it."""
    sync = run_sync(run.connection, actor=actor_of(run))
    ReportRun.objects.filter(pk=run.pk).update(sync_run=sync)
    if sync.status == SyncRun.Status.SUCCEEDED:
        return []
    if sync.status == SyncRun.Status.SKIPPED:
        return [f"Another sync of {run.connection} was running, so this run did not sync "
                "first; its figures are as of data_as_of."]  # fmt: skip
    return [f"The sync before this run failed ({sync.message}); its figures are as of "
            "data_as_of."]  # fmt: skip


def compute(run, warnings):
    """The document and the run's result, committed together, after the last of its
    citations: a run that succeeded has all of them, and one that did not has none.
    Returns the document as stored (JSON text)."""
    kind = KINDS[run.kind]
    now = timezone.now()
    # Committed before the snapshot: a kind may write its citations from more than one
    # database connection (citations.write), and rows this transaction had deleted but not
    # committed would hold the other connections' inserts of the same keys until it ended,
    # while it waits for them.
    citations.clear(run.pk)
    with sql.snapshot():
        connection = StripeConnection.objects.get(pk=run.connection_id)
        if connection.data_as_of is None:
            raise never_synced(connection)
        period = periods.resolve(run.kind, run.parameters, now)
        body = kind(connection, period, now, run.pk)
        warnings = warnings + body.pop("warnings")
        result = {
            **document.header(run.kind, connection, now, connection.data_as_of),
            **body,
            "warnings": warnings,
        }
        # orjson: a tenth of the time of json on the half a megabyte of a big account's open
        # disputes, which is a good part of that report's own work.
        written = orjson.dumps(result, option=orjson.OPT_NON_STR_KEYS).decode()
        ReportRun.objects.filter(pk=run.pk).update(
            status=ReportRun.Status.SUCCEEDED,
            result=written,
            warnings=warnings,
            error="",
            period_from=period.first if period else None,
            period_to=period.last if period else None,
            data_as_of=connection.data_as_of,
            finished_at=timezone.now(),
        )
    return written
