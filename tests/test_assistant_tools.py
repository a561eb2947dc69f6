"""The assistant's tools, driven with the SDK's own client against a small account (the
clock pinned to its "now"): what each answers, checked against the mirror, the admin's
figures and the reports' documents; paging; bad arguments; who may do what; the audit log.

The server runs in this process, as `manage.py mcp` builds it (its tools run in worker
threads, so the data is committed: transactional tests). tests/test_assistant_transports.py
drives the same server over stdio and HTTP."""

import json
from datetime import UTC, datetime

import pytest

from assistant.calls import TOOLS
from audit.models import AuditEvent
from connectors.admin.mirror.customers import lifetime_values
from connectors.models import Balance, Charge, Customer, Dispute, Invoice, Payout, SyncRun
from reports import citations
from reports.document import EXAMPLES
from reports.models import ReportRun
from tests.accounts import Account, at, connect, report
from tests.assistants import ask, in_process, refusal, talk, token_for
from tests.conftest import TEST_KEY, member
from tests.test_report_runs import figures_of

pytestmark = pytest.mark.django_db(transaction=True)

OCTOBER = {"date_from": "2026-10-01", "date_to": "2026-10-31"}
NAMES = [
    "list_connections",
    "balance",
    "sync",
    "find_customers",
    "customer",
    "search_charges",
    "list_payouts",
    "disputes_due",
    "list_subscriptions",
    "open_invoices",
    "list_products",
    "list_coupons",
    "report",
]


def small_account():
    """A little of everything the tools read."""
    a = Account()
    pro, seats = a.product("Pro"), a.product("Seats")
    monthly, addon = a.price(pro, 10000), a.price(seats, 2500)
    ada, bob, cleo = a.customer("Ada"), a.customer("Bob"), a.customer("Cleo")
    kenji = a.customer("Kenji", currency="jpy")
    a.subscribe(ada, monthly, at(2026, 6, 3), extras=((addon, 1),))
    a.subscribe(
        bob,
        monthly,
        at(2026, 7, 9),
        ends=at(2026, 10, 2),
        end_reason="cancellation_requested",
        at_period_end=False,
    )
    a.subscribe(cleo, monthly, at(2026, 9, 14), failing=True)  # an open invoice
    a.subscribe(kenji, a.price(pro, 15000, currency="jpy"), at(2026, 8, 1))
    _, *later = a.charges_of(ada)
    a.refund(later[-1], 4999, at(2026, 11, 10))
    a.dispute(later[-2], at(2026, 11, 12), "needs_response", due_by=at(2026, 11, 30))
    a.dispute(
        a.pay(bob, 4200, at(2026, 11, 15)),
        at(2026, 11, 16),
        "needs_response",
        due_by=at(2026, 11, 22, 20),
    )
    a.dispute(
        a.pay(bob, 3100, at(2026, 11, 1)),
        at(2026, 11, 2),
        "needs_response",
        due_by=at(2026, 11, 21),
    )
    a.dispute(
        a.pay(bob, 777, at(2026, 10, 20)), at(2026, 10, 25), "lost", closed_at=at(2026, 11, 5)
    )
    a.coupon("repeating", percent_off=25, months=3)
    for day in (2, 9, 16):
        a.payout(at(2026, 10, day, 17))
        a.payout(at(2026, 10, day, 17), currency="jpy")
    a.payout(at(2026, 11, 6, 17), automatic=False)
    return a


@pytest.fixture
def acme(mirror):
    return mirror(small_account())


@pytest.fixture
def as_alice(acme, alice):
    """A superuser: everything, card details included."""
    return in_process(token_for(alice))


@pytest.fixture
def as_analyst(acme, analyst):
    return in_process(token_for(analyst))


@pytest.fixture
def as_viewer(acme, viewer):
    return in_process(token_for(viewer))


def at_day(year, month, day):
    return datetime(year, month, day, tzinfo=UTC)


def ids(records):
    return [r["id"] for r in records]


# What is offered ---------------------------------------------------------------------------


def test_the_tools_are_listed_typed_and_described_for_a_model(as_alice):
    [listed] = talk(as_alice, "list")
    tools = {t.name: t for t in listed.tools}
    assert sorted(tools) == sorted(NAMES) == sorted(spec.name for spec in TOOLS)
    for tool in tools.values():
        assert len(tool.description) > 80, tool.name
        assert tool.input_schema["type"] == "object" and tool.output_schema, tool.name
        assert tool.annotations.read_only_hint is (tool.name != "sync"), tool.name
    charges = tools["search_charges"].input_schema["properties"]
    assert charges["limit"]["maximum"] == 100
    assert "minor unit" in charges["min_amount"]["description"]
    assert tools["report"].input_schema["required"] == ["kind", "connection"]


def test_a_viewer_is_offered_only_what_their_roles_allow_and_refused_the_rest(as_viewer):
    [listed] = talk(as_viewer, "list")
    offered = {t.name for t in listed.tools}
    assert offered == set(NAMES) - {"sync", "report"}
    refused = refusal(as_viewer, "report", kind="revenue", connection="acme")
    assert "dave may not do this" in refused and "reports.run_report" in refused
    assert "Analyst" in refused
    assert "connectors.sync_stripeconnection" in refusal(as_viewer, "sync", connection="acme")
    assert not ReportRun.objects.filter(requested_by__username="dave").exists()
    assert not SyncRun.objects.filter(actor="dave").exists()
    outcomes = AuditEvent.objects.filter(origin="assistant").values_list("operation", "outcome")
    assert sorted(outcomes) == [("assistant.report", "refused"), ("assistant.sync", "refused")]


# The mirror --------------------------------------------------------------------------------


def test_find_customers_by_part_of_an_email_or_a_name_or_by_id(as_analyst, acme):
    ada = Customer.objects.get(name="Ada")
    assert ids(ask(as_analyst, "find_customers", query="ADA@example")["customers"]) == [
        ada.stripe_id
    ]
    assert ids(ask(as_analyst, "find_customers", query="ken")["customers"]) == [
        Customer.objects.get(name="Kenji").stripe_id
    ]
    [found] = ask(as_analyst, "find_customers", query=ada.stripe_id)["customers"]
    value, *_ = lifetime_values([ada])[ada.pk]
    assert [(m["currency"], m["amount"]) for m in found["lifetime_value"]] == list(value.items())
    assert found["subscriptions"] == {"active": 1}
    assert (
        found["links"]["dashboard"]
        == f"https://dashboard.stripe.com/test/customers/{ada.stripe_id}"
    )
    assert found["links"]["admin"].endswith(f"/admin/connectors/customer/{ada.pk}/change/")
    assert ask(as_analyst, "find_customers", query="nobody")["customers"] == []


def test_a_customer_with_their_subscriptions_invoices_charges_refunds_and_disputes(as_analyst):
    ada = Customer.objects.get(name="Ada")
    answer = ask(as_analyst, "customer", id=ada.stripe_id, rows=3)
    assert answer["customer"]["name"] == "Ada"
    assert [s["plan"] for s in answer["subscriptions"]] == [["Pro", "Seats"]]
    assert answer["subscriptions"][0]["mrr"] == {
        "amount": 12500,
        "currency": "usd",
        "formatted": "125.00 USD",
    }
    charges = Charge.objects.filter(customer=ada.stripe_id).order_by("-created")
    assert ids(answer["charges"]) == [c.stripe_id for c in charges[:3]]
    invoices = Invoice.objects.filter(customer=ada.stripe_id).order_by("-created")
    assert ids(answer["invoices"]) == [i.stripe_id for i in invoices[:3]]
    assert [r["amount"]["amount"] for r in answer["refunds"]] == [4999]
    [dispute] = answer["disputes"]
    assert dispute["urgency"] == "later" and not dispute["flagged"]
    assert "charges: only the newest 3 are shown" in answer["not_shown"]
    assert "No customer 'cus_nobody'" in refusal(as_analyst, "customer", id="cus_nobody")


def test_charges_page_newest_first_with_a_cursor_and_filter(as_analyst, acme):
    everything = [c.stripe_id for c in Charge.objects.order_by("-created", "-pk")]
    paged, cursor = [], None
    while True:
        answer = ask(
            as_analyst, "search_charges", limit=4, **({"cursor": cursor} if cursor else {})
        )
        paged += ids(answer["charges"])
        cursor = answer["next_cursor"]
        if cursor is None:
            break
    assert paged == everything and len(everything) > 8

    bob = Customer.objects.get(name="Bob")
    by_email = ask(
        as_analyst,
        "search_charges",
        customer="BOB@example.org",
        min_amount=1000,
        max_amount=4200,
        date_from="2026-11-01",
        date_to="2026-11-15",
    )
    assert [c["amount"]["amount"] for c in by_email["charges"]] == [4200, 3100]
    assert {c["customer"] for c in by_email["charges"]} == {bob.stripe_id}
    failed = ask(as_analyst, "search_charges", status="failed")["charges"]
    assert failed and {c["status"] for c in failed} == {"failed"}
    kenji = Customer.objects.get(name="Kenji")
    yen = ask(as_analyst, "search_charges", customer=kenji.stripe_id, limit=1)["charges"][0]
    assert yen["amount"] == {"amount": 15000, "currency": "jpy", "formatted": "15,000 JPY"}


def test_bad_arguments_are_refused_with_a_message_the_model_can_act_on(as_analyst):
    assert "less than or equal to 100" in refusal(as_analyst, "search_charges", limit=500)
    assert "the range is inverted" in refusal(
        as_analyst, "search_charges", date_from="2026-11-02", date_to="2026-11-01"
    )
    unknown = refusal(as_analyst, "list_payouts", connection="globex")
    assert "no connection named 'globex'" in unknown and "acme" in unknown
    assert "not a next_cursor this tool returned" in refusal(
        as_analyst, "search_charges", cursor="bm90IGEgY3Vyc29y"
    )
    assert "date_from 2026-10-31 is after date_to 2026-10-01" in refusal(
        as_analyst,
        "report",
        kind="revenue",
        connection="acme",
        date_from="2026-10-31",
        date_to="2026-10-01",
    )
    assert "either date_from and date_to, or months" in refusal(
        as_analyst, "report", kind="mrr", connection="acme", months=3, **OCTOBER
    )
    assert "takes no period" in refusal(
        as_analyst, "report", kind="disputes", connection="acme", days=7
    )
    connect("globex")
    never = refusal(as_analyst, "report", kind="revenue", connection="globex")
    assert "has never been synced" in never and "the `sync` tool syncs it" in never
    assert not ReportRun.objects.exists()
    refused = AuditEvent.objects.filter(origin="assistant", outcome="refused")
    assert refused.count() == 8


def test_subscriptions_open_invoices_products_coupons_payouts_and_balance(as_analyst, acme):
    canceled = ask(as_analyst, "list_subscriptions", status="canceled")["subscriptions"]
    assert [(s["status"], s["mrr"]) for s in canceled] == [("canceled", None)]
    cleo = Customer.objects.get(name="Cleo")
    [invoice] = ask(as_analyst, "open_invoices")["invoices"]
    assert invoice["customer"] == cleo.stripe_id and invoice["amount_remaining"]["amount"] > 0
    assert ask(as_analyst, "open_invoices", customer="cus_nobody")["invoices"] == []
    products = ask(as_analyst, "list_products")["products"]
    pro = next(p for p in products if p["name"] == "Pro")
    assert sorted((p["unit_amount"]["formatted"], p["interval"]) for p in pro["prices"]) == [
        ("100.00 USD", "month"),
        ("15,000 JPY", "month"),
    ]
    [coupon] = ask(as_analyst, "list_coupons")["coupons"]
    assert (coupon["percent_off"], coupon["duration_in_months"]) == (25.0, 3)
    october = ask(as_analyst, "list_payouts", **OCTOBER)["payouts"]
    arrived = Payout.objects.filter(
        arrival_date__gte=at_day(2026, 10, 1), arrival_date__lt=at_day(2026, 11, 1)
    )
    assert ids(october) == [p.stripe_id for p in arrived.order_by("-arrival_date", "-pk")]
    assert len(october) > 3 and october[0]["arrival_date"] == "2026-10-20"
    [balance] = ask(as_analyst, "balance")["balances"]
    stored = Balance.objects.get(connection=acme)
    assert {m["currency"]: m["amount"] for m in balance["available"]} == stored.amounts("available")


def test_disputes_due_flag_the_overdue_and_those_due_today_first(as_analyst, acme):
    week = ask(as_analyst, "disputes_due")
    assert [(d["urgency"], d["flagged"], d["amount"]["amount"]) for d in week["disputes"]] == [
        ("overdue", True, 3100),
        ("today", True, 4200),
    ]
    assert (
        week["by_urgency"] == {"overdue": 1, "today": 1} and week["as_of"] == "2026-11-22T09:00:00Z"
    )
    fortnight = ask(as_analyst, "disputes_due", days=14)["disputes"]
    assert [d["urgency"] for d in fortnight] == ["overdue", "today", "later"]
    # The disputes report says the same of each of them.
    document = {d["id"]: d for d in report(acme, "disputes")["open"]}
    for d in fortnight:
        assert (d["urgency"], d["flagged"]) == (
            document[d["id"]]["urgency"],
            document[d["id"]]["flagged"],
        )
    links = fortnight[0]["links"]
    charge = Dispute.objects.get(stripe_id=fortnight[0]["id"]).charge
    assert links["dashboard"] == f"https://dashboard.stripe.com/test/payments/{charge}"


# The reports -------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "kind, asked",
    [("revenue", OCTOBER), ("mrr", {"months": 6}), ("disputes", {}), ("payouts", OCTOBER)],
)
def test_a_report_is_the_reports_document_with_each_figure_cited(
    as_analyst, acme, kind, asked, time_machine
):
    # The clock stops where the sync left it: the disputes document is "as of" the second it is
    # computed, and the engine computes it again below, which on a slow machine is a second on.
    time_machine.move_to(datetime.now(UTC), tick=False)
    answer = ask(as_analyst, "report", kind=kind, connection="acme", **asked)
    run = ReportRun.objects.get(pk=answer["run"]["id"])
    assert (run.requested_by.username, run.kind, answer["run"]["reused"]) == ("carol", kind, False)
    assert answer["run"]["admin"].endswith(f"/admin/reports/reportrun/{run.pk}/change/")
    # Asked again on the same data: the same run, not a new one.
    again = ask(as_analyst, "report", kind=kind, connection="acme", **asked)
    assert again == {**answer, "run": {**answer["run"], "reused": True}}
    assert ReportRun.objects.count() == 1
    # The same document as the reports engine computes on its own.
    expected = report(acme, kind, **asked)
    assert {**answer["document"], "generated_at": None} == {**expected, "generated_at": None}
    # Each cited figure of the document, with its records.
    cited = {(c["line"], c["figure"]): c for c in answer["citations"]}
    for key, value in figures_of(answer["document"]).items():
        if value:
            assert cited[key]["total"] == value, key
            assert cited[key]["count"] >= len(cited[key]["examples"]) > 0
            assert "selection=cited" in cited[key]["records"]


def test_a_figures_examples_are_whole_ids_of_its_own_records(as_analyst, acme, monkeypatch):
    """Each figure names its first few records, read from the head of its first stored chunk
    only; a head cut inside an id gives fewer examples, never a piece of one."""
    from assistant.tools import reports as tool

    def examples_and_records():
        # The payouts report: each payout's transactions are stored in one chunk.
        answer = ask(as_analyst, "report", kind="payouts", connection="acme", **OCTOBER)
        run = answer["run"]["id"]
        return [
            (
                c["count"],
                c["examples"],
                [i for i, _ in citations.records(run, c["line"], c["figure"])],
            )
            for c in answer["citations"]
        ]

    whole = examples_and_records()
    assert any(len(examples) > 1 for _, examples, _ in whole)
    for count, examples, behind in whole:
        assert 1 <= len(examples) <= min(count, EXAMPLES)
        assert set(examples) <= set(behind)
    # Heads cut short, inside an id: fewer examples, each a whole id of the figure's records.
    monkeypatch.setattr(tool, "HEAD", 60)
    cut = examples_and_records()
    assert sum(len(e) for _, e, _ in cut) < sum(len(e) for _, e, _ in whole)
    for _, examples, behind in cut:
        assert set(examples) <= set(behind)


@pytest.mark.parametrize("kind, name, asked", [("disputes", "open", {}),
                                               ("payouts", "payouts", OCTOBER)])  # fmt: skip
def test_a_reports_long_list_is_cut_to_a_page_with_its_figures_whole(
    as_analyst, acme, monkeypatch, kind, name, asked
):
    """Every open dispute or a year of daily payouts would flood an assistant: the answer
    lists the first entries, as the list tools do, and says how many it left out."""
    from assistant import arguments

    monkeypatch.setattr(arguments, "LIMIT_CAP", 2)
    answer = ask(as_analyst, "report", kind=kind, connection="acme", **asked)
    whole = report(acme, kind, **asked)
    assert len(whole[name]) > 2
    assert answer["document"][name] == whole[name][:2]
    assert answer["left_out"] == {name: len(whole[name]) - 2}
    # The totals still count every record, cut or not.
    assert answer["document"].get("by_reason") == whole.get("by_reason")
    shown = {entry["id"] for entry in whole[name][:2]}
    cut = {entry["id"] for entry in whole[name][2:]}
    cited = {c["line"].split("/")[1] for c in answer["citations"] if c["line"].startswith(name)}
    assert not cited & cut
    if kind == "payouts":
        assert cited == shown


# Who sees what, and what is recorded -------------------------------------------------------


def test_card_details_need_full_access_here_too(acme, viewer):
    full = member("erin", "Viewer", "Full access")
    charge = Charge.objects.exclude(card_last4="").first()
    for user, card in [(viewer, "•••• hidden"), (full, f"Visa •••• {charge.card_last4}")]:
        server = in_process(token_for(user))
        found = ask(server, "search_charges", customer=charge.customer, limit=100)["charges"]
        assert {c["card"] for c in found} == {card}
        customer = ask(server, "customer", id=charge.customer, rows=100)
        assert {c["card"] for c in customer["charges"]} == {card}


def test_every_call_is_one_audit_row_as_the_tokens_user_via_the_assistant(as_analyst, acme):
    talk(
        as_analyst,
        ("find_customers", {"query": "a", "limit": 2}),
        ("search_charges", {"limit": 500}),
        ("sync", {"connection": "acme"}),
        ("no_such_tool", {}),
    )
    events = list(AuditEvent.objects.filter(origin="assistant").order_by("id"))
    assert [(e.operation, e.outcome) for e in events] == [
        ("assistant.find_customers", "ok"),
        ("assistant.search_charges", "refused"),
        ("assistant.sync", "refused"),
        ("assistant.no_such_tool", "refused"),
    ]
    found = events[0]
    assert (found.actor_kind, found.actor) == ("user", "carol")
    assert found.params["arguments"] == {"query": "a", "limit": 2}
    assert found.params["transport"] == "stdio" and found.params["token"]["name"] == "tests"
    assert found.object_count == 2 and found.duration_ms is not None
    assert (found.connection_id, found.connection_name) == (acme.pk, "acme")
    assert "less than or equal to 100" in events[1].message


def test_sync_queues_a_sync_for_a_connection_admin_through_the_door(acme, alice, settings):
    from lumen.celery import app

    app.conf.task_always_eager = True  # the queued sync runs at once, in this process
    try:
        answer = ask(in_process(token_for(alice)), "sync", connection="acme")
    finally:
        app.conf.changes.pop("task_always_eager", None)
    run = SyncRun.objects.get(pk=answer["sync_run"])
    assert (run.actor, run.status, answer["status"]) == ("alice", "succeeded", "succeeded")
    assert answer["progress"].endswith(f"/admin/connectors/syncrun/{run.pk}/change/")
    # Its calls to Stripe went through the door, on the audit log as the run's.
    assert AuditEvent.objects.filter(origin=run.origin, actor="alice").exists()


def test_no_answer_nor_audit_row_holds_the_key_even_pasted_into_an_argument(as_alice, acme):
    requests = [
        (name, {}) for name in NAMES if name not in ("find_customers", "customer", "report", "sync")
    ]
    requests += [
        ("customer", {"id": Customer.objects.first().stripe_id}),
        ("report", {"kind": "payouts", "connection": "acme"}),
        ("find_customers", {"query": TEST_KEY}),
    ]
    answers = talk(as_alice, "list", *requests)
    text = json.dumps([a.model_dump(mode="json") for a in answers])
    assert TEST_KEY not in text
    rows = json.dumps(list(AuditEvent.objects.values_list("params", "message")))
    assert TEST_KEY not in rows
    pasted = AuditEvent.objects.get(operation="assistant.find_customers")
    assert pasted.params["arguments"] == {"query": "[secret removed]"}
