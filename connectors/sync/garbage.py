"""Python's cyclic garbage collector, held back while a sync runs.

The collector runs when the containers (dicts, lists, objects) allocated since it last ran
outnumber those freed by its first threshold: 700 by default, THRESHOLD during a sync. A
page of Stripe's answer parsed is thousands of dicts and lists, in no cycle, freed by their
counts once the page is written; but while they live, each page set the collector off
dozens of times. Each time it walked what was allocated since the last, found all of it
alive and moved it on to an older generation, to be walked again there and counted towards
a full collection, a walk of every object of the process. A first sync of 100,000 charges
on PostgreSQL (measured with gc.callbacks; the collector holds the GIL, so both of a sync's
threads wait on it): 7,700 young collections, 700 middle and 61 full ones, 5.8 s of the
sync's 41 s of CPU; with the threshold at 10,000, 30 collections and 0.1 s, and the sync's
CPU 31 s; at 50,000, 4 and 29 s. Nothing here relies on the collector to free memory in
time: what a sync makes in a cycle is garbage until the threshold's count of containers is
reached, not longer.
"""

import gc
import threading
from contextlib import contextmanager

THRESHOLD = 50_000

_lock = threading.Lock()
_holders = 0
_before = None


@contextmanager
def fewer_collections():
    """The collector's first threshold raised to THRESHOLD while inside; the one it had is
    back once the last of the syncs of this process that raised it has left (syncs in
    threads of one process, a test's or a web server's)."""
    global _holders, _before
    with _lock:
        if _holders == 0:
            _before = gc.get_threshold()
            gc.set_threshold(max(THRESHOLD, _before[0]), *_before[1:])
        _holders += 1
    try:
        yield
    finally:
        with _lock:
            _holders -= 1
            if _holders == 0:
                gc.set_threshold(*_before)
