"""Two versions of the sync, alternating against one emulator account: which is faster.

    .venv/bin/python bench/sync_ab.py BASELINE CANDIDATE [--charges 100000] [--rounds 2]
        [--database-url postgres://…]

BASELINE and CANDIDATE are checkouts of Lumen (`git worktree add ../lumen-b HEAD~1`), each
optionally followed by `::NAME=VALUE,...`, settings for that side's sync
(`.::LUMEN_SYNC_WORKERS=3`). Each round syncs the same account once with each, in turn
(the order flips every round), into a scratch database of its own, and prints per sync its
wall time, the CPU of the sync's process, of the emulator (this process, serving) and of
the rest of the machine (on PostgreSQL, almost all of it the server's), read from
/proc/stat; then the medians, and the candidate's as a ratio of the baseline's.

On this 2-core machine one run of bench/sync.py moves by a fifth from one run to the next;
the same account, read in turn by both versions, shows a change of a few per cent.
Linux only (/proc/stat). The scratch databases and folders are removed whatever happens.
"""

import argparse
import os
import resource
import statistics
import subprocess
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from sync import MANAGE, build_emulator, connected, scratch  # noqa: E402  (bench/sync.py)


def busy_seconds():
    """CPU seconds the whole machine has spent busy (not idle, not waiting on I/O)."""
    with open("/proc/stat") as stat:
        ticks = [int(v) for v in stat.readline().split()[1:]]
    return (sum(ticks) - ticks[3] - ticks[4]) / os.sysconf("SC_CLK_TCK")


def own_cpu(who):
    usage = resource.getrusage(who)
    return usage.ru_utime + usage.ru_stime


def side(spec):
    """(checkout, {setting: value}) from "PATH[::NAME=VALUE,...]"."""
    path, _, extra = spec.partition("::")
    settings = dict(pair.split("=", 1) for pair in extra.split(",") if pair)
    if not (Path(path) / "manage.py").exists():
        raise SystemExit(f"{path} is not a checkout of Lumen (no manage.py)")
    return Path(path).resolve(), settings


def sync_once(emulator, key, checkout, settings, database_url, tag):
    with scratch(database_url, tag) as (url, folder):
        env = connected(emulator.url, key, url, folder, checkout, settings)
        children, machine, emulator_cpu = (
            own_cpu(resource.RUSAGE_CHILDREN),
            busy_seconds(),
            own_cpu(resource.RUSAGE_SELF),
        )
        started = time.perf_counter()
        done = subprocess.run([*MANAGE, "sync", "bench"], cwd=checkout, env=env,
                              capture_output=True, text=True)  # fmt: skip
        wall = time.perf_counter() - started
        sync_cpu = own_cpu(resource.RUSAGE_CHILDREN) - children
        serving = own_cpu(resource.RUSAGE_SELF) - emulator_cpu
        rest = busy_seconds() - machine - sync_cpu - serving
        if done.returncode:
            raise SystemExit(f"the sync from {checkout} failed:\n{done.stdout}{done.stderr}")
    return {"wall": wall, "sync": sync_cpu, "emulator": serving, "rest": rest}


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("baseline")
    parser.add_argument("candidate")
    parser.add_argument("--charges", type=int, default=100_000)
    parser.add_argument("--rounds", type=int, default=2)
    parser.add_argument(
        "--database-url",
        default=os.environ.get("DATABASE_URL", ""),
        help="a PostgreSQL URL to compare on PostgreSQL (default: SQLite)",
    )
    args = parser.parse_args()
    sides = {"baseline": side(args.baseline), "candidate": side(args.candidate)}
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "lumen.settings")
    os.environ.setdefault("DEBUG", "true")  # benchmarks run on development settings
    import django

    django.setup()
    emulator, key, built = build_emulator(args.charges)
    print(f"sync A/B on {'PostgreSQL' if args.database_url else 'SQLite'}: an account of "
          f"{args.charges:,} charges built in {built:.1f} s; {args.rounds} rounds")  # fmt: skip
    found = {name: [] for name in sides}
    try:
        for n in range(args.rounds):
            order = list(sides) if n % 2 == 0 else list(sides)[::-1]
            for name in order:
                checkout, settings = sides[name]
                run = sync_once(emulator, key, checkout, settings, args.database_url, f"ab{n}")
                found[name].append(run)
                print(
                    f"  {name:<9} wall {run['wall']:6.1f} s   CPU: sync {run['sync']:6.1f} s, "
                    f"emulator {run['emulator']:5.1f} s, the rest {run['rest']:6.1f} s"
                )
    finally:
        emulator.stop()
    medians = {name: {k: statistics.median(r[k] for r in runs) for k in runs[0]}
               for name, runs in found.items()}  # fmt: skip
    for name, (checkout, settings) in sides.items():
        m = medians[name]
        extra = f" with {settings}" if settings else ""
        print(f"{name} ({checkout}{extra}): median wall {m['wall']:.1f} s, sync CPU "
              f"{m['sync']:.1f} s, the rest {m['rest']:.1f} s")  # fmt: skip
    base, cand = medians["baseline"], medians["candidate"]
    # On SQLite the rest is the machine's noise, near zero: no ratio of it.
    rest = f"{cand['rest'] / base['rest']:.2f} x" if base["rest"] >= 1 else "(under 1 s)"
    print(
        f"candidate / baseline: wall {cand['wall'] / base['wall']:.2f} x, "
        f"sync CPU {cand['sync'] / base['sync']:.2f} x, the rest {rest}"
    )


if __name__ == "__main__":
    main()
