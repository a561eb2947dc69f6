"""Two new outcomes for an assistant's tool calls (assistant.calls): "refused" and "failed".

Choices only, as 0009: no SQL runs, and the chain of existing rows still verifies."""

from django.db import migrations, models


class Migration(migrations.Migration):

    dependencies = [
        ('audit', '0009_outcome_not_permitted'),
    ]

    operations = [
        migrations.AlterField(
            model_name='auditevent',
            name='outcome',
            field=models.CharField(choices=[('ok', 'OK'), ('not_permitted', 'Not permitted, as expected (probe)'), ('client_error', 'Refused by Stripe (4xx)'), ('rate_limited', 'Rate limited (429)'), ('server_error', 'Stripe error (5xx)'), ('network_error', 'Network error'), ('blocked', 'Blocked before sending'), ('refused', 'Refused (not permitted, or bad arguments)'), ('failed', 'Failed')], default='ok', max_length=16),
        ),
    ]
