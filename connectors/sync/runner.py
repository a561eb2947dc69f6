"""A sync run: bring one connection's mirror up to date through the door.

The first run (or `--full`) is a backfill: each resource's history is read newest first in
windows of `created`, pages of 100, and every page is committed with its checkpoint. Later
runs are incremental: the events since the last applied one, the recent balance
transactions (Stripe sends no events for them), and the balance. An events cursor older
than Stripe keeps events falls back to a windowed re-read from the cursor's date.
"""

import copy
import logging
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from datetime import UTC, datetime, timedelta

from django.conf import settings
from django.db import connection as db
from django.db import connections as db_connections
from django.db import reset_queries, transaction
from django.db.models import Max, Min
from django.utils import timezone

from connectors.door import Door, DoorError, StripeRequestFailed
from connectors.models import (
    MIRROR_MODELS,
    Balance,
    BalanceTransaction,
    Payout,
    SyncCheckpoint,
    SyncRun,
)
from connectors.models.mirror import when
from connectors.resources import BACKFILL, BY_NAME, WHOLE
from connectors.sync import lease
from connectors.sync.events import apply_event, complete_children
from connectors.sync.garbage import fewer_collections
from connectors.sync.readahead import read_ahead
from connectors.sync.upsert import PageResult, store_objects

log = logging.getLogger(__name__)

# The backfill's kinds, in the order it reads them, and those it reads whatever their age
# (connectors.resources says why).
BACKFILL_ORDER = tuple(r.name for r in BACKFILL)
WHOLE_HISTORY = {r.name for r in BACKFILL if r.backfill == WHOLE}
EVENTS = "events"
PAYOUTS = "payouts"
# The automatic payout whose transactions are being read, while some of its pages are
# committed and others not yet (_read_payout_components).
PAYOUT_COMPONENTS = "payout_components"
# The balance transaction at the head of Stripe's list (its newest, in Stripe's order) when
# the list was last read from its head: a later run reads only what is listed before it.
NEWEST_TRANSACTION = "newest_balance_transaction"
NOT_WINDOWS = (EVENTS, PAYOUT_COMPONENTS, NEWEST_TRANSACTION)
# How many pages of a payout's transactions are written at once, by database (one elsewhere):
# see _read_payout_components.
PAYOUT_PAGES = {"postgresql": 10}
# PostgreSQL's statistics of a mirror table are brought up to date when the sync has created
# this many of its rows, and again each time it has multiplied them by ANALYZE_GROWTH.
ANALYZE_FROM = 1000
ANALYZE_GROWTH = 4
PAGE = 100  # events applied (and the cursor moved) this many at a time
# The run's counts are written, and the lease renewed, with the first page written after
# this many seconds since they last were (see _count_page).
BOOKKEEPING_SECONDS = 1.0
# Pages a transaction may hold while the next page is already read (_Commits), and for at
# most how long, so that another writer (SQLite has one at a time, and the mirror's locks
# are held until commit) waits no longer than that. A 100,000-charge sync on SQLite: 104 s
# with one page a commit, 74 s with 8, 66 s with 32; 20,000 charges on PostgreSQL, two
# readers: 19-20 s with one, 17-18 s with 32.
PAGES_PER_COMMIT = 32
COMMIT_SECONDS = 0.5
EPOCH = datetime(1970, 1, 1, tzinfo=UTC)


class _Commits:
    """Pages written in one transaction, up to PAGES_PER_COMMIT of them and COMMIT_SECONDS,
    while `reader` (a read_ahead) has the next page read already: a writer that would wait
    for Stripe commits first. Each page writes its checkpoint; the audit rows of the calls
    read meanwhile (Door.holding_records) are written with the last. On SQLite a commit
    writes every database page the transaction changed to the WAL: the tables' and indexes'
    pages that a window's pages all touch are written once for several of them (over a third
    of a 100,000-charge sync's time). A checkpoint still commits with exactly the pages
    before it, so a run stopped anywhere resumes where its last commit left it. The calls
    happened whatever becomes of the pages: should their transaction fail, their rows are
    written on their own.

    Used as `with _Commits(door, reader) as commits:`; leaving commits what is written,
    whatever ended the reading (a page that failed has rolled its transaction back
    already), and closes `reader`. Without a reader, each page commits on its own."""

    def __init__(self, door, reader=None):
        self.door, self.reader = door, reader
        self.atomic, self.pages, self.rows, self.opened = None, 0, [], 0.0

    def __enter__(self):
        return self

    def __exit__(self, *exc_info):
        try:
            self.commit()
        finally:
            if self.reader is not None:
                self.reader.close()

    @contextmanager
    def page(self):
        if self.atomic is None:
            self.atomic = transaction.atomic()
            self.atomic.__enter__()
            self.opened = time.monotonic()
        try:
            with transaction.atomic(savepoint=False):
                yield
        except BaseException:
            self.abandon()
            raise
        self.rows += self.door.take_held()
        self.pages += 1
        if (
            self.pages >= PAGES_PER_COMMIT
            or time.monotonic() - self.opened >= COMMIT_SECONDS
            or self.reader is None
            or not self.reader.ready()
        ):
            self.commit()

    def commit(self):
        if self.atomic is None:
            return
        atomic, self.atomic = self.atomic, None
        try:
            self.door.write_records(self.rows)
        except BaseException:
            transaction.set_rollback(True)
            atomic.__exit__(None, None, None)
            self._written_alone()
            raise
        try:
            atomic.__exit__(None, None, None)
        except BaseException:
            self._written_alone()
            raise
        self.pages, self.rows = 0, []

    def abandon(self):
        """Roll back what is not committed (a failure), and write its calls' rows."""
        if self.atomic is None:
            return
        atomic, self.atomic = self.atomic, None
        try:
            transaction.set_rollback(True)
            atomic.__exit__(None, None, None)
        finally:
            self._written_alone()

    def _written_alone(self):
        rows, self.pages, self.rows = self.rows, 0, []
        self.door.write_records(rows)


class SyncLost(Exception):
    """Another process took the connection over (our lease ran out)."""


def run_sync(connection, *, actor, full=False, since=None, progress=None, workers=None):
    """Run one sync of `connection` and return its SyncRun (status skipped when another
    sync holds the connection). `progress(run)` is called after every page written;
    `workers` readers read the backfill's windows at once (LUMEN_SYNC_WORKERS)."""
    if not lease.claim(connection):
        holder = lease.current_holder(connection)
        return SyncRun.objects.create(
            connection=connection,
            kind=SyncRun.Kind.INCREMENTAL,
            status=SyncRun.Status.SKIPPED,
            actor_kind=actor.kind,
            actor=actor.name,
            finished_at=timezone.now(),
            message=f"Another sync is running ({holder.get('sync_holder')}).",
        )
    # A run still marked running is one whose process died (this claim proves it is gone).
    SyncRun.objects.filter(connection=connection, status=SyncRun.Status.RUNNING).update(
        status=SyncRun.Status.FAILED,
        finished_at=timezone.now(),
        message="Interrupted: its process ended before it finished. The next run resumed it.",
    )
    try:
        workers = workers or settings.LUMEN_SYNC_WORKERS
        with fewer_collections():
            return Sync(connection, actor, progress, workers).run(full=full, since=since)
    finally:
        lease.release(connection)


class Sync:
    def __init__(self, connection, actor, progress, workers=1):
        self.workers = workers
        self.counting = threading.Lock()
        self.connection = connection
        self.actor = actor
        self.progress = progress or (lambda run: None)
        self.started = timezone.now()
        self.run_row = None
        self.door = None
        self.touched_payouts = set()  # payouts whose transactions are to be read (again)
        self.components_read = set()  # payouts whose transactions this run has read
        self.payout_windows = 0  # windows of payouts the backfill has still to read
        self.analyzed = {}  # kind -> rows this run had created when its table was analyzed
        self.booked = time.monotonic()  # when the counts were last written, the lease renewed

    def run(self, full, since):
        backfill = full or since is not None or not self._backfill_complete()
        self.run_row = SyncRun.objects.create(
            connection=self.connection,
            kind=SyncRun.Kind.BACKFILL if backfill else SyncRun.Kind.INCREMENTAL,
            actor_kind=self.actor.kind,
            actor=self.actor.name,
            started_at=self.started,
        )
        self.door = Door(self.connection, actor=self.actor, origin=self.run_row.origin)
        try:
            # An incremental run reads the recent balance transactions after the events,
            # unless it fell back to re-reading history (_catch_up); a run that read history
            # reads again only those that came due meanwhile.
            recent = False
            if backfill:
                self._plan_backfill(full, since)
            else:
                recent = self._catch_up()
            self._read_backfill()
            self._read_events()
            self._read_recent_transactions(only_due=not recent)
            self._read_payout_components()
            self._read_balance()
        except (DoorError, SyncLost) as e:
            return self._finish(SyncRun.Status.FAILED, str(e))
        except Exception as e:
            self._finish(SyncRun.Status.FAILED, f"{type(e).__name__}: {e}")
            raise
        self.connection.__class__.objects.filter(pk=self.connection.pk).update(
            data_as_of=self.started
        )
        return self._finish(SyncRun.Status.SUCCEEDED, "")

    # Planning -----------------------------------------------------------------------------

    def _backfill_complete(self):
        checkpoints = SyncCheckpoint.objects.filter(connection=self.connection)
        windows = checkpoints.exclude(resource__in=NOT_WINDOWS)
        planned = set(windows.values_list("resource", flat=True))
        return (
            planned >= set(BACKFILL_ORDER)
            and not windows.filter(done=False).exists()
            and checkpoints.filter(resource=EVENTS).exists()
        )

    def _plan_backfill(self, full, since):
        """Windows of `created` per resource, from `since` to now. An unfinished plan is
        resumed as it is; --full or --since plans anew."""
        pending = SyncCheckpoint.objects.filter(connection=self.connection, done=False)
        if not full and since is None and pending.exclude(resource__in=NOT_WINDOWS).exists():
            return
        start = since or self.started - timedelta(days=settings.LUMEN_SYNC_HISTORY_DAYS)
        self._note_events_cursor()
        self._plan_windows(start, self.started)

    def _plan_windows(self, start, end):
        width = (
            timedelta(days=settings.LUMEN_SYNC_WINDOW_DAYS)
            if settings.LUMEN_SYNC_WINDOW_DAYS
            else end - start
        )
        with transaction.atomic():
            SyncCheckpoint.objects.filter(connection=self.connection).exclude(
                resource__in=NOT_WINDOWS
            ).delete()
            rows = []
            for resource in BACKFILL_ORDER:
                window_start = EPOCH if resource in WHOLE_HISTORY else start
                edge = start
                while window_start < end:
                    window_end = edge + width
                    # The newest window stays open: what is created while the sync reads is
                    # read too (and again from events; the newest version wins).
                    window_end = None if window_end >= end else window_end
                    rows.append(
                        SyncCheckpoint(
                            connection=self.connection,
                            resource=resource,
                            window_start=window_start,
                            window_end=window_end,
                        )
                    )
                    window_start = edge = window_end or end
            SyncCheckpoint.objects.bulk_create(rows)

    def _note_events_cursor(self):
        """Remember the newest event before reading history: every change after this moment
        is then applied from events, and newest-wins settles the overlap."""
        if SyncCheckpoint.objects.filter(connection=self.connection, resource=EVENTS).exists():
            return
        newest = self.door.list_page(EVENTS, limit=1)["data"]
        SyncCheckpoint.objects.create(
            connection=self.connection,
            resource=EVENTS,
            window_start=EPOCH,
            window_end=when(newest[0]["created"]) if newest else self.started,
            cursor=newest[0]["id"] if newest else "",
        )

    def _catch_up(self):
        """Incremental run: if the events cursor is older than Stripe keeps events, the gap
        is re-read from history instead. Returns whether the recent balance transactions are
        still to be read (not when history is re-read)."""
        cursor = SyncCheckpoint.objects.get(connection=self.connection, resource=EVENTS)
        horizon = self.started - timedelta(days=settings.LUMEN_EVENTS_RETENTION_DAYS)
        if cursor.window_end and cursor.window_end < horizon:
            since = cursor.window_end - timedelta(days=1)
            self._warn(
                f"The last applied event is from {cursor.window_end:%Y-%m-%d}, older than "
                f"Stripe keeps events: re-reading everything created since {since:%Y-%m-%d}."
            )
            cursor.delete()
            self._note_events_cursor()
            self._plan_windows(since, self.started)
            return False
        return True

    def _read_recent_transactions(self, only_due=False):
        """After the events: balance transactions have no events of their own. The new ones
        are those Stripe lists before the newest the mirror holds (NEWEST_TRANSACTION; by
        `created` alone, the transactions of the newest second were all read again: 1,500
        of them, 16 pages, on the bench's account of a million charges). A pending one whose
        funds have become available since it was read (its status has changed at Stripe) is
        read again, with everything newer, from the oldest such. "Since" is by Stripe's
        clock, the Date of its latest answer (ours, or its newest event's if later, should
        it send none): by ours, an account whose clock lags would have the same funds read
        again at every run. A second run with nothing changed reads one page.

        A first sync (`only_due`) has just read the newest; it reads again only what came
        due while it read, so that the next run need not."""
        mirrored = BalanceTransaction.objects.filter(connection=self.connection)
        events = SyncCheckpoint.objects.get(connection=self.connection, resource=EVENTS)
        stripe_now = self.door.stripe_clock or max(
            timezone.now(), events.window_end or self.started
        )
        due = mirrored.filter(status="pending", available_on__lte=stripe_now)
        oldest_due = due.aggregate(oldest=Min("created"))["oldest"]
        head = SyncCheckpoint.objects.filter(
            connection=self.connection, resource=NEWEST_TRANSACTION
        ).first()
        if oldest_due is None:
            if only_due:
                return
            if head is not None and self._read_transactions_before(head):
                return
        newest = mirrored.aggregate(newest=Max("created"))["newest"]
        starts = [start for start in (oldest_due, newest) if start is not None]
        start = (
            min(starts)
            if starts
            else self.started - timedelta(days=settings.LUMEN_SYNC_HISTORY_DAYS)
        )
        recent = SyncCheckpoint(resource="balance_transactions", window_start=start)
        self._read_window("balance_transactions", recent, save=False)

    def _note_newest_transaction(self, stripe_id):
        SyncCheckpoint.objects.update_or_create(
            connection=self.connection,
            resource=NEWEST_TRANSACTION,
            defaults={"window_start": EPOCH, "cursor": stripe_id},
        )

    def _read_transactions_before(self, head):
        """The balance transactions Stripe lists before `head` (newer than it), a page at a
        time towards the head of the list, `head` moved with each page's newest. False if
        Stripe no longer knows `head` (then the caller reads by date)."""
        while True:
            observed_at = timezone.now()
            try:
                page = self.door.list_page("balance_transactions", ending_before=head.cursor)
            except StripeRequestFailed as e:
                if e.http_status not in (400, 404):
                    raise
                head.delete()
                return False
            objects = page["data"]
            if objects:
                with _Commits(self.door).page():
                    result = store_objects(
                        self.connection, "balance_transactions", objects, observed_at
                    )
                    head.cursor = objects[0]["id"]
                    head.save(update_fields=["cursor"])
                    self._count(result)
            if not objects or not page.get("has_more"):
                return True

    # Reading ------------------------------------------------------------------------------

    def _read_backfill(self):
        windows = [
            checkpoint
            for resource in BACKFILL_ORDER
            for checkpoint in SyncCheckpoint.objects.filter(
                connection=self.connection, resource=resource, done=False
            ).order_by("window_start")
        ]
        # The last window of payouts read, their transactions are read in the same turn
        # (_read_backfill_window), while the other kinds still are.
        self.payout_windows = sum(1 for checkpoint in windows if checkpoint.resource == PAYOUTS)
        # Inside a caller's transaction (a test's), the readers' connections of their own
        # would wait on its uncommitted rows, and it on them: the windows are read in turn.
        if self.workers <= 1 or len(windows) <= 1 or db.in_atomic_block:
            for checkpoint in windows:
                self._read_backfill_window(checkpoint)
            return
        # Windows are independent: several readers wait on Stripe at once, while the writes
        # of their pages still take turns (lock_mirror). Iterating the results re-raises the
        # first failure.
        with ThreadPoolExecutor(self.workers, thread_name_prefix="sync") as pool:
            list(pool.map(self._read_window_in_thread, windows))

    def _read_window_in_thread(self, checkpoint):
        try:
            self._read_backfill_window(checkpoint)
        finally:
            db_connections.close_all()  # this thread's own database connection

    def _read_backfill_window(self, checkpoint):
        self._read_window(checkpoint.resource, checkpoint)
        if checkpoint.resource != PAYOUTS:
            return
        with self.counting:
            self.payout_windows -= 1
            last = not self.payout_windows
        # Not after every kind: at 100,000 charges on PostgreSQL the payouts' 577 lists took
        # the last 10 of 115 s with one writer at work, the other one idle.
        if last:
            self._read_payout_components()

    def _read_window(self, resource, checkpoint, save=True):
        """Read a window page by page from its cursor, each page committed with the cursor
        after it (and with the pages before it that were written while the next was already
        read: _Commits); the next page is read while this one is written (read_ahead)."""
        self.run_row.current = resource
        created = {"gte": int(checkpoint.window_start.timestamp())}
        if checkpoint.window_end:
            created["lt"] = int(checkpoint.window_end.timestamp())
        params = {**BY_NAME[resource].params, "created": created}
        # Read from the head of the list (no older bound, no cursor yet): its first object is
        # the newest balance transaction, where a later run starts.
        heads = (
            resource == "balance_transactions"
            and not checkpoint.window_end
            and not checkpoint.cursor
        )
        reader = read_ahead(self._pages(resource, params, checkpoint.cursor), self.door)
        with _Commits(self.door, reader) as commits:
            for observed_at, objects, has_more in reader:
                with commits.page():
                    result = store_objects(self.connection, resource, objects, observed_at)
                    if heads and objects:
                        self._note_newest_transaction(objects[0]["id"])
                        heads = False
                    if objects:
                        checkpoint.cursor = objects[-1]["id"]
                    checkpoint.done = not has_more
                    if save:
                        checkpoint.save(update_fields=["cursor", "done", "updated_at"])
                    self._count(result)
                if resource == PAYOUTS:
                    self.touched_payouts.update(p["id"] for p in objects)
                self._keep_statistics()

    def _pages(self, resource, params, cursor=""):
        """The pages of a list after `cursor`: (when it was read, its objects with all their
        children, whether more follow)."""
        params = dict(params)
        while True:
            if cursor:
                params["starting_after"] = cursor
            observed_at = timezone.now()
            page = self.door.list_page(resource, **params)
            objects = [complete_children(self.door, resource, obj) for obj in page["data"]]
            has_more = bool(page.get("has_more") and objects)
            yield observed_at, objects, has_more
            if not has_more:
                return
            cursor = objects[-1]["id"]

    def _read_events(self):
        checkpoint = SyncCheckpoint.objects.get(connection=self.connection, resource=EVENTS)
        self.run_row.current = EVENTS
        if not checkpoint.cursor:
            # No event existed when the backfill began, so every event since is new; a list
            # filtered by time comes newest first, so all of it is read before any is applied.
            since = {"gte": int(checkpoint.window_end.timestamp())}
            backlog = list(self.door.iter_list(EVENTS, created=since))
            for end in range(len(backlog), 0, -PAGE):
                self._apply_events(checkpoint, backlog[max(end - PAGE, 0) : end])
            if not checkpoint.cursor:
                return
        while True:
            try:
                page = self.door.list_page(EVENTS, ending_before=checkpoint.cursor)
            except StripeRequestFailed as e:
                if e.http_status not in (400, 404):
                    raise
                # The cursor event is gone from Stripe: re-read from its date next run.
                self._warn(f"The events cursor is no longer known to Stripe ({e}).")
                SyncCheckpoint.objects.filter(pk=checkpoint.pk).update(window_end=EPOCH)
                return
            if page["data"]:
                self._apply_events(checkpoint, page["data"])
            if not page["data"] or not page.get("has_more"):
                return

    def _apply_events(self, checkpoint, events):
        """Apply events (newest first, all newer than the cursor) oldest first, then move the
        cursor to the newest of them."""
        result = PageResult()
        for event in reversed(events):
            apply_event(self.connection, event, source="events", door=self.door, result=result)
            if (event.get("data") or {}).get("object", {}).get("object") == "payout":
                self.touched_payouts.add(event["data"]["object"]["id"])
        with transaction.atomic():
            checkpoint.cursor = events[0]["id"]
            checkpoint.window_end = when(events[0]["created"])
            checkpoint.save()
            self._count(result)

    def _read_payout_components(self):
        """Which balance transactions each automatic payout paid out: Stripe says so only
        when asked per payout. Read for the payouts this run saw change, for any whose
        components were never read (a run killed before it got to them), and for the one a
        run was killed in the middle of.

        A payout sweeps a week of the account's transactions, so its list grows with the
        account (3,000 at 100,000 charges): read whole, it was the sync's peak of memory, its
        statements as long as the list. It is written a few pages at a time, each time
        committed. On SQLite a page at a time: SQLite prepares each length of statement anew
        and keeps the last 128 prepared, so that statements of every length a payout's list
        can have held 70 MB at 60,000 charges; pages of 100 make the same statements again
        and again. On PostgreSQL ten pages at a time: each statement is a round trip, and at
        60,000 charges the payouts took 8.0 s a page at a time, 6.1-7.1 s ten pages at a
        time, 5.9-6.6 s whole.

        While a payout is written in part, a checkpoint names it, so that the next run reads
        it again rather than take its first linked transactions for all of them."""
        payouts = Payout.objects.filter(connection=self.connection, automatic=True)
        partly = SyncCheckpoint.objects.filter(
            connection=self.connection, resource=PAYOUT_COMPONENTS
        )
        named = partly.values_list("cursor", flat=True).first()  # the payout it names
        # A run reads them once the payouts are read, and again after the events for those
        # the events changed; a payout that no transaction links to is read once a run.
        # Two queries, not one with an OR: PostgreSQL plans an EXISTS under an OR as a scan
        # of the balance transactions per payout (2 s at 60,000 charges), alone as an
        # anti-join (0.1 ms).
        touched, self.touched_payouts = self.touched_payouts, set()
        changed = payouts.filter(stripe_id__in={*touched, named} - {None})
        automatic = set(changed.values_list("stripe_id", flat=True))
        automatic |= self._never_linked() - self.components_read
        self.components_read |= automatic
        parts = read_ahead(self._components(sorted(automatic)), self.door)
        with _Commits(self.door, parts) as commits:
            for payout_id, observed_at, transactions, has_more in parts:
                self.run_row.current = f"payout {payout_id}"
                with commits.page():
                    result = store_objects(
                        self.connection,
                        "balance_transactions",
                        transactions,
                        observed_at,
                        filled={"payout": payout_id},
                    )
                    # Written only for a payout written in parts, committed with its first part
                    # and dropped with its last.
                    if has_more and named != payout_id:
                        SyncCheckpoint.objects.update_or_create(
                            connection=self.connection,
                            resource=PAYOUT_COMPONENTS,
                            window_start=EPOCH,
                            defaults={"cursor": payout_id},
                        )
                        named = payout_id
                    elif not has_more and named == payout_id:
                        partly.delete()
                        named = None
                    self._count(result)
        if named is not None:  # a payout no longer automatic, or gone from the mirror
            partly.delete()

    def _never_linked(self):
        """The automatic payouts that no balance transaction is linked to yet. On SQLite the
        connection is checked beside the payout (`+`: not an index it may choose); given it,
        SQLite walked the (connection, created) index for every payout: 1.2 s at 100,000
        charges, most of a second run's time, where the payout's index takes 0.4 ms.
        PostgreSQL plans the plain condition as an anti-join along the payout's index (17 ms
        at 20,000 charges), the other as a scan of the transactions for every payout (78
        ms)."""
        q = db.ops.quote_name
        payouts = q(Payout._meta.db_table)
        transactions = q(BalanceTransaction._meta.db_table)
        beside = "+" if db.vendor == "sqlite" else ""
        with db.cursor() as cursor:  # only quoted names are formatted in
            cursor.execute(
                f"SELECT p.stripe_id FROM {payouts} p WHERE p.connection_id = %s "  # noqa: S608
                f"AND p.automatic AND NOT EXISTS (SELECT 1 FROM {transactions} t "
                f"WHERE t.payout = p.stripe_id AND {beside}t.connection_id = p.connection_id)",
                [self.connection.pk],
            )
            return {stripe_id for (stripe_id,) in cursor.fetchall()}

    def _components(self, payouts):
        """Each payout's transactions in parts of PAYOUT_PAGES pages: (the payout, when the
        part's first page was read, its transactions, whether more follow)."""
        size = PAYOUT_PAGES.get(db.vendor, 1)
        for payout_id in payouts:
            pages = self._pages("balance_transactions", {"payout": payout_id})
            part, first = [], None
            for n, (observed_at, transactions, has_more) in enumerate(pages, 1):
                part += transactions
                first = first or observed_at
                if n % size == 0 or not has_more:
                    yield payout_id, first, part, has_more
                    part, first = [], None

    def _read_balance(self):
        self.run_row.current = "balance"
        observed_at = timezone.now()
        balance = self.door.retrieve("balance")
        Balance.objects.update_or_create(
            connection=self.connection, defaults={"raw": balance, "observed_at": observed_at}
        )

    # Book-keeping -------------------------------------------------------------------------

    def _count(self, result):
        """Add a written page's counts to the run and tell whoever watches; once a second,
        also write them to the run's row and renew the lease, inside the page's transaction.

        The writing is done outside the counting lock. The row stays locked until the page's
        transaction commits, which holds up to PAGES_PER_COMMIT pages: a writer that held the
        lock while it waited for that row waited on a sibling which, its pages written,
        waited for the lock. A 100,000-charge sync on PostgreSQL hung there."""
        with self.counting:
            booking = self._count_page(result)
        if booking is not None:
            SyncRun.objects.filter(pk=self.run_row.pk).update(**booking)
            if not lease.renew(self.connection):
                raise SyncLost("Another process took this connection's sync over.")

    def _count_page(self, result):
        """Add the counts (under the counting lock); returns what to write to the run's row
        if it is time to, else None."""
        counts = self.run_row.counts
        for resource, c in result.counts.items():
            mine = counts.setdefault(resource, {"fetched": 0, "created": 0, "updated": 0})
            for key, value in c.as_dict().items():
                mine[key] += value
        self.run_row.errors.extend(result.errors)
        self.run_row.api_calls = self.door.calls
        # With DEBUG on, Django keeps the last 9,000 queries, pages of raw JSON included:
        # gigabytes on a large account. A page's queries are of no use after it.
        reset_queries()
        self.progress(self.run_row)
        # Written once a second rather than with every page (two statements, a third of the
        # ORM's work of a page): the lease lasts minutes, so it cannot have run out unless
        # far more than a second has passed, and a page committed then still renews it (or
        # is rolled back with SyncLost). The counts of a run killed in between fall short by
        # a second of pages; the run ends marked interrupted, and the next one resumes from
        # the checkpoints, not from the counts.
        if time.monotonic() - self.booked < BOOKKEEPING_SECONDS and not result.errors:
            return None
        self.booked = time.monotonic()
        run = self.run_row
        return {
            "counts": copy.deepcopy(run.counts),  # the other writers go on adding to them
            "errors": list(run.errors),
            "api_calls": run.api_calls,
            "current": run.current,
        }

    def _keep_statistics(self):
        """PostgreSQL plans a lookup by a list of ids (the links to invoices, the children of
        a page's parents, the unchanged rows of a page) from its statistics of the table. A
        first sync fills tables from empty faster than autovacuum analyzes them, and without
        statistics each such lookup scanned the whole table: a 100,000-charge sync spent 240
        of its 392 s waiting on PostgreSQL. So the sync analyzes a table itself, from 1,000
        rows and each time it has quadrupled the rows it created there: six times for a
        million rows. In between, the planner scales the sampled rows by the table's size on
        disk, so the estimates grow with the table; each ANALYZE samples up to 30,000 rows,
        and doubling (a dozen times) cost 1.3 of the server's 11 s at 20,000 charges. Not when
        the table's statistics already count twice those rows (other connections', an
        earlier sync's): they plan its lookups as well, and an ANALYZE samples the whole
        table, 0.4 s where 0.02 s on an empty one (bench/sync_workers.py)."""
        if db.vendor != "postgresql":
            return
        with self.counting:
            created = {kind: c["created"] for kind, c in self.run_row.counts.items()}
        for kind, rows in created.items():
            if rows >= max(ANALYZE_FROM, ANALYZE_GROWTH * self.analyzed.get(kind, 0)):
                self.analyzed[kind] = rows
                table = MIRROR_MODELS[kind]._meta.db_table
                with db.cursor() as cursor:
                    # -1 until the table is first analyzed
                    cursor.execute(
                        "SELECT reltuples FROM pg_class WHERE oid = %s::regclass", [table]
                    )
                    if cursor.fetchone()[0] < 2 * rows:
                        cursor.execute(f"ANALYZE {db.ops.quote_name(table)}")

    def _warn(self, text):
        log.warning("sync of %s: %s", self.connection.name, text)
        self.run_row.warnings.append(text)
        self.run_row.save(update_fields=["warnings"])

    def _finish(self, status, message):
        run = self.run_row
        run.status, run.message, run.finished_at = status, message, timezone.now()
        run.current = ""
        run.api_calls = self.door.calls
        run.save()
        self.progress(run)
        return run
