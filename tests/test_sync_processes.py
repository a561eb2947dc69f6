"""The sync across real processes and threads: killed half-way with SIGKILL, raced by two
workers, reading the next page while it writes this one."""

import os
import signal
import subprocess
import sys
import threading
import time

import pytest
from django.db import connection, transaction
from django.db import connections as db_connections

from audit.models import AuditEvent
from audit.recorder import Actor
from connectors import connections
from connectors.door import Door, StripeUnavailable
from connectors.emulator import Faults
from connectors.models import Charge, StripeConnection, SyncCheckpoint, SyncRun
from connectors.sync import lease, run_sync, runner
from connectors.sync.readahead import read_ahead
from connectors.sync.upsert import PageResult, lock_mirror, store_objects
from connectors.tasks import sync_connection
from tests.conftest import TEST_KEY
from tests.test_sync import assert_mirror_equals
from tests.worker import ROOT, celery_worker, child_env

pytestmark = pytest.mark.django_db(transaction=True)


@pytest.fixture
def acme(emulator, alice, settings):
    settings.LUMEN_SYNC_HISTORY_DAYS = 3650
    settings.STRIPE_PAGE_SIZE = 10  # many pages: the sync takes long enough to interrupt
    conn = StripeConnection(name="acme")
    connections.save_key(conn, TEST_KEY, actor=Actor.user(alice))
    return conn


def test_a_sync_killed_half_way_resumes_and_ends_exact(acme, emulator):
    process = subprocess.Popen(
        [sys.executable, "manage.py", "sync", "acme", "-v", "2"],
        cwd=ROOT, env=child_env(), stderr=subprocess.PIPE, stdout=subprocess.DEVNULL, text=True,
    )  # fmt: skip
    for line in process.stderr:  # one line per page written
        if line.startswith("page written: charges"):
            os.kill(process.pid, signal.SIGKILL)
            break
    process.wait(timeout=60)
    assert process.returncode == -signal.SIGKILL

    interrupted = SyncRun.objects.get(connection=acme)
    assert interrupted.status == SyncRun.Status.RUNNING
    assert SyncCheckpoint.objects.filter(connection=acme, done=True).exists()
    assert SyncCheckpoint.objects.filter(connection=acme, done=False).exists()

    resumed = run_sync(acme, actor=Actor.command("tests"))

    assert resumed.status == SyncRun.Status.SUCCEEDED, resumed.message
    assert resumed.kind == SyncRun.Kind.BACKFILL
    # It went on from the checkpoints: the kinds finished before the kill were not read again.
    assert "products" not in resumed.counts and "customers" not in resumed.counts
    assert_mirror_equals(emulator.store, acme)
    interrupted.refresh_from_db()
    assert interrupted.status == SyncRun.Status.FAILED
    assert "Interrupted" in interrupted.message


@pytest.mark.worker
def test_two_workers_never_sync_one_connection_at_the_same_time(acme, emulator):
    with celery_worker() as first, celery_worker() as second:
        results = [
            sync_connection.apply_async(args=[acme.pk], queue=first),
            sync_connection.apply_async(args=[acme.pk], queue=second),
        ]
        outcomes = [r.get(timeout=300) for r in results]

    assert {o["status"] for o in outcomes} <= {"succeeded", "skipped"}
    ran = list(
        SyncRun.objects.filter(connection=acme, status=SyncRun.Status.SUCCEEDED).order_by(
            "started_at"
        )
    )
    for earlier, later in zip(ran, ran[1:], strict=False):
        assert earlier.finished_at <= later.started_at, "two syncs of one connection overlapped"
    assert_mirror_equals(emulator.store, acme)


def test_several_readers_of_windows_end_exact(acme, emulator, settings):
    settings.LUMEN_SYNC_WINDOW_DAYS = 60  # a year and a half of history: many windows
    run = run_sync(acme, actor=Actor.command("tests"), workers=4)
    assert run.status == SyncRun.Status.SUCCEEDED, run.message
    windows = SyncCheckpoint.objects.filter(connection=acme, resource="charges")
    assert windows.count() > 5 and not windows.filter(done=False).exists()
    assert_mirror_equals(emulator.store, acme)


def test_a_sync_reading_ahead_under_faults_ends_exact(acme, emulator, settings):
    settings.STRIPE_MAX_RETRIES = 8
    emulator.faults = Faults(rate_429=0.10, rate_500=0.05, rate_drop=0.03, seed=5)
    run = run_sync(acme, actor=Actor.command("tests"))
    assert run.status == SyncRun.Status.SUCCEEDED, run.message
    outcomes = set(AuditEvent.objects.filter(origin=run.origin).values_list("outcome", flat=True))
    assert {"rate_limited", "server_error", "network_error"} <= outcomes
    emulator.faults = Faults()
    assert_mirror_equals(emulator.store, acme)


def requests_and_audit_rows(emulator, run):
    """(path, status, request id) of every request the emulator answered, and of every
    audit row of the run, in order."""
    answered = [(r.path, r.status, r.request_id) for r in emulator.request_log]
    rows = AuditEvent.objects.filter(origin=run.origin).order_by("id")
    return answered, [(e.path, e.http_status, e.request_id or None) for e in rows]


@pytest.mark.parametrize("workers", [1, 2])
def test_every_request_of_a_sync_reading_ahead_has_one_audit_row(acme, emulator, workers):
    # The reading threads' rows are written by the threads writing the pages, with them.
    emulator.clear_log()
    run = run_sync(acme, actor=Actor.command("tests"), workers=workers)
    assert run.status == SyncRun.Status.SUCCEEDED, run.message
    answered, recorded = requests_and_audit_rows(emulator, run)
    assert len(answered) > 50 and sorted(recorded) == sorted(answered)
    if workers == 1:  # one reader: in the order of the requests, each dated when made
        assert recorded == answered
        rows = AuditEvent.objects.filter(origin=run.origin).order_by("id")
        when = list(rows.values_list("occurred_at", flat=True))
        assert when == sorted(when)


def full_disk_at(monkeypatch, page):
    """The sync's writes fail with a full disk at its `page`th page of charges. Returns the
    pages of charges it was given, that one included."""
    written = []

    def store(connection, resource, objects, observed_at, **kwargs):
        if resource == "charges":
            written.append(objects)
            if len(written) == page:
                raise OSError("No space left on device")
        return store_objects(connection, resource, objects, observed_at, **kwargs)

    monkeypatch.setattr(runner, "store_objects", store)
    return written


def test_the_calls_of_a_page_that_could_not_be_written_are_still_recorded(
    acme, emulator, monkeypatch
):
    full_disk_at(monkeypatch, page=1)
    emulator.clear_log()
    with pytest.raises(OSError, match="No space left"):
        run_sync(acme, actor=Actor.command("tests"))
    run = SyncRun.objects.get(connection=acme)
    assert run.status == SyncRun.Status.FAILED and "No space left" in run.message
    answered, recorded = requests_and_audit_rows(emulator, run)
    # The charges read (the first page, and those read ahead of it) are on the log.
    assert "/v1/charges" in [path for path, _, _ in answered]
    assert sorted(recorded) == sorted(answered)


@pytest.fixture
def grouped(monkeypatch):
    """Pages committed four at a time, the reader always a page ahead: what a fast Stripe
    gives a writer on SQLite, without depending on the timing of the threads."""
    monkeypatch.setattr(runner, "PAGES_PER_COMMIT", 4)
    monkeypatch.setattr(runner, "COMMIT_SECONDS", 3600)
    monkeypatch.setattr(read_ahead, "ready", lambda self: True)


def charges_kept(acme):
    """(charges mirrored, the charges checkpoint's cursor), as committed."""
    checkpoint = SyncCheckpoint.objects.get(connection=acme, resource="charges")
    return Charge.objects.filter(connection=acme).count(), checkpoint.cursor


def test_a_page_that_cannot_be_written_rolls_back_its_group_and_the_next_run_resumes(
    acme, emulator, monkeypatch, grouped
):
    written = full_disk_at(monkeypatch, page=6)
    emulator.clear_log()
    with pytest.raises(OSError, match="No space left"):
        run_sync(acme, actor=Actor.command("tests"))

    # Pages 1-4 were committed together; 5 and 6 were rolled back, checkpoint and all.
    assert charges_kept(acme) == (40, written[3][-1]["id"])
    run = SyncRun.objects.get(connection=acme)
    answered, recorded = requests_and_audit_rows(emulator, run)
    assert sorted(recorded) == sorted(answered)
    monkeypatch.setattr(runner, "store_objects", store_objects)
    assert run_sync(acme, actor=Actor.command("tests")).status == SyncRun.Status.SUCCEEDED
    assert_mirror_equals(emulator.store, acme)


def test_what_was_written_before_stripe_failed_is_committed(acme, emulator, monkeypatch, grouped):
    asked, list_page = [], Door.list_page

    def failing_at_the_sixth(door, resource, **params):
        if resource == "charges":
            asked.append(params)
            if len(asked) == 6:
                raise StripeUnavailable("Stripe did not answer /v1/charges after 3 attempts")
        return list_page(door, resource, **params)

    monkeypatch.setattr(Door, "list_page", failing_at_the_sixth)
    run = run_sync(acme, actor=Actor.command("tests"))

    assert run.status == SyncRun.Status.FAILED and "did not answer" in run.message
    # The five pages read before the failure are kept, with the checkpoint after them.
    count, cursor = charges_kept(acme)
    assert count == 50 and cursor == asked[5]["starting_after"]
    monkeypatch.setattr(Door, "list_page", list_page)
    assert run_sync(acme, actor=Actor.command("tests")).status == SyncRun.Status.SUCCEEDED
    assert_mirror_equals(emulator.store, acme)


def test_the_next_page_is_read_while_this_one_is_written():
    second_asked = threading.Event()

    def pages():
        yield 1
        second_asked.set()
        yield 2

    pages_read = read_ahead(pages())
    assert next(pages_read) == 1
    assert second_asked.wait(timeout=10), "page 2 was not asked for while page 1 was written"
    assert list(pages_read) == [2]


def test_reading_ahead_keeps_the_order_and_fails_where_the_reading_failed():
    def pages():
        yield 1
        yield 2
        raise StripeUnavailable("Stripe did not answer")

    written = []
    with pytest.raises(StripeUnavailable):
        for page in read_ahead(pages()):
            written.append(page)
    assert written == [1, 2]


def test_the_reading_thread_keeps_no_statements_of_the_pages_it_handed_over(settings):
    settings.DEBUG = True  # Django then keeps each connection's statements

    def pages():
        for _ in range(3):
            kept = len(connection.queries)  # the reading thread's own connection
            AuditEvent.objects.exists()
            yield kept

    assert list(read_ahead(pages())) == [0, 0, 0]


def test_a_sync_that_stops_early_stops_reading():
    def pages():
        n = 0
        while True:
            n += 1
            yield n

    pages_read = read_ahead(pages())
    assert next(pages_read) == 1
    pages_read.close()
    assert not [t for t in threading.enumerate() if t.name == "sync-read-ahead"]


@pytest.mark.skipif(connection.vendor != "postgresql", reason="PostgreSQL's advisory locks")
def test_writers_of_different_kinds_go_at_once_and_linked_kinds_take_turns(acme):
    """lock_mirror on PostgreSQL: a page of invoices is written while one of charges is, an
    invoice payment (whose write reads the charges, links.py) waits for it."""

    def lock_in_a_thread(resource):
        done = threading.Event()

        def lock():
            try:
                with transaction.atomic():
                    lock_mirror(acme, resource)
                done.set()
            finally:
                db_connections.close_all()

        thread = threading.Thread(target=lock)
        thread.start()
        return thread, done

    with transaction.atomic():
        lock_mirror(acme, "charges")
        invoices, invoices_done = lock_in_a_thread("invoices")
        payments, payments_done = lock_in_a_thread("invoice_payments")
        assert invoices_done.wait(timeout=20), "another kind waited for the charges' lock"
        payments.join(timeout=0.5)
        assert not payments_done.is_set(), "a linked kind went in while charges were written"
    assert payments_done.wait(timeout=20)
    invoices.join(), payments.join()


@pytest.mark.skipif(connection.vendor != "postgresql", reason="PostgreSQL's row locks")
def test_a_writer_waiting_for_the_runs_row_does_not_hold_up_the_writer_that_locked_it(acme, alice):
    """Two writers of one run, each with its pages in a transaction of its own. The first
    writes the run's counts (the run's row is then locked until it commits); the second's
    turn to write them comes before that, and it waits for the row. The first must still
    count its next page and commit. A 100,000-charge sync hung here while the waiting writer
    held the lock that guards the counts."""
    assert lease.claim(acme)
    sync = runner.Sync(acme, Actor.user(alice), progress=None, workers=2)
    sync.run_row = SyncRun.objects.create(
        connection=acme, kind=SyncRun.Kind.BACKFILL, actor_kind="user", actor="alice"
    )
    sync.door = Door(acme, actor=Actor.user(alice), origin=sync.run_row.origin)

    def page(resource):
        result = PageResult()
        result.counts_of(resource).fetched = result.counts_of(resource).created = 100
        return result

    first_booked, failures = threading.Event(), []

    def writer(*steps):
        try:
            with connection.cursor() as cursor:  # fail rather than hang if it comes back
                cursor.execute("SET lock_timeout = '20s'")
            with transaction.atomic():
                for step in steps:
                    step()
        except Exception as e:  # reported by the test below
            failures.append(e)
        finally:
            db_connections.close_all()

    def book(resource):
        sync.booked = 0.0  # its turn to write the counts
        sync._count(page(resource))

    def second_waits_for_the_row():
        # Polled until the second writer's update waits on the row (first_booked is set by
        # now, so it does not pace the polling: a deadline does).
        deadline = time.monotonic() + 20
        with connection.cursor() as cursor:
            while time.monotonic() < deadline:
                cursor.execute(
                    "SELECT count(*) FROM pg_locks WHERE NOT granted AND locktype = 'transactionid'"
                )
                if cursor.fetchone()[0]:
                    return
                time.sleep(0.01)
        raise AssertionError("the second writer never waited for the run's row")

    first = threading.Thread(
        target=writer,
        args=(lambda: book("charges"), first_booked.set, second_waits_for_the_row,
              lambda: sync._count(page("charges"))),
    )  # fmt: skip
    second = threading.Thread(target=writer, args=(first_booked.wait, lambda: book("invoices")))
    first.start(), second.start()
    first.join(timeout=60), second.join(timeout=60)
    assert not first.is_alive() and not second.is_alive(), "the writers hung"
    assert failures == []
    run = SyncRun.objects.get(pk=sync.run_row.pk)
    assert run.counts["invoices"]["created"] == 100
    assert run.counts["charges"]["created"] == 100  # as the second writer last wrote them
    assert sync.run_row.counts["charges"]["created"] == 200  # the run's end writes the rest
