"""Checks Django runs on start-up (`manage.py check`, every command)."""

import sqlite3

from django.core import checks
from django.db import connection


@checks.register(checks.Tags.database)
def sqlite_writes_pages(app_configs, **kwargs):
    """The sync writes a page with INSERT ... ON CONFLICT ... RETURNING, which SQLite has
    since 3.35 (Django itself asks for 3.31)."""
    if connection.vendor != "sqlite" or sqlite3.sqlite_version_info >= (3, 35):
        return []
    return [
        checks.Error(
            f"SQLite {sqlite3.sqlite_version} is older than 3.35, which the sync needs to "
            "write its pages (INSERT ... RETURNING).",
            hint="Run Python with a newer SQLite library, or use PostgreSQL (DATABASE_URL).",
            id="connectors.E001",
        )
    ]
