"""A run's citations are its biggest write: a million ids for a report over a million
charges. PostgreSQL compresses each row's `entries` text with pglz by default, which took a
third of the time of writing them (bench/reports.py, payouts on 1,000,000 charges); lz4
compresses as well for these ids at several times the speed. Only PostgreSQL, and only a
server built with lz4 (the default since PostgreSQL 14 on the usual distributions): elsewhere
this changes nothing. Rows already written keep their compression until rewritten."""

from django.db import migrations

from lumen.postgres import has_lz4

TABLE = "reports_reportcitation"


def compress_with_lz4(apps, schema_editor):
    connection = schema_editor.connection
    if connection.vendor != "postgresql":
        return
    with connection.cursor() as cursor:
        if has_lz4(cursor):
            cursor.execute(f"ALTER TABLE {TABLE} ALTER COLUMN entries SET COMPRESSION lz4")


def compress_as_before(apps, schema_editor):
    connection = schema_editor.connection
    if connection.vendor == "postgresql":
        with connection.cursor() as cursor:
            cursor.execute(f"ALTER TABLE {TABLE} ALTER COLUMN entries SET COMPRESSION DEFAULT")


class Migration(migrations.Migration):
    dependencies = [("reports", "0004_export_permission")]

    operations = [migrations.RunPython(compress_with_lz4, compress_as_before)]
