"""The mirror's objects (`raw`) lose the CHECK (JSON_VALID(raw)) that Django gives a
JSONField's column on SQLite (connectors.models.mirror.StripeJSON).

Nothing changes on PostgreSQL, where the column is jsonb. On SQLite each table is rebuilt
once, as SQLite drops a CHECK only that way: 4 s for a mirror of 20,000 charges (280 MB)
on the 2-core machine of the benchmarks.
"""

from django.db import migrations

import connectors.models.mirror

MIRRORED = [
    "balancetransaction",
    "charge",
    "coupon",
    "customer",
    "dispute",
    "invoice",
    "invoicelineitem",
    "invoicepayment",
    "paymentintent",
    "payout",
    "price",
    "product",
    "promotioncode",
    "refund",
    "subscription",
    "subscriptionitem",
]


class Migration(migrations.Migration):
    dependencies = [("connectors", "0016_raw_compressed_with_lz4")]

    operations = [
        migrations.AlterField(
            model_name=name, name="raw", field=connectors.models.mirror.StripeJSON()
        )
        for name in MIRRORED
    ]
