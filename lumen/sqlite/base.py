from pathlib import Path

from django.db.backends.sqlite3 import base


class DatabaseWrapper(base.DatabaseWrapper):
    """SQLite creates its file on the first connection, but not the folder it lives in (var/
    by default). Made here, and not when the settings are read, so that reading them (`manage.py
    help`, a --help) leaves nothing behind."""

    def get_new_connection(self, conn_params):
        name = str(conn_params["database"])
        if not self.is_in_memory_db() and not name.startswith("file:"):  # a path, not a URI
            Path(name).parent.mkdir(parents=True, exist_ok=True)
        return super().get_new_connection(conn_params)
