"""The admin as staff see it, in a real Chromium driven by Playwright."""

import os
import uuid

import pytest
from celery.contrib.testing.worker import start_worker
from playwright.sync_api import expect, sync_playwright

from audit.models import AuditEvent
from audit.recorder import Actor, record
from connectors.models import Charge, StripeConnection, SyncRun
from connectors.sync import run_sync
from lumen.celery import app
from tests.conftest import TEST_KEY, close_browser_test_connections, grant_key, revoke_key

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]

CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]


@pytest.fixture
def page(browser_path, live_server, alice, monkeypatch, tmp_path):
    # Playwright's sync API runs an event loop in this thread; the ORM calls the test makes
    # between page actions are still plain synchronous calls.
    monkeypatch.setenv("DJANGO_ALLOW_ASYNC_UNSAFE", "true")
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=browser_path, args=CHROMIUM_ARGS)
        page = browser.new_page()
        page.goto(f"{live_server.url}/admin/login/")
        page.fill("#id_username", "alice")
        page.fill("#id_password", "password")
        page.click("input[type=submit]")
        page.wait_for_selector("#user-tools")
        yield page
        close_browser_test_connections()
        browser.close()


@pytest.fixture
def worker(settings):
    """A Celery worker in this process, on a queue of its own, verifying what staff ask for:
    the page answers at once and shows the result once the worker is done."""
    settings.LUMEN_CONNECTION_QUEUE = f"lumen-tests-{uuid.uuid4().hex[:8]}"
    with start_worker(app, queues=[settings.LUMEN_CONNECTION_QUEUE], perform_ping_check=False,
                      shutdown_timeout=30):  # fmt: skip
        yield


def until_the_row_shows(page, live_server, text):
    """Reload the list until the connection's row shows `text` (a worker is verifying)."""
    row = page.locator("#result_list tbody tr").first
    for _ in range(60):
        if text in row.inner_text():
            return row.inner_text()
        page.wait_for_timeout(500)
        page.goto(f"{live_server.url}/admin/connectors/stripeconnection/")
    raise AssertionError(f"the connection never showed {text!r}: {row.inner_text()}")


def screenshot(page, name):
    folder = os.environ.get("LUMEN_SCREENSHOTS")
    if folder:
        page.screenshot(path=os.path.join(folder, f"{name}.png"), full_page=True)


def test_staff_connect_an_account_and_never_see_the_key_again(page, live_server, emulator,
                                                              worker):  # fmt: skip
    page.goto(f"{live_server.url}/admin/connectors/stripeconnection/add/")
    page.fill("#id_name", "acme")
    page.fill("#id_key", "pk_live_" + "P" * 30)
    page.click("input[name=_save]")
    error = page.locator(".errorlist").inner_text()
    assert "publishable key" in error
    assert page.input_value("#id_key") == ""  # the refused key is not rendered back
    assert not StripeConnection.objects.exists()

    page.fill("#id_key", TEST_KEY)
    page.click("input[name=_save]")
    page.wait_for_selector(".messagelist")
    screenshot(page, "connections")
    assert "Verifying acme with Stripe" in page.locator(".messagelist").inner_text()
    row = until_the_row_shows(page, live_server, "OK")
    assert "acme" in row and "TEST" in row and "rk_test_…Wxyz" in row
    assert TEST_KEY not in page.content()

    page.click("#result_list tbody th a")
    page.wait_for_selector("#id_key")
    assert page.input_value("#id_key") == ""
    assert "rk_test_…Wxyz" in page.content() and TEST_KEY not in page.content()


def test_staff_see_a_revoked_key_as_failing(page, live_server, emulator, connection, worker):
    revoke_key(emulator, TEST_KEY)
    page.goto(f"{live_server.url}/admin/connectors/stripeconnection/")
    page.check(f"input[name=_selected_action][value='{connection.pk}']")
    page.select_option("select[name=action]", "verify_selected")
    page.click("button[name=index]")
    page.wait_for_selector(".messagelist")
    assert "Verifying acme" in page.locator(".messagelist").inner_text()
    until_the_row_shows(page, live_server, "Failing")
    page.click("#result_list tbody th a")
    expect(page.locator(".field-health_reason")).to_contain_text("revoked or rotated")
    screenshot(page, "failing")

    grant_key(emulator, TEST_KEY)
    page.fill("#id_key", TEST_KEY)
    page.click("input[name=_save]")
    page.wait_for_selector(".messagelist")
    until_the_row_shows(page, live_server, "OK")


def test_staff_browse_the_audit_log(page, live_server, connection):
    page.goto(f"{live_server.url}/admin/audit/auditevent/")
    rows = page.locator("#result_list tbody tr")
    assert rows.count() == min(AuditEvent.objects.count(), 100)
    assert "connection.verified" in rows.first.inner_text()
    assert page.locator("text=Add audit event").count() == 0
    screenshot(page, "audit")
    request_id = AuditEvent.objects.filter(method="GET").first().request_id
    page.fill("#searchbar", request_id)
    page.press("#searchbar", "Enter")
    page.wait_for_load_state()
    assert page.locator("#result_list tbody tr").count() == 1


def test_staff_sync_verify_and_delete_a_connection_from_its_page(
    page, live_server, emulator, connection, worker, settings
):
    settings.LUMEN_SYNC_HISTORY_DAYS = 3650
    page.goto(f"{live_server.url}/admin/connectors/stripeconnection/{connection.pk}/change/")
    page.click("button:has-text('Sync now')")
    expect(page.locator(".messagelist")).to_contain_text("Sync started")
    # The counts are those of the moment the page was drawn: reload until the sync is done.
    for _ in range(60):
        if SyncRun.objects.filter(connection=connection, status="succeeded").exists():
            break
        page.wait_for_timeout(500)
    page.reload()
    charges = Charge.objects.filter(connection=connection).count()
    records = page.locator(".connection-records")
    expect(records.locator("li", has_text="Charges")).to_contain_text(f"{charges:,}")
    screenshot(page, "connection")

    page.click("button:has-text('Verify now')")
    expect(page.locator(".messagelist")).to_contain_text("Verifying acme with Stripe")

    page.click("a.deletelink")
    expect(page.locator("#content")).to_contain_text(f"Charges: {charges:,}")
    expect(page.locator("#content")).to_contain_text("The audit log is kept")
    screenshot(page, "connection-delete")
    page.click("input[type=submit]")
    expect(page.locator(".messagelist")).to_contain_text("The connection acme was deleted")
    assert not StripeConnection.objects.exists()
    assert AuditEvent.objects.filter(operation="connection.deleted", actor="alice").exists()


def test_the_audit_log_and_the_sync_runs_fit_1440_pixels(page, live_server, connection, settings):
    settings.LUMEN_SYNC_HISTORY_DAYS = 3650
    run = run_sync(connection, actor=Actor.command("tests"))
    # The widest cells the log has: a long path, a long outcome, a long operation.
    record(actor=Actor.schedule("Check Stripe connections"), operation="retrieve",
           connection_id=connection.pk, connection_name=connection.name, method="GET",
           path="/v1/invoices/in_1QabcdEFGhijKLmnOPqrstUV/lines", http_status=None,
           outcome=AuditEvent.Outcome.BLOCKED)  # fmt: skip
    record(actor=Actor.user(connection.created_by), operation="connection.key_reencrypted")
    page.set_viewport_size({"width": 1440, "height": 900})
    lists = {
        "audit-1440": ("/admin/audit/auditevent/", ["Outcome", "HTTP status", "Duration"]),
        "sync-runs-1440": ("/admin/connectors/syncrun/", ["Status", "Duration", "API calls"]),
    }
    for name, (path, columns) in lists.items():
        page.goto(f"{live_server.url}{path}")
        assert page.locator("#nav-sidebar").is_visible()
        screenshot(page, name)
        results = page.locator("#changelist .results")
        scroll, width = results.evaluate("e => [e.scrollWidth, e.clientWidth]")
        assert scroll <= width, f"{path} scrolls sideways: {scroll} px in {width}"
        for column in columns:
            header = page.locator("#result_list thead th", has_text=column).first
            box = header.bounding_box()
            assert box and box["x"] + box["width"] <= 1440, (path, column, box)
    page.goto(f"{live_server.url}/admin/connectors/syncrun/{run.pk}/change/")
    screenshot(page, "sync-run")
    page.click(".field-audit_events a")
    rows = page.locator("#result_list tbody tr")
    expect(rows).to_have_count(min(run.api_calls, 100))
