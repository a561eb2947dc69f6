"""Report schedules: each keeps a django-celery-beat task in step with it, and each firing is
a ReportRun (requested by the schedule) whose result, or reason for failing, is emailed.

The task takes the schedule's id only; who asked is read from the schedule row, so a message
on the broker cannot make a run appear to come from someone else. A firing delivered twice
(the task id is the same) runs and emails once.
"""

import json

from django.db import transaction
from django.utils import timezone
from django_celery_beat.models import PeriodicTask

from reports import mail, runner
from reports.models import ReportRun, ReportSchedule
from reports.periods import PRESETS, BadParameters

TASK = "reports.tasks.run_schedule"


def task_name(schedule):
    return f"Report schedule: {schedule.name} (#{schedule.pk})"


def keep_in_step(schedule):
    """Create or update the schedule's periodic task (its crontab, enabled or not)."""
    values = {
        "name": task_name(schedule),
        "task": TASK,
        "crontab": schedule.crontab,
        "interval": None,
        "args": json.dumps([schedule.pk]),
        "kwargs": "{}",
        "enabled": schedule.enabled,
    }
    with transaction.atomic():
        task = schedule.periodic_task
        if task is None:
            task = PeriodicTask.objects.create(**values)
            ReportSchedule.objects.filter(pk=schedule.pk).update(periodic_task=task)
            schedule.periodic_task = task
        else:
            for field, value in values.items():
                setattr(task, field, value)
            task.save()
    return task


def forget(schedule):
    if schedule.periodic_task_id:
        PeriodicTask.objects.filter(pk=schedule.periodic_task_id).delete()


def parameters_of(schedule):
    return {} if schedule.kind == "disputes" else dict(PRESETS[schedule.period][1])


def fire(schedule_id, firing=""):
    """Run the schedule's report now and email it. Returns the run (None: no such schedule,
    or it is disabled)."""
    schedule = ReportSchedule.objects.select_related("connection").filter(pk=schedule_id).first()
    if schedule is None or not schedule.enabled:
        return None
    run = ReportRun.objects.filter(firing=firing).first() if firing else None
    if run is None:
        run = start(schedule, firing)
    if run.status in (ReportRun.Status.QUEUED, ReportRun.Status.RUNNING):
        run = runner.execute(run.pk)
    if run.emailed_at is None and run.status in (ReportRun.Status.SUCCEEDED,
                                                 ReportRun.Status.FAILED):  # fmt: skip
        mail.send_run(schedule, run)
    return run


def start(schedule, firing):
    asked = {
        "requester_kind": ReportRun.Requester.SCHEDULE,
        "name": schedule.name,
        "sync_first": schedule.sync_first,
    }
    try:
        run = runner.create(schedule.kind, schedule.connection, parameters_of(schedule), **asked)
    except BadParameters as e:
        # Nothing can be computed (a connection never synced...): the run records why, the
        # front page shows it, and the recipients are told.
        run = ReportRun.objects.create(
            kind=schedule.kind,
            connection=schedule.connection,
            parameters=parameters_of(schedule),
            sync_first=schedule.sync_first,
            requester_kind=ReportRun.Requester.SCHEDULE,
            requester_name=schedule.name,
            status=ReportRun.Status.FAILED,
            error=str(e),
            finished_at=timezone.now(),
        )
    if firing:
        ReportRun.objects.filter(pk=run.pk).update(firing=firing)
        run.firing = firing
    return run
