"""Upgrade tests: the database migrated back to before a change, old rows written the way the
old code wrote them, then migrated forward again (always, even when the test fails, so that
the next test finds the schema it expects)."""

from django.db import connection
from django.db.migrations.executor import MigrationExecutor


def migrate(*targets):
    """Migrate to `targets` (every app's latest migration if none); return the apps then."""
    executor = MigrationExecutor(connection)
    targets = list(targets) or executor.loader.graph.leaf_nodes()
    executor.migrate(targets)
    return MigrationExecutor(connection).loader.project_state(targets).apps
