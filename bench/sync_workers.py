"""Several connections synced at once by two Celery workers on PostgreSQL and Redis.

    .venv/bin/python bench/sync_workers.py [--charges 5000] [--limits 25[,100000]]
        [--database-url postgres://postgres@127.0.0.1:5432/postgres]
        [--redis-url redis://127.0.0.1:6379] [--broker-db 8] [--limiter-db 9]

How a company with several Stripe accounts outgrows one process: more workers, on more
machines, on the same PostgreSQL and Redis. Two `celery -A lumen worker` processes (solo
pool, one task at a time each) take `connectors.tasks.sync_connection` from one Redis queue,
with REDIS_URL set so that the per-connection rate limit is one timeline in Redis shared by
every process. For each rate limit in --limits (requests/s per connection; 25, the default,
is Stripe's own in test mode; 100000 lifts it), in a child process with a scratch database,
an emulator and two workers of its own:

- the baseline: one connection queued alone, synced by one of the workers, its top-level
  listed objects (counted from its audit rows as bench/sync.py counts them) over the wall
  time from queueing the task to the run's finish;
- four other connections queued at once, each twice (the second message a duplicate, as
  when "Sync now" is clicked while the schedule fires): the listed objects of their four
  backfills over the wall time from queueing to the last run's finish (a duplicate that ran
  after its twin, an incremental sync, counts in the time and not in the objects), and the
  ratio to the baseline (the target is 1.5 x);
- the rate limit: for each of the four, the most requests it sent in any one second, and
  its average over its run (below the limit, the limit was not what bounded it);
- one sync per connection at a time: each connection's runs that were not skipped must not
  overlap in time, and the duplicates are counted as skipped (or as run after their twin);
- the CPU: the workers' and the emulator's CPU seconds during each measurement, and how
  busy the whole machine was, before the bench queued anything (other processes) and
  during each measurement. On a machine of two cores that others share the figures are
  noisy; this says how much.

The exit status is 1 if the rate limit was exceeded or a connection was synced twice at
once; the throughput ratio is printed for the reader to judge.

The accounts. The door reads Stripe at settings.STRIPE_API_BASE, one address for the whole
process, so every connection of a worker reads the same emulator; and an emulator (one
EmulatorStore) serves one account. So the bench's emulator is a process of its own (not a
thread of this one, whose interpreter lock it would share) holding five accounts, seeded
1 to 5 with --charges charges each, and answering each request from the account of its key
(ByKey: the emulator's own StripeAPI, one per account). The baseline reads account 1, the
four connections accounts 2 to 5: different ids, as four real accounts have. (Four
connections to one account would be the same work, but their mirrors would share every
Stripe id, and lookups by id alone, as staff paste one, find every connection's copy: a
cost that real accounts do not have.) The emulator's own CPU time is printed; it serves
every account from one process, and enforces no rate limit of its own.

The baseline fills an empty database; the four fill one that holds the baseline's account
and, as they go, each other's. A sync's ANALYZEs (connectors/sync/runner.py) cost more on
fuller tables (seen here: about 0.02 s each on an empty database, 0.4 s with five other
accounts of 5,000 charges in it), so the difference leans against the four, as it would in
production.

The requests of a connection are timed by when they were sent: the audit row's time (taken
when the answer came and the row was written) less the request's own duration, which is
a few milliseconds late at most. The limiter spaces a connection's requests 1/limit s apart:
a second holds `limit` of them, limit + 1 with that slack, and more would be a breach. A
connection's requests here all come from the one worker that holds its lease, so the check
is that the limit holds for each of several connections read at once through one Redis,
not that two processes reading one connection split its budget (tests/test_door.py does).

Each limit's database and folder are scratch ones, named after the child process that makes
them and removed whatever happens; the two Redis databases are flushed before and after;
the workers and the emulator are stopped on the way out.
"""

import argparse
import io
import json
import os
import socket
import subprocess
import sys
import time
import uuid
from collections import Counter, defaultdict
from datetime import timedelta
from itertools import pairwise
from pathlib import Path

BENCH = Path(__file__).resolve().parent
ROOT = BENCH.parent
sys.path[:] = [str(ROOT)] + [p for p in sys.path if Path(p or ".").resolve() != BENCH]
sys.path.append(str(BENCH))

from sync import scratch  # noqa: E402  (bench/sync.py: the scratch database and folder)

TARGET = 1.5
CONNECTIONS = 4
WORKERS = 2


def account_key(n):
    """The key of account n on the bench's emulator (test mode, every read permission)."""
    from connectors.emulator import DEMO_KEY

    return f"{DEMO_KEY[:-4]}B{n:03d}"


class ByKey:
    """The emulator's API for several accounts: a request reads the account of its key."""

    def __init__(self, apis, refuse):
        self.apis, self.refuse = apis, refuse

    def answer(self, method, path, query_pairs, authorization):
        from connectors.emulator.api import key_of

        api = self.apis.get(key_of(authorization), self.refuse)
        return api.answer(method, path, query_pairs, authorization)


def serve_accounts(accounts, charges):
    """The bench's emulator, in a process of its own: accounts 1..`accounts` of `charges`
    charges each (seeds 1, 2...: different ids, customers and amounts), each read with its
    own key, until SIGTERM."""
    from connectors.emulator import EmulatorStore, KeyGrant, KeyTable, StripeEmulator, seed_account
    from connectors.emulator.api import StripeAPI
    from connectors.emulator.server import serve_until_stopped

    now = int(time.time()) // 3600 * 3600  # as `manage.py stripe_emulator` seeds
    apis = {}
    for n in range(1, accounts + 1):
        store = EmulatorStore()
        seed_account(store, seed=n, now=now, charges=charges)
        apis[account_key(n)] = StripeAPI(store, KeyTable([KeyGrant(account_key(n))]))
    emulator = StripeEmulator(EmulatorStore())
    emulator.api = ByKey(apis, refuse=emulator.api)  # a key of no account: 401
    emulator.start()
    print(f"STRIPE_API_BASE={emulator.url}", flush=True)
    serve_until_stopped(emulator)


def start_emulator(charges, env, log_path):
    """serve_accounts in a child process on a free port; returns (process, its URL)."""
    with log_path.open("w") as log:
        process = subprocess.Popen(
            [sys.executable, __file__, "--serve-accounts", str(CONNECTIONS + 1),
             "--charges", str(charges)],
            cwd=ROOT,
            env=env,
            stdout=subprocess.PIPE,
            stderr=log,
            text=True,
        )  # fmt: skip
    for line in process.stdout:
        if line.startswith("STRIPE_API_BASE="):
            return process, line.split("=", 1)[1].strip()
    process.wait()
    raise SystemExit(f"the emulator did not start: {log_path.read_text()[-2000:]}")


def start_workers(queue, env, folder):
    host = socket.gethostname()
    workers = []
    for n in range(1, WORKERS + 1):
        name = f"{queue}-{n}@{host}"
        with (folder / f"worker-{n}.log").open("w") as log:
            process = subprocess.Popen(
                [sys.executable, "-m", "celery", "-A", "lumen", "worker", "--pool=solo",
                 "-Q", queue, "-n", name, "--without-gossip", "--without-mingle",
                 "--without-heartbeat", "-l", "warning"],
                cwd=ROOT,
                env=env,
                stdout=log,
                stderr=subprocess.STDOUT,
            )  # fmt: skip
        workers.append((name, process, folder / f"worker-{n}.log"))
    return workers


def wait_until_ready(workers, seconds=90):
    from lumen.celery import app

    names = {name for name, _, _ in workers}
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        for name, process, log in workers:
            if process.poll() is not None:
                raise SystemExit(f"worker {name} ended at start: {log.read_text()[-2000:]}")
        answered = set()
        for reply in app.control.ping(destination=sorted(names), timeout=1.0):
            answered.update(reply)
        if answered >= names:
            return
    raise SystemExit(f"the workers did not answer a ping in {seconds} s")


def stop(process, seconds=20):
    """Stop a child this bench started (a worker ends its current task first)."""
    if process.poll() is None:
        process.terminate()
        try:
            process.wait(timeout=seconds)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()


def flush_redis(*urls):
    import redis

    for url in urls:
        client = redis.Redis.from_url(url, socket_timeout=5, socket_connect_timeout=5)
        try:
            client.flushdb()
        finally:
            client.close()


def connect(name, account):
    """A connection to an account of the emulator, made as `manage.py connect NAME --key-env
    VAR --json` makes it."""
    from django.core.management import call_command

    from connectors.models import StripeConnection

    variable = f"BENCH_KEY_{account}"
    os.environ[variable] = account_key(account)
    out = io.StringIO()
    call_command("connect", name, key_env=variable, json=True, stdout=out)
    if not json.loads(out.getvalue())["ok"]:
        raise SystemExit(f"connecting {name} failed: {out.getvalue()}")
    return StripeConnection.objects.get(name=name)


def queue_and_wait(queue, messages, workers, emulator, seconds):
    """Queue sync_connection for each connection id in `messages` (in order, at once) and
    wait until each message has its finished run. Returns when they were queued and what
    the CPUs did meanwhile (see usage)."""
    from django.utils import timezone

    from connectors.models import SyncRun
    from connectors.tasks import sync_connection

    ids = set(messages)
    pids = [process.pid for _, process, _ in workers]
    postgres = PostgresCPU()
    before = usage(pids, emulator.pid)
    queued = timezone.now()
    for pk in messages:
        sync_connection.apply_async(args=[pk], queue=queue)
    deadline = time.monotonic() + seconds
    finished = SyncRun.objects.filter(connection_id__in=ids, finished_at__isnull=False)
    while finished.count() < len(messages):
        if time.monotonic() > deadline:
            logs = "\n".join(log.read_text()[-1500:] for _, _, log in workers)
            raise SystemExit(f"the syncs did not finish in {seconds} s; the workers said:\n{logs}")
        for name, process, log in workers:
            if process.poll() is not None:
                raise SystemExit(f"worker {name} ended: {log.read_text()[-2000:]}")
        postgres.sample()
        time.sleep(0.2)
    after = usage(pids, emulator.pid)
    return queued, {
        "workers_cpu_s": after["workers"] - before["workers"],
        "postgres_cpu_s": postgres.seconds(),
        "emulator_cpu_s": after["emulator"] - before["emulator"],
        "busy": (after["busy"] - before["busy"]) / max(after["total"] - before["total"], 1),
    }


class PostgresCPU:
    """CPU seconds of the PostgreSQL backends serving the scratch database (the bench's own
    excepted), sampled while the syncs run: a backend's time in its last moments before it
    closes (at most one sampling interval) is missed."""

    def __init__(self):
        self.first, self.last = {}, {}
        self.sample(first=True)

    def sample(self, first=False):
        from django.db import connection

        with connection.cursor() as cursor:
            cursor.execute(
                "SELECT pid FROM pg_stat_activity "
                "WHERE datname = current_database() AND pid <> pg_backend_pid()"
            )
            pids = [pid for (pid,) in cursor.fetchall()]
        for pid in pids:
            try:
                seconds = cpu_seconds(pid)
            except OSError:  # it has just closed
                continue
            self.first.setdefault(pid, seconds if first else 0.0)
            self.last[pid] = seconds

    def seconds(self):
        self.sample()
        return sum(self.last[pid] - self.first[pid] for pid in self.last)


def cpu_seconds(pid):
    """A process's CPU time so far, from Linux's /proc."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")  # utime, stime


def machine_busy(seconds):
    """The share of the machine's CPU time busy over the next `seconds`."""
    first = usage([], None)
    time.sleep(seconds)
    last = usage([], None)
    return (last["busy"] - first["busy"]) / max(last["total"] - first["total"], 1)


def usage(worker_pids, emulator_pid):
    """CPU seconds of the workers and of the emulator so far, and the machine's busy and
    total CPU time (every process on it, others' included), from Linux's /proc."""
    times = [int(x) for x in Path("/proc/stat").read_text().split("\n", 1)[0].split()[1:9]]
    idle = times[3] + times[4]  # idle, iowait
    return {
        "workers": sum(cpu_seconds(pid) for pid in worker_pids),
        "emulator": cpu_seconds(emulator_pid) if emulator_pid else 0.0,
        "busy": sum(times) - idle,
        "total": sum(times),
    }


def listed_by_run(runs):
    """{run id: top-level objects the lists returned}, counted from the audit rows of each
    run as bench/sync.py counts them: pages of the backfilled lists, not the per-payout
    transaction lists, invoice lines or failed attempts."""
    from audit.models import AuditEvent
    from connectors.resources import BACKFILL

    backfilled = {r.name for r in BACKFILL}
    by_origin = {run.origin: run.pk for run in runs}
    listed = Counter({run.pk: 0 for run in runs})
    rows = AuditEvent.objects.filter(origin__in=by_origin).values_list(
        "origin", "resource_type", "operation", "params", "object_count", "outcome"
    )
    for origin, resource, operation, params, count, outcome in rows.iterator():
        if (
            outcome == AuditEvent.Outcome.OK
            and resource in backfilled
            and operation == "list"
            and not (resource == "balance_transactions" and "payout" in params)
        ):
            listed[by_origin[origin]] += count or 0
    return listed


def requests_sent(connection_ids):
    """{connection id: sorted send times (s)} of every request of their sync runs."""
    from audit.models import AuditEvent

    sent = defaultdict(list)
    rows = AuditEvent.objects.filter(
        connection_id__in=connection_ids, origin__startswith="sync_run:"
    ).values_list("connection_id", "occurred_at", "duration_ms")
    for pk, occurred_at, duration_ms in rows.iterator():
        sent[pk].append((occurred_at - timedelta(milliseconds=duration_ms or 0)).timestamp())
    return {pk: sorted(times) for pk, times in sent.items()}


def busiest_second(times):
    """The most of `times` (sorted, in seconds) in any window of one second."""
    best = first = 0
    for last, t in enumerate(times):
        while t - times[first] >= 1.0:
            first += 1
        best = max(best, last - first + 1)
    return best


def one_at_a_time(runs):
    """(skipped, ran after their twin, overlapping) over one connection's runs."""
    from connectors.models import SyncRun

    skipped = [r for r in runs if r.status == SyncRun.Status.SKIPPED]
    ran = sorted(
        (r for r in runs if r.status != SyncRun.Status.SKIPPED), key=lambda r: r.started_at
    )
    overlapping = sum(b.started_at < a.finished_at for a, b in pairwise(ran))
    return len(skipped), len(ran) - 1, overlapping


def phase(limit, env, folder, emulator, timeout):
    """Start two workers at `limit`, measure the baseline and the four connections."""
    from connectors.models import SyncRun

    queue = f"lumen-bench-workers-{uuid.uuid4().hex[:8]}"
    workers = start_workers(queue, {**env, "STRIPE_RATE_LIMIT_TEST": str(limit)}, folder)
    try:
        wait_until_ready(workers)
        solo = connect("baseline", account=1)
        four = [connect(f"account{n}", account=n) for n in range(2, CONNECTIONS + 2)]
        others = machine_busy(seconds=2)  # the bench idle: what other processes use

        queued, solo_usage = queue_and_wait(queue, [solo.pk], workers, emulator, timeout)
        baseline = SyncRun.objects.get(connection=solo)

        # Each connection twice, one message after the other: two workers take both at once.
        messages = [c.pk for c in four for _ in range(2)]
        queued_four, four_usage = queue_and_wait(queue, messages, workers, emulator, timeout)
    finally:
        for _, process, _ in workers:
            stop(process)

    runs = list(SyncRun.objects.filter(connection__in=four).order_by("pk"))
    bad = [r for r in [baseline, *runs] if r.status == SyncRun.Status.FAILED]
    if bad:
        raise SystemExit("failed runs: " + "; ".join(f"{r}: {r.message}" for r in bad))
    backfills = [
        r for r in runs if r.kind == SyncRun.Kind.BACKFILL and r.status != SyncRun.Status.SKIPPED
    ]
    if len(backfills) != CONNECTIONS:
        raise SystemExit(f"expected {CONNECTIONS} backfills, found {len(backfills)}")
    listed = listed_by_run([baseline, *backfills])
    sent = requests_sent([c.pk for c in four])
    by_connection = defaultdict(list)
    for run in runs:
        by_connection[run.connection_id].append(run)
    checks = [one_at_a_time(by_connection[c.pk]) for c in four]
    return {
        "limit": limit,
        "others": others,
        "solo_listed": listed[baseline.pk],
        "solo_s": (baseline.finished_at - queued).total_seconds(),
        "solo_requests": baseline.api_calls,
        "solo_usage": solo_usage,
        "four_listed": sum(listed[r.pk] for r in backfills),
        "four_s": (max(r.finished_at for r in runs) - queued_four).total_seconds(),
        "four_requests": sum(r.api_calls for r in backfills),
        "four_usage": four_usage,
        "busiest": [busiest_second(sent.get(c.pk, [])) for c in four],
        "average": [
            r.api_calls / (r.finished_at - r.started_at).total_seconds()
            for r in sorted(backfills, key=lambda r: r.connection_id)
        ],
        "skipped": sum(c[0] for c in checks),
        "ran_after": sum(c[1] for c in checks),
        "overlapping": sum(c[2] for c in checks),
    }


def report(row, charges):
    """Print one limit's figures; True if the rate limit held and no connection was synced
    twice at once."""
    limit = row["limit"]
    solo_rate = row["solo_listed"] / row["solo_s"]
    four_rate = row["four_listed"] / row["four_s"]
    print(
        f"sync_workers bench on PostgreSQL + Redis, {WORKERS} worker processes, accounts of "
        f"{charges:,} charges, rate limit {limit:g}/s per connection"
    )
    print(
        f"  the machine's {os.cpu_count()} cores were {row['others']:.0%} busy before the bench "
        "queued anything (other processes: the figures below are as noisy as this is high)"
    )
    print(
        f"  one connection, one worker: {row['solo_listed']:,} objects in {row['solo_s']:.1f} s"
        f" = {solo_rate:,.0f} objects/s ({row['solo_requests']:,} requests)"
    )
    print(cpu_line(row["solo_usage"]))
    print(
        f"  {CONNECTIONS} connections, {WORKERS} workers: {row['four_listed']:,} objects in "
        f"{row['four_s']:.1f} s = {four_rate:,.0f} objects/s = {four_rate / solo_rate:.2f} x one "
        f"connection (target >= {TARGET}) ({row['four_requests']:,} requests)"
    )
    print(cpu_line(row["four_usage"]))
    holds = all(n <= limit + 1 for n in row["busiest"])
    print(
        f"  busiest second per connection: {', '.join(map(str, row['busiest']))} requests "
        f"(limit {limit:g}/s: {'held' if holds else 'EXCEEDED'}); on average "
        f"{', '.join(f'{a:.1f}' for a in row['average'])} requests/s over each run"
    )
    once = row["overlapping"] == 0
    after = f", {row['ran_after']} ran after their first had finished" if row["ran_after"] else ""
    print(
        f"  duplicates: {CONNECTIONS} queued, {row['skipped']} skipped{after}; "
        f"no connection synced twice at once: {'yes' if once else 'NO'}"
    )
    return holds and once


def cpu_line(used):
    return (
        f"    CPU meanwhile: workers {used['workers_cpu_s']:.1f} s, PostgreSQL "
        f"{used['postgres_cpu_s']:.1f} s, emulator {used['emulator_cpu_s']:.1f} s; the "
        f"machine's {os.cpu_count()} cores {used['busy']:.0%} busy (every process on it, "
        "others' included)"
    )


def measure(args, limit):
    """One limit's figures, in a scratch database and folder of their own, with an emulator
    and two workers of their own. Runs in a child of the bench (see main)."""
    broker = f"{args.redis_url}/{args.broker_db}"
    limiter = f"{args.redis_url}/{args.limiter_db}"
    flush_redis(broker, limiter)
    emulator = None
    try:
        with scratch(args.database_url, "workers") as (database_url, var_dir):
            folder = Path(var_dir)
            env = {
                **os.environ,
                "DJANGO_SETTINGS_MODULE": "lumen.settings",
                "DEBUG": "true",  # benchmarks run on development settings
                "DATABASE_URL": database_url,
                "LUMEN_VAR_DIR": var_dir,
                "CELERY_BROKER_URL": broker,
                "REDIS_URL": limiter,
                "LUMEN_SYNC_HISTORY_DAYS": "3650",
            }
            emulator, url = start_emulator(args.charges, env, folder / "emulator.log")
            env["STRIPE_API_BASE"] = url
            subprocess.run(
                [sys.executable, "manage.py", "migrate", "-v", "0"], cwd=ROOT, env=env, check=True
            )
            os.environ.update(env)
            import django

            django.setup()
            from django.db import connections

            try:
                return phase(limit, env, folder, emulator, args.timeout)
            finally:
                connections.close_all()
    finally:
        if emulator is not None:
            stop(emulator)
        flush_redis(broker, limiter)


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--charges", type=int, default=5000, help="charges in each account")
    parser.add_argument(
        "--limits",
        default="25",
        help="rate limits (requests/s per connection) to measure at, comma-separated: 25 is "
        "Stripe's default in test mode; 25,100000 measures with the limit lifted too",
    )
    parser.add_argument(
        "--database-url",
        default="postgres://postgres@127.0.0.1:5432/postgres",
        help="the PostgreSQL server to make the scratch database on",
    )
    parser.add_argument("--redis-url", default="redis://127.0.0.1:6379")
    parser.add_argument("--broker-db", type=int, default=8, help="Redis database of the broker")
    parser.add_argument("--limiter-db", type=int, default=9, help="Redis database of the limit")
    parser.add_argument("--timeout", type=int, default=600, help="seconds a step may take")
    # The bench's own children: one limit's measurement, printed as JSON; the emulator.
    parser.add_argument("--limit", type=float, help=argparse.SUPPRESS)
    parser.add_argument("--serve-accounts", type=int, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.serve_accounts:
        serve_accounts(args.serve_accounts, args.charges)
        return
    if not args.database_url.startswith(("postgres://", "postgresql://")):
        parser.error("--database-url must be a PostgreSQL URL")
    if args.limit is not None:
        print(json.dumps(measure(args, args.limit)))
        return

    # Each limit in a child of its own: a database, an emulator and workers of its own, so
    # that the second limit does not start on the first one's rows.
    rows = []
    for limit in (float(x) for x in args.limits.split(",")):
        child = subprocess.run(
            [sys.executable, __file__, *sys.argv[1:], "--limit", str(limit)],
            cwd=ROOT,
            stdout=subprocess.PIPE,
            text=True,
        )
        if child.returncode:
            sys.exit(child.returncode)
        rows.append(json.loads(child.stdout.strip().splitlines()[-1]))
    ok = all([report(row, args.charges) for row in rows])
    sys.exit(0 if ok else 1)


if __name__ == "__main__":
    main()
