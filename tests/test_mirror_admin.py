"""Browsing the mirror in the admin: read-only pages over customers, charges, subscriptions,
invoices, disputes and payouts, each opening the object in Stripe's dashboard.

The mirror is filled from the emulator's seeded account through the sync's own upsert, and
what a page should show is worked out from the Stripe objects themselves.
"""

import copy
import re
import time
from collections import Counter, defaultdict
from datetime import UTC, datetime

import pytest
import time_machine
from django.contrib.auth.models import Group, Permission, User
from django.db import connection as db
from django.db import transaction
from django.test.utils import CaptureQueriesContext
from django.urls import get_script_prefix, reverse, set_script_prefix
from django.utils import timezone

from connectors.admin.mirror import dashboard_url_of
from connectors.admin.mirror.links import changelist_url
from connectors.emulator import EmulatorStore, seed_account
from connectors.models import (
    MIRROR_MODELS,
    BalanceTransaction,
    Charge,
    Customer,
    Dispute,
    InvoiceLineItem,
    InvoicePayment,
    Payout,
    Refund,
    StripeConnection,
    SubscriptionItem,
)
from connectors.money import decimals, format_amount, format_totals
from connectors.sync import store_objects

pytestmark = pytest.mark.django_db

# The mirror pages, by the model name in their URLs.
PAGES = ["customer", "charge", "refund", "dispute", "payout", "balancetransaction",
         "subscription", "invoice", "invoicepayment", "paymentintent", "product", "price",
         "coupon", "promotioncode"]  # fmt: skip
LOADED = ["customers", "products", "prices", "coupons", "promotion_codes", "subscriptions",
          "invoices", "invoice_payments", "payment_intents", "charges", "refunds", "disputes",
          "balance_transactions", "payouts"]  # fmt: skip


# Every test of the module runs on this day, and the account is seeded up to it: what the
# pages show (which payout paid out what, which disputes are overdue) then never depends on
# the day the suite runs.
TODAY = datetime(2026, 11, 22, 9, 0, tzinfo=UTC)


@pytest.fixture(scope="module")
def account():
    store = EmulatorStore()
    with time_machine.travel(TODAY, tick=False):
        seed_account(store, seed=7, now=int(time.time()))
    return store


@pytest.fixture(autouse=True)
def pinned(time_machine):
    time_machine.move_to(TODAY, tick=True)


def objects(account, resource):
    # Copies: a test that changes one must not change it for the next.
    return copy.deepcopy(account.objects(resource))


def load(connection, resource, stripe_objects):
    with transaction.atomic():
        store_objects(connection, resource, stripe_objects, timezone.now())


@pytest.fixture
def acme(db):
    return StripeConnection.objects.create(
        name="acme", key_kind="restricted", mode="test", key_last4="Wxyz"
    )


@pytest.fixture
def mirror(account, acme):
    """The seeded account in the mirror of `acme`, payouts linked to what they paid out."""
    for resource in LOADED:
        load(acme, resource, objects(account, resource))
    links = defaultdict(list)
    for t in account.objects("balance_transactions"):
        if account.payout_of(t["id"]):
            links[account.payout_of(t["id"])].append(t["id"])
    for payout_id, ids in links.items():
        BalanceTransaction.objects.filter(connection=acme, stripe_id__in=ids).update(
            payout=payout_id
        )
    return account


@pytest.fixture
def carol(db):
    """Support staff who may look at every mirrored object and nothing else."""
    user = User.objects.create_user("carol", "carol@example.org", is_staff=True)
    user.user_permissions.set(
        Permission.objects.filter(
            content_type__app_label="connectors",
            codename__in=[f"view_{page}" for page in PAGES],
        )
    )
    return user


@pytest.fixture
def staff(client, carol):
    client.force_login(carol)
    return client


def changelist(page, **params):
    url = reverse(f"admin:connectors_{page}_changelist")
    return url + ("?" + "&".join(f"{k}={v}" for k, v in params.items()) if params else "")


def change(obj):
    return reverse(f"admin:connectors_{obj._meta.model_name}_change", args=[obj.pk])


def listed(client, page, **params):
    """The Stripe ids a list page shows, in order."""
    response = client.get(changelist(page, **params))
    assert response.status_code == 200
    return [obj.stripe_id for obj in response.context["cl"].result_list]


# Who may look, and that nobody may touch ----------------------------------------------------


@pytest.mark.parametrize("who", ["alice", "carol"])
def test_it_opens_every_list_and_object_page_for_superusers_and_view_only_staff(
    client, mirror, who, alice, carol
):
    client.force_login(alice if who == "alice" else carol)
    for page in PAGES:
        response = client.get(changelist(page))
        assert response.status_code == 200, page
        first = response.context["cl"].result_list[0]
        detail = client.get(change(first))
        assert detail.status_code == 200, page
        html = detail.content.decode()
        assert first.stripe_id in html
        if dashboard_url_of(first):
            assert dashboard_url_of(first) in html


def test_its_pages_take_their_look_from_the_stylesheet_not_from_inline_styles(
    client, mirror, alice
):
    from django.contrib.staticfiles import finders

    client.force_login(alice)
    for page, model in [("dispute", Dispute), ("charge", Charge), ("payout", Payout)]:
        listing = client.get(changelist(page)).content.decode()
        detail = client.get(change(model.objects.first())).content.decode()
        for html in (listing, detail):
            assert "lumen/admin.css" in html
            rows = html[html.find('id="result_list"') :] if 'id="result_list"' in html else html
            assert "lumen-badge" in html or page == "payout"
            assert 'style="' not in rows.split("</table>")[0], page
    assert finders.find("lumen/admin.css")


@pytest.mark.parametrize("who", ["alice", "carol"])
def test_it_lets_nobody_add_change_or_delete_a_mirrored_object(client, mirror, who, alice, carol):
    client.force_login(alice if who == "alice" else carol)
    for page in PAGES:
        obj = client.get(changelist(page)).context["cl"].result_list[0]
        html = client.get(changelist(page)).content.decode()
        assert "action-checkbox" not in html and f"/{page}/add/" not in html
        assert client.get(reverse(f"admin:connectors_{page}_add")).status_code == 403
        assert client.post(change(obj), {"stripe_id": "changed"}).status_code == 403
        delete = reverse(f"admin:connectors_{page}_delete", args=[obj.pk])
        assert client.get(delete).status_code == 403
        assert client.post(delete, {"post": "yes"}).status_code == 403
        obj.refresh_from_db()
        assert obj.stripe_id != "changed"
    assert "Save" not in client.get(change(Charge.objects.first())).content.decode()


def test_it_shows_the_mirror_to_no_staff_without_view_permission(client, mirror, bob):
    client.force_login(bob)
    for page in PAGES:
        assert client.get(changelist(page)).status_code == 403


# Customers ----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "term", ["pinecrest", "BILLING@PINECREST.EXAMPLE", "coffee", "Quillmark Legal", "example"]
)
def test_it_finds_customers_by_part_of_their_email_or_name(staff, mirror, term):
    expected = {
        c["id"]
        for c in mirror.objects("customers")
        if term.lower() in (c["email"] or "").lower() or term.lower() in (c["name"] or "").lower()
    }
    assert expected
    assert set(listed(staff, "customer", q=term.replace(" ", "+"))) == expected


def test_it_finds_a_customer_by_exact_id_only(staff, mirror):
    customer = mirror.objects("customers")[3]
    assert listed(staff, "customer", q=customer["id"]) == [customer["id"]]
    assert listed(staff, "customer", q=customer["id"][:-2]) == []
    assert listed(staff, "customer", q="nobody@nowhere.example") == []


def expected_lifetime_value(charges, refunds, customer_id):
    """From the Stripe objects: succeeded charges' captured amounts less their succeeded or
    pending refunds, per currency."""
    value, counted = Counter(), set()
    for charge in charges:
        if charge["customer"] == customer_id and charge["status"] == "succeeded":
            value[charge["currency"]] += charge["amount_captured"]
            counted.add(charge["id"])
    for refund in refunds:
        if refund["charge"] in counted and refund["status"] in ("succeeded", "pending"):
            value[refund["currency"]] -= refund["amount"]
    return dict(value)


def test_a_customer_page_shows_their_billing_and_lifetime_value_per_currency(staff, mirror, acme):
    # The customer whose EUR charge has a pending refund, given a JPY charge too, and a
    # failed charge and a failed refund that count for nothing.
    refunds = objects(mirror, "refunds")
    pending = next(r for r in refunds if r["status"] == "pending")
    charges = objects(mirror, "charges")
    refunded_charge = next(c for c in charges if c["id"] == pending["charge"])
    customer_id = refunded_charge["customer"]
    extra_yen = {**copy.deepcopy(refunded_charge), "id": "ch_yen1", "currency": "jpy",
                 "amount": 12000, "amount_captured": 12000, "amount_refunded": 0,
                 "created": int(time.time())}  # fmt: skip
    extra_failed = {**copy.deepcopy(refunded_charge), "id": "ch_failed1", "status": "failed",
                    "amount_captured": 0, "created": int(time.time()) - 60}  # fmt: skip
    failed_refund = {**copy.deepcopy(pending), "id": "re_failed1", "charge": "ch_yen1",
                     "currency": "jpy", "amount": 3000, "status": "failed"}  # fmt: skip
    load(acme, "charges", [extra_yen, extra_failed])
    load(acme, "refunds", [failed_refund])
    charges += [extra_yen, extra_failed]
    refunds += [failed_refund]

    expected = expected_lifetime_value(charges, refunds, customer_id)
    assert set(expected) == {"eur", "jpy"}
    customer = Customer.objects.get(connection=acme, stripe_id=customer_id)
    html = staff.get(change(customer)).content.decode()

    assert format_totals(expected) in html
    assert "12,000 JPY" in format_totals(expected)
    own = [c for c in charges if c["customer"] == customer_id]
    assert 0 < len(own) <= 20
    for charge in own:
        assert charge["id"] in html
    for other in (c for c in charges if c["customer"] != customer_id):
        assert other["id"] not in html
    for subscription in mirror.objects("subscriptions"):
        assert (subscription["id"] in html) == (subscription["customer"] == customer_id)
    for invoice in mirror.objects("invoices"):
        if invoice["customer"] == customer_id:
            assert (invoice["number"] or invoice["id"]) in html
    list_url = changelist("charge", customer=customer_id, connection__id__exact=acme.pk)
    assert list_url.replace("&", "&amp;") in html
    assert set(listed(staff, "charge", customer=customer_id, connection__id__exact=acme.pk)) == {
        c["id"] for c in own
    }


def test_a_customer_with_a_long_history_shows_the_latest_and_links_to_the_rest(staff, mirror, acme):
    template = mirror.objects("charges")[0]
    now = int(time.time())
    many = [{**copy.deepcopy(template), "id": f"ch_many{i:02d}", "customer": "cus_many",
             "created": now - i} for i in range(25)]  # fmt: skip
    load(acme, "charges", many)
    load(acme, "customers", [{**mirror.objects("customers")[0], "id": "cus_many"}])
    html = staff.get(change(Customer.objects.get(stripe_id="cus_many"))).content.decode()
    assert "20 of 25 charges" in html
    assert "ch_many19" in html and "ch_many20" not in html


def test_a_customer_page_runs_as_many_queries_for_a_long_history_as_for_a_short_one(
    staff, mirror, acme
):
    template = mirror.objects("charges")[0]
    customers = objects(mirror, "customers")[:2]
    customers[0]["id"], customers[1]["id"] = "cus_short", "cus_long"
    load(acme, "customers", customers)
    for customer, count in (("cus_short", 2), ("cus_long", 19)):
        load(acme, "charges", [{**copy.deepcopy(template), "id": f"ch_{customer}{i}",
                                "customer": customer} for i in range(count)])  # fmt: skip

    def queries(customer_id):
        with CaptureQueriesContext(db) as captured:
            staff.get(change(Customer.objects.get(stripe_id=customer_id)))
        return len(captured)

    assert queries("cus_short") == queries("cus_long")


# Charges ------------------------------------------------------------------------------------


def test_the_charge_list_shows_outcome_risk_card_and_customer(staff, carol, mirror, acme):
    charge = objects(mirror, "charges")[0]
    charge["outcome"]["risk_level"] = "elevated"
    load(acme, "charges", [charge])
    customer = Customer.objects.get(connection=acme, stripe_id=charge["customer"])
    card = charge["payment_method_details"]["card"]
    # The card shows to staff with full access only.
    hidden = staff.get(changelist("charge", q=charge["id"])).content.decode()
    assert "•••• hidden" in hidden and f"•••• {card['last4']}" not in hidden
    carol.groups.add(Group.objects.get(name="Full access"))
    response = staff.get(changelist("charge", q=charge["id"]))
    html = response.content.decode()
    assert f"{card['brand'].title()} •••• {card['last4']}" in html
    assert charge["outcome"]["type"] in html and charge["outcome"]["risk_level"] in html
    assert f'href="{change(customer)}"' in html and customer.name in html
    assert format_amount(charge["amount"], charge["currency"]) in html


def test_charges_filter_by_status_date_and_customer(staff, mirror, acme):
    charges = mirror.objects("charges")
    failed = {c["id"] for c in charges if c["status"] == "failed"}
    assert failed and set(listed(staff, "charge", status="failed")) == failed

    week = time.time() - 7 * 86400
    recent = {c["id"] for c in charges if c["created"] >= week}
    assert recent and set(listed(staff, "charge", created_within="7d")) == recent

    customer_id = charges[5]["customer"]
    of_customer = {c["id"] for c in charges if c["customer"] == customer_id}
    assert set(listed(staff, "charge", q=customer_id)) == of_customer
    assert listed(staff, "charge", q=charges[5]["id"]) == [charges[5]["id"]]


def test_a_card_number_never_exists_here(staff, carol, mirror, acme):
    carol.groups.add(Group.objects.get(name="Full access"))
    names = {f.name for f in Charge._meta.get_fields()}
    assert not {n for n in names if "number" in n or "cvc" in n}
    assert {"card_brand", "card_last4"} <= names
    # Even a row that somehow held one never shows it.
    charge = objects(mirror, "charges")[0]
    charge["payment_method_details"]["card"].update(number="4242424242424242", cvc="123")
    Charge.objects.filter(stripe_id=charge["id"]).update(raw=charge)
    html = staff.get(change(Charge.objects.get(stripe_id=charge["id"]))).content.decode()
    assert "4242424242424242" not in html and '"cvc"' not in html
    assert f"•••• {charge['payment_method_details']['card']['last4']}" in html
    assert not re.search(r"\b\d{13,19}\b", html)


# Subscriptions, invoices, disputes, payouts ---------------------------------------------------


@pytest.mark.parametrize("status", ["past_due", "unpaid"])
def test_past_due_and_unpaid_subscriptions_are_one_click_away(staff, mirror, status):
    expected = {s["id"] for s in mirror.objects("subscriptions") if s["status"] == status}
    assert expected
    html = staff.get(changelist("subscription")).content.decode()
    label = status.replace("_", " ").capitalize()
    assert f'<a href="?status={status}">{label} · {len(expected)}</a>' in html
    assert set(listed(staff, "subscription", status=status)) == expected


def test_open_invoices_and_those_past_due_are_one_click_away(staff, mirror, acme):
    invoices = objects(mirror, "invoices")
    template = next(i for i in invoices if i["status"] == "open")
    now = int(time.time())
    late = {**copy.deepcopy(template), "id": "in_late", "due_date": now - 86400}
    later = {**copy.deepcopy(template), "id": "in_later", "due_date": now + 86400}
    load(acme, "invoices", [late, later])
    invoices += [late, later]

    opened = {i["id"] for i in invoices if i["status"] == "open"}
    assert set(listed(staff, "invoice", status="open")) == opened
    past_due = {i["id"] for i in invoices if i["status"] == "open" and (i["due_date"] or now) < now}
    assert past_due == {"in_late"}
    assert set(listed(staff, "invoice", due="overdue")) == past_due
    html = staff.get(changelist("invoice")).content.decode()
    assert f'<a href="?status=open">Open · {len(opened)}</a>' in html
    assert '<a href="?due=overdue">Open and past due · 1</a>' in html


def test_disputes_awaiting_a_response_come_first_by_deadline_and_overdue_shows(staff, mirror):
    disputes = mirror.objects("disputes")
    awaiting = sorted(
        (d for d in disputes if d["status"] in ("needs_response", "warning_needs_response")),
        key=lambda d: d["evidence_details"]["due_by"],
    )
    shown = listed(staff, "dispute")
    assert shown[: len(awaiting)] == [d["id"] for d in awaiting]
    assert set(shown) == {d["id"] for d in disputes}
    overdue = [d for d in awaiting if d["evidence_details"]["due_by"] < time.time()]
    assert overdue
    html = staff.get(changelist("dispute")).content.decode()
    assert html.count('<span class="lumen-badge lumen-bad">overdue</span>') == len(overdue)
    assert set(listed(staff, "dispute", response="overdue")) == {d["id"] for d in overdue}


def test_a_payout_page_shows_what_it_paid_out(staff, mirror, acme):
    # The automatic payout that paid out the most transactions.
    def components_of(payout):
        return [
            t
            for t in mirror.objects("balance_transactions")
            if mirror.payout_of(t["id"]) == payout["id"]
        ]

    payout = max(
        (p for p in mirror.objects("payouts") if p["automatic"]),
        key=lambda p: (len(components_of(p)), p["id"]),
    )
    components = components_of(payout)
    assert len(components) > 1
    assert set(listed(staff, "balancetransaction", payout=payout["id"])) == {
        t["id"] for t in components
    }
    # Were Stripe to list the payout's own transaction among them, it is not one of them.
    BalanceTransaction.objects.filter(source=payout["id"]).update(payout=payout["id"])
    html = staff.get(change(Payout.objects.get(stripe_id=payout["id"]))).content.decode()
    net = sum(t["net"] for t in components)
    assert net == payout["amount"]
    assert format_amount(net, payout["currency"]) in html
    assert "Their net adds up to the payout." in html
    assert f"{len(components)} transactions" in html
    for t in components:
        assert t["id"] in html


# Links to Stripe ----------------------------------------------------------------------------


def test_objects_open_in_the_test_dashboard_in_a_new_tab(staff, mirror, acme):
    customer = Customer.objects.filter(connection=acme).first()
    html = staff.get(change(customer)).content.decode()
    url = f"https://dashboard.stripe.com/test/customers/{customer.stripe_id}"
    assert f'<a href="{url}" target="_blank" rel="noopener noreferrer"' in html
    rows = staff.get(changelist("charge")).content.decode()
    charge = Charge.objects.filter(connection=acme).first()
    assert f"https://dashboard.stripe.com/test/payments/{charge.stripe_id}" in rows
    page = staff.get(changelist("charge")).context["cl"].result_list
    assert rows.count('target="_blank" rel="noopener noreferrer"') == len(page) == 50


def test_live_objects_open_in_the_live_dashboard(staff, mirror):
    live = StripeConnection.objects.create(
        name="acme-live", key_kind="restricted", mode="live", key_last4="Live"
    )
    customer = {**mirror.objects("customers")[0], "id": "cus_live1", "livemode": True}
    load(live, "customers", [customer])
    html = staff.get(change(Customer.objects.get(stripe_id="cus_live1"))).content.decode()
    assert "https://dashboard.stripe.com/customers/cus_live1" in html
    assert "dashboard.stripe.com/test/" not in html


PATHS = {"customers": "customers", "charges": "payments", "payment_intents": "payments",
         "subscriptions": "subscriptions", "invoices": "invoices", "payouts": "payouts",
         "products": "products", "prices": "prices", "coupons": "coupons",
         "promotion_codes": "promotion_codes"}  # fmt: skip


def test_each_kind_opens_at_its_dashboard_page(mirror, acme):
    def url_of(model, **match):
        return dashboard_url_of(model.objects.filter(connection=acme, **match).first())

    base = "https://dashboard.stripe.com/test/"
    dispute = Dispute.objects.first()
    refund = Refund.objects.first()
    assert url_of(Dispute, pk=dispute.pk) == f"{base}payments/{dispute.charge}"
    assert url_of(Refund, pk=refund.pk) == f"{base}payments/{refund.charge}"
    for model in MIRROR_MODELS.values():
        obj = model.objects.first()
        if model in (Dispute, Refund, BalanceTransaction, InvoicePayment):
            continue
        if model in (SubscriptionItem, InvoiceLineItem):
            parent = obj.subscription if model is SubscriptionItem else obj.invoice
            assert dashboard_url_of(obj).endswith(f"/{parent}")
        else:
            assert dashboard_url_of(obj) == f"{base}{PATHS[model.resource]}/{obj.stripe_id}"
    payment = InvoicePayment.objects.first()
    assert dashboard_url_of(payment) == f"{base}invoices/{payment.invoice}"
    assert url_of(BalanceTransaction, source__startswith="ch_").startswith(f"{base}payments/ch_")
    assert url_of(BalanceTransaction, source__startswith="po_").startswith(f"{base}payouts/po_")


def test_a_link_by_stripe_id_opens_the_object_or_says_it_is_not_here(staff, mirror, acme):
    charge = Charge.objects.filter(connection=acme).first()
    url = reverse("admin:connectors_charge_by_stripe_id", args=[acme.pk, charge.stripe_id])
    assert staff.get(url).url == change(charge)
    missing = reverse("admin:connectors_charge_by_stripe_id", args=[acme.pk, "ch_missing"])
    response = staff.get(missing, follow=True)
    assert "Not in the mirror (yet): ch_missing." in response.content.decode()


# Money --------------------------------------------------------------------------------------


def test_amounts_are_formatted_in_their_currency_minor_unit():
    assert format_amount(123456, "usd") == "1,234.56 USD"
    assert format_amount(123456, "jpy") == "123,456 JPY"
    assert format_amount(123456, "kwd") == "123.456 KWD"
    assert format_amount(5, "eur") == "0.05 EUR"
    assert format_amount(-2187, "usd") == "-21.87 USD"
    assert format_amount(-5, "bhd") == "-0.005 BHD"
    assert format_amount(0, "krw") == "0 KRW"
    assert format_amount(100, "USD") == "1.00 USD"
    assert format_amount(None, "usd") == "–"
    assert format_amount(123456789012, "vnd") == "123,456,789,012 VND"
    # A code Lumen does not know: the integer as Stripe sent it, no guessed decimal point.
    assert format_amount(123456, "xyz") == "123456 XYZ (minor units)"


def test_zero_and_three_decimal_currencies_are_stripes():
    zero = ["bif", "clp", "djf", "gnf", "jpy", "kmf", "krw", "mga",
            "pyg", "rwf", "ugx", "vnd", "vuv", "xaf", "xof", "xpf"]  # fmt: skip
    assert {c: decimals(c) for c in zero} == dict.fromkeys(zero, 0)
    assert {c: decimals(c) for c in ["bhd", "jod", "kwd", "omr", "tnd"]} == dict.fromkeys(
        ["bhd", "jod", "kwd", "omr", "tnd"], 3
    )
    assert decimals("usd") == decimals("isk") == decimals("") == 2


def test_totals_stay_per_currency():
    assert format_totals({"usd": 150000, "jpy": 5000}) == "5,000 JPY · 1,500.00 USD"
    assert format_totals({}) == "–"


# Cost ---------------------------------------------------------------------------------------


def rows_of(account, resource, n):
    """n mirror rows of `resource`, cycling through the seeded objects with fresh ids."""
    model = MIRROR_MODELS[resource]
    seeded = account.objects(resource)
    for i in range(n):
        obj = copy.deepcopy(seeded[i % len(seeded)])
        obj["id"] = f"{obj['id']}_{i}"
        yield model(raw=obj, observed_at=timezone.now(), **model.values_from(obj))


def queries_of(client, page):
    with CaptureQueriesContext(db) as queries:
        response = client.get(changelist(page))
    assert response.status_code == 200
    return len(queries), len(response.context["cl"].result_list)


def test_a_list_page_runs_as_many_queries_for_50_rows_as_for_5(staff, account, acme):
    for resource in LOADED:
        model = MIRROR_MODELS[resource]
        rows = list(rows_of(account, resource, 50))
        for row in rows:
            row.connection = acme
        model.objects.bulk_create(rows[:5])
        few = queries_of(staff, model._meta.model_name)
        model.objects.bulk_create(rows[5:])
        many = queries_of(staff, model._meta.model_name)
        assert (few[1], many[1]) == (5, 50), resource
        assert few[0] == many[0], resource
        if resource == "customers":
            # The customers that charges, invoices... name, so that their names are shown.
            load(acme, "customers", objects(account, "customers"))


# What finance staff scan for ------------------------------------------------------------------


def cells(client, page, column, **params):
    """{stripe id: the text of `column`'s cell} on a list page (tags stripped)."""
    response = client.get(changelist(page, **params))
    html = response.content.decode()
    rows = re.findall(r"<tr[^>]*>(.*?)</tr>", html.split('id="result_list"')[1], re.S)
    found = {}
    for row, obj in zip(rows[1:], response.context["cl"].result_list, strict=True):
        cell = re.search(rf'class="field-{column}[^"]*">(.*?)</t[dh]>', row, re.S).group(1)
        found[obj.stripe_id] = html_text(cell)
    return found


def html_text(html):
    import html as entities

    return " ".join(entities.unescape(re.sub(r"<[^>]+>", " ", html)).split())


def matched(client, page, **params):
    """Every Stripe id a search or filter selects, on all its pages."""
    response = client.get(changelist(page, **params))
    assert response.status_code == 200
    return set(response.context["cl"].queryset.values_list("stripe_id", flat=True))


def test_customers_show_their_lifetime_value_and_a_neutral_standing(staff, mirror):
    charges, refunds = mirror.objects("charges"), mirror.objects("refunds")
    shown = cells(staff, "customer", "lifetime_value")
    for customer in mirror.objects("customers")[:50]:
        if customer["id"] not in shown:
            continue
        expected = expected_lifetime_value(charges, refunds, customer["id"])
        assert shown[customer["id"]] == (format_totals(expected) if expected else "–")
    html = staff.get(changelist("customer")).content.decode()
    assert "icon-no.svg" not in html and "icon-yes.svg" not in html
    standing = set(cells(staff, "customer", "standing").values())
    assert standing <= {"Good", "Delinquent"} and "Good" in standing


def test_subscriptions_show_plan_price_mrr_and_when_they_truly_end(staff, mirror):
    products = {p["id"]: p["name"] for p in mirror.objects("products")}
    subscriptions = {s["id"]: s for s in mirror.objects("subscriptions")}
    ends = cells(staff, "subscription", "ends", p=0)
    plans = cells(staff, "subscription", "plan_names")
    prices = cells(staff, "subscription", "billed_display")
    checked_end = checked_price = 0
    for sub_id, text in ends.items():
        s = subscriptions[sub_id]
        items = s["items"]["data"]
        assert plans[sub_id] == " + ".join(dict.fromkeys(products[i["price"]["product"]]
                                                         for i in items))  # fmt: skip
        if s["cancel_at_period_end"] and not s["ended_at"]:
            # Not the day the cancellation was asked for: the end of the period it waits for.
            end = max(i["current_period_end"] for i in items)
            assert text == "Ends " + datetime.fromtimestamp(end, UTC).strftime("%Y-%m-%d")
            checked_end += 1
        if s["ended_at"]:
            assert text == "Ended " + datetime.fromtimestamp(s["ended_at"], UTC).strftime(
                "%Y-%m-%d"
            )
        if len(items) == 1 and items[0]["price"]["recurring"]["usage_type"] == "licensed":
            price = items[0]["price"]
            count, interval = price["recurring"]["interval_count"], price["recurring"]["interval"]
            every = interval if count == 1 else f"{count} {interval}s"
            amount = format_amount(price["unit_amount"] * items[0]["quantity"], price["currency"])
            assert prices[sub_id] == f"{amount} / {every}"
            checked_price += 1
    assert checked_end and checked_price


def test_a_subscriptions_mrr_is_its_latest_invoices_recurring_lines_per_month(staff, mirror):
    """Worked out here from the Stripe objects, for the active monthly subscriptions with one
    licensed item whose latest invoice has one line and no discount."""
    subscriptions = {s["id"]: s for s in mirror.objects("subscriptions")}
    invoices = defaultdict(list)
    for invoice in mirror.objects("invoices"):
        if invoice["status"] in ("paid", "open", "uncollectible"):
            invoices[invoice["parent"]["subscription_details"]["subscription"]
                     if invoice.get("parent") and invoice["parent"].get("subscription_details")
                     else None].append(invoice)  # fmt: skip
    shown = cells(staff, "subscription", "mrr_display", status="active")
    checked = 0
    for sub_id, text in shown.items():
        s = subscriptions[sub_id]
        price = s["items"]["data"][0]["price"]
        monthly = price["recurring"]["interval"] == "month" and price["recurring"][
            "interval_count"] == 1  # fmt: skip
        latest = max(invoices[sub_id], key=lambda i: i["created"], default=None)
        if not monthly or len(s["items"]["data"]) != 1 or latest is None:
            continue
        lines = latest["lines"]["data"]
        if len(lines) != 1 or lines[0].get("discount_amounts") or s.get("trial_end", 0) and (
            s["trial_end"] > time.time()):  # fmt: skip
            continue
        assert text == format_amount(lines[0]["amount"], lines[0]["currency"]), sub_id
        checked += 1
    assert checked


def test_prices_and_invoice_lines_name_their_product(staff, mirror):
    products = {p["id"]: p["name"] for p in mirror.objects("products")}
    shown = cells(staff, "price", "product_link")
    for price in mirror.objects("prices"):
        if price["id"] in shown:
            assert shown[price["id"]] == products[price["product"]]
    invoice = next(i for i in mirror.objects("invoices") if i["lines"]["data"])
    from connectors.models import Invoice

    html = staff.get(change(Invoice.objects.get(stripe_id=invoice["id"]))).content.decode()
    line = invoice["lines"]["data"][0]
    product = line["pricing"]["price_details"]["product"]
    assert f'{product}/">{products[product]}</a>' in html


def test_disputes_show_amount_customer_reason_urgency_and_link_to_their_records(staff, mirror):
    charges = {c["id"]: c for c in mirror.objects("charges")}
    customers = {c["id"]: c for c in mirror.objects("customers")}
    shown = cells(staff, "dispute", "customer_link")
    for dispute in mirror.objects("disputes"):
        customer = customers[charges[dispute["charge"]]["customer"]]
        assert shown[dispute["id"]] == (customer["name"] or customer["email"])
    urgent = cells(staff, "dispute", "due_by_display", response="awaiting")
    assert any(text.endswith("overdue") for text in urgent.values())
    dispute = Dispute.objects.exclude(payment_intent="").first()
    html = staff.get(change(dispute)).content.decode()
    for stripe_id in (dispute.charge, dispute.payment_intent, charges[dispute.charge]["customer"]):
        assert re.search(r'<a href="[^"]+">[^<]*</a>', html) and stripe_id in html
    customer_pk = Customer.objects.get(stripe_id=charges[dispute.charge]["customer"]).pk
    assert reverse("admin:connectors_customer_change", args=[customer_pk]) in html


@pytest.mark.parametrize("how", ["email", "name", "amount", "customer id"])
def test_charges_are_found_the_way_people_search(staff, mirror, how):
    customers = {c["id"]: c for c in mirror.objects("customers")}
    charges = mirror.objects("charges")
    charge = next(c for c in charges if c["customer"] and customers[c["customer"]]["name"]
                  and c["currency"] == "usd")  # fmt: skip
    customer = customers[charge["customer"]]
    if how == "email":
        term = customer["email"].split("@")[0][2:].upper()
    elif how == "name":
        term = customer["name"].split()[-1]
    elif how == "amount":
        term = f"{charge['amount'] // 100}.{charge['amount'] % 100:02d}"
    else:
        term = customer["id"]
    found = matched(staff, "charge", q=term.replace(" ", "+"))
    assert charge["id"] in found
    for other in charges:
        matches = {
            "email": term.lower()
            in (customers.get(other["customer"], {}).get("email") or "").lower()
            or term.lower() in (customers.get(other["customer"], {}).get("name") or "").lower(),
            "name": term.lower()
            in (customers.get(other["customer"], {}).get("email") or "").lower()
            or term.lower() in (customers.get(other["customer"], {}).get("name") or "").lower(),
            "amount": other["amount"] == charge["amount"]
            and other["currency"] not in ("jpy", "kwd"),
            "customer id": other["customer"] == customer["id"],
        }[how]
        assert (other["id"] in found) == matches, other["id"]


def test_the_last_four_digits_find_a_charge_only_for_those_who_may_see_cards(
    client, mirror, alice, carol
):
    charge = next(
        c for c in mirror.objects("charges") if (c.get("payment_method_details") or {}).get("card")
    )
    last4 = charge["payment_method_details"]["card"]["last4"]
    client.force_login(alice)
    assert charge["id"] in matched(client, "charge", q=last4)
    client.force_login(carol)
    assert charge["id"] not in matched(client, "charge", q=last4)


def test_lists_and_detail_pages_write_a_moment_one_way_with_its_time_zone(staff, mirror):
    charge = Charge.objects.order_by("-created").first()
    written = timezone.localtime(charge.created).strftime("%Y-%m-%d %H:%M UTC")
    assert written in staff.get(changelist("charge")).content.decode()
    assert written in staff.get(change(charge)).content.decode()


def test_a_link_to_a_list_of_records_follows_the_prefix_lumen_is_served_under():
    """The path of a records list is kept once worked out: it must still be the path under
    the script prefix in force (Lumen behind a proxy at /lumen/), not the first one seen."""
    before = get_script_prefix()
    try:
        set_script_prefix("/")
        assert changelist_url(Charge, selection="r:1|a|b") == (
            "/admin/connectors/charge/?selection=r%3A1%7Ca%7Cb"
        )
        set_script_prefix("/lumen/")
        assert changelist_url(Charge, selection="r:1|a|b") == (
            "/lumen/admin/connectors/charge/?selection=r%3A1%7Ca%7Cb"
        )
        assert changelist_url(Refund, q="x") == "/lumen/admin/connectors/refund/?q=x"
    finally:
        set_script_prefix(before)
