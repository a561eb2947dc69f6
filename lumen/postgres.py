"""What this PostgreSQL server was built with, asked by the migrations that depend on it."""


def has_lz4(cursor):
    """Whether the server compresses with lz4 (PostgreSQL 14 and later, built with it): the
    mirror's objects and a report's citations are compressed with it where it does."""
    cursor.execute(
        "SELECT 'lz4' = ANY(enumvals) FROM pg_settings WHERE name = 'default_toast_compression'"
    )
    row = cursor.fetchone()
    return bool(row and row[0])
