"""The mirror's unique constraints and indexes are named by their abstract base's Meta
('%(class)s_unique', '%(class)s_created', '%(class)s_stripe_id') instead of a Meta built at
run time for each model: six models whose class name has several words change names.

The indexes are renamed (in place on PostgreSQL). A unique constraint is renamed in place on
PostgreSQL too; SQLite keeps it inside its table's definition, where its name serves nothing
(Django rebuilds a SQLite table from the models whenever it changes one), so only Django's
state changes there. Neither rebuilds a table or an index of a large mirror on PostgreSQL.
"""

from django.db import migrations, models

# model name -> the name its constraints and indexes had
RENAMED = {
    "balancetransaction": "balance_transaction",
    "invoicelineitem": "invoice_line",
    "invoicepayment": "invoice_payment",
    "paymentintent": "payment_intent",
    "promotioncode": "promotion_code",
    "subscriptionitem": "subscription_item",
}


def rename_unique_constraints(apps, schema_editor, backwards=False):
    if schema_editor.connection.vendor != "postgresql":
        return
    q = schema_editor.quote_name
    for model_name, old in RENAMED.items():
        table = apps.get_model("connectors", model_name)._meta.db_table
        before, after = f"{old}_unique", f"{model_name}_unique"
        if backwards:
            before, after = after, before
        schema_editor.execute(f"ALTER TABLE {q(table)} RENAME CONSTRAINT {q(before)} TO {q(after)}")


def rename_unique_constraints_back(apps, schema_editor):
    rename_unique_constraints(apps, schema_editor, backwards=True)


def unique(name):
    return models.UniqueConstraint(fields=("connection", "stripe_id"), name=name)


class Migration(migrations.Migration):
    dependencies = [
        ("connectors", "0013_syncrun_number"),
    ]

    operations = [
        *(
            migrations.RenameIndex(
                model_name=model_name, old_name=f"{old}_{index}", new_name=f"{model_name}_{index}"
            )
            for model_name, old in RENAMED.items()
            for index in ("created", "stripe_id")
        ),
        migrations.SeparateDatabaseAndState(
            state_operations=[
                operation
                for model_name, old in RENAMED.items()
                for operation in (
                    migrations.RemoveConstraint(model_name=model_name, name=f"{old}_unique"),
                    migrations.AddConstraint(
                        model_name=model_name, constraint=unique(f"{model_name}_unique")
                    ),
                )
            ],
            database_operations=[
                migrations.RunPython(rename_unique_constraints, rename_unique_constraints_back)
            ],
        ),
    ]
