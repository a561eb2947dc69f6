"""The staff roles as groups (roles/definitions.py says what each holds)."""

from django.db import migrations


def create_groups(apps, schema_editor):
    from roles.definitions import apply

    apply(apps, using=schema_editor.connection.alias)


class Migration(migrations.Migration):
    dependencies = [
        ("auth", "0012_alter_user_first_name_max_length"),
        ("contenttypes", "0002_remove_content_type_name"),
        ("audit", "0004_auditevent_export_permission"),
        ("connectors", "0008_staff_permissions"),
        ("reports", "0004_export_permission"),
    ]

    # Going back leaves the groups: they may have members an administrator added.
    operations = [migrations.RunPython(create_groups, migrations.RunPython.noop)]
