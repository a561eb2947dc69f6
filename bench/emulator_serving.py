"""How fast the emulator builds a large account and serves it: the ceiling for the sync.

    .venv/bin/python bench/emulator_serving.py [--charges N]

Builds an account of N charges (default 100,000) with everything that comes with them,
reports the build time and the process's peak memory, then reads every charge through HTTP
in pages of 100 (following starting_after, json-parsing each page, keeping nothing) and
prints objects/s. It also times single pages at the start, the middle and the end of the
list, which must cost the same: a page is found by bisecting, never by scanning.
"""

import argparse
import resource
import sys
import time
from pathlib import Path

import requests

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from connectors.emulator import DEMO_KEY, EmulatorStore, StripeEmulator, seed_account  # noqa: E402


def page_seconds(session, url, params, repeat=20):
    started = time.perf_counter()
    for _ in range(repeat):
        session.get(f"{url}/v1/charges", params=params, timeout=60).json()
    return (time.perf_counter() - started) / repeat


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--charges", type=int, default=100_000)
    options = parser.parse_args()

    store = EmulatorStore()
    started = time.perf_counter()
    seed_account(store, seed=1, charges=options.charges)
    built = time.perf_counter() - started
    peak_mb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    objects = sum(store.count(name) for name in store.collections)
    print(
        f"built {store.count('charges'):,} charges ({objects:,} objects) in {built:.1f} s, "
        f"peak RSS {peak_mb:,.0f} MB"
    )

    with StripeEmulator(store, keys=[DEMO_KEY]) as emulator:
        session = requests.Session()
        session.auth = (DEMO_KEY, "")
        charges = store.objects("charges")
        for label, cursor in (
            ("first", None),
            ("middle", charges[len(charges) // 2]["id"]),
            ("last", charges[-101]["id"]),
        ):
            params = {"limit": 100, **({"starting_after": cursor} if cursor else {})}
            seconds = page_seconds(session, emulator.url, params)
            print(f"one page of 100, {label}: {seconds * 1e3:.1f} ms")

        params, read, pages = {"limit": 100}, 0, 0
        started = time.perf_counter()
        while True:
            page = session.get(f"{emulator.url}/v1/charges", params=params, timeout=60).json()
            read += len(page["data"])
            pages += 1
            if not page["has_more"]:
                break
            params["starting_after"] = page["data"][-1]["id"]
        elapsed = time.perf_counter() - started
    assert read == store.count("charges")
    rate = read / elapsed
    print(f"served {read:,} charges in {pages:,} pages in {elapsed:.1f} s: {rate:,.0f} objects/s")


if __name__ == "__main__":
    main()
