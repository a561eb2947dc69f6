"""Users and events for the audit log tests.

The users are the audit log's own (a superuser, a staff member allowed to view the log, a
staff member who is not), so these tests need nothing from the connectors.
"""

import hashlib
import hmac
import json
from contextlib import contextmanager
from datetime import UTC, datetime
from io import StringIO
from urllib.parse import urlencode

import pytest
import time_machine
from django.contrib.auth.models import Permission, User
from django.core.management import call_command
from django.db import connection
from django.urls import reverse

from audit.models import AuditEvent
from audit.recorder import Actor, record

CHANGELIST = "admin:audit_auditevent_changelist"
EXPORT_CSV = "admin:audit_auditevent_export_csv"

AUDIT_TABLE = AuditEvent._meta.db_table
PG_TRIGGER = "audit_auditevent_append_only"


@pytest.fixture
def superuser(db):
    return User.objects.create_superuser("ada", "ada@example.org", "password")


@pytest.fixture
def viewer(db):
    """Staff allowed to view the audit log, and nothing else."""
    user = User.objects.create_user("vic", "vic@example.org", "password", is_staff=True)
    user.user_permissions.set(Permission.objects.filter(codename="view_auditevent"))
    return user


@pytest.fixture
def auditor(db):
    """Staff allowed to view the audit log and to export it."""
    user = User.objects.create_user("aud", "aud@example.org", "password", is_staff=True)
    user.user_permissions.set(
        Permission.objects.filter(
            content_type__app_label="audit", codename__in=["view_auditevent", "export_auditevent"]
        )
    )
    return user


@pytest.fixture
def outsider(db):
    """Staff without any permission on the audit log."""
    return User.objects.create_user("oz", "oz@example.org", "password", is_staff=True)


def event_at(when, *, actor=None, operation="list", **fields):
    """Record an event as if it happened at `when` (an aware datetime)."""
    with time_machine.travel(when, tick=False):
        return record(actor=actor or Actor.system("tests"), operation=operation, **fields)


def day(d, hour=12, minute=0, second=0, microsecond=0):
    """A time on day `d` of January 2025, UTC."""
    return datetime(2025, 1, d, hour, minute, second, microsecond, tzinfo=UTC)


@pytest.fixture
def three(db):
    return [event_at(day(d), path=f"/v1/charges?page={d}", object_count=d) for d in (1, 2, 3)]


def verify(*args):
    """Run audit_verify in this process; return (exit status, stdout)."""
    out = StringIO()
    try:
        call_command("audit_verify", *args, stdout=out)
    except SystemExit as e:
        return e.code, out.getvalue()
    return 0, out.getvalue()


@pytest.fixture
def events(db):
    """A small log with one of each thing the admin filters and searches on.

    Returns the events by name.
    """
    acme = {"connection_id": 7, "connection_name": "acme"}
    globex = {"connection_id": 9, "connection_name": "globex"}
    return {
        "charges": event_at(
            day(1),
            actor=Actor.schedule("nightly"),
            method="GET",
            path="/v1/charges",
            resource_type="charges",
            outcome=AuditEvent.Outcome.OK,
            http_status=200,
            request_id="req_list1",
            duration_ms=120,
            object_count=100,
            date_from=1735689600,
            params={"limit": 100},
            **acme,
        ),
        "charge": event_at(
            day(2),
            actor=Actor.schedule("nightly"),
            operation="retrieve",
            method="GET",
            path="/v1/charges/ch_123",
            resource_type="charges",
            object_id="ch_123",
            http_status=200,
            request_id="req_one",
            duration_ms=40,
            object_count=1,
            **acme,
        ),
        "payouts": event_at(
            day(3),
            actor=Actor.command("sync"),
            method="GET",
            path="/v1/payouts",
            resource_type="payouts",
            outcome=AuditEvent.Outcome.RATE_LIMITED,
            http_status=429,
            request_id="req_limited",
            **globex,
        ),
        "refused": event_at(
            day(4),
            actor=Actor.command("sync"),
            operation="create",
            method="POST",
            path="/v1/refunds",
            resource_type="refunds",
            outcome=AuditEvent.Outcome.BLOCKED,
            message='=HYPERLINK("http://evil.example")',
            **globex,
        ),
        "staff": event_at(
            day(5),
            actor=Actor.system("@ops"),
            operation="connection.created",
            origin="+admin",
            object_id="-ch_123",
            params={"note": "@SUM(A1:A9)"},
        ),
    }


def sqlite_triggers(connection, table=AUDIT_TABLE):
    """(name, CREATE statement) of each trigger on `table` of a SQLite database."""
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT name, sql FROM sqlite_master WHERE type = 'trigger' AND tbl_name = %s",
            [table],
        )
        return cursor.fetchall()


@contextmanager
def behind_the_apps_back():
    """A raw cursor that can change audit rows, as a database superuser could.

    The append-only triggers are disabled for the duration (PostgreSQL), or dropped and
    created again (SQLite, which cannot disable a trigger).
    """
    triggers = sqlite_triggers(connection) if connection.vendor == "sqlite" else []
    with connection.cursor() as cursor:
        if connection.vendor == "postgresql":
            cursor.execute(f"ALTER TABLE {AUDIT_TABLE} DISABLE TRIGGER {PG_TRIGGER}")
        for name, _ in triggers:
            cursor.execute(f'DROP TRIGGER "{name}"')
        try:
            yield cursor
        finally:
            if connection.vendor == "postgresql":
                cursor.execute(f"ALTER TABLE {AUDIT_TABLE} ENABLE TRIGGER {PG_TRIGGER}")
            for _, sql in triggers:
                cursor.execute(sql)


def changelist_url(**query):
    return reverse(CHANGELIST) + ("?" + urlencode(query) if query else "")


# The chain, computed here from what the database holds, independently of audit.models -------

# The fields each link covers, in order. The first 21 are those of the plain SHA-256 chain that
# Lumen wrote before the chain was keyed; `host` came after.
LEGACY_FIELDS = (
    "occurred_at",
    "actor_kind",
    "actor",
    "origin",
    "connection_id",
    "connection_name",
    "operation",
    "method",
    "path",
    "resource_type",
    "object_id",
    "date_from",
    "date_to",
    "params",
    "outcome",
    "http_status",
    "request_id",
    "duration_ms",
    "object_count",
    "attempt",
    "message",
)
KEYED_FIELDS = (*LEGACY_FIELDS, "host")


def stored_rows():
    """Every row of the log as the database holds it, oldest first."""
    return list(AuditEvent.objects.order_by("id").values("id", "chain_hash", *KEYED_FIELDS))


def link_payload(previous_hash, row, fields):
    body = [
        value.astimezone(UTC).isoformat() if isinstance(value, datetime) else value
        for value in (row[name] for name in fields)
    ]
    return json.dumps([previous_hash, body], sort_keys=True, separators=(",", ":")).encode()


def legacy_hash(previous_hash, row):
    """A link of the old chain: plain SHA-256, which anyone can compute."""
    return hashlib.sha256(link_payload(previous_hash, row, LEGACY_FIELDS)).hexdigest()


def keyed_hash(previous_hash, row, key):
    return hmac.new(
        key.encode(), link_payload(previous_hash, row, KEYED_FIELDS), "sha256"
    ).hexdigest()


def rewrite_chain(rows, link, previous_hash="0" * 64):
    """Store `link(previous, row)` as the hash of each row, as whoever holds the database can."""
    with behind_the_apps_back() as cursor:
        for row in rows:
            previous_hash = link(previous_hash, row)
            cursor.execute(
                "UPDATE audit_auditevent SET chain_hash = %s WHERE id = %s",
                [previous_hash, row["id"]],
            )
