"""Django's SQLite backend, making the folder of the database file when it first opens it,
and letting the writers of one process take turns without sleeping."""

import threading
from pathlib import Path

from django.db import OperationalError
from django.db.backends.sqlite3 import base

_writers = {}  # database file -> the lock its writers in this process take turns on
_writers_lock = threading.Lock()


def _writer_lock(name):
    with _writers_lock:
        return _writers.setdefault(name, threading.Lock())


class DatabaseWrapper(base.DatabaseWrapper):
    """SQLite creates its file on the first connection, but not the folder it lives in (var/
    by default). Made here, and not when the settings are read, so that reading them (`manage.py
    help`, a --help) leaves nothing behind.

    A transaction (BEGIN IMMEDIATE, see settings) takes the file's write lock when it begins.
    A writer that finds it taken waits in SQLite's busy handler, which sleeps 1, 2, 5, 10, 15,
    20, 25 ms... between tries and so wakes up to tens of milliseconds after the lock is free:
    the sync's reading thread, writing the audit row of each request while the sync's thread
    writes a page, lost 10-15 ms a page that way, and so did the sync waiting for it in turn
    (14 s of a 50 s sync of 20,000 charges). Threads of one process therefore first queue on a
    lock of their own, handed over the moment a transaction ends; other processes still meet
    SQLite's lock and its busy handler, as before."""

    _writing = None  # the lock this connection's open transaction holds

    def get_new_connection(self, conn_params):
        name = str(conn_params["database"])
        if not self.is_in_memory_db() and not name.startswith("file:"):  # a path, not a URI
            Path(name).parent.mkdir(parents=True, exist_ok=True)
        return super().get_new_connection(conn_params)

    def _start_transaction_under_autocommit(self):
        if self.transaction_mode != "IMMEDIATE" or self.is_in_memory_db():
            return super()._start_transaction_under_autocommit()
        lock = _writer_lock(str(self.settings_dict["NAME"]))
        # As long as SQLite itself would wait, then fail as SQLite does.
        if not lock.acquire(timeout=self.settings_dict["OPTIONS"].get("timeout", 5)):
            raise OperationalError("database is locked")
        self._writing = lock
        try:
            super()._start_transaction_under_autocommit()
        except BaseException:
            self._end_writing()
            raise

    def _commit(self):
        try:
            return super()._commit()
        finally:
            self._end_writing()

    def _rollback(self):
        try:
            return super()._rollback()
        finally:
            self._end_writing()

    def _close(self):
        try:
            return super()._close()
        finally:
            self._end_writing()

    def _end_writing(self):
        lock, self._writing = self._writing, None
        if lock is not None:
            lock.release()
