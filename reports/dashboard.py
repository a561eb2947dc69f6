"""The front page: for each connection, its health and freshness, and the headline figures of
its latest report runs. It reads stored runs only (three queries, whatever the size of the
mirror): the figures are as fresh as the runs, and each says when and links to its run."""

from django.db.models import Max, Q
from django.urls import reverse

from connectors.models import StripeConnection
from connectors.money import format_totals
from reports.models import ReportRun

# The run whose figures head the page, per kind: (title, the parameters a "Run now" asks).
HEADLINES = {
    "revenue": ("Net revenue, last 30 days", {"days": 30}),
    "mrr": ("MRR this month", {"months": 6}),
    "disputes": ("Open disputes", {}),
    "payouts": ("Available balance", {"days": 30}),
}
PRESET_OF = {"revenue": "last_30_days", "mrr": "last_6_months", "payouts": "last_30_days"}


def overview(request):
    """What the front page shows above the apps, or None for who may not read runs."""
    user = request.user
    if not user.has_perm("reports.view_reportrun"):
        return None
    connections = list(
        StripeConnection.objects.order_by("name").only(
            "pk", "name", "mode", "health", "health_reason", "data_as_of"
        )
    )
    runs = latest_runs()
    can_run = user.has_perm("reports.run_report")
    return [
        {
            "connection": connection,
            "cards": [card(kind, connection, runs, can_run) for kind in HEADLINES],
        }
        for connection in connections
    ]


def latest_runs():
    """{(connection id, kind): (latest succeeded run, latest run)} in one query. Revenue's
    headline is the last 30 days: only such runs count for it."""
    every = ReportRun.objects.values("connection", "kind").annotate(last=Max("pk"))
    done = every.filter(status=ReportRun.Status.SUCCEEDED)
    revenue = done.filter(kind="revenue", parameters=HEADLINES["revenue"][1])
    wanted = (
        Q(pk__in=every.values("last"))
        | Q(pk__in=done.exclude(kind="revenue").values("last"))
        | Q(pk__in=revenue.values("last"))
    )
    found = {}
    for run in ReportRun.objects.filter(wanted).order_by("pk"):
        latest_done, _ = found.get((run.connection_id, run.kind), (None, None))
        if run.status == ReportRun.Status.SUCCEEDED and (
            run.kind != "revenue" or run.parameters == HEADLINES["revenue"][1]
        ):
            latest_done = run
        found[(run.connection_id, run.kind)] = (latest_done, run)
    return found


def card(kind, connection, runs, can_run):
    title, _ = HEADLINES[kind]
    done, latest = runs.get((connection.pk, kind), (None, None))
    failed = latest if latest and latest.status == ReportRun.Status.FAILED else None
    if failed and done and done.pk > failed.pk:
        failed = None
    running = latest if latest and latest.status in ("queued", "running") else None
    return {
        "kind": kind,
        "title": title,
        "figures": figures(kind, done.document) if done else [],
        "run": done,
        "url": run_url(done),
        "failed": failed,
        "failed_url": run_url(failed),
        "running_url": run_url(running),
        "can_run": can_run,
        "preset": PRESET_OF.get(kind, ""),
    }


def run_url(run):
    return reverse("admin:reports_reportrun_change", args=[run.pk]) if run else None


def figures(kind, doc):
    """[(label, text)]: the run's headline, each currency apart."""
    if kind == "revenue":
        net = {c: v["net"] for c, v in doc["currencies"].items()}
        return [("Net", format_totals(net))]
    if kind == "mrr":
        months = doc["months"]
        last = months[-1]["month"] if months else None
        rows = [m for m in months if m["month"] == last]
        return [
            (f"MRR ({last})", format_totals({m["currency"]: m["mrr_end"] for m in rows})),
            ("Net new", format_totals({m["currency"]: m["net_new"] for m in rows})),
        ]
    if kind == "disputes":
        flagged = sum(d["flagged"] for d in doc["open"])
        return [("Open", f"{len(doc['open']):,}"), ("Due today or overdue", f"{flagged:,}")]
    return [("Available", format_totals(doc["balance"]["available"]))]
