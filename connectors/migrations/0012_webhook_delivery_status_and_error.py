# A delivery's status and error in fields of their own, filled from the one free-text
# outcome that held both ("", "processing", "applied", "already applied", "failed: why").

from django.db import migrations, models

FROM_OUTCOME = {
    "": "waiting",
    "processing": "processing",
    "applied": "applied",
    "already applied": "already_applied",
}
FAILED = "failed: "


def status_from_outcome(apps, schema_editor):
    WebhookDelivery = apps.get_model("connectors", "WebhookDelivery")
    for outcome, status in FROM_OUTCOME.items():
        WebhookDelivery.objects.filter(outcome=outcome).update(status=status)
    failed = WebhookDelivery.objects.filter(outcome__startswith=FAILED)
    for pk, outcome in failed.values_list("pk", "outcome").iterator():
        WebhookDelivery.objects.filter(pk=pk).update(
            status="failed", error=outcome[len(FAILED) :]
        )


def outcome_from_status(apps, schema_editor):
    WebhookDelivery = apps.get_model("connectors", "WebhookDelivery")
    for outcome, status in FROM_OUTCOME.items():
        WebhookDelivery.objects.filter(status=status).update(outcome=outcome)
    failed = WebhookDelivery.objects.filter(status="failed")
    for pk, error in failed.values_list("pk", "error").iterator():
        WebhookDelivery.objects.filter(pk=pk).update(outcome=(FAILED + error)[:255])


class Migration(migrations.Migration):

    dependencies = [
        ("connectors", "0011_subscription_cancel_at"),
    ]

    operations = [
        migrations.AddField(
            model_name="webhookdelivery",
            name="status",
            field=models.CharField(
                choices=[
                    ("waiting", "Waiting"),
                    ("processing", "Being applied"),
                    ("applied", "Applied"),
                    ("already_applied", "Already applied"),
                    ("failed", "Failed"),
                ],
                default="waiting",
                max_length=16,
            ),
        ),
        migrations.AddField(
            model_name="webhookdelivery",
            name="error",
            field=models.TextField(blank=True),
        ),
        migrations.RunPython(status_from_outcome, outcome_from_status, elidable=True),
        migrations.RemoveIndex(
            model_name="webhookdelivery",
            name="webhookdelivery_unfinished",
        ),
        migrations.RemoveField(
            model_name="webhookdelivery",
            name="outcome",
        ),
        migrations.AddIndex(
            model_name="webhookdelivery",
            index=models.Index(fields=["status", "processed_at"], name="webhookdelivery_unfinished"),
        ),
    ]
