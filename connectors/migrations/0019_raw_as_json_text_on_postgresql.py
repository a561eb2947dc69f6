"""On PostgreSQL, the mirror's objects (`raw`) are `json` rather than `jsonb`.

`jsonb` parsed every object into its binary form as the page was written, sorting the keys of
each object inside it: about a third of the server's CPU in a sync, by `perf`. Nothing in
Lumen looks inside `raw` in SQL, and `json` keeps the text as the sync serialised it, only
checked (connectors.models.mirror.StripeJSON). Measured on pages of 100 charges, writing
3,000 took the server 310 ms into `jsonb`, 177 ms into `json`.

The column keeps its lz4 compression (connectors/0016), which a change of type would reset.
A database created since this change has `json` already (the field's own type); this
migration converts the databases created before it, rewriting each table once.
"""

from django.db import migrations

from connectors.models.mirror import StripeJSON
from lumen.postgres import has_lz4


def _tables(apps):
    for model in apps.get_app_config("connectors").get_models():
        fields = {field.name: field for field in model._meta.concrete_fields}
        if isinstance(fields.get("raw"), StripeJSON):
            yield model._meta.db_table


def _retype(apps, schema_editor, to):
    db = schema_editor.connection
    if db.vendor != "postgresql":
        return  # SQLite keeps JSON as text whatever its type.
    q = schema_editor.quote_name
    with db.cursor() as cursor:
        lz4 = has_lz4(cursor)
        for table in _tables(apps):
            cursor.execute(
                "SELECT data_type FROM information_schema.columns"
                " WHERE table_schema = current_schema() AND table_name = %s"
                " AND column_name = 'raw'",
                [table],
            )
            changes = []
            if cursor.fetchone()[0] != to:
                changes.append(f"ALTER COLUMN raw TYPE {to} USING raw::{to}")
            if lz4:
                changes.append("ALTER COLUMN raw SET COMPRESSION lz4")
            if changes:
                # One statement: the table is rewritten once, and compressed as it is.
                cursor.execute(f"ALTER TABLE {q(table)} {', '.join(changes)}")


def to_json(apps, schema_editor):
    _retype(apps, schema_editor, "json")


def to_jsonb(apps, schema_editor):
    _retype(apps, schema_editor, "jsonb")


class Migration(migrations.Migration):
    dependencies = [("connectors", "0018_postgresql_without_like_indexes")]

    operations = [migrations.RunPython(to_json, to_jsonb, elidable=False)]
