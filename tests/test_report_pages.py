"""Reports as staff read them in the admin: the front page, a run's page, its figures opening
to their records, downloads, running again, and who may do what."""

import csv
import io
import json
import re

import openpyxl
import pytest
from django.db import connection as db
from django.test.utils import CaptureQueriesContext
from django.urls import reverse

from audit.models import AuditEvent
from connectors.models import Charge
from connectors.money import format_amount, format_totals
from reports import citations
from reports.models import ReportRun
from tests.accounts import Account, at, report_run
from tests.test_report_runs import busy_account

pytestmark = pytest.mark.django_db

FRONT = "/admin/"
OCTOBER = {"date_from": "2026-10-01", "date_to": "2026-10-31"}


@pytest.fixture
def acme(mirror):
    return mirror(busy_account())


@pytest.fixture
def as_analyst(client, analyst):
    client.force_login(analyst)
    return client


@pytest.fixture
def as_viewer(client, viewer):
    client.force_login(viewer)
    return client


def page_of(run):
    return reverse("admin:reports_reportrun_change", args=[run.pk])


def listed_ids(html):
    """The Stripe ids in a mirror list's result rows."""
    rows = html.split('id="result_list"', 1)[1].split("</table>", 1)[0]
    return re.findall(r'<th class="field-stripe_id"><a href="[^"]*">([^<]+)</a>', rows)


# The front page ----------------------------------------------------------------------------


def test_the_front_page_shows_the_headlines_of_the_latest_runs(acme, as_analyst):
    revenue = report_run(acme, "revenue", days=30)
    mrr = report_run(acme, "mrr", months=6)
    disputes = report_run(acme, "disputes")
    payouts = report_run(acme, "payouts", days=30)

    html = as_analyst.get(FRONT).content.decode()

    net = {c: v["net"] for c, v in revenue.document["currencies"].items()}
    november = [m for m in mrr.document["months"] if m["month"] == "2026-11"]
    assert format_totals(net) in html
    assert format_totals({m["currency"]: m["mrr_end"] for m in november}) in html
    assert format_totals({m["currency"]: m["net_new"] for m in november}) in html
    assert format_totals(payouts.document["balance"]["available"]) in html
    opened = disputes.document["open"]
    assert f'<span>Open</span> <a href="{page_of(disputes)}">{len(opened)}</a>' in html
    for run in (revenue, mrr, disputes, payouts):
        assert f'href="{page_of(run)}"' in html
    assert "acme" in html and "Test" in html and "synced" in html
    assert html.count("Run now") == 4


def test_without_a_run_the_front_page_says_so_and_runs_one(
    acme, as_analyst, settings, django_capture_on_commit_callbacks
):
    settings.CELERY_TASK_ALWAYS_EAGER = True
    # A revenue run of another period is not the 30 days the front page shows.
    report_run(acme, "revenue", **OCTOBER)
    html = as_analyst.get(FRONT).content.decode()
    assert html.count("No run yet.") == 4

    add = reverse("admin:reports_reportrun_add")
    with django_capture_on_commit_callbacks(execute=True):
        response = as_analyst.post(
            add, {"kind": "revenue", "connection": acme.pk, "period": "last_30_days"}
        )
    run = ReportRun.objects.latest("pk")
    assert response.status_code == 302 and response["Location"] == page_of(run)
    assert run.parameters == {"days": 30} and run.status == "succeeded"
    assert "Net revenue, last 30 days" in as_analyst.get(FRONT).content.decode()
    assert as_analyst.get(FRONT).content.decode().count("No run yet.") == 3


def test_a_failed_run_shows_on_the_front_page(acme, as_analyst):
    run = report_run(acme, "disputes")
    ReportRun.objects.filter(pk=run.pk).update(status="failed", error="the mirror was away")
    html = as_analyst.get(FRONT).content.decode()
    assert "The last run failed" in html and "the mirror was away" in html


def test_the_front_page_costs_the_same_whatever_there_is(mirror, as_analyst, alice):
    acme = mirror(busy_account())
    for kind in ("revenue", "disputes"):
        report_run(acme, kind, days=30) if kind == "revenue" else report_run(acme, kind)
    with CaptureQueriesContext(db) as few:
        assert as_analyst.get(FRONT).status_code == 200
    other = mirror(busy_account(), name="globex")
    for conn in (acme, other):
        report_run(conn, "revenue", days=30)
        report_run(conn, "mrr", months=6)
        report_run(conn, "disputes")
        report_run(conn, "payouts", days=30)
    with CaptureQueriesContext(db) as many:
        assert as_analyst.get(FRONT).status_code == 200
    assert len(many) == len(few)


# A run's page ------------------------------------------------------------------------------


def test_a_runs_page_shows_its_figures_each_opening_to_its_records(acme, as_analyst):
    run = report_run(acme, "revenue", **OCTOBER)
    usd = run.document["currencies"]["usd"]
    html = as_analyst.get(page_of(run)).content.decode()
    assert format_amount(usd["gross"], "usd") in html
    assert "Succeeded" in html and "Run again" in html

    links = re.findall(r'<a href="([^"]+)" class="lumen-cited">([^<]+)</a>', html)
    gross = next(url for url, text in links if text == format_amount(usd["gross"], "usd"))
    listing = as_analyst.get(gross.replace("&amp;", "&")).content.decode()
    cited = {i for i, _ in citations.records(run.pk, "currencies/usd", "gross")}
    assert set(listed_ids(listing)) == cited
    assert len(cited) == usd["charge_count"]
    assert "Showing the records cited by revenue by product run" in listing


def test_a_cited_list_downloads_as_csv_and_is_recorded(acme, as_analyst):
    run = report_run(acme, "revenue", **OCTOBER)
    value = f"cited:{run.pk}|currencies/usd|gross"
    url = reverse("admin:connectors_charge_export_csv") + "?" + f"selection={value}"
    response = as_analyst.get(url)
    rows = list(csv.DictReader(io.StringIO(b"".join(response.streaming_content).decode())))
    cited = {i for i, _ in citations.records(run.pk, "currencies/usd", "gross")}
    assert {r["stripe_id"] for r in rows} == cited
    assert (
        sum(int(r["amount_captured"]) for r in rows) == run.document["currencies"]["usd"]["gross"]
    )
    assert "raw" not in rows[0]
    exported = AuditEvent.objects.get(operation="mirror.exported")
    assert exported.actor == "carol" and exported.params["filters"]["selection"] == value


def test_downloads_are_the_document_and_each_is_recorded(acme, as_analyst):
    run = report_run(acme, "revenue", **OCTOBER)
    doc = run.document

    def download(fmt):
        return as_analyst.get(reverse("admin:reports_reportrun_download", args=[run.pk, fmt]))

    assert json.loads(download("json").content) == doc
    rows = list(csv.DictReader(io.StringIO(download("csv").content.decode())))
    total = next(r for r in rows if r["currency"] == "usd" and r["product"] == "")
    assert total["net"] == f"{doc['currencies']['usd']['net'] / 100:.2f}"
    book = openpyxl.load_workbook(io.BytesIO(download("xlsx").content))
    sheet = list(book.active.iter_rows(values_only=True))
    assert sheet[0][:4] == ("currency", "product", "name", "gross")
    downloads = AuditEvent.objects.filter(operation="report.downloaded")
    assert sorted(e.params["format"] for e in downloads) == ["csv", "json", "xlsx"]
    assert {(e.actor, e.object_id) for e in downloads} == {("carol", str(run.pk))}


def test_run_again_asks_the_same_question_of_fresh_data(
    acme, as_analyst, analyst, settings, django_capture_on_commit_callbacks
):
    settings.CELERY_TASK_ALWAYS_EAGER = True
    first = report_run(acme, "payouts", **OCTOBER)
    with django_capture_on_commit_callbacks(execute=True):
        response = as_analyst.post(reverse("admin:reports_reportrun_again", args=[first.pk]))
    again = ReportRun.objects.latest("pk")
    assert response["Location"] == page_of(again)
    assert (again.kind, again.parameters, again.requested_by) == ("payouts", first.parameters,
                                                                  analyst)  # fmt: skip
    assert again.status == "succeeded" and again.document["payouts"] == first.document["payouts"]


def test_a_run_under_way_says_so_and_its_page_follows_it(acme, as_analyst):
    run = ReportRun.objects.create(kind="mrr", connection=acme, requester_kind="command")
    html = as_analyst.get(page_of(run)).content.decode()
    assert "Waiting for a worker" in html and 'data-finished="false"' in html
    status = reverse("admin:reports_reportrun_status", args=[run.pk])
    assert as_analyst.get(status).json() == {"status": "queued", "label": "Queued",
                                             "syncing": False, "error": "",
                                             "finished": False}  # fmt: skip
    ReportRun.objects.filter(pk=run.pk).update(status="failed", error="no mirror")
    assert as_analyst.get(status).json()["finished"] is True
    assert "This run failed: no mirror" in as_analyst.get(page_of(run)).content.decode()


def test_a_runs_page_costs_the_same_whatever_its_size(mirror, as_analyst):
    small = Account()
    small.pay(small.customer("Ada"), 1000, at(2026, 10, 3))
    with CaptureQueriesContext(db) as few:
        as_analyst.get(page_of(report_run(mirror(small), "revenue", **OCTOBER)))
    big = busy_account()
    for n in range(30):
        big.pay(big.customer(f"C{n}", currency=["usd", "eur", "jpy"][n % 3]), 1000 + n,
                at(2026, 10, 1 + n % 28))  # fmt: skip
    run = report_run(mirror(big, name="globex"), "revenue", **OCTOBER)
    with CaptureQueriesContext(db) as many:
        as_analyst.get(page_of(run))
    assert len(many) == len(few)


# Who may do what ---------------------------------------------------------------------------


def test_a_viewer_reads_runs_but_cannot_run_one(acme, as_viewer):
    run = report_run(acme, "disputes")
    front = as_viewer.get(FRONT).content.decode()
    assert "Open disputes" in front and "Run now" not in front
    page = as_viewer.get(page_of(run)).content.decode()
    assert "Run again" not in page and "Succeeded" in page
    assert as_viewer.get(reverse("admin:reports_reportrun_add")).status_code == 403
    assert as_viewer.post(reverse("admin:reports_reportrun_again", args=[run.pk])).status_code == (
        403
    )
    assert ReportRun.objects.count() == 1


def test_staff_without_the_view_permission_see_no_figures(acme, client, bob):
    report_run(acme, "disputes")
    client.force_login(bob)
    front = client.get(FRONT).content.decode()
    assert "Open disputes" not in front
    run = ReportRun.objects.get()
    assert client.get(page_of(run)).status_code == 403
    cited = reverse("admin:connectors_charge_changelist") + f"?selection=cited:{run.pk}|x|y"
    assert client.get(cited).status_code == 403


def test_charges_listed_are_the_cited_ones_even_in_another_connection(acme, mirror, as_analyst):
    """A citation names records of its run's connection only."""
    run = report_run(acme, "revenue", **OCTOBER)
    other = mirror(busy_account(), name="globex")
    assert Charge.objects.filter(connection=other).exists()
    url = reverse("admin:connectors_charge_changelist") + (
        f"?selection=cited:{run.pk}|currencies/usd|gross"
    )
    html = as_analyst.get(url).content.decode()
    # The same seed made both accounts: the same ids, in two connections.
    assert Charge.objects.filter(stripe_id__in=listed_ids(html), connection=other).exists()
    pks = re.findall(r'<th class="field-stripe_id"><a href="/admin/connectors/charge/(\d+)/', html)
    assert pks and set(Charge.objects.filter(pk__in=pks).values_list("connection", flat=True)) == {
        acme.pk
    }


def test_the_lists_of_runs_and_schedules_cost_the_same_whatever_their_length(acme, client, alice):
    from tests.test_report_schedules import make_schedule

    client.force_login(alice)
    runs = reverse("admin:reports_reportrun_changelist")
    schedules_list = reverse("admin:reports_reportschedule_changelist")
    report_run(acme, "disputes")
    make_schedule(acme, name="one")
    with CaptureQueriesContext(db) as few:
        assert client.get(runs).status_code == 200
        assert client.get(schedules_list).status_code == 200
    for n in range(6):
        report_run(acme, "disputes")
        make_schedule(acme, name=f"more {n}")
    with CaptureQueriesContext(db) as many:
        assert client.get(runs).status_code == 200
        assert client.get(schedules_list).status_code == 200
    assert len(many) == len(few)
