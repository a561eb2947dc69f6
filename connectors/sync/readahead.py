"""Reading the next page from Stripe while the sync writes this one.

A page's request (through the door, in a thread of its own) and the writing of the page
before it (in the sync's thread) then overlap: the time Stripe takes to answer, and the
database's own work on PostgreSQL, no longer add up. Only the door's requests happen in the
reading thread; the mirror is written, and each page committed with its checkpoint and the
audit rows of the requests read so far (Door.holding_records), by the sync's thread alone,
in the order the pages came. `ready()` tells that thread whether the next page is in
already, so that it may write it in the same transaction (runner._Commits).
"""

import contextlib
import queue
import threading

from django.db import connection, connections, reset_queries

_PAGE, _END, _FAILED = "page", "end", "failed"


class read_ahead:
    """Iterate `pages` one step ahead (_read_ahead); `ready()` says whether the step after
    the one just taken has been read already. Closing it stops the reading thread and writes
    the audit rows still held, as ending the iteration does."""

    def __init__(self, pages, door=None):
        self._handed = None
        self._steps = _read_ahead(pages, door, self)

    def __iter__(self):
        return self

    def __next__(self):
        return next(self._steps)

    def close(self):
        self._steps.close()

    def ready(self):
        """Whether the next step is waiting to be taken: a writer that would otherwise wait
        for Stripe commits now, and one that would not may go on in the same transaction."""
        return self._handed is not None and not self._handed.empty()


def _read_ahead(pages, door, state):
    """Iterate `pages`, an iterator whose every step asks Stripe for something, one step
    ahead in a thread of its own. What the iterator raises is raised here, in order, after
    the items before it; stopping early stops the thread after its current request.

    The reading thread's calls through `door` leave their audit rows with the door, for the
    caller to write with its pages (Door.take_held); those still held when the iteration
    ends, however it ends, are written then.

    Inside a caller's transaction (a test's) the steps are taken in turn, here: the audit
    rows the reader writes on a connection of its own would wait for that transaction to
    end (SQLite holds every other writer off), and it for them."""
    if connection.in_atomic_block:
        yield from pages
        return
    handed = state._handed = queue.Queue(maxsize=1)
    stop = threading.Event()

    def read():
        try:
            with door.holding_records() if door else contextlib.nullcontext():
                for page in pages:
                    handed.put((_PAGE, page))
                    # With DEBUG on, Django keeps this thread's statements too, up to 9,000
                    # with their values, until the window is read: what it writes (the audit
                    # rows of requests made without a door holding them, a connection's
                    # health). The sync's thread drops its own after each page (runner).
                    reset_queries()
                    if stop.is_set():
                        return
            handed.put((_END, None))
        except BaseException as e:  # handed over, raised in the sync's thread
            handed.put((_FAILED, e))
        finally:
            connections.close_all()  # this thread's own, opened by the door's audit rows

    reader = threading.Thread(target=read, name="sync-read-ahead", daemon=True)
    reader.start()
    try:
        while True:
            what, page = handed.get()
            if what == _END:
                return
            if what == _FAILED:
                raise page
            yield page
    finally:
        stop.set()
        # A reader waiting to hand over a page that nobody will take gets its place, then
        # sees `stop`.
        with contextlib.suppress(queue.Empty):
            handed.get_nowait()
        reader.join()
        if door:
            door.write_records(door.take_held())
