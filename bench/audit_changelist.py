"""How fast the audit log's admin list answers on a big table.

    .venv/bin/python bench/audit_changelist.py [--rows N]

Requests the admin changelist through django.test.Client as a logged-in superuser (the
whole Django stack: middleware, ChangeList, filters, template) and takes the median of
several requests, for the first page, filtered pages and a search. The baseline is the bare
query for the same page, `SELECT ... ORDER BY id DESC LIMIT 100` with the same WHERE, run
on the same connection: the least any list of those rows can cost.

Shown beside them, not as a baseline: what Django's admin would add with its defaults, a
COUNT(*) of the selection and of the whole table on every page.

Uses the scratch database and the seeding of bench/audit_export.py (a database of its own,
removed afterwards; seeded rows carry placeholder chain hashes).
"""

import argparse
import os
import re
import statistics
import time
from datetime import timedelta
from urllib.parse import urlencode

from audit_export import scratch_database, seed

REQUESTS = 7
LIST_COLUMNS = (
    "id, occurred_at, actor_kind, actor, origin, connection_id, connection_name, operation, "
    "method, path, resource_type, object_id, outcome, http_status, duration_ms, object_count"
)


def pages(rows, newest, adapt_time):
    """(name, changelist query, WHERE of the bare query, its parameters) for each page."""
    since = newest - timedelta(days=7)
    object_id = f"ch_{rows // 20 * 10}"  # one in the middle of the table
    return [
        ("first page", {}, "", []),
        (
            "outcome=rate_limited",
            {"outcome__exact": "rate_limited"},
            "WHERE outcome = %s",
            ["rate_limited"],
        ),
        ("connection=2", {"connection": "2"}, "WHERE connection_id = %s", [2]),
        (
            "last 7 days of data",
            {"occurred_at__gte": since.isoformat(), "occurred_at__lt": newest.isoformat()},
            "WHERE occurred_at >= %s AND occurred_at < %s",
            [adapt_time(since), adapt_time(newest)],
        ),
        (
            "search object id",
            {"q": object_id},
            "WHERE object_id = %s OR request_id = %s",
            [object_id, object_id],
        ),
    ]


def median_ms(run, times=REQUESTS):
    run()  # warm: caches, the first template compilation
    samples = []
    for _ in range(times):
        started = time.perf_counter()
        run()
        samples.append((time.perf_counter() - started) * 1000)
    return statistics.median(samples)


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--rows", type=int, default=1_000_000)
    args = parser.parse_args()
    # django.test.Client's host is "testserver".
    os.environ["ALLOWED_HOSTS"] = "testserver"

    with scratch_database() as vendor:
        from django.contrib.auth.models import User
        from django.db import connection
        from django.test import Client
        from django.test.utils import CaptureQueriesContext
        from django.urls import reverse

        from audit.models import AuditEvent

        seconds = seed(args.rows)
        print(f"audit changelist bench: {args.rows:,} rows on {vendor}, seeded in {seconds:.1f} s")
        print("  (seeded with one INSERT ... SELECT: chain hashes are placeholders)")
        newest = AuditEvent.objects.order_by("-id").values_list("occurred_at", flat=True).first()

        user = User.objects.create_superuser("bench", "bench@example.org", "bench")
        client = Client()
        client.force_login(user)
        url = reverse("admin:audit_auditevent_changelist")

        print(
            "  baseline: the bare SELECT of the same page (same WHERE, ORDER BY id DESC "
            "LIMIT 100), median of 7"
        )
        header = ("page", "admin ms", "bare ms", "ratio", "queries", "its SQL ms", "rows")
        header += ("default COUNTs ms",)
        print("  {:<22}{:>10}{:>9}{:>8}{:>9}{:>12}{:>6}{:>19}".format(*header))
        for name, query, where, params in pages(
            args.rows, newest, connection.ops.adapt_datetimefield_value
        ):
            page_url = url + ("?" + urlencode(query) if query else "")

            def admin_page(page_url=page_url):
                response = client.get(page_url)
                assert response.status_code == 200, response.status_code
                return response

            def bare_query(where=where, params=params):
                with connection.cursor() as cursor:
                    cursor.execute(
                        f"SELECT {LIST_COLUMNS} FROM audit_auditevent {where} "
                        "ORDER BY id DESC LIMIT 100",
                        params,
                    )
                    return cursor.fetchall()

            def default_counts(where=where, params=params):
                with connection.cursor() as cursor:
                    cursor.execute(f"SELECT COUNT(*) FROM audit_auditevent {where}", params)
                    cursor.execute("SELECT COUNT(*) FROM audit_auditevent")

            admin_ms = median_ms(admin_page)
            bare_ms = median_ms(bare_query)
            counts_ms = median_ms(default_counts, times=3)
            with CaptureQueriesContext(connection) as ctx:
                response = admin_page()
            shown = [int(i) for i in re.findall(rf"{url}(\d+)/change/", response.text)]
            if shown != [row[0] for row in bare_query()]:
                raise SystemExit(f"{name}: the admin and the bare query list different rows")
            sql_ms = sum(float(q["time"]) for q in ctx.captured_queries) * 1000
            print(
                f"  {name:<22}{admin_ms:>10.1f}{bare_ms:>9.1f}{admin_ms / bare_ms:>7.1f}x"
                f"{len(ctx.captured_queries):>9}{sql_ms:>12.1f}{len(shown):>6}{counts_ms:>19.1f}"
            )
        print(
            "  ratio = admin page / bare query; 'its SQL ms' = the admin page's own queries (one "
            "request, timed by Django), the rest is Python and the template.\n"
            "  'default COUNTs' = what Django's admin would add to each page with its defaults "
            "(show_full_result_count, an uncapped paginator)."
        )


if __name__ == "__main__":
    main()
