"""Report runs computed by a real Celery worker process, against the database and broker that
production uses (SQLite and SQLAlchemy on the defaults, PostgreSQL and Redis in CI).

The worker's clock is the machine's, so the runs compare periods that are over."""

import io
import json

import pytest
from django.core.management import call_command

from reports import runner
from reports.models import ReportRun
from reports.tasks import run_report
from tests.test_report_runs import busy_account, without_time
from tests.worker import celery_worker

pytestmark = [pytest.mark.worker, pytest.mark.django_db(transaction=True)]

ASKED = {
    "revenue": ["--from", "2026-10-01", "--to", "2026-11-21"],
    "mrr": ["--from", "2026-06-01", "--to", "2026-10-31"],
    "payouts": ["--from", "2026-10-01", "--to", "2026-11-21"],
}


def test_a_worker_computes_the_commands_document(mirror, alice):
    connection = mirror(busy_account())
    expected, runs = {}, {}
    for kind, options in ASKED.items():
        out = io.StringIO()
        call_command("report", kind, "acme", *options, "--format", "json", stdout=out)
        expected[kind] = json.loads(out.getvalue())
        first, last = options[1], options[3]
        runs[kind] = runner.create(
            kind, connection, {"from": first, "to": last},
            requester_kind=ReportRun.Requester.USER, user=alice,
        )  # fmt: skip

    with celery_worker() as queue:
        results = {
            kind: run_report.apply_async(args=[run.pk], queue=queue) for kind, run in runs.items()
        }
        outcomes = {kind: result.get(timeout=120) for kind, result in results.items()}
        mrr = ReportRun.objects.get(pk=runs["mrr"].pk)
        cited = list(mrr.citations.values_list("pk", flat=True))
        # Delivered again (a retry, a message seen twice): the finished run stays as it is.
        again = run_report.apply_async(args=[mrr.pk], queue=queue).get(timeout=120)

    for kind, run in runs.items():
        assert outcomes[kind] == {"run": run.pk, "status": "succeeded", "error": ""}
        run.refresh_from_db()
        assert run.worker and run.worker != runner.holder_name()
        assert without_time(run.document) == without_time(expected[kind]), kind
    assert again["status"] == "succeeded"
    assert ReportRun.objects.get(pk=mrr.pk).finished_at == mrr.finished_at
    assert list(mrr.citations.values_list("pk", flat=True)) == cited
    # The task's arguments, as the broker and the result backend hold them, are ids only.
    assert str(results["revenue"].args).strip("[]()',") == str(runs["revenue"].pk)
