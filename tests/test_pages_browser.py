"""The lists finance staff work in, on a 1440 x 900 screen with the navigation open, in a
real Chromium: the columns they scan for are in view without scrolling sideways, and each
search finds its record. The account is the demo's (the emulator's seeded account), synced
through the door into the mirror."""

import time
from datetime import UTC, datetime

import pytest
from playwright.sync_api import sync_playwright

from audit.recorder import Actor
from connectors import connections
from connectors.emulator import EmulatorStore, StripeEmulator, seed_account
from connectors.emulator.demo import DEFAULT_SEED
from connectors.models import Charge, Customer, StripeConnection
from connectors.money import format_amount
from connectors.sync import run_sync
from tests.conftest import TEST_KEY, close_browser_test_connections
from tests.test_admin_browser import CHROMIUM_ARGS

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]

NOW = datetime(2026, 11, 22, 9, 0, tzinfo=UTC)
WIDTH, HEIGHT = 1440, 900

# Each list, and the columns (by their header) that must be in view.
COLUMNS = {
    "dispute": ["Amount", "Customer", "Reason", "Evidence due", "Evidence"],
    "balancetransaction": ["Net", "Available on", "Paid out in"],
    "subscription": ["Customer", "Plan", "Price", "MRR", "Status", "Ends"],
    "price": ["Product", "Unit amount", "Billed every"],
    "customer": ["Customer", "Email", "Lifetime value"],
    "charge": ["Customer", "Amount", "Status", "Card · outcome"],
    "invoice": ["Invoice", "Customer", "Total", "Due"],
    "payout": ["Arrival", "Amount", "Status"],
}


@pytest.fixture
def demo(time_machine, settings, alice):
    """The demo's account, served by the emulator and synced into connection "demo"."""
    time_machine.move_to(NOW, tick=True)
    settings.STRIPE_RATE_LIMIT_TEST = 10_000
    store = EmulatorStore()
    seed_account(store, seed=DEFAULT_SEED, now=int(time.time()))
    with StripeEmulator(store, keys=[TEST_KEY]) as server:
        settings.STRIPE_API_BASE = server.url
        connection = StripeConnection(name="demo")
        connections.save_key(connection, TEST_KEY, actor=Actor.command("tests"))
        run = run_sync(connection, actor=Actor.command("tests"))
        assert run.status == "succeeded", run.message
        yield connection


@pytest.fixture
def page(browser_path, live_server, demo, monkeypatch):
    monkeypatch.setenv("DJANGO_ALLOW_ASYNC_UNSAFE", "true")
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=browser_path, args=CHROMIUM_ARGS)
        page = browser.new_page(viewport={"width": WIDTH, "height": HEIGHT})
        page.goto(f"{live_server.url}/admin/login/")
        page.fill("#id_username", "alice")
        page.fill("#id_password", "password")
        page.click("input[type=submit]")
        page.wait_for_selector("#user-tools")
        page.base = live_server.url
        yield page
        close_browser_test_connections()
        browser.close()


def open_list(page, model, query=""):
    app = "audit" if model == "auditevent" else "connectors"
    page.goto(f"{page.base}/admin/{app}/{model}/{query}")
    page.wait_for_selector("#changelist")


def headers_out_of_view(page, wanted):
    """The wanted column headers whose right edge is beyond what the screen shows."""
    assert page.locator("#nav-sidebar").is_visible(), "the navigation is open"
    boxes = page.eval_on_selector_all(
        "#result_list thead th",
        "ths => ths.map(th => [th.textContent.trim(), th.getBoundingClientRect().right])",
    )
    found = {text: right for text, right in boxes}
    missing = [name for name in wanted if name not in found]
    assert not missing, f"no such columns: {missing} (the list has {list(found)})"
    return [name for name in wanted if found[name] > WIDTH]


@pytest.mark.parametrize("model", list(COLUMNS))
def test_each_list_shows_its_columns_without_scrolling_sideways(page, model):
    open_list(page, model)
    assert page.locator("#result_list tbody tr").count() > 0
    assert headers_out_of_view(page, COLUMNS[model]) == []


def test_the_audit_log_shows_outcome_status_and_duration_in_view(page):
    open_list(page, "auditevent")
    assert headers_out_of_view(page, ["Outcome", "HTTP status", "Duration"]) == []


def shown_ids(page):
    return page.eval_on_selector_all("#result_list tbody tr", "rows => rows.map(r => r.innerText)")


def search(page, model, term):
    open_list(page, model)
    page.fill("#searchbar", term)
    page.press("#searchbar", "Enter")
    page.wait_for_selector("#changelist")
    return "\n".join(shown_ids(page))


def test_each_search_finds_its_record(page, demo):
    charge = (
        Charge.objects.filter(connection=demo, status="succeeded", currency="usd")
        .exclude(customer="").exclude(card_last4="").order_by("-created").first()
    )  # fmt: skip
    customer = Customer.objects.get(connection=demo, stripe_id=charge.customer)
    amount = format_amount(charge.amount, charge.currency).split()[0].replace(",", "")
    when = charge.created.strftime("%Y-%m-%d %H:%M")

    # Charges, by part of the customer's email, their name, the amount, the card's last four.
    for term in (customer.email.split("@")[0][1:], customer.name.split()[0], amount,
                 charge.card_last4):  # fmt: skip
        rows = search(page, "charge", term)
        assert when in rows and (customer.name in rows or customer.email in rows), term
    # Customers, by part of an email or a name, in any case.
    for term in (customer.email.split("@")[1].upper(), customer.name[1:6].lower()):
        assert customer.email in search(page, "customer", term), term
