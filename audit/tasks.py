"""Celery tasks of the audit app."""

from celery import shared_task
from django.contrib.auth import get_user_model

from audit import verification
from audit.anchors import write_anchor
from audit.recorder import Actor, record


@shared_task
def anchor_chain():
    """Append an anchor of the chain's head to the anchor file (beat runs it every hour).

    It does not walk the chain first: an edit is found by the links whenever audit_verify
    runs, and an anchor of an edited head cannot hide an earlier anchor's missing event.
    """
    anchor = write_anchor()
    return {"anchored": anchor and anchor.as_document()}


@shared_task
def verify_chain(user_id):
    """Walk the chain and check every anchor for a staff user (the audit log's "Verify the
    chain"), and put the outcome on the log itself as "audit.verified", so that the list
    shows it and nobody can later claim a check that did not happen. A walk of millions of
    events takes a while: a worker does it, not the web request."""
    user = get_user_model().objects.filter(pk=user_id, is_active=True).first()
    if user is None:
        return {"verified": False, "message": f"No active user has the id {user_id}: not run."}
    result = verification.verify()
    document = result.as_document()
    record(
        actor=Actor.user(user),
        operation="audit.verified",
        origin="admin",
        params=document,
        message="intact" if result.intact else result.reason,
    )
    return document
