"""The mirror's tables made lighter to write (connectors.models.mirror), for the sync's speed:

- `raw` loses the CHECK (JSON_VALID(raw)) that Django gives a JSONField's column on SQLite:
  SQLite parsed every object again before storing it (8% of a sync of 20,000 charges);
- one index of the ids, not two: the unique (stripe_id, connection) serves the lookups by
  id alone as well as the upsert's conflict, where the separate index of stripe_id cost every
  insert a second random place in a tree;
- the connection has no index of its own: the unique one above and (connection, created)
  both begin with it.

Django rebuilds a SQLite table for each change of a constraint or field, three times here for
each of 16 tables; the rebuilds are done once per table instead (OnceOnSQLite). PostgreSQL
takes the changes one by one.
"""

from django.db import migrations, models
from django.db.migrations.operations.base import Operation

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


def changes(name):
    return [
        migrations.AlterField(
            model_name=name, name="raw", field=connectors.models.mirror.StripeJSON()
        ),
        migrations.RemoveConstraint(model_name=name, name=f"{name}_unique"),
        migrations.AddConstraint(
            model_name=name,
            constraint=models.UniqueConstraint(
                fields=("stripe_id", "connection"), name=f"{name}_unique"
            ),
        ),
        migrations.RemoveIndex(model_name=name, name=f"{name}_stripe_id"),
        migrations.AlterField(
            model_name=name,
            name="connection",
            field=models.ForeignKey(
                db_index=False,
                on_delete=models.CASCADE,
                related_name="+",
                to="connectors.stripeconnection",
            ),
        ),
    ]


class OnceOnSQLite(Operation):
    """`operations` on one model, applied one by one, but on SQLite by one rebuild of the
    table into the shape they leave it in (Django's own rebuild, which copies every row)."""

    reversible = True

    def __init__(self, name, operations):
        self.name, self.operations = name, operations

    def describe(self):
        return f"Rebuild {self.name} lighter to write"

    def deconstruct(self):
        return self.__class__.__name__, [self.name, self.operations], {}

    def state_forwards(self, app_label, state):
        for operation in self.operations:
            operation.state_forwards(app_label, state)

    def _states(self, app_label, state):
        states = [state]
        for operation in self.operations:
            state = state.clone()
            operation.state_forwards(app_label, state)
            states.append(state)
        return states

    def database_forwards(self, app_label, schema_editor, from_state, to_state):
        if schema_editor.connection.vendor == "sqlite":
            schema_editor._remake_table(to_state.apps.get_model(app_label, self.name))
            return
        states = self._states(app_label, from_state)
        for operation, before, after in zip(self.operations, states, states[1:], strict=False):
            operation.database_forwards(app_label, schema_editor, before, after)

    def database_backwards(self, app_label, schema_editor, from_state, to_state):
        if schema_editor.connection.vendor == "sqlite":
            schema_editor._remake_table(to_state.apps.get_model(app_label, self.name))
            return
        states = self._states(app_label, to_state)
        steps = list(zip(self.operations, states, states[1:], strict=False))
        for operation, before, after in reversed(steps):
            operation.database_backwards(app_label, schema_editor, after, before)


class Migration(migrations.Migration):
    dependencies = [("connectors", "0016_raw_compressed_with_lz4")]

    operations = [OnceOnSQLite(name, changes(name)) for name in MIRRORED]
