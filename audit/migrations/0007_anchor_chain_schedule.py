"""An hourly anchor of the audit chain's head, as a schedule staff can see in the admin."""

from django.db import migrations

NAME = "Anchor the audit chain"


def create_schedule(apps, schema_editor):
    IntervalSchedule = apps.get_model("django_celery_beat", "IntervalSchedule")
    PeriodicTask = apps.get_model("django_celery_beat", "PeriodicTask")
    every_hour, _ = IntervalSchedule.objects.get_or_create(every=1, period="hours")
    PeriodicTask.objects.get_or_create(
        name=NAME,
        defaults={
            "task": "audit.tasks.anchor_chain",
            "interval": every_hour,
            "description": "Appends the head of the audit chain to LUMEN_AUDIT_ANCHOR_PATH, "
            "so that audit_verify finds the removal of the newest events.",
        },
    )


def remove_schedule(apps, schema_editor):
    apps.get_model("django_celery_beat", "PeriodicTask").objects.filter(name=NAME).delete()


class Migration(migrations.Migration):
    dependencies = [
        ("audit", "0006_sqlite_append_only_trigger"),
        ("django_celery_beat", "0019_alter_periodictasks_options"),
    ]
    operations = [migrations.RunPython(create_schedule, remove_schedule)]
