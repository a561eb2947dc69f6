"""Sync runs are numbered per connection ("#3 of acme"): existing runs get 1, 2, 3... per
connection in the order they were created (their id), before the number becomes unique."""

from django.db import migrations, models

BATCH = 1000


def number_existing_runs(apps, schema_editor):
    SyncRun = apps.get_model("connectors", "SyncRun")
    numbered, last = [], {}
    for run in SyncRun.objects.order_by("id").only("id", "connection_id").iterator():
        run.number = last[run.connection_id] = last.get(run.connection_id, 0) + 1
        numbered.append(run)
        if len(numbered) == BATCH:
            SyncRun.objects.bulk_update(numbered, ["number"])
            numbered = []
    SyncRun.objects.bulk_update(numbered, ["number"])


class Migration(migrations.Migration):
    dependencies = [
        ("connectors", "0012_webhook_delivery_status_and_error"),
    ]

    operations = [
        migrations.AddField(
            model_name="syncrun",
            name="number",
            field=models.PositiveIntegerField(default=0, editable=False),
            preserve_default=False,
        ),
        migrations.RunPython(number_existing_runs, migrations.RunPython.noop),
        migrations.AddConstraint(
            model_name="syncrun",
            constraint=models.UniqueConstraint(
                fields=("connection", "number"), name="syncrun_number_unique"
            ),
        ),
    ]
