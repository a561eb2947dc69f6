"""Every five minutes, apply webhook deliveries that were never queued or whose worker died,
as a schedule staff can edit in the admin."""

from django.db import migrations

NAME = "Sweep webhook deliveries"


def create_schedule(apps, schema_editor):
    IntervalSchedule = apps.get_model("django_celery_beat", "IntervalSchedule")
    PeriodicTask = apps.get_model("django_celery_beat", "PeriodicTask")
    every, _ = IntervalSchedule.objects.get_or_create(every=5, period="minutes")
    PeriodicTask.objects.get_or_create(
        name=NAME,
        defaults={
            "task": "connectors.webhook_tasks.sweep_webhook_deliveries",
            "interval": every,
            "description": "Applies deliveries left unqueued or claimed by a worker that died.",
        },
    )


def remove_schedule(apps, schema_editor):
    apps.get_model("django_celery_beat", "PeriodicTask").objects.filter(name=NAME).delete()


class Migration(migrations.Migration):
    dependencies = [
        ("connectors", "0004_webhook_delivery_once_and_id_indexes"),
        ("django_celery_beat", "0019_alter_periodictasks_options"),
    ]
    operations = [migrations.RunPython(create_schedule, remove_schedule)]
