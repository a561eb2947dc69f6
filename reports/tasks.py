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


@shared_task(bind=True)
def run_schedule(self, schedule_id):
    """A schedule's firing (from beat, or "Run now" in the admin): run its report and email
    it. The task id names the firing, so a message delivered twice runs and emails once."""
    from reports import schedules

    run = schedules.fire(schedule_id, firing=self.request.id or "")
    if run is None:
        return {"schedule": schedule_id, "status": "skipped"}
    return {"schedule": schedule_id, "run": run.pk, "status": run.status}
