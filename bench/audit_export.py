"""How fast, and in how much memory, the audit log is exported.

    .venv/bin/python bench/audit_export.py [--rows N]

Measures the streaming CSV export (audit.export, as used by `manage.py audit_export` and the
admin's "Download CSV") against the baseline: django-import-export 4.4.3 as `manage.py
export` runs it, and as the admin's second export button ran it before the admin kept only
the streaming one (AuditEventResource -> tablib Dataset -> CSV, with the project's
settings). Each export runs in a fresh child process and its peak memory is that process's
maximum resident set size.

Works on the database DATABASE_URL names, in a scratch database of its own that it removes
afterwards: `lumen_bench` on the same PostgreSQL server, or a temporary SQLite file. The rows
are seeded with one INSERT ... SELECT (not through the recorder), so their chain hashes are
placeholders that `audit_verify` would reject.
"""

import argparse
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
from contextlib import contextmanager
from pathlib import Path
from urllib.parse import urlsplit, urlunsplit

ROOT = Path(__file__).resolve().parent.parent
BENCH_DATABASE = "lumen_bench"


# A scratch database --------------------------------------------------------------------------


@contextmanager
def scratch_database():
    """Point DATABASE_URL at an empty database of the same kind, migrated; remove it after.

    Yields "postgresql" or "sqlite". Must run before Django is set up.
    """
    sys.path.insert(0, str(ROOT))
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "lumen.settings")
    os.environ.setdefault("DEBUG", "true")  # benchmarks run on development settings
    workdir = Path(tempfile.mkdtemp(prefix="lumen-bench-"))
    # Secrets and the default SQLite file go to the scratch folder, not the project's var/.
    os.environ["LUMEN_VAR_DIR"] = str(workdir)
    url = os.environ.get("DATABASE_URL", "")
    postgres = url.startswith(("postgres://", "postgresql://"))
    admin_url = None
    try:
        if postgres:
            parts = urlsplit(url)
            admin_url = urlunsplit(parts._replace(path="/postgres"))
            _postgres(admin_url, f"DROP DATABASE IF EXISTS {BENCH_DATABASE}")
            _postgres(admin_url, f"CREATE DATABASE {BENCH_DATABASE}")
            os.environ["DATABASE_URL"] = urlunsplit(parts._replace(path=f"/{BENCH_DATABASE}"))
        else:
            os.environ["DATABASE_URL"] = f"sqlite:///{workdir / 'bench.sqlite3'}"

        import django

        django.setup()
        from django.core.management import call_command

        call_command("migrate", verbosity=0)
        yield "postgresql" if postgres else "sqlite"
    finally:
        if postgres:
            from django.db import connections

            connections.close_all()
            _postgres(admin_url, f"DROP DATABASE IF EXISTS {BENCH_DATABASE} WITH (FORCE)")
        shutil.rmtree(workdir, ignore_errors=True)


def _postgres(url, statement):
    import psycopg

    with psycopg.connect(url, autocommit=True) as conn:
        conn.execute(statement)


# Rows ----------------------------------------------------------------------------------------

# One row per second from 2025-01-01; three connections; every 10th a retrieve of one charge,
# every 50th rate limited, every 100th with a message a spreadsheet would run as a formula.
_COLUMNS = (
    "occurred_at, actor_kind, actor, origin, connection_id, connection_name, operation, "
    "method, path, resource_type, object_id, params, outcome, http_status, request_id, "
    "duration_ms, object_count, attempt, message, chain_hash"
)
_VALUES = """
    {time}, 'schedule', 'nightly', 'sync_run:' || (i / 1000), i % 3 + 1,
    'conn' || (i % 3 + 1),
    CASE WHEN i % 10 = 0 THEN 'retrieve' ELSE 'list' END, 'GET',
    CASE WHEN i % 10 = 0 THEN '/v1/charges/ch_' || i ELSE '/v1/charges' END, 'charges',
    CASE WHEN i % 10 = 0 THEN 'ch_' || i ELSE '' END, {params},
    CASE WHEN i % 50 = 0 THEN 'rate_limited' ELSE 'ok' END,
    CASE WHEN i % 50 = 0 THEN 429 ELSE 200 END, 'req_' || i, i % 700,
    CASE WHEN i % 10 = 0 THEN 1 ELSE 100 END, 1,
    CASE WHEN i % 100 = 0 THEN '=HYPERLINK("http://example.org")' ELSE '' END,
    '{hash}'
"""
PLACEHOLDER_HASH = "0" * 64


def seed(rows):
    """Insert `rows` audit events in one statement; return the seconds it took."""
    from django.db import connection

    started = time.perf_counter()
    params = '{"limit": 100, "created": {"gte": 1735689600}}'
    if connection.vendor == "postgresql":
        values = _VALUES.format(
            time="timestamptz '2025-01-01 00:00:00+00' + i * interval '1 second'",
            params=f"'{params}'::jsonb",
            hash=PLACEHOLDER_HASH,
        )
        sql = (
            f"INSERT INTO audit_auditevent ({_COLUMNS}) "
            f"SELECT {values} FROM generate_series(1, {int(rows)}) AS i"
        )
    else:
        values = _VALUES.format(
            time="datetime('2025-01-01', '+' || i || ' seconds')",
            params=f"'{params}'",
            hash=PLACEHOLDER_HASH,
        )
        sql = (
            "WITH RECURSIVE s(i) AS "
            f"(SELECT 1 UNION ALL SELECT i + 1 FROM s WHERE i < {int(rows)}) "
            f"INSERT INTO audit_auditevent ({_COLUMNS}) SELECT {values} FROM s"
        )
    with connection.cursor() as cursor:
        cursor.execute(sql)
        if connection.vendor == "postgresql":
            cursor.execute("ANALYZE audit_auditevent")
        else:
            cursor.execute("ANALYZE")
    return time.perf_counter() - started


# The exports, each in a child process --------------------------------------------------------


def export_streaming(path):
    from audit.export import write_csv
    from audit.models import AuditEvent

    with open(path, "w", encoding="utf-8", newline="") as out:
        return {"rows": write_csv(AuditEvent.objects.order_by("id"), out)}


def export_import_export(path):
    from import_export.formats.base_formats import CSV

    from audit.export import AuditEventResource
    from audit.models import AuditEvent

    started = time.perf_counter()
    dataset = AuditEventResource().export(queryset=AuditEvent.objects.order_by("id"))
    built = time.perf_counter()
    with open(path, "w", encoding="utf-8", newline="") as out:
        out.write(CSV().export_data(dataset))
    # Where the time goes: building the Dataset, then escaping and writing it.
    return {
        "rows": len(dataset),
        "dataset_seconds": built - started,
        "csv_seconds": time.perf_counter() - built,
    }


EXPORTS = {
    # Django set up and nothing exported: the floor under both memory figures.
    "idle": lambda path: {"rows": 0},
    "streaming": export_streaming,
    "import-export": export_import_export,
}


def child(kind, path):
    import django

    django.setup()
    started = time.perf_counter()
    result = EXPORTS[kind](path)
    print(json.dumps({**result, "seconds": time.perf_counter() - started}))


def measure(kind, path):
    """Run one export in a child process; return rows, seconds, peak RSS (MB), file size."""
    process = subprocess.Popen(
        [sys.executable, __file__, "--child", kind, "--output", str(path)],
        stdout=subprocess.PIPE,
        env=os.environ.copy(),
    )
    out = process.stdout.read()
    process.stdout.close()
    _, status, usage = os.wait4(process.pid, 0)
    process.returncode = os.waitstatus_to_exitcode(status)
    if process.returncode != 0:
        raise SystemExit(f"the {kind} export failed (exit status {process.returncode})")
    result = json.loads(out)
    result["peak_mb"] = usage.ru_maxrss / 1024  # kilobytes on Linux
    result["bytes"] = path.stat().st_size if path.exists() else 0
    path.unlink(missing_ok=True)
    return result


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--rows", type=int, default=1_000_000)
    parser.add_argument("--child", choices=EXPORTS, help=argparse.SUPPRESS)
    parser.add_argument("--output", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        sys.path.insert(0, str(ROOT))
        os.environ.setdefault("DJANGO_SETTINGS_MODULE", "lumen.settings")
        os.environ.setdefault("DEBUG", "true")  # benchmarks run on development settings
        return child(args.child, args.output)

    with scratch_database() as vendor:
        from django.conf import settings

        seconds = seed(args.rows)
        print(f"audit export bench: {args.rows:,} rows on {vendor}, seeded in {seconds:.1f} s")
        print(
            "  (rows seeded with one INSERT ... SELECT: their chain hashes are placeholders, "
            "audit_verify would report the chain broken)"
        )
        workdir = Path(os.environ["LUMEN_VAR_DIR"])
        idle = measure("idle", workdir / "idle.csv")
        base = measure("import-export", workdir / "import-export.csv")
        stream = measure("streaming", workdir / "streaming.csv")

    escaping = getattr(settings, "IMPORT_EXPORT_ESCAPE_FORMULAE_ON_EXPORT", False)
    print(
        "  baseline: django-import-export 4.4.3 as `manage.py export` runs it "
        f"(AuditEventResource -> tablib -> CSV, IMPORT_EXPORT_ESCAPE_FORMULAE_ON_EXPORT={escaping})"
    )
    print(f"  Django set up, nothing exported: {idle['peak_mb']:.0f} MB peak RSS")
    header = ("export", "rows", "seconds", "rows/s", "peak MB", "above idle")
    print("  {:<15}{:>11}{:>9}{:>11}{:>9}{:>12}".format(*header))
    for kind, r in (("import-export", base), ("streaming", stream)):
        rate = r["rows"] / r["seconds"] if r["seconds"] else float("inf")
        print(
            f"  {kind:<15}{r['rows']:>11,}{r['seconds']:>9.2f}{rate:>11,.0f}"
            f"{r['peak_mb']:>9.0f}{r['peak_mb'] - idle['peak_mb']:>10.1f} M"
        )
    if not stream["rows"] == base["rows"] == args.rows:
        raise SystemExit(f"row counts differ: {stream['rows']} streamed, {base['rows']} baseline")
    speed = (stream["rows"] / stream["seconds"]) / (base["rows"] / base["seconds"])
    print(
        f"  baseline time: {base['dataset_seconds']:.2f} s building the Dataset, "
        f"{base['csv_seconds']:.2f} s escaping and writing the CSV"
    )
    print(f"  streaming rows/s = {speed:.1f} x baseline")
    print(f"  streaming peak RSS = {stream['peak_mb'] / base['peak_mb']:.2f} x baseline")
    above = stream["peak_mb"] - idle["peak_mb"], base["peak_mb"] - idle["peak_mb"]
    if above[0] >= 1 and above[1] >= 1:
        print(f"  memory above idle Django: streaming = {above[0] / above[1]:.3f} x baseline")
    else:
        print(
            f"  memory above idle Django: streaming {above[0]:.1f} MB, baseline {above[1]:.1f} MB"
        )
    same = "identical size" if stream["bytes"] == base["bytes"] else "sizes DIFFER"
    print(f"  CSV: streaming {stream['bytes']:,} B, baseline {base['bytes']:,} B ({same})")


if __name__ == "__main__":
    main()
