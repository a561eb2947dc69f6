"""Upgrading to the mirror's lighter tables (connectors/0017): no CHECK (JSON_VALID(raw)) on
SQLite, one index of the ids (unique, the id first) and none of the connection alone; what
was stored comes through unchanged, and the way back restores the old shape. And on
PostgreSQL (connectors/0018), no varchar_pattern_ops copies of the text columns' indexes."""

from datetime import timedelta

import pytest
from django.db import connection as db
from django.db import transaction
from django.utils import timezone

from connectors.models import MIRROR_MODELS, Charge
from connectors.sync.upsert import store_objects
from tests.accounts import connect
from tests.upgrades import migrate

pytestmark = pytest.mark.django_db(transaction=True)

BEFORE = ("connectors", "0016_raw_compressed_with_lz4")


def table_sql(table):
    with db.cursor() as cursor:
        cursor.execute("SELECT sql FROM sqlite_master WHERE type = 'table' AND name = %s", [table])
        return cursor.fetchone()[0]


def indexes(table):
    """{columns: unique} of the table's indexes, the primary key's aside."""
    with db.cursor() as cursor:
        found = db.introspection.get_constraints(cursor, table)
    return {
        tuple(c["columns"]): c["unique"]
        for c in found.values()
        if (c["index"] or c["unique"]) and not c["primary_key"]
    }


def test_the_mirror_upgrades_to_lighter_tables_and_back():
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
        before = indexes(Charge._meta.db_table)
        assert before[("connection_id", "stripe_id")] and ("stripe_id",) in before
    finally:
        migrate()
    if db.vendor == "sqlite":
        for model in MIRROR_MODELS.values():
            assert "JSON_VALID" not in table_sql(model._meta.db_table), model.__name__
    for model in MIRROR_MODELS.values():
        now = indexes(model._meta.db_table)
        assert now[("stripe_id", "connection_id")] is True, model.__name__
        assert ("connection_id", "created") in now, model.__name__
        assert not {("stripe_id",), ("connection_id",), ("connection_id", "stripe_id")} & set(now)
    stored = Charge.objects.get(connection=connection, stripe_id="ch_1")
    assert stored.raw == obj and stored.amount == 1200


def pattern_copies():
    """The mirror's varchar_pattern_ops indexes (PostgreSQL's copies for LIKE 'prefix%')."""
    tables = [model._meta.db_table for model in MIRROR_MODELS.values()]
    with db.cursor() as cursor:
        cursor.execute(
            "SELECT indexname FROM pg_indexes WHERE tablename = ANY(%s)"
            " AND indexdef LIKE '%%varchar_pattern_ops%%'",
            [tables],
        )
        return {name for (name,) in cursor.fetchall()}


@pytest.mark.skipif(db.vendor != "postgresql", reason="PostgreSQL's pattern indexes")
def test_the_mirrors_text_columns_have_no_pattern_copies_on_postgresql():
    # A new indexed text column of the mirror would bring one back: this fails then.
    assert pattern_copies() == set()
    try:
        migrate(("connectors", "0017_mirror_tables_lighter_to_write"))
        assert "connectors_charge_customer_c71110e5_like" in pattern_copies()
    finally:
        migrate()
    assert pattern_copies() == set()


def raw_types():
    """{table: (type, compression)} of the mirror's `raw` columns."""
    tables = [model._meta.db_table for model in MIRROR_MODELS.values()]
    with db.cursor() as cursor:
        cursor.execute(
            "SELECT c.relname, format_type(a.atttypid, NULL), a.attcompression"
            " FROM pg_attribute a JOIN pg_class c ON c.oid = a.attrelid"
            " WHERE a.attname = 'raw' AND c.relname = ANY(%s)",
            [tables],
        )
        return {table: (kind, compression) for table, kind, compression in cursor.fetchall()}


@pytest.mark.skipif(db.vendor != "postgresql", reason="PostgreSQL's json and jsonb")
def test_the_mirror_upgrades_to_objects_kept_as_json_text_on_postgresql():
    connection = connect("acme")
    obj = {
        "id": "ch_1", "object": "charge", "amount": 1200, "status": "succeeded",
        "currency": "usd", "description": "Café ☕", "metadata": {"b": "2", "a": "1"},
    }  # fmt: skip
    seen = timezone.now()
    try:
        old = migrate(("connectors", "0018_postgresql_without_like_indexes"))
        assert set(raw_types().values()) == {("jsonb", "l")}
        old.get_model("connectors", "Charge").objects.create(
            connection_id=connection.pk, stripe_id="ch_1", raw=obj, observed_at=seen,
            status="succeeded", currency="usd", amount=1200,
        )  # fmt: skip
    finally:
        migrate()
    # Every table converted, its lz4 compression kept through the rewrite.
    assert set(raw_types().values()) == {("json", "l")}
    assert len(raw_types()) == len(MIRROR_MODELS)
    stored = Charge.objects.get(connection=connection, stripe_id="ch_1")
    assert stored.raw == obj
    # The row converted holds jsonb's text (keys sorted); the same object read again from
    # Stripe is still no change, and a changed one is.
    with transaction.atomic():
        same = store_objects(connection, "charges", [obj], seen + timedelta(minutes=1))
    assert same.counts_of("charges").as_dict() == {"fetched": 1, "created": 0, "updated": 0}
    changed = {**obj, "description": "refund asked"}
    with transaction.atomic():
        later = store_objects(connection, "charges", [changed], seen + timedelta(minutes=2))
    assert later.counts_of("charges").as_dict() == {"fetched": 1, "created": 0, "updated": 1}
    assert Charge.objects.get(pk=stored.pk).raw["description"] == "refund asked"
