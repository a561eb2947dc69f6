"""Celery tasks of the reports app. Arguments are ids, never keys or names of people."""

from celery import shared_task

from reports import runner


@shared_task
def run_report(run_id):
    """Compute a queued ReportRun. Safe to retry and to deliver twice: the run is claimed
    before it is computed, and a finished run is left as it is."""
    run = runner.execute(run_id)
    if run is None:
        return {"run": run_id, "status": "missing"}
    return {"run": run.pk, "status": run.status, "error": run.error}
