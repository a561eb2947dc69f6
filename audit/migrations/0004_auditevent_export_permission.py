from django.db import migrations


class Migration(migrations.Migration):
    dependencies = [
        ("audit", "0003_auditevent_host"),
    ]

    operations = [
        migrations.AlterModelOptions(
            name="auditevent",
            options={
                "ordering": ["-id"],
                "permissions": [("export_auditevent", "Can export audit events")],
            },
        ),
    ]
