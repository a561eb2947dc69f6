"""On SQLite, refuse UPDATE and DELETE of audit rows from any client, as PostgreSQL does
(0002_append_only_trigger).

SQLite has no TRUNCATE, and a DELETE without WHERE fires row triggers too, so these also
refuse emptying the table. The test-suite, whose flush between transactional tests deletes
every row, drops and re-creates them around its flush (tests/conftest.py); nothing else may.

A later migration that makes SQLite rebuild this table (most AlterField) drops these
triggers with the old table: it must create them again.
"""

from django.db import migrations

REFUSE = "SELECT RAISE(ABORT, 'audit events are append-only')"
TRIGGERS = {
    "audit_auditevent_no_update": "BEFORE UPDATE",
    "audit_auditevent_no_delete": "BEFORE DELETE",
}


def create_triggers(apps, schema_editor):
    if schema_editor.connection.vendor != "sqlite":
        return
    table = schema_editor.quote_name(apps.get_model("audit", "AuditEvent")._meta.db_table)
    for name, when in TRIGGERS.items():
        schema_editor.execute(f"CREATE TRIGGER {name} {when} ON {table} BEGIN {REFUSE}; END")


def drop_triggers(apps, schema_editor):
    if schema_editor.connection.vendor != "sqlite":
        return
    for name in TRIGGERS:
        schema_editor.execute(f"DROP TRIGGER IF EXISTS {name}")


class Migration(migrations.Migration):
    dependencies = [("audit", "0005_keyed_chain")]

    operations = [migrations.RunPython(create_triggers, drop_triggers)]
