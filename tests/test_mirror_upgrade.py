"""Upgrading to a mirror whose objects carry no CHECK (JSON_VALID(raw)) on SQLite
(connectors/0017): every table loses it, and what was stored comes through unchanged."""

import pytest
from django.db import connection as db
from django.utils import timezone

from connectors.models import MIRROR_MODELS, Charge
from tests.accounts import connect
from tests.upgrades import migrate

pytestmark = pytest.mark.django_db(transaction=True)

BEFORE = ("connectors", "0016_raw_compressed_with_lz4")


def table_sql(table):
    with db.cursor() as cursor:
        cursor.execute("SELECT sql FROM sqlite_master WHERE type = 'table' AND name = %s", [table])
        return cursor.fetchone()[0]


def test_the_mirror_upgrades_without_sqlite_rechecking_each_object():
    connection = connect("acme")
    obj = {"id": "ch_1", "object": "charge", "amount": 1200, "description": "Café ☕"}
    try:
        old = migrate(BEFORE).get_model("connectors", "Charge")
        old.objects.create(
            connection_id=connection.pk, stripe_id="ch_1", raw=obj, observed_at=timezone.now(),
            status="succeeded", currency="usd", amount=1200,
        )  # fmt: skip
        if db.vendor == "sqlite":
            assert "JSON_VALID" in table_sql(Charge._meta.db_table)
    finally:
        migrate()
    if db.vendor == "sqlite":
        for model in MIRROR_MODELS.values():
            assert "JSON_VALID" not in table_sql(model._meta.db_table), model.__name__
    stored = Charge.objects.get(connection=connection, stripe_id="ch_1")
    assert stored.raw == obj and stored.amount == 1200
