"""On PostgreSQL, each indexed text column of the mirror keeps one index, not two.

Django gives every indexed varchar column there a second index in varchar_pattern_ops, for
LIKE 'prefix%' under a collation other than C. The mirror's indexed text columns hold ids,
statuses, emails and codes that are matched whole: every lookup is = or IN, and the admin's
text searches (icontains, iexact) compare UPPER() of the column, which neither index serves.
The copies only cost each insert: a charge went into 9 b-trees after 0017, 6 now
(bench/sync.py). Nothing
changes on SQLite, which has no such copies.

The names are Django's own (its schema editor's), so that a later change of one of these
fields finds nothing to drop (DROP INDEX IF EXISTS) and the way back restores them as Django
made them.
"""

from django.db import migrations


def _copies(apps, schema_editor):
    """(model, field, the SQL that makes its copy) for each mirror column that has one."""
    for model in apps.get_app_config("connectors").get_models():
        fields = {f.name for f in model._meta.concrete_fields}
        if not {"raw", "stripe_id", "observed_at"} <= fields:
            continue
        for field in model._meta.local_concrete_fields:
            sql = schema_editor._create_like_index_sql(model, field)
            if sql is not None:
                yield model, field, sql


def drop_copies(apps, schema_editor):
    if schema_editor.connection.vendor != "postgresql":
        return
    for model, field, _ in _copies(apps, schema_editor):
        name = schema_editor._create_index_name(
            model._meta.db_table, [field.column], suffix="_like"
        )
        schema_editor.execute(schema_editor._delete_index_sql(model, name))


def restore_copies(apps, schema_editor):
    if schema_editor.connection.vendor != "postgresql":
        return
    for _, _, sql in _copies(apps, schema_editor):
        schema_editor.execute(sql)


class Migration(migrations.Migration):
    dependencies = [("connectors", "0017_mirror_tables_lighter_to_write")]

    operations = [migrations.RunPython(drop_copies, restore_copies)]
