"""How fast the sync mirrors a large account, against how fast the emulator serves it.

    .venv/bin/python bench/sync.py [--charges 100000] [--database-url URL] [--no-small]

Builds an emulator account of N charges (with everything that comes with them), serves it on
127.0.0.1, and measures in the same run:
- the ceiling: the emulator's own serving rate for the same lists (a plain client reading
  every list in pages of 100 and parsing the JSON, nothing stored);
- the sync: `manage.py sync` in a child process into a scratch database, its time, its peak
  memory and the requests it made, sorted by what they were for (from its audit rows);
- a second sync with nothing changed: its time and its requests;
- the same sync of an account a fifth the size (unless --no-small), so that peak memory can
  be compared as the account grows (flat means the ratio stays near 1).

Both sides count the same thing: the top-level objects that the lists returned. The sync
also writes what comes inside them (invoice lines, subscription items) and re-reads the
balance transactions of each automatic payout; that count is printed too, but the ratio is
judged like for like. The per-connection rate limit is lifted for the local emulator, and
the floor that Stripe's default limits would put under the same requests is printed beside
the measured time. The scratch database and folder are removed whatever happens.
"""

import argparse
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
from collections import Counter
from contextlib import contextmanager
from datetime import datetime
from pathlib import Path

import requests

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))


def build_emulator(charges):
    from connectors.emulator import DEMO_KEY, EmulatorStore, StripeEmulator, seed_account

    store = EmulatorStore()
    started = time.perf_counter()
    seed_account(store, seed=1, now=int(time.time()), charges=charges)
    built = time.perf_counter() - started
    return StripeEmulator(store, keys=[DEMO_KEY]).start(), DEMO_KEY, built


def ceiling(url, key):
    """Read every list as the sync does (pages of 100), parse, store nothing."""
    from connectors.resources import BACKFILL

    session = requests.Session()
    session.auth = (key, "")
    objects = calls = 0
    started = time.perf_counter()
    for resource in BACKFILL:
        params = {"limit": 100, **resource.params}
        while True:
            page = session.get(f"{url}/v1/{resource.name}", params=params, timeout=60).json()
            calls += 1
            objects += len(page["data"])
            if not page["has_more"]:
                break
            params["starting_after"] = page["data"][-1]["id"]
    return objects, calls, time.perf_counter() - started


@contextmanager
def scratch(base_url, tag):
    """A scratch folder (LUMEN_VAR_DIR, and the SQLite file) and a database URL, both removed
    on the way out. A PostgreSQL database is named after this process, so that two benches
    running at once do not drop each other's."""
    folder = tempfile.mkdtemp(prefix="lumen-bench-sync-")
    name = f"lumen_bench_sync_{os.getpid()}_{tag}"
    try:
        if not base_url:
            yield f"sqlite:///{folder}/bench.sqlite3", folder
            return
        with _postgres(base_url) as admin:
            admin.execute(f"DROP DATABASE IF EXISTS {name}")
            admin.execute(f"CREATE DATABASE {name}")
        try:
            yield base_url.rsplit("/", 1)[0] + f"/{name}", folder
        finally:
            with _postgres(base_url) as admin:
                admin.execute(f"DROP DATABASE IF EXISTS {name} WITH (FORCE)")
    finally:
        shutil.rmtree(folder, ignore_errors=True)


def _postgres(base_url):
    import psycopg

    admin = base_url.rsplit("/", 1)[0] + "/postgres"
    return psycopg.connect(admin.replace("postgres://", "postgresql://", 1), autocommit=True)


MANAGE = [sys.executable, "manage.py"]


def connected(url, key, database_url, var_dir, checkout=ROOT, settings=None):
    """The environment of a sync of the emulator's account at `url`, from `checkout`, into the
    scratch database `database_url`: migrated, with the connection `bench` made (the rate
    limit lifted, ten years of history read; `settings` on top)."""
    env = {
        **os.environ,
        **(settings or {}),
        "DATABASE_URL": database_url,
        "LUMEN_VAR_DIR": var_dir,
        "STRIPE_API_BASE": url,
        "STRIPE_RATE_LIMIT_TEST": "100000",
        "LUMEN_SYNC_HISTORY_DAYS": "3650",
        "BENCH_KEY": key,
    }
    subprocess.run([*MANAGE, "migrate", "-v", "0"], cwd=checkout, env=env, check=True)
    subprocess.run(
        [*MANAGE, "connect", "bench", "--key-env", "BENCH_KEY", "--json"],
        cwd=checkout,
        env=env,
        check=True,
        stdout=subprocess.DEVNULL,
    )
    return env


def sync_in_child(url, key, database_url, var_dir):
    env = connected(url, key, database_url, var_dir)
    # Peak memory and CPU time of the sync alone: /usr/bin/time is not everywhere, so a tiny
    # wrapper reports its own child's. On a machine shared with others the CPU time moves
    # less than the wall time.
    wrapper = (
        "import resource, subprocess, sys, json;"
        "p = subprocess.run(sys.argv[1:], capture_output=True, text=True);"
        "sys.stderr.write(p.stderr);"
        "u = resource.getrusage(resource.RUSAGE_CHILDREN);"
        "print(json.dumps({'out': p.stdout, 'rss_kb': u.ru_maxrss, "
        "'cpu_s': u.ru_utime + u.ru_stime}))"
    )
    started = time.perf_counter()
    done = subprocess.run(
        [sys.executable, "-c", wrapper, *MANAGE, "sync", "bench", "--json"],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        check=True,
    )
    elapsed = time.perf_counter() - started
    result = json.loads(done.stdout)
    run = json.loads(result["out"])
    if run["status"] != "succeeded":
        raise SystemExit(f"the sync did not succeed: {run['message']}")
    tally = subprocess.run(
        [sys.executable, __file__, "--requests-of-sync"],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        check=True,
    )
    run["cpu_s"] = result["cpu_s"]
    # The same sync again, nothing having changed at Stripe: an incremental run.
    started = time.perf_counter()
    again = subprocess.run(
        [*MANAGE, "sync", "bench", "--json"], cwd=ROOT, env=env, capture_output=True, text=True,
        check=True,
    )  # fmt: skip
    again_s = time.perf_counter() - started
    again = json.loads(again.stdout)
    if again["status"] != "succeeded":
        raise SystemExit(f"the second sync did not succeed: {again['message']}")
    run["again"] = {
        "wall_s": again_s,
        "run_s": (datetime.fromisoformat(again["finished_at"])
                  - datetime.fromisoformat(again["started_at"])).total_seconds(),
        "requests": again["api_calls"],
    }  # fmt: skip
    return run, elapsed, result["rss_kb"] / 1024, json.loads(tally.stdout)


# What each request of the sync was for, by the audit row the door wrote for it.
PAGES = "pages of the lists"
PAYOUTS = "per-payout transaction lists"
LINES = "invoice lines beyond the first page"
FAILED = "failed attempts"


def requests_of_sync():
    """{"requests": {purpose: count}, "listed": top-level objects the lists returned}, from
    the audit log of the database this process is set up with."""
    from audit.models import AuditEvent
    from connectors.resources import BACKFILL

    backfilled = {r.name for r in BACKFILL}
    purposes, listed = Counter(), 0
    rows = AuditEvent.objects.filter(origin__startswith="sync_run:").values_list(
        "resource_type", "operation", "params", "object_count", "outcome"
    )
    for resource, operation, params, count, outcome in rows.iterator():
        if outcome != AuditEvent.Outcome.OK:
            purposes[FAILED] += 1
        elif resource == "balance_transactions" and "payout" in params:
            purposes[PAYOUTS] += 1
        elif resource == "invoices.lines":
            purposes[LINES] += 1
        elif resource in backfilled and operation == "list":
            purposes[PAGES] += 1
            listed += count or 0
        else:  # the events cursor's probe and the events read, the balance, a retrieve
            purposes[f"{resource} ({operation})"] += 1
    return {"requests": dict(purposes), "listed": listed}


def measure(charges, database_url, tag):
    emulator, key, built = build_emulator(charges)
    try:
        served, calls, ceiling_s = ceiling(emulator.url, key)
        with scratch(database_url, tag) as (url, folder):
            run, sync_s, rss_mb, tally = sync_in_child(emulator.url, key, url, folder)
    finally:
        emulator.stop()
    listed = tally["listed"]
    return {
        "charges": charges,
        "built_s": built,
        "ceiling_objects": served,
        "ceiling_calls": calls,
        "ceiling_rate": served / ceiling_s,
        "listed": listed,
        "written": run["totals"]["fetched"],
        "sync_s": sync_s,
        "sync_cpu_s": run["cpu_s"],
        "sync_rate": listed / sync_s,
        "sync_calls": run["api_calls"],
        "requests": tally["requests"],
        "rss_mb": rss_mb,
        "again": run["again"],
    }


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--charges", type=int, default=100_000)
    parser.add_argument(
        "--database-url",
        default=os.environ.get("DATABASE_URL", ""),
        help="a PostgreSQL URL to bench on PostgreSQL (default: SQLite)",
    )
    parser.add_argument("--no-small", action="store_true", help="skip the account a fifth the size")
    # The bench's own child: counts the requests of the sync in the scratch database.
    parser.add_argument("--requests-of-sync", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args()
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "lumen.settings")
    os.environ.setdefault("DEBUG", "true")  # benchmarks run on development settings
    import django

    django.setup()
    if args.requests_of_sync:
        print(json.dumps(requests_of_sync()))
        return
    from django.conf import settings

    database = "PostgreSQL" if args.database_url else "SQLite"
    small = None if args.no_small else measure(max(args.charges // 5, 100), args.database_url, "s")
    large = measure(args.charges, args.database_url, "l")

    print(f"sync bench on {database}; account built by the emulator in {large['built_s']:.1f} s")
    print(
        "baseline (the ceiling): the emulator serving the same lists in pages of 100 to a "
        "client that parses and keeps nothing"
    )
    for row in filter(None, (small, large)):
        calls = row["sync_calls"]
        print(
            f"  {row['charges']:>9,} charges: ceiling {row['ceiling_rate']:>7,.0f} objects/s "
            f"({row['ceiling_objects']:,} objects, {row['ceiling_calls']:,} requests) | sync "
            f"{row['sync_rate']:>7,.0f} objects/s ({row['listed']:,} listed objects in "
            f"{row['sync_s']:.1f} s, {row['sync_cpu_s']:.1f} s of its own CPU; "
            f"{row['written']:,} objects written with their invoice lines, subscription items "
            f"and re-read balance transactions; peak {row['rss_mb']:.0f} MB)"
        )
        print(
            f"  {'':>9}          {calls:,} requests, "
            f"{1000 * calls / max(row['listed'], 1):.1f} per 1,000 listed objects: "
            + ", ".join(f"{n:,} {what}" for what, n in sorted(row["requests"].items()))
        )
        print(
            f"  {'':>9}          at Stripe's default rate limits those requests alone take "
            f"at least {calls / settings.STRIPE_RATE_LIMIT_TEST:.0f} s with a test-mode key "
            f"({settings.STRIPE_RATE_LIMIT_TEST:g}/s), "
            f"{calls / settings.STRIPE_RATE_LIMIT_LIVE:.0f} s live "
            f"({settings.STRIPE_RATE_LIMIT_LIVE:g}/s); measured {row['sync_s']:.1f} s"
        )
    again = large["again"]
    print(
        f"a second sync with nothing changed: {again['run_s']:.2f} s ({again['wall_s']:.1f} s "
        f"with the command's start), {again['requests']} requests (target: under 2 s, at most 5)"
    )
    print(
        f"sync rate = {large['sync_rate'] / large['ceiling_rate']:.2f} x the ceiling, like for "
        f"like ({large['charges']:,} charges; counting the objects written, "
        f"{large['written'] / large['sync_s'] / large['ceiling_rate']:.2f} x)"
    )
    print(
        f"requests per 1,000 listed objects = {1000 * large['sync_calls'] / large['listed']:.1f}"
        f" (the ceiling's own: {1000 * large['ceiling_calls'] / large['ceiling_objects']:.1f})"
    )
    if small:
        print(
            f"peak memory, {large['charges']:,} vs {small['charges']:,} charges = "
            f"{large['rss_mb']:.0f} MB vs {small['rss_mb']:.0f} MB = "
            f"{large['rss_mb'] / small['rss_mb']:.2f} x (flat is 1.0; the account is "
            f"{large['listed'] / small['listed']:.1f} x larger)"
        )


if __name__ == "__main__":
    main()
