"""The one way to write the audit log. Other apps call `record()` (or `record_many()`); nothing
else inserts rows.

Who did it is an `Actor`; what it was part of is `origin` (free text such as "sync_run:12"
or "admin:verify"). The recorder knows nothing of Stripe: callers pass plain values.
"""

from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime

from django.db import connection, transaction
from django.utils import timezone

from audit.models import GENESIS_HASH, AuditEvent

TEXT_LIMITS = {
    f.name: f.max_length for f in AuditEvent._meta.get_fields() if getattr(f, "max_length", None)
}

# Any constant works; it names "the audit chain" among PostgreSQL advisory locks.
CHAIN_LOCK_KEY = 0x4C554D454E  # "LUMEN"


@dataclass(frozen=True)
class Actor:
    kind: str
    name: str = ""

    @classmethod
    def user(cls, user):
        return cls(AuditEvent.ActorKind.USER, user.get_username())

    @classmethod
    def schedule(cls, name):
        return cls(AuditEvent.ActorKind.SCHEDULE, name)

    @classmethod
    def webhook(cls, name=""):
        return cls(AuditEvent.ActorKind.WEBHOOK, name)

    @classmethod
    def command(cls, name):
        return cls(AuditEvent.ActorKind.COMMAND, name)

    @classmethod
    def system(cls, name=""):
        return cls(AuditEvent.ActorKind.SYSTEM, name)


def as_datetime(value):
    """Stripe filters carry Unix timestamps; the log stores aware UTC datetimes."""
    if value in (None, ""):
        return None
    if isinstance(value, datetime):
        return value
    return datetime.fromtimestamp(int(value), tz=UTC)


def record(
    *, actor, operation, origin="", connection_id=None, connection_name="", occurred_at=None,
    **fields,
):  # fmt: skip
    """Append one event to the log and return it: it happened at `occurred_at` (now unless
    said), whenever it is written.

    The chain head is read and the new row written under `chain_lock`, so concurrent
    writers from several worker processes still produce a single unbroken chain.
    """
    (event,) = record_many([dict(
        actor=actor, operation=operation, origin=origin, connection_id=connection_id,
        connection_name=connection_name, occurred_at=occurred_at, **fields,
    )])  # fmt: skip
    return event


def record_many(events):
    """Append events (each the keyword arguments of `record`), in order, and return them:
    one read of the chain's head and one insert, which for the hundred rows of a sync's
    pages (connectors.sync) is a hundred round trips fewer than as many `record`s."""
    events = [_event(**fields) for fields in events]
    if not events:
        return events
    with chain_lock():
        previous = (
            AuditEvent.objects.order_by("-id").values_list("chain_hash", flat=True).first()
            or GENESIS_HASH
        )
        for event in events:
            event.chain_hash = previous = event.compute_hash(previous)
        AuditEvent.objects.append_chained(events)
    return events


def _event(
    *, actor, operation, origin="", connection_id=None, connection_name="", occurred_at=None,
    **fields,
):  # fmt: skip
    for name in ("date_from", "date_to"):
        if name in fields:
            fields[name] = as_datetime(fields[name])
    for name in ("message", "path", "object_id", "request_id", "actor", "origin"):
        if fields.get(name) is None:
            fields.pop(name, None)
    # A value longer than its column would fail on PostgreSQL (and not on SQLite): the log
    # keeps what fits rather than losing the event.
    for name, value in fields.items():
        limit = TEXT_LIMITS.get(name)
        if limit and isinstance(value, str) and len(value) > limit:
            fields[name] = value[: limit - 1] + "…"
    return AuditEvent(
        occurred_at=occurred_at or timezone.now(),
        actor_kind=actor.kind,
        actor=actor.name[: TEXT_LIMITS["actor"]],
        origin=origin[: TEXT_LIMITS["origin"]],
        connection_id=connection_id,
        connection_name=connection_name[: TEXT_LIMITS["connection_name"]],
        operation=operation,
        **fields,
    )


@contextmanager
def chain_lock():
    """A transaction in which nobody else appends to the chain: an advisory lock on
    PostgreSQL, the database write lock on SQLite (its transactions begin IMMEDIATE, see
    settings). Whoever reads the head inside it reads the head the next row will follow."""
    with transaction.atomic():
        if connection.vendor == "postgresql":
            with connection.cursor() as cursor:
                cursor.execute("SELECT pg_advisory_xact_lock(%s)", [CHAIN_LOCK_KEY])
        yield
