"""The admin's navigation is by task (Reports, Money, Catalog, Setup, Audit), not by the
Django app that holds a model, and the Celery, login and two-factor plumbing is for
superusers only, under System."""

import re

import pytest
from django.contrib import admin
from django.urls import reverse

from lumen.admin import SECTIONS

pytestmark = pytest.mark.django_db


def test_every_page_of_the_admin_is_in_exactly_one_section():
    placed = [(app, model) for *_, members in SECTIONS for app, model, _ in members]
    registered = {(m._meta.app_label, m._meta.model_name) for m in admin.site._registry}
    assert sorted(placed) == sorted(registered)
    assert len(placed) == len(set(placed))


def sidebar(html):
    """The section titles and page names of the navigation, in order."""
    nav = html[html.index('id="nav-sidebar"') :]
    nav = nav[: nav.index("</nav>")]
    return re.findall(
        r'<caption>\s*<a [^>]*>([^<]+)</a>|<th scope="row"[^>]*>\s*<a [^>]*>([^<]+)</a>', nav
    )


def test_a_superuser_finds_money_catalog_setup_audit_then_the_system(client, alice):
    client.force_login(alice)
    html = client.get(reverse("admin:connectors_charge_changelist")).content.decode()
    titles = [section for section, page in sidebar(html) if section]
    assert titles == ["Reports", "Money", "Catalog", "Setup", "Audit", "System"]
    pages = [page for section, page in sidebar(html) if page]
    assert pages[pages.index("Customers") : pages.index("Balance transactions") + 1] == [
        "Customers", "Subscriptions", "Invoices", "Invoice payments", "Charges",
        "Payment intents", "Refunds", "Disputes", "Payouts", "Balance transactions",
    ]  # fmt: skip
    assert "Connections" in pages and "Webhook deliveries" in pages
    assert "Task results" in pages and "Crontabs" in pages


def test_staff_who_are_not_superusers_do_not_see_the_system(client, analyst):
    client.force_login(analyst)
    html = client.get(reverse("admin:index")).content.decode()
    titles = (
        [section for section, page in sidebar(html) if section] if "nav-sidebar" in html else []
    )
    body = html
    assert "System" not in titles
    assert "Task results" not in body and "Crontabs" not in body and "Clocked" not in body
    assert ">Money<" in body and ">Charges<" in body
    assert client.get(reverse("admin:section", kwargs={"slug": "system"})).status_code == 404


def test_a_section_page_lists_its_pages(client, alice):
    client.force_login(alice)
    response = client.get(reverse("admin:section", kwargs={"slug": "catalog"}))
    assert response.status_code == 200
    html = response.content.decode()
    for name in ["Products", "Prices", "Coupons", "Promotion codes"]:
        assert f">{name}<" in html
    assert ">Charges<" not in html.split('id="content-main"')[1]
    assert client.get(reverse("admin:section", kwargs={"slug": "nothing"})).status_code == 404
