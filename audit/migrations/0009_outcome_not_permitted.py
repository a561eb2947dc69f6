"""A new outcome, "not_permitted": the 403 a probe expects (a restricted key reading the account).

Choices only: no SQL runs (sqlmigrate says "no-op"), so the table and its append-only triggers
are untouched, and the chain of existing rows, which covers stored values, still verifies."""

from django.db import migrations, models


class Migration(migrations.Migration):

    dependencies = [
        ('audit', '0008_verify_permission'),
    ]

    operations = [
        migrations.AlterField(
            model_name='auditevent',
            name='outcome',
            field=models.CharField(choices=[('ok', 'OK'), ('not_permitted', 'Not permitted, as expected (probe)'), ('client_error', 'Refused by Stripe (4xx)'), ('rate_limited', 'Rate limited (429)'), ('server_error', 'Stripe error (5xx)'), ('network_error', 'Network error'), ('blocked', 'Blocked before sending')], default='ok', max_length=16),
        ),
    ]
