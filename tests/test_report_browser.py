"""The reports as staff use them, in a real Chromium driven by Playwright, with a Celery worker
computing the runs they ask for: run each report from the form and watch it finish, see its
charts, open a figure to its records, download its CSV, read the front page; and a viewer
who may not run reports finds no button and a 403."""

import csv
import io
import uuid

import pytest
from celery.contrib.testing.worker import start_worker
from playwright.sync_api import sync_playwright

from connectors.money import format_amount, format_totals
from lumen.celery import app
from reports import citations
from reports.admin import pages
from reports.models import ReportRun
from tests.conftest import close_browser_test_connections
from tests.test_admin_browser import CHROMIUM_ARGS, screenshot
from tests.test_report_runs import busy_account

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]

ASKED = {  # kind -> (period choice, first day, last day)
    "revenue": ("custom", "2026-10-01", "2026-11-30"),
    "mrr": ("last_6_months", None, None),
    "disputes": ("", None, None),
    "payouts": ("custom", "2026-10-01", "2026-11-30"),
}


@pytest.fixture
def acme(mirror):
    return mirror(busy_account())


@pytest.fixture
def worker(settings):
    """A Celery worker in this process, on a queue of its own, computing the runs asked for
    in the pages (the report's progress is then real, and so is its end)."""
    settings.LUMEN_REPORT_QUEUE = f"lumen-tests-{uuid.uuid4().hex[:8]}"
    with start_worker(app, queues=[settings.LUMEN_REPORT_QUEUE], perform_ping_check=False,
                      shutdown_timeout=30):  # fmt: skip
        yield


def browse(browser_path, live_server, username, monkeypatch):
    monkeypatch.setenv("DJANGO_ALLOW_ASYNC_UNSAFE", "true")
    playwright = sync_playwright().start()
    browser = playwright.chromium.launch(executable_path=browser_path, args=CHROMIUM_ARGS)
    page = browser.new_page(viewport={"width": 1280, "height": 900}, accept_downloads=True)
    page.goto(f"{live_server.url}/admin/login/")
    page.fill("#id_username", username)
    page.fill("#id_password", "password")
    page.click("input[type=submit]")
    page.wait_for_selector("#user-tools")
    return playwright, browser, page


@pytest.fixture
def as_analyst(browser_path, live_server, analyst, monkeypatch):
    playwright, browser, page = browse(browser_path, live_server, "carol", monkeypatch)
    yield page
    close_browser_test_connections()
    browser.close()
    playwright.stop()


@pytest.fixture
def as_viewer(browser_path, live_server, viewer, monkeypatch):
    playwright, browser, page = browse(browser_path, live_server, "dave", monkeypatch)
    yield page
    close_browser_test_connections()
    browser.close()
    playwright.stop()


def run_from_the_form(page, live_server, connection, kind):
    period, first, last = ASKED[kind]
    page.goto(f"{live_server.url}/admin/reports/reportrun/add/")
    page.select_option("#id_kind", kind)
    page.select_option("#id_connection", str(connection.pk))
    if period:
        page.select_option("#id_period", period)
    if first:
        page.fill("#id_date_from", first)
        page.fill("#id_date_to", last)
    page.click("input[name=_save]")
    page.wait_for_selector(".lumen-run")
    # The page follows the run without a reload from us, and shows it once it is done.
    page.wait_for_selector(".lumen-run[data-status=succeeded]", timeout=60_000)
    return ReportRun.objects.latest("pk")


def test_an_analyst_runs_each_report_and_reads_its_charts(acme, worker, as_analyst,
                                                          live_server):  # fmt: skip
    page = as_analyst
    for kind in ASKED:
        run = run_from_the_form(page, live_server, acme, kind)
        assert run.kind == kind and run.requested_by.username == "carol"
        page.wait_for_selector(".lumen-chart .main-svg", state="attached")
        for chart in pages.charts(run):
            bars = sum(len(t["x"]) for t in chart["data"] if t["type"] == "bar")
            drawn = page.locator(f"#chart-{chart['id']} .barlayer g.point").count()
            assert drawn == bars > 0, chart["id"]
        screenshot(page, f"report-{kind}")


def test_a_figure_opens_to_exactly_its_records_and_the_csv_holds_it(acme, worker, as_analyst,
                                                                    live_server):  # fmt: skip
    page = as_analyst
    run = run_from_the_form(page, live_server, acme, "revenue")
    gross = run.document["currencies"]["usd"]["gross"]

    with page.expect_download() as download:
        page.click("a[data-format=csv]")
    rows = list(csv.DictReader(io.StringIO(download.value.path().read_text())))
    usd = next(r for r in rows if r["currency"] == "usd" and r["product"] == "")
    assert usd["gross"] == f"{gross // 100}.{gross % 100:02d}"

    page.click(f"a.lumen-cited:text-is('{format_amount(gross, 'usd')}')")
    page.wait_for_selector("#result_list")
    listed = page.locator("#result_list tbody th.field-stripe_id").all_inner_texts()
    cited = [i for i, _ in citations.records(run.pk, "currencies/usd", "gross")]
    assert sorted(listed) == sorted(cited)
    assert "Showing the records cited by" in page.locator(".lumen-selection").inner_text()


def test_the_front_page_shows_the_headlines_and_runs_what_is_missing(acme, worker, as_analyst,
                                                                     live_server):  # fmt: skip
    page = as_analyst
    page.goto(f"{live_server.url}/admin/")
    assert page.locator(".lumen-card .lumen-none").count() == 4
    for kind in ("revenue", "mrr", "disputes", "payouts"):
        page.goto(f"{live_server.url}/admin/")
        page.click(f".lumen-card[data-kind={kind}] button")
        page.wait_for_selector(".lumen-run[data-status=succeeded]", timeout=60_000)
    page.goto(f"{live_server.url}/admin/")
    revenue = ReportRun.objects.get(kind="revenue")
    net = {c: v["net"] for c, v in revenue.document["currencies"].items()}
    card = page.locator(".lumen-card[data-kind=revenue]").inner_text()
    assert format_totals(net) in card
    disputes = ReportRun.objects.get(kind="disputes").document["open"]
    assert str(len(disputes)) in page.locator(".lumen-card[data-kind=disputes]").inner_text()
    assert page.locator(".lumen-card .lumen-none").count() == 0
    screenshot(page, "front-page")


def test_a_viewer_finds_no_run_button_and_gets_403(acme, as_viewer, live_server):
    from tests.accounts import report_run

    run = report_run(acme, "disputes")
    page = as_viewer
    page.goto(f"{live_server.url}/admin/")
    assert page.locator(".lumen-card[data-kind=disputes] .lumen-headline").count() == 2
    assert page.locator("text=Run now").count() == 0
    page.goto(f"{live_server.url}/admin/reports/reportrun/{run.pk}/change/")
    assert page.locator("text=Run again").count() == 0
    response = page.goto(f"{live_server.url}/admin/reports/reportrun/add/")
    assert response.status == 403
