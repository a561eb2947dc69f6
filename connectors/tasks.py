"""Celery tasks of the connectors app. Arguments are ids, never keys."""

from celery import shared_task

from audit.recorder import Actor
from connectors import connections
from connectors.models import StripeConnection


@shared_task
def verify_connection(connection_id, schedule_name="verify_connection"):
    connection = StripeConnection.objects.filter(pk=connection_id).first()
    if connection is None:
        return {"connection": connection_id, "ok": False, "message": "connection deleted"}
    result = connections.verify(
        connection,
        actor=Actor.schedule(schedule_name),
        origin=f"task:verify_connection:{connection_id}",
    )
    return {"connection": connection.name, "ok": result.ok, "message": result.message}


@shared_task
def check_connections():
    """Re-verify every connection, so that a key revoked in Stripe shows as failing in the
    admin before a report needs it."""
    return [
        verify_connection(pk, "check_connections")
        for pk in StripeConnection.objects.values_list("pk", flat=True)
    ]


@shared_task
def sync_connection(connection_id, full=False, actor_kind="schedule", actor_name="sync"):
    """Sync one connection. Safe to re-run: a sync killed half-way resumes from its
    checkpoints, and a second sync of a connection already syncing is skipped. The actor
    is who asked (a schedule's name, or the staff user behind "Sync now")."""
    from connectors.sync import run_sync

    connection = StripeConnection.objects.filter(pk=connection_id).first()
    if connection is None:
        return {"connection": connection_id, "status": "skipped", "message": "connection deleted"}
    run = run_sync(connection, actor=Actor(actor_kind, actor_name), full=full)
    return run.as_document()


from connectors.webhook_tasks import process_webhook_delivery  # noqa: E402, F401
