"""SQLite: the threads of one process that write take turns on a lock of their own (lumen.sqlite),
and whichever way a transaction ends, the next writer goes in."""

import threading

import pytest
from django.contrib.auth.models import Group
from django.db import connection, connections, transaction

pytestmark = [
    pytest.mark.django_db(transaction=True),
    pytest.mark.skipif(connection.vendor != "sqlite", reason="SQLite's writers only"),
]


class Ended(Exception):
    pass


def write_in_a_thread(name):
    outcome = {}

    def write():
        try:
            with transaction.atomic():
                Group.objects.create(name=name)
            outcome["done"] = True
        except BaseException as e:
            outcome["error"] = e
        finally:
            connections.close_all()

    thread = threading.Thread(target=write)
    thread.start()
    return thread, outcome


@pytest.mark.parametrize("ending", ["commit", "rollback", "close"])
def test_a_writer_waits_for_an_open_transaction_and_goes_in_when_it_ends(ending):
    try:
        with transaction.atomic():
            Group.objects.create(name="first")
            thread, outcome = write_in_a_thread("second")
            thread.join(timeout=0.5)
            assert thread.is_alive(), "a second writer went in while a transaction was open"
            if ending == "rollback":
                raise Ended
            if ending == "close":
                connection.close()
    except Ended:
        pass
    thread.join(timeout=20)
    assert not thread.is_alive() and outcome == {"done": True}
    stored = set(Group.objects.filter(name__in=["first", "second"]).values_list("name", flat=True))
    assert stored == ({"first", "second"} if ending == "commit" else {"second"})
