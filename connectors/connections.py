"""What staff do to a connection: save a key (create or rotate) once Stripe has been asked
about it, verify it, sync it, delete it.

The admin, the `connect` command and the Celery tasks all come through here, so each action
is validated, verified and recorded on the audit log the same way whoever starts it.
"""

import json
from dataclasses import dataclass, field

from django.conf import settings
from django.core.exceptions import ValidationError
from django.db import transaction
from django.utils import timezone
from django.views.decorators.debug import sensitive_variables
from django_celery_beat.models import IntervalSchedule, PeriodicTask

from audit.recorder import record
from connectors import deletion
from connectors.door import Door, DoorError, KeyRejected, PermissionMissing, try_key
from connectors.keys import parse_key
from connectors.models import StripeConnection
from connectors.resources import ACCOUNT, RESOURCES
from connectors.sync import lease


@dataclass
class Verification:
    ok: bool
    message: str
    readable: list = field(default_factory=list)
    unreadable: dict = field(default_factory=dict)
    warnings: list = field(default_factory=list)


def record_action(connection, actor, operation, origin="", **params):
    record(
        actor=actor,
        operation=operation,
        origin=origin,
        connection_id=connection.pk,
        connection_name=connection.name,
        params=params,
    )


@sensitive_variables("key")
def check_key(connection, key, *, actor, origin=""):
    """Ask Stripe whether it accepts a key about to be saved in `connection` (one audited
    call, connectors.door.try_key), so that a key it refuses is never stored.

    Raises ValidationError when Stripe refuses the key (401): save nothing. Returns "" when
    Stripe accepted it, or why Stripe could not tell (5xx, timeout, network): the key may
    then be saved, unverified, with that reason (save_key's `unverified_reason`)."""
    parsed = parse_key(key)
    try:
        try_key(connection, key.strip(), parsed.mode, actor=actor, origin=origin)
    except KeyRejected:
        kept = (
            f"The connection keeps its current key ({connection.masked_key}) and shows as "
            "failing until a key works."
            if connection.pk
            else "Nothing was saved."
        )
        if connection.pk:
            # A rotation is usually asked for because the key stopped working: the connection
            # turns failing, as it would if its own key were refused, and says why.
            StripeConnection.objects.get(pk=connection.pk).mark_failing(
                "Stripe refused the new key pasted to replace this one (401); the connection "
                f"keeps its current key ({connection.masked_key}). Paste a key that works."
            )
        raise ValidationError(
            "Stripe refused this key (401): it is not a key Stripe knows, or it has been "
            f"revoked. {kept} Copy the key again from Developers → API keys in Stripe's "
            "dashboard.",
            code="refused",
        ) from None
    except DoorError as e:
        return f"Stripe could not be asked about the key when it was saved ({e})."
    return ""


@sensitive_variables("key", "parsed")
def save_key(connection, key, *, actor, origin="", unverified_reason=""):
    """Create the connection or rotate its key. Raises ValidationError for a bad key, in
    which case nothing is saved. Returns the warnings to show (a full secret key).

    `unverified_reason` says why the new key is not known to work yet (check_key could not
    ask Stripe); the connection shows it until a verification succeeds."""
    parsed = parse_key(key)
    creating = connection.pk is None
    if not creating and connection.holds_key(key.strip()):
        # The key it already holds, pasted again: not a rotation, and what the key was
        # found to allow still holds (the save verifies it again anyway).
        connection.save()
        return [parsed.warning] if parsed.warning else []
    with transaction.atomic():
        rotating = connection.set_key(key.strip(), parsed)
        connection.health_reason = unverified_reason
        connection.save()
        operation = (
            "connection.created"
            if creating
            else ("connection.key_rotated" if rotating else "connection.key_set")
        )
        record_action(
            connection,
            actor,
            operation,
            origin,
            key=connection.masked_key,
            key_kind=connection.key_kind,
            mode=connection.mode,
        )
    return [parsed.warning] if parsed.warning else []


class ConnectionBusy(Exception):
    """The connection is being synced: it cannot be deleted now. The message is for staff."""


def busy_message(connection, holder):
    return (
        f"The connection {connection.name} is being synced now (by {holder}): wait for the "
        "sync to finish (see its sync runs), then delete it. Nothing was deleted."
    )


def delete_connection(connection, *, actor, origin="", progress=None):
    """Delete the connection, its mirror, sync runs, report runs and schedules and its
    webhook endpoint, in batches (connectors.deletion); keep the audit log as it is, and add
    to it who deleted what. Returns {what: rows deleted}.

    Raises ConnectionBusy, deleting nothing, while a sync of it runs. The connection is
    claimed as a sync claims it, so no sync starts until it is gone; should the deletion
    stop half-way, running it again finishes it."""
    if not lease.claim(connection):
        raise ConnectionBusy(
            busy_message(connection, lease.syncing_now(connection) or "another process")
        )
    try:
        deleted = deletion.delete_parts(
            connection, progress=progress, between=lambda: lease.renew(connection)
        )
        with transaction.atomic():
            record_action(
                connection,
                actor,
                "connection.deleted",
                origin,
                key=connection.masked_key,
                account=connection.account_id,
                deleted={label: rows for label, rows in deleted.items() if rows},
            )
            PeriodicTask.objects.filter(name=schedule_name(connection)).delete()
            connection.delete()
    finally:
        lease.release(connection)  # nothing to release once the connection is gone
    return deleted


def schedule_name(connection):
    return f"Sync {connection.name} (connection {connection.pk})"


def schedule_sync(connection):
    """Keep the connection's polling schedule (django-celery-beat) in step with its
    sync_interval_minutes. The schedule passes its own id, so the sync is recorded as done by
    the schedule it really is (connectors.requesters)."""
    name = schedule_name(connection)
    if not connection.sync_interval_minutes:
        PeriodicTask.objects.filter(name=name).update(enabled=False)
        return None
    every, _ = IntervalSchedule.objects.get_or_create(
        every=connection.sync_interval_minutes, period=IntervalSchedule.MINUTES
    )
    task, _ = PeriodicTask.objects.update_or_create(
        name=name,
        defaults={
            "task": "connectors.tasks.sync_connection",
            "interval": every,
            "args": json.dumps([connection.pk]),
            "enabled": True,
        },
    )
    kwargs = json.dumps({"schedule_id": task.pk})
    if task.kwargs != kwargs:
        task.kwargs = kwargs
        task.save(update_fields=["kwargs"])
    return task


def sync_now(connection, *, user):
    """Queue a sync of the connection for a staff user; the run records who asked."""
    from connectors.tasks import sync_connection

    queue_for_staff(sync_connection, connection.pk, user_id=user.pk)


def queue_verification(connection, *, user):
    """Verify the connection in a worker (each probe of Stripe can take up to STRIPE_TIMEOUT:
    a web request must not wait for seventeen of them)."""
    from connectors.tasks import verify_connection

    queue_for_staff(verify_connection, connection.pk, user_id=user.pk)


def queue_for_staff(task, connection_id, **kwargs):
    """Queue once the request's transaction commits (a worker must find what it saved), on
    LUMEN_CONNECTION_QUEUE when it names one."""
    queue = settings.LUMEN_CONNECTION_QUEUE
    options = {"queue": queue} if queue else {}
    transaction.on_commit(lambda: task.apply_async(args=[connection_id], kwargs=kwargs, **options))


def verify(connection, *, actor, origin=""):
    """Read the account and probe every resource with a one-object list call.

    Records mode, account and which resources the key can read. A key Stripe refuses marks
    the connection failing (the door does that) and is reported, not raised.
    """
    door = Door(connection, actor=actor, origin=origin)
    readable, unreadable, warnings = [], {}, []
    account = {}
    try:
        try:
            account = door.retrieve(ACCOUNT.name)
        except PermissionMissing as e:
            # Expected of every restricted key (see connectors.resources.ACCOUNT).
            account = {"id": e.account}
        for resource in RESOURCES:
            try:
                if resource.is_list:
                    answer = door.list_page(resource.name, limit=1)
                else:
                    answer = door.retrieve(resource.name)
            except PermissionMissing as e:
                unreadable[resource.name] = e.permission or resource.permission
                continue
            readable.append(resource.name)
            if resource.name == "invoices" and answer["data"] and not account.get("name"):
                account.setdefault("name_from_invoice", answer["data"][0].get("account_name"))
            if answer.get("livemode", connection.mode == "live") != (connection.mode == "live"):
                warnings.append(f"{resource.name} answered in the other mode than the key's")
    except DoorError as e:
        result = Verification(False, str(e), readable, unreadable)
        record_action(connection, actor, "connection.verified", origin, ok=False, message=str(e))
        return result

    now = timezone.now()
    fields = {
        "account_id": account.get("id", ""),
        "account_name": account_display_name(account),
        "readable_resources": readable,
        "unreadable_resources": unreadable,
        "last_verified_at": now,
    }
    if readable:
        fields.update(health=StripeConnection.Health.OK, health_reason="", failing_since=None)
        message = f"Verified: {len(readable)} of {len(RESOURCES)} resources readable."
    else:
        reason = "The key can read none of the resources Lumen needs."
        fields.update(health=StripeConnection.Health.FAILING, health_reason=reason)
        fields["failing_since"] = connection.failing_since or now
        message = reason
    StripeConnection.objects.filter(pk=connection.pk).update(**fields)
    for name, value in fields.items():
        setattr(connection, name, value)
    record_action(
        connection,
        actor,
        "connection.verified",
        origin,
        ok=bool(readable),
        mode=connection.mode,
        account=fields["account_id"],
        readable=readable,
        unreadable=unreadable,
    )
    return Verification(bool(readable), message, readable, unreadable, warnings)


def account_display_name(account):
    dashboard = (account.get("settings") or {}).get("dashboard") or {}
    profile = account.get("business_profile") or {}
    return (
        dashboard.get("display_name")
        or profile.get("name")
        or account.get("name_from_invoice")
        or account.get("email")
        or account.get("id", "")
    )
