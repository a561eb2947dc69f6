"""On PostgreSQL, refuse UPDATE and DELETE of audit rows from any client, not only the app.

The model already refuses changes; this covers psql, other services and raw SQL. There is
deliberately no TRUNCATE trigger: the test suite flushes tables with TRUNCATE. SQLite has no
trigger either, for the same reason (its flush deletes rows one by one), and the hash chain
still finds an edit there (`manage.py audit_verify`).
"""

from django.db import migrations

FUNCTION = "audit_refuse_change"
TRIGGER = "audit_auditevent_append_only"


def create_trigger(apps, schema_editor):
    if schema_editor.connection.vendor != "postgresql":
        return
    table = schema_editor.quote_name(apps.get_model("audit", "AuditEvent")._meta.db_table)
    schema_editor.execute(
        f"""
        CREATE OR REPLACE FUNCTION {FUNCTION}() RETURNS trigger AS $$
        BEGIN
            RAISE EXCEPTION 'audit events are append-only'
                USING HINT = 'Rows of ' || TG_TABLE_NAME || ' are never updated or deleted.';
        END;
        $$ LANGUAGE plpgsql
        """
    )
    schema_editor.execute(
        f"CREATE TRIGGER {TRIGGER} BEFORE UPDATE OR DELETE ON {table} "
        f"FOR EACH ROW EXECUTE FUNCTION {FUNCTION}()"
    )


def drop_trigger(apps, schema_editor):
    if schema_editor.connection.vendor != "postgresql":
        return
    table = schema_editor.quote_name(apps.get_model("audit", "AuditEvent")._meta.db_table)
    schema_editor.execute(f"DROP TRIGGER IF EXISTS {TRIGGER} ON {table}")
    schema_editor.execute(f"DROP FUNCTION IF EXISTS {FUNCTION}()")


class Migration(migrations.Migration):
    dependencies = [("audit", "0001_initial")]

    operations = [migrations.RunPython(create_trigger, drop_trigger)]
