"""Polling schedules passed the name to record as the sync's actor; they now pass their own
id, which the task looks up (connectors.requesters), so that an edited schedule or a message
put on the broker cannot choose whose name a sync is done in."""

import json

from django.db import migrations


def by_id(apps, schema_editor):
    PeriodicTask = apps.get_model("django_celery_beat", "PeriodicTask")
    for task in PeriodicTask.objects.filter(task="connectors.tasks.sync_connection"):
        task.kwargs = json.dumps({"schedule_id": task.pk})
        task.save(update_fields=["kwargs"])


class Migration(migrations.Migration):
    dependencies = [
        ("connectors", "0008_staff_permissions"),
        ("django_celery_beat", "0019_alter_periodictasks_options"),
    ]
    operations = [migrations.RunPython(by_id, migrations.RunPython.noop)]
