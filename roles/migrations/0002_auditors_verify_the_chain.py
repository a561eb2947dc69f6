"""Auditors verify the audit chain from the admin (audit.verify_auditevent)."""

from django.db import migrations


def bring_in_line(apps, schema_editor):
    from roles.definitions import apply

    apply(apps, using=schema_editor.connection.alias)


class Migration(migrations.Migration):
    dependencies = [
        ("roles", "0001_groups"),
        ("audit", "0008_verify_permission"),
    ]
    operations = [migrations.RunPython(bring_in_line, migrations.RunPython.noop)]
