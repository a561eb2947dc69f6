"""Re-key the audit chain: from plain SHA-256 links to HMAC-SHA256 under AUDIT_CHAIN_KEY.

The old links could be recomputed by anyone who could edit a row, so they are replaced rather
than kept beside the new ones: a per-row "old scheme" marker would let that same person mark
an edited row as old. The old chain is checked first, and a broken one is refused (re-keying
it would hide the change); then every link is recomputed, oldest first, and an
"audit.rekeyed" event records the old head, so whoever holds an export from before the
upgrade can match it to the re-keyed rows.

Both schemes are written out here, not imported: this migration must compute what they were
when it was written, whatever the model computes later. Stop the workers while it runs: an
event written by an old worker after it would carry an old link.
"""

import hashlib
import hmac
import json
from datetime import UTC, datetime

from django.conf import settings
from django.db import migrations
from django.utils import timezone

GENESIS_HASH = "0" * 64
TRIGGER = "audit_auditevent_append_only"
CHUNK = 2000
LEGACY_FIELDS = (
    "occurred_at", "actor_kind", "actor", "origin", "connection_id", "connection_name",
    "operation", "method", "path", "resource_type", "object_id", "date_from", "date_to",
    "params", "outcome", "http_status", "request_id", "duration_ms", "object_count", "attempt",
    "message",
)
KEYED_FIELDS = (*LEGACY_FIELDS, "host")


def _payload(previous_hash, row, fields):
    body = [
        value.astimezone(UTC).isoformat() if isinstance(value, datetime) else value
        for value in (row[name] for name in fields)
    ]
    return json.dumps([previous_hash, body], sort_keys=True, separators=(",", ":")).encode()


def legacy_link(previous_hash, row):
    return hashlib.sha256(_payload(previous_hash, row, LEGACY_FIELDS)).hexdigest()


def keyed_link(previous_hash, row):
    key = settings.AUDIT_CHAIN_KEY.encode()
    return hmac.new(key, _payload(previous_hash, row, KEYED_FIELDS), "sha256").hexdigest()


def _chunks(AuditEvent):
    last = 0
    while True:
        rows = list(
            AuditEvent.objects.filter(id__gt=last)
            .order_by("id")
            .values("id", "chain_hash", *KEYED_FIELDS)[:CHUNK]
        )
        if not rows:
            return
        yield rows
        last = rows[-1]["id"]


def _rechain(apps, schema_editor, check, link, scheme):
    """Check every row against `check`, then store `link` as its hash; return the old head."""
    AuditEvent = apps.get_model("audit", "AuditEvent")
    previous = GENESIS_HASH
    for rows in _chunks(AuditEvent):
        for row in rows:
            if check(previous, row) != row["chain_hash"]:
                raise RuntimeError(
                    f"The audit chain is broken at event #{row['id']} under the {scheme} "
                    f"scheme: its content or its predecessor changed after it was written. "
                    f"It was not re-keyed, which would hide the change; nothing was changed."
                )
            previous = row["chain_hash"]
    old_head = previous

    connection = schema_editor.connection
    table = schema_editor.quote_name(AuditEvent._meta.db_table)
    with connection.cursor() as cursor:
        if connection.vendor == "postgresql":
            # The append-only trigger refuses UPDATE; this migration is the one exception.
            cursor.execute(f"ALTER TABLE {table} DISABLE TRIGGER {TRIGGER}")
        previous = GENESIS_HASH
        for rows in _chunks(AuditEvent):
            updates = []
            for row in rows:
                previous = link(previous, row)
                updates.append((previous, row["id"]))
            cursor.executemany(f"UPDATE {table} SET chain_hash = %s WHERE id = %s", updates)
        if connection.vendor == "postgresql":
            cursor.execute(f"ALTER TABLE {table} ENABLE TRIGGER {TRIGGER}")
    return old_head, previous


def rekey(apps, schema_editor):
    AuditEvent = apps.get_model("audit", "AuditEvent")
    count = AuditEvent.objects.count()
    if not count:
        return
    old_head, new_head = _rechain(apps, schema_editor, legacy_link, keyed_link, "SHA-256")
    event = AuditEvent(
        occurred_at=timezone.now(),
        actor_kind="system",
        actor="migrate",
        origin="migration:audit.0005_keyed_chain",
        operation="audit.rekeyed",
        params={"events": count, "sha256_head": old_head},
        message=f"The {count} events before this one were re-keyed from SHA-256 to HMAC-SHA256.",
    )
    row = {name: getattr(event, name) for name in KEYED_FIELDS}
    event.chain_hash = keyed_link(new_head, row)
    event.save()


def unkey(apps, schema_editor):
    _rechain(apps, schema_editor, keyed_link, legacy_link, "HMAC-SHA256")


class Migration(migrations.Migration):
    dependencies = [("audit", "0004_auditevent_export_permission")]

    operations = [migrations.RunPython(rekey, unkey)]
