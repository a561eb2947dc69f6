"""On PostgreSQL, the mirror's objects (`raw`) are compressed with lz4 rather than pglz.

Every object over 2 kB (a charge, an invoice) is compressed as it is written: with pglz,
writing a page of 100 charges took 17 ms of the server's time, with lz4 14 (the sync's
upsert, measured on the same pages). Rows already stored keep their compression until they
are next written; reading either is the same. A server built without lz4 keeps pglz. As
reports/migrations/0005 does for the citations.
"""

from django.db import migrations

from lumen.postgres import has_lz4


def _raw_columns(apps):
    for model in apps.get_app_config("connectors").get_models():
        if any(field.name == "raw" for field in model._meta.concrete_fields):
            yield model._meta.db_table


def compress_with_lz4(apps, schema_editor):
    db = schema_editor.connection
    if db.vendor != "postgresql":
        return
    with db.cursor() as cursor:
        if has_lz4(cursor):
            _set_compression(db, cursor, apps, "lz4")


def compress_as_before(apps, schema_editor):
    db = schema_editor.connection
    if db.vendor == "postgresql":
        with db.cursor() as cursor:
            _set_compression(db, cursor, apps, "DEFAULT")


def _set_compression(db, cursor, apps, method):
    for table in _raw_columns(apps):
        cursor.execute(
            f"ALTER TABLE {db.ops.quote_name(table)} ALTER COLUMN raw SET COMPRESSION {method}"
        )


class Migration(migrations.Migration):
    dependencies = [
        ("connectors", "0015_balance_transactions_pending"),
    ]

    operations = [
        migrations.RunPython(compress_with_lz4, compress_as_before),
    ]
