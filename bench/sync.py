"""How fast the sync mirrors a large account, against how fast the emulator serves it.

    .venv/bin/python bench/sync.py [--charges 100000] [--database-url URL]

Builds an emulator account of N charges (with everything that comes with them), serves it on
127.0.0.1, and measures in the same run:
- the ceiling: the emulator's own serving rate for the same pages (a plain client reading
  every list in pages of 100 and parsing the JSON, nothing stored);
- the sync: `manage.py sync` in a child process into a scratch database, objects per second,
  API calls per 1,000 objects, and its peak memory;
- the same sync of an account a fifth the size, so that peak memory can be compared as the
  account grows (flat means the ratio stays near 1).
The per-connection rate limit is lifted for the local emulator (live Stripe allows 100
requests/s, i.e. at most 10,000 objects/s); everything else is as in production.
"""

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
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
    session = requests.Session()
    session.auth = (key, "")
    objects = calls = 0
    started = time.perf_counter()
    from connectors.sync.runner import BACKFILL_ORDER

    for name in BACKFILL_ORDER:
        params = {"limit": 100, **({"status": "all"} if name == "subscriptions" else {})}
        while True:
            page = session.get(f"{url}/v1/{name}", params=params, timeout=60).json()
            calls += 1
            objects += len(page["data"])
            if not page["has_more"]:
                break
            params["starting_after"] = page["data"][-1]["id"]
    return objects, calls, time.perf_counter() - started


def sync_in_child(url, key, database_url, var_dir):
    env = {
        **os.environ,
        "DATABASE_URL": database_url,
        "LUMEN_VAR_DIR": var_dir,
        "STRIPE_API_BASE": url,
        "STRIPE_RATE_LIMIT_TEST": "100000",
        "LUMEN_SYNC_HISTORY_DAYS": "3650",
        "BENCH_KEY": key,
    }
    manage = [sys.executable, "manage.py"]
    subprocess.run([*manage, "migrate", "-v", "0"], cwd=ROOT, env=env, check=True)
    subprocess.run(
        [*manage, "connect", "bench", "--key-env", "BENCH_KEY", "--json"],
        cwd=ROOT,
        env=env,
        check=True,
        stdout=subprocess.DEVNULL,
    )
    # Peak memory of the sync alone: /usr/bin/time is not everywhere, so a tiny wrapper
    # reports its own child's maximum resident set.
    wrapper = (
        "import resource, subprocess, sys, json;"
        "p = subprocess.run(sys.argv[1:], capture_output=True, text=True);"
        "sys.stderr.write(p.stderr);"
        "print(json.dumps({'out': p.stdout, 'rss_kb': "
        "resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss}))"
    )
    started = time.perf_counter()
    done = subprocess.run(
        [sys.executable, "-c", wrapper, *manage, "sync", "bench", "--json"],
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
    return run, elapsed, result["rss_kb"] / 1024


def scratch_database(base_url, tag):
    if base_url:
        import psycopg

        admin = base_url.rsplit("/", 1)[0] + "/postgres"
        name = f"lumen_bench_sync_{tag}"
        with psycopg.connect(admin.replace("postgres://", "postgresql://"), autocommit=True) as c:
            c.execute(f"DROP DATABASE IF EXISTS {name}")
            c.execute(f"CREATE DATABASE {name}")
        return base_url.rsplit("/", 1)[0] + f"/{name}"
    folder = tempfile.mkdtemp(prefix="lumen-bench-sync-")
    return f"sqlite:///{folder}/bench.sqlite3"


def measure(charges, database_url, tag):
    emulator, key, built = build_emulator(charges)
    try:
        served, calls, ceiling_s = ceiling(emulator.url, key)
        with tempfile.TemporaryDirectory() as var_dir:
            run, sync_s, rss_mb = sync_in_child(
                emulator.url, key, scratch_database(database_url, tag), var_dir
            )
    finally:
        emulator.stop()
    fetched = run["totals"]["fetched"]
    return {
        "charges": charges,
        "built_s": built,
        "ceiling_objects": served,
        "ceiling_calls": calls,
        "ceiling_rate": served / ceiling_s,
        "sync_objects": fetched,
        "sync_s": sync_s,
        "sync_rate": fetched / sync_s,
        "sync_calls": run["api_calls"],
        "calls_per_1000": 1000 * run["api_calls"] / max(fetched, 1),
        "rss_mb": rss_mb,
    }


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--charges", type=int, default=100_000)
    parser.add_argument(
        "--database-url",
        default=os.environ.get("DATABASE_URL", ""),
        help="a PostgreSQL URL to bench on PostgreSQL (default: SQLite)",
    )
    args = parser.parse_args()
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "lumen.settings")
    os.environ.setdefault("DEBUG", "true")  # benchmarks run on development settings
    import django

    django.setup()
    database = "PostgreSQL" if args.database_url else "SQLite"

    small = measure(max(args.charges // 5, 100), args.database_url, "small")
    large = measure(args.charges, args.database_url, "large")

    print(f"sync bench on {database}; account built by the emulator in {large['built_s']:.1f} s")
    print(
        "baseline (the ceiling): the emulator serving the same lists in pages of 100 to a "
        "client that parses and keeps nothing"
    )
    for row in (small, large):
        print(
            f"  {row['charges']:>9,} charges: ceiling {row['ceiling_rate']:>8,.0f} objects/s "
            f"({row['ceiling_objects']:,} objects, {row['ceiling_calls']:,} calls) | sync "
            f"{row['sync_rate']:>7,.0f} objects/s ({row['sync_objects']:,} objects in "
            f"{row['sync_s']:.1f} s, {row['calls_per_1000']:.1f} API calls per 1,000 objects, "
            f"peak {row['rss_mb']:.0f} MB)"
        )
    print(
        f"sync rate = {large['sync_rate'] / large['ceiling_rate']:.2f} x the ceiling "
        f"({large['charges']:,} charges)"
    )
    print(
        f"API calls per 1,000 objects = {large['calls_per_1000']:.1f} "
        f"(the ceiling's own: {1000 * large['ceiling_calls'] / large['ceiling_objects']:.1f})"
    )
    print(
        f"peak memory, {large['charges']:,} vs {small['charges']:,} charges = "
        f"{large['rss_mb'] / small['rss_mb']:.2f} x (flat is 1.0; the account is "
        f"{large['sync_objects'] / small['sync_objects']:.1f} x larger)"
    )


if __name__ == "__main__":
    main()
