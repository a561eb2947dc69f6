"""Celery tasks of the connectors app. Arguments are ids, never keys.

Who asked is never taken from a task's arguments as a name: anyone who can edit a periodic
task or reach the broker could then make a sync appear to be done by anyone. A task is given
the id of a user or of a schedule and looks it up (connectors.requesters), so the audit log
names a real user or a real schedule.
"""

from celery import shared_task

from audit.recorder import Actor
from connectors import connections, requesters
from connectors.models import StripeConnection

CHECK_SCHEDULE = "Check Stripe connections"


@shared_task
def verify_connection(connection_id, user_id=None):
    """Verify a connection's key for a staff user ("Verify selected", saving a key)."""
    try:
        actor = requesters.actor(user_id=user_id, default=Actor.system("verify_connection"))
    except requesters.UnknownRequester as e:
        return {"connection": connection_id, "ok": False, "message": str(e)}
    return _verify(connection_id, actor)


@shared_task
def check_connections():
    """Re-verify every connection, so that a key revoked in Stripe shows as failing in the
    admin before a report needs it. Run by the hourly schedule of that name."""
    actor = Actor.schedule(CHECK_SCHEDULE)
    return [_verify(pk, actor) for pk in StripeConnection.objects.values_list("pk", flat=True)]


def _verify(connection_id, actor):
    connection = StripeConnection.objects.filter(pk=connection_id).first()
    if connection is None:
        return {"connection": connection_id, "ok": False, "message": "connection deleted"}
    result = connections.verify(
        connection, actor=actor, origin=f"task:verify_connection:{connection_id}"
    )
    return {"connection": connection.name, "ok": result.ok, "message": result.message}


@shared_task
def sync_connection(connection_id, full=False, user_id=None, schedule_id=None):
    """Sync one connection, for a staff user ("Sync now") or a polling schedule (the id of
    its django-celery-beat task). Safe to re-run: a sync killed half-way resumes from its
    checkpoints, and a second sync of a connection already syncing is skipped."""
    from connectors.sync import run_sync

    connection = StripeConnection.objects.filter(pk=connection_id).first()
    if connection is None:
        return {"connection": connection_id, "status": "skipped", "message": "connection deleted"}
    try:
        actor = requesters.actor(
            user_id=user_id, schedule_id=schedule_id, default=Actor.system("sync")
        )
    except requesters.UnknownRequester as e:
        return {"connection": connection.name, "status": "skipped", "message": str(e)}
    run = run_sync(connection, actor=actor, full=full)
    return run.as_document()


from connectors.webhook_tasks import process_webhook_delivery  # noqa: E402, F401
