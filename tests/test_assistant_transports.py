"""The MCP server as assistants reach it, driven with the SDK's own client: `manage.py mcp`
over stdio (a child process, the token in its environment) and streamable HTTP at /mcp/ of
the live server (lumen.asgi under uvicorn, a bearer token), against the emulator's account
synced into the mirror."""

import json
import subprocess
from datetime import timedelta

import anyio
import httpx2
import pytest
from django.contrib.auth.models import User
from django.utils import timezone
from mcp.shared.exceptions import MCPError

from assistant.models import AccessToken
from audit.models import AuditEvent
from audit.recorder import Actor
from connectors.models import Charge, Customer, Dispute
from connectors.money import format_amount
from connectors.sync import run_sync
from reports.models import ReportRun
from tests.accounts import report
from tests.assistants import live_server, over_http, stdio, talk, token_for
from tests.conftest import TEST_KEY, member
from tests.worker import ROOT, child_env, manage

pytestmark = pytest.mark.django_db(transaction=True)


@pytest.fixture
def acme(connection):
    """The emulator's seeded account (up to now), synced into the mirror as acme."""
    run = run_sync(connection, actor=Actor.command("tests"))
    assert run.status == "succeeded", run.message
    connection.refresh_from_db()
    return connection


def every_tool(acme):
    """A call of each tool an analyst may use, with arguments that find something."""
    customer = Customer.objects.filter(connection=acme).order_by("-created").first()
    return [
        ("list_connections", {}),
        ("find_customers", {"query": customer.email[:4]}),
        ("customer", {"id": customer.stripe_id}),
        ("search_charges", {"status": "succeeded", "limit": 5}),
        ("list_subscriptions", {"status": "active"}),
        ("open_invoices", {}),
        ("list_products", {}),
        ("list_coupons", {}),
        ("list_payouts", {}),
        ("balance", {}),
        ("disputes_due", {"days": 30}),
        ("report", {"kind": "revenue", "connection": "acme", "days": 30}),
    ]


def text_of(answers):
    return json.dumps([a.model_dump(mode="json") for a in answers])


# stdio -------------------------------------------------------------------------------------


def test_over_stdio_an_assistant_lists_and_calls_every_tool(acme, analyst):
    calls = every_tool(acme)
    [listed, *answers] = talk(stdio(token_for(analyst)), "list", *calls, mode="legacy")

    assert {t.name for t in listed.tools} == {name for name, _ in calls}  # no sync: an analyst
    for (name, _), answer in zip(calls, answers, strict=True):
        assert not answer.is_error, (name, answer.content)
    found = {name: a.structured_content for (name, _), a in zip(calls, answers, strict=True)}
    assert found["search_charges"]["charges"][0]["status"] == "succeeded"
    assert found["customer"]["customer"]["id"] == calls[2][1]["id"]
    # The report's figures are the reports engine's.
    document = found["report"]["document"]
    assert ReportRun.objects.get(pk=found["report"]["run"]["id"]).requested_by == analyst
    expected = report(acme, "revenue", days=30)
    assert {**document, "generated_at": None} == {**expected, "generated_at": None}
    assert document["currencies"], "the seeded account has revenue in the last 30 days"

    events = AuditEvent.objects.filter(origin="assistant").order_by("id")
    assert [e.operation for e in events] == [f"assistant.{name}" for name, _ in calls]
    assert {(e.actor, e.outcome, e.params["transport"]) for e in events} == {
        ("carol", "ok", "stdio")
    }
    assert TEST_KEY not in text_of(answers)


def test_over_stdio_a_revoked_or_expired_token_is_refused_saying_why(acme, analyst):
    revoked = token_for(analyst, "revoked")
    AccessToken.objects.filter(name="revoked").update(revoked_at=timezone.now())
    expired = token_for(analyst, "expired")
    AccessToken.objects.filter(name="expired").update(expires_at=timezone.now())
    for secret, why in [(revoked, "was revoked"), (expired, "expired on"), ("", "No assistant")]:
        started = manage("mcp", stdin="", LUMEN_MCP_TOKEN=secret)
        assert started.returncode == 2 and why in started.stderr, started.stderr
        assert started.stdout == ""
        with pytest.raises(MCPError):
            talk(stdio(secret), "list")
    assert not AuditEvent.objects.filter(origin="assistant").exists()


def test_a_token_revoked_while_the_assistant_is_connected_is_refused_at_its_next_call(
    acme, analyst
):
    secret = token_for(analyst)

    def revoke():
        AccessToken.objects.update(revoked_at=timezone.now())

    with pytest.raises(MCPError, match="was revoked"):
        talk(stdio(secret), ("balance", {}), revoke, ("balance", {}))
    events = AuditEvent.objects.filter(origin="assistant").order_by("id")
    assert [(e.operation, e.outcome) for e in events] == [
        ("assistant.balance", "ok"),
        ("assistant.balance", "refused"),
    ]
    assert "was revoked" in events[1].message


def test_bin_transcript_answers_the_three_questions_with_the_sdks_client(acme):
    User.objects.create_superuser("demo", "demo@example.org", "password")
    done = subprocess.run(
        [str(ROOT / "bin" / "transcript")], cwd=ROOT, env=child_env(), capture_output=True,
        text=True, timeout=300,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    out = done.stdout
    for question in ("Net revenue and refund rate last 30 days",
                     "Find customer billing@harbor.example and show their last 5 invoices",
                     "Open disputes with evidence due in the next 7 days"):  # fmt: skip
        assert f"> {question}" in out
    revenue = report(acme, "revenue", days=30)
    for currency, figures in revenue["currencies"].items():
        assert f"net {format_amount(figures['net'], currency)} = gross" in out
    harbor = Customer.objects.get(email="billing@harbor.example")
    assert f"({harbor.stripe_id})" in out and "dashboard.stripe.com/test/invoices/in_" in out
    events = AuditEvent.objects.filter(origin="assistant").order_by("id")
    assert [e.operation.removeprefix("assistant.") for e in events] == [
        "list_connections", "report", "find_customers", "customer", "disputes_due"
    ]  # fmt: skip
    # Its token was made for the run, and revoked at its end.
    assert AccessToken.objects.get(name="bin/transcript").revoked_at is not None


# streamable HTTP ---------------------------------------------------------------------------


@pytest.fixture
def server(acme):
    with live_server() as url:
        yield url


def test_over_http_each_call_acts_as_the_bearer_tokens_user(server, acme, viewer, alice):
    endpoint = f"{server}/mcp/"
    as_viewer = token_for(viewer)
    charge = Charge.objects.exclude(card_last4="").order_by("-created").first()
    search = ("search_charges", {"customer": charge.customer, "limit": 100})
    [listed, found, sync, run] = talk(
        lambda: over_http(endpoint, as_viewer),
        "list",
        search,
        ("sync", {"connection": "acme"}),
        ("report", {"kind": "disputes", "connection": "acme"}),
        mode="legacy",
    )
    assert {"sync", "report"}.isdisjoint(t.name for t in listed.tools)
    assert {c["card"] for c in found.structured_content["charges"]} == {"•••• hidden"}
    assert sync.is_error and "connectors.sync_stripeconnection" in sync.content[0].text
    assert run.is_error and "reports.run_report" in run.content[0].text

    as_alice = token_for(alice)
    [found, due] = talk(
        lambda: over_http(endpoint, as_alice),
        search,
        ("disputes_due", {"days": 30}),
    )
    cards = {c["id"]: c["card"] for c in found.structured_content["charges"]}
    assert cards[charge.stripe_id].endswith(f" •••• {charge.card_last4}")
    assert "•••• hidden" not in cards.values()
    due = due.structured_content["disputes"]
    assert {d["id"] for d in due} <= set(Dispute.objects.values_list("stripe_id", flat=True))

    events = AuditEvent.objects.filter(origin="assistant").order_by("id")
    assert [(e.actor, e.operation, e.outcome) for e in events] == [
        ("dave", "assistant.search_charges", "ok"),
        ("dave", "assistant.sync", "refused"),
        ("dave", "assistant.report", "refused"),
        ("alice", "assistant.search_charges", "ok"),
        ("alice", "assistant.disputes_due", "ok"),
    ]
    assert {e.params["transport"] for e in events} == {"http"}
    assert TEST_KEY not in json.dumps(list(events.values_list("params", "message")))


def test_over_http_a_missing_unknown_revoked_or_expired_token_gets_401(server, viewer):
    revoked = token_for(viewer, "revoked")
    AccessToken.objects.filter(name="revoked").update(revoked_at=timezone.now())
    expired = token_for(viewer, "expired")
    AccessToken.objects.filter(name="expired").update(
        expires_at=timezone.now() - timedelta(seconds=1)
    )
    listing = {"jsonrpc": "2.0", "id": 1, "method": "tools/list", "params": {}}

    async def post(secret):
        headers = {"Accept": "application/json, text/event-stream"}
        if secret is not None:
            headers["Authorization"] = f"Bearer {secret}"
        async with httpx2.AsyncClient() as http:
            return await http.post(f"{server}/mcp/", json=listing, headers=headers)

    for secret in (None, "lumen_not-a-token", revoked, expired):
        answer = anyio.run(post, secret)
        assert answer.status_code == 401, secret
        assert answer.headers["www-authenticate"].startswith("Bearer")
        with pytest.raises(MCPError):
            talk(lambda secret=secret: over_http(f"{server}/mcp/", secret), "list")
    assert not AuditEvent.objects.filter(origin="assistant").exists()


def test_the_admin_and_the_mcp_server_are_one_deployment(server, acme):
    async def get(path):
        async with httpx2.AsyncClient() as http:
            return await http.get(f"{server}{path}")

    login = anyio.run(get, "/admin/login/")
    assert login.status_code == 200 and "Lumen" in login.text
    secret = token_for(member("erin", "Viewer", "Full access"))
    [answer] = talk(lambda: over_http(f"{server}/mcp", secret), ("balance", {}))
    assert answer.structured_content["balances"][0]["connection"] == "acme"
