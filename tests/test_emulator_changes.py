"""The emulated account going on after its seed: changes and their events on /v1/events,
the 30-day window of events, signed webhooks, and accounts sized by their charge count.

None of these tests touches the database.
"""

import json
import os
import signal
import subprocess
import sys
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest
import requests
import stripe

from connectors.emulator import (
    DEFAULT_NOW,
    DEMO_KEY,
    AccountChanges,
    EmulatorStore,
    KeyGrant,
    StripeEmulator,
    WebhookSender,
    seed_account,
    signature_header,
)
from tests.test_emulator import get, walk  # the same client helpers

PROJECT = Path(__file__).resolve().parents[1]
DAY = 86400
SECRET = "whsec_test_LumenEmulatorSigningSecret0123456789"


@pytest.fixture
def store():
    store = EmulatorStore()
    seed_account(store, seed=0)
    return store


@pytest.fixture
def emulator(store):
    with StripeEmulator(store, keys=[KeyGrant(DEMO_KEY)]) as emulator:
        yield emulator


@pytest.fixture
def changes(emulator):
    return emulator.changes


def types(events):
    return [e["type"] for e in events]


def active_subscription(store, **conditions):
    return next(
        s
        for s in store.objects("subscriptions")
        if s["status"] == "active"
        and not s["cancel_at_period_end"]
        and all(s[k] == v for k, v in conditions.items())
    )


# Changes and their events


def test_each_change_makes_stripes_events_listed_newest_first(emulator, changes, store):
    newest_before = get(emulator, "/v1/events", limit=1).json()["data"][0]
    sub = active_subscription(store, currency="usd")

    made = [changes.new_charge(amount=4200)]
    charge = made[0][1]["data"]["object"]
    made.append(changes.refund(charge["id"], amount=1000))
    made.append(changes.upgrade_subscription(sub["id"]))
    made.append(changes.cancel_subscription(sub["id"], at_period_end=True))
    made.append(changes.new_dispute(charge["id"]))
    dispute = made[-1][0]["data"]["object"]
    made.append(changes.submit_evidence(dispute["id"]))
    made.append(changes.close_dispute(dispute["id"], won=True))

    assert [types(events) for events in made] == [
        ["payment_intent.created", "charge.succeeded", "payment_intent.succeeded"],
        ["refund.created", "charge.refunded"],
        [
            "customer.subscription.updated",
            "invoice.created",
            "invoice.finalized",
            "payment_intent.created",
            "charge.succeeded",
            "payment_intent.succeeded",
            "invoice_payment.paid",
            "invoice.paid",
            "invoice.payment_succeeded",
        ],
        ["customer.subscription.updated"],
        ["charge.dispute.created", "charge.dispute.funds_withdrawn"],
        ["charge.dispute.updated"],
        ["charge.dispute.funds_reinstated", "charge.dispute.closed"],
    ]
    everything = [e for events in made for e in events]
    listed = walk(emulator, "/v1/events", ending_before=newest_before["id"])
    assert [e["id"] for e in listed] == [e["id"] for e in reversed(everything)]
    assert listed == json.loads(json.dumps(list(reversed(everything))))
    # Each change happens after the last, and a change's events share its moment.
    moments = [events[0]["created"] for events in made]
    assert moments == sorted(set(moments)) and moments[0] > newest_before["created"]
    assert all({e["created"] for e in events} == {events[0]["created"]} for events in made)
    assert store.now == moments[-1]


def test_cursors_page_through_new_events_in_both_directions(emulator, changes):
    seen = get(emulator, "/v1/events", limit=1).json()["data"][0]["id"]
    created = changes.new_charge() + changes.new_charge() + changes.new_charge()

    newer = get(emulator, "/v1/events", ending_before=seen, limit=4).json()
    rest = get(emulator, "/v1/events", ending_before=newer["data"][0]["id"], limit=100).json()
    forward = get(emulator, "/v1/events", starting_after=created[-1]["id"], limit=3).json()

    ids = [e["id"] for e in created]
    # ending_before gives the page just newer than the cursor, still newest first.
    assert [e["id"] for e in newer["data"]] == ids[3::-1] and newer["has_more"] is True
    assert [e["id"] for e in rest["data"]] == ids[:3:-1] and rest["has_more"] is False
    assert [e["id"] for e in forward["data"]] == ids[-2::-1][:3]
    assert ids == sorted(ids)  # ids sort as the events happened


def test_changed_objects_are_new_versions_in_the_store(emulator, changes, store):
    charge = store.objects("charges")[0]
    charge = next(c for c in store.objects("charges") if c["status"] == "succeeded")
    balance_before = store.balance

    [refund_created, refunded] = changes.refund(charge["id"])

    after = get(emulator, f"/v1/charges/{charge['id']}").json()
    refund = refund_created["data"]["object"]
    assert after == refunded["data"]["object"]
    assert after["refunded"] is True and after["amount_refunded"] == charge["amount_captured"]
    assert after["refunds"]["data"][0]["id"] == refund["id"]
    assert charge["amount_refunded"] == 0 and store.get("charges", charge["id"]) is not charge
    assert [r["id"] for r in walk(emulator, "/v1/refunds", charge=charge["id"])] == [refund["id"]]
    txn = get(emulator, f"/v1/balance_transactions/{refund['balance_transaction']}").json()
    assert txn["source"] == refund["id"] and txn["type"] == "refund" and txn["amount"] < 0
    assert store.balance is not balance_before
    usd = {f["currency"]: f["amount"] for f in get(emulator, "/v1/balance").json()["available"]}
    old = {f["currency"]: f["amount"] for f in balance_before["available"]}
    assert usd[txn["currency"]] == old[txn["currency"]] + txn["net"]
    with pytest.raises(ValueError, match="nothing left to refund"):
        changes.refund(charge["id"])


def test_a_new_charge_brings_its_payment_intent_and_pending_funds(emulator, changes, store):
    customer = store.objects("customers")[3]

    intent_created, succeeded, intent_succeeded = changes.new_charge(customer["id"], 5000)

    charge = get(emulator, f"/v1/charges/{succeeded['data']['object']['id']}").json()
    intent = get(emulator, f"/v1/payment_intents/{charge['payment_intent']}").json()
    txn = get(emulator, f"/v1/balance_transactions/{charge['balance_transaction']}").json()
    assert charge["customer"] == customer["id"] and charge["amount"] == 5000
    assert intent == intent_succeeded["data"]["object"] and intent["latest_charge"] == charge["id"]
    assert intent_created["data"]["object"]["status"] == "requires_confirmation"
    assert txn["source"] == charge["id"] and txn["status"] == "pending"
    assert txn["available_on"] > store.now
    listed = get(emulator, "/v1/charges", customer=customer["id"], limit=1).json()["data"]
    assert listed[0]["id"] == charge["id"]


def test_an_upgrade_is_prorated_invoiced_and_paid_at_once(emulator, changes, store):
    sub = active_subscription(store, currency="usd")
    item = sub["items"]["data"][0]

    updated, *rest = changes.upgrade_subscription(sub["id"])

    after = get(emulator, f"/v1/subscriptions/{sub['id']}").json()
    invoice = get(emulator, f"/v1/invoices/{after['latest_invoice']}").json()
    lines = get(emulator, f"/v1/invoices/{invoice['id']}/lines").json()["data"]
    [payment] = walk(emulator, "/v1/invoice_payments", invoice=invoice["id"])
    assert after["items"]["data"][0]["price"]["unit_amount"] > item["price"]["unit_amount"]
    assert updated["data"]["previous_attributes"]["items"] == sub["items"]
    assert updated["data"]["previous_attributes"]["latest_invoice"] == sub["latest_invoice"]
    assert invoice["billing_reason"] == "subscription_update" and invoice["status"] == "paid"
    assert [line["amount"] < 0 for line in lines] == [True, False]
    assert all(line["parent"]["subscription_item_details"]["proration"] for line in lines)
    assert invoice["total"] == sum(line["amount"] for line in lines) > 0
    assert payment["amount_paid"] == invoice["total"] and payment["status"] == "paid"
    created = next(e for e in rest if e["type"] == "invoice.created")["data"]["object"]
    assert created["status"] == "draft" and created["number"] is None
    assert rest[-1]["data"]["object"] == invoice


def test_cancellations_at_once_and_at_period_end(emulator, changes, store):
    now_sub = active_subscription(store)
    later_sub = next(
        s
        for s in store.objects("subscriptions")
        if s["status"] == "active" and s["id"] != now_sub["id"] and not s["cancel_at_period_end"]
    )

    [deleted] = changes.cancel_subscription(now_sub["id"])
    [updated] = changes.cancel_subscription(later_sub["id"], at_period_end=True)

    assert deleted["type"] == "customer.subscription.deleted"
    ended = get(emulator, f"/v1/subscriptions/{now_sub['id']}").json()
    assert ended["status"] == "canceled" and ended["ended_at"] == deleted["created"]
    assert now_sub["id"] not in [s["id"] for s in walk(emulator, "/v1/subscriptions")]
    assert updated["data"]["previous_attributes"]["cancel_at_period_end"] is False
    pending = updated["data"]["object"]
    assert pending["status"] == "active" and pending["cancel_at_period_end"] is True
    assert pending["cancel_at"] == later_sub["items"]["data"][0]["current_period_end"]
    # When its period ends, it ends: advancing the clock past it deletes it.
    passing = changes.advance(seconds=pending["cancel_at"] - store.now + 1)
    gone = [e for e in passing if e["type"] == "customer.subscription.deleted"]
    assert [e["data"]["object"]["id"] for e in gone if e["created"] == pending["cancel_at"]] == [
        later_sub["id"]
    ]
    assert store.get("subscriptions", later_sub["id"])["status"] == "canceled"
    with pytest.raises(ValueError, match="already ended"):
        changes.cancel_subscription(now_sub["id"])


def test_disputes_open_take_evidence_and_close(emulator, changes, store):
    charges = [c for c in store.objects("charges") if c["status"] == "succeeded"]
    charges = [c for c in charges if not c["disputed"]][:3]

    [created, withdrawn] = changes.new_dispute(charges[0]["id"])
    [inquiry] = changes.new_dispute(charges[1]["id"], reason="general", inquiry=True)
    dispute = created["data"]["object"]
    [submitted] = changes.submit_evidence(dispute["id"])
    [closed] = changes.close_dispute(dispute["id"], won=False)
    [inquiry_closed] = changes.close_dispute(inquiry["data"]["object"]["id"])

    assert dispute["status"] == "needs_response" and withdrawn["data"]["object"] == dispute
    assert 0 < dispute["evidence_details"]["due_by"] - store.now < 9 * DAY
    assert len(dispute["balance_transactions"]) == 1
    assert submitted["data"]["previous_attributes"]["status"] == "needs_response"
    assert submitted["data"]["object"]["status"] == "under_review"
    assert closed["type"] == "charge.dispute.closed"
    assert get(emulator, f"/v1/disputes/{dispute['id']}").json()["status"] == "lost"
    assert inquiry["data"]["object"]["balance_transactions"] == []
    assert inquiry_closed["data"]["object"]["status"] == "warning_closed"
    assert get(emulator, f"/v1/charges/{charges[0]['id']}").json()["disputed"] is True
    with pytest.raises(ValueError, match="already closed"):
        changes.close_dispute(dispute["id"])


def test_bad_input_changes_nothing(changes, store):
    clock, events = store.now, store.count("events")
    charge = next(c for c in store.objects("charges") if c["status"] == "succeeded")

    for attempt, error in (
        (lambda: changes.refund(charge["id"], amount=charge["amount"] + 1), ValueError),
        (lambda: changes.refund("ch_missing"), LookupError),
        (lambda: changes.new_charge(currency="gbp"), ValueError),
        (lambda: changes.advance(days=-1), ValueError),
        (lambda: changes.apply("delete_everything", {}), LookupError),
    ):
        with pytest.raises(error):
            attempt()

    assert (store.now, store.count("events")) == (clock, events)
    assert store.get("charges", charge["id"]) is charge


def test_changes_are_deterministic_for_a_seed():
    def history(seed):
        store = EmulatorStore()
        seed_account(store, seed=0)
        changes = AccountChanges(store, seed=seed)
        changes.new_charge()
        changes.refund(store.objects("charges")[0]["id"])
        return store.dump()

    assert history(4) == history(4)
    assert history(4) != history(5)


# The 30-day window of events


def test_only_the_last_30_days_of_events_are_listed_or_retrieved(emulator, changes, store):
    oldest = walk(emulator, "/v1/events")[-1]
    assert DEFAULT_NOW - oldest["created"] <= 30 * DAY
    recent = changes.new_charge()

    changes.advance(days=30, seconds=-(recent[0]["created"] - oldest["created"]) + 1)

    listed = walk(emulator, "/v1/events")
    assert oldest["id"] not in {e["id"] for e in listed}
    assert all(store.now - e["created"] <= 30 * DAY for e in listed)
    assert {e["id"] for e in recent} <= {e["id"] for e in listed}
    assert get(emulator, f"/v1/events/{oldest['id']}").status_code == 404
    aged_cursor = get(emulator, "/v1/events", starting_after=oldest["id"])
    assert aged_cursor.status_code == 400
    assert aged_cursor.json()["error"]["code"] == "resource_missing"

    # A month later, only what happened in that month is left.
    passing = changes.advance(days=31)
    assert [e["id"] for e in walk(emulator, "/v1/events")] == [
        e["id"] for e in reversed(passing) if store.now - e["created"] <= 30 * DAY
    ]
    assert get(emulator, f"/v1/events/{recent[0]['id']}").status_code == 404


def test_advancing_makes_pending_funds_available(emulator, changes, store):
    pending_before = {f["currency"]: f["amount"] for f in store.balance["pending"]}
    assert pending_before["usd"] > 0

    events = changes.advance(days=3)

    assert "balance.available" in types(events)
    assert {f["currency"]: f["amount"] for f in store.balance["pending"]}["usd"] == 0
    waiting = [t for t in store.objects("balance_transactions") if t["status"] == "pending"]
    assert all(t["available_on"] > store.now for t in waiting)
    assert events[-1]["data"]["object"] == get(emulator, "/v1/balance").json()


# Over HTTP, for tests in other processes


def test_changes_can_be_asked_for_over_http(emulator, store):
    charge = next(c for c in store.objects("charges") if c["status"] == "succeeded")

    made = requests.post(f"{emulator.url}/_emulator/changes/new_charge", json={}, timeout=10)
    refunded = requests.post(
        f"{emulator.url}/_emulator/changes/refund",
        json={"charge_id": charge["id"], "amount": 1},
        timeout=10,
    )
    unknown = requests.post(f"{emulator.url}/_emulator/changes/explode", json={}, timeout=10)
    too_much = requests.post(
        f"{emulator.url}/_emulator/changes/refund",
        json={"charge_id": charge["id"], "amount": 10**9},
        timeout=10,
    )
    wrong = requests.post(
        f"{emulator.url}/_emulator/changes/refund", json={"colour": "red"}, timeout=10
    )
    clock = requests.get(f"{emulator.url}/_emulator/clock", timeout=10).json()

    assert made.status_code == 200 and types(made.json()["data"])[1] == "charge.succeeded"
    assert types(refunded.json()["data"]) == ["refund.created", "charge.refunded"]
    assert get(emulator, "/v1/events", limit=2).json()["data"] == refunded.json()["data"][::-1]
    assert unknown.status_code == 404 and "No such change" in unknown.json()["error"]["message"]
    assert too_much.status_code == 400 and wrong.status_code == 400
    assert clock == {"now": store.now}
    # The helpers are not Stripe's API: Stripe's paths still refuse writes, and the log
    # holds only Stripe requests.
    assert requests.post(f"{emulator.url}/v1/refunds", timeout=10).status_code == 405
    assert all(not entry.path.startswith("/_emulator") for entry in emulator.request_log)


# Webhooks


class Receiver(ThreadingHTTPServer):
    """A webhook endpoint that keeps what it receives."""

    def __init__(self):
        self.received = []
        self.arrived = threading.Condition()
        super().__init__(("127.0.0.1", 0), _Receive)

    @property
    def url(self):
        return f"http://127.0.0.1:{self.server_address[1]}/webhooks/stripe"

    def wait_for(self, count, timeout=10):
        with self.arrived:
            self.arrived.wait_for(lambda: len(self.received) >= count, timeout)
        return self.received


class _Receive(BaseHTTPRequestHandler):
    def do_POST(self):
        body = self.rfile.read(int(self.headers["Content-Length"]))
        with self.server.arrived:
            self.server.received.append((body, dict(self.headers)))
            self.server.arrived.notify_all()
        self.send_response(200)
        self.send_header("Content-Length", "0")
        self.end_headers()

    def log_message(self, *args):
        pass


@pytest.fixture
def receiver():
    receiver = Receiver()
    thread = threading.Thread(target=receiver.serve_forever, daemon=True)
    thread.start()
    yield receiver
    receiver.shutdown()
    receiver.server_close()


def verify(body, headers):
    return stripe.WebhookSignature.verify_header(
        body, headers["Stripe-Signature"], SECRET, tolerance=300
    )


def test_changes_are_delivered_as_webhooks_the_stripe_library_accepts(emulator, receiver, store):
    sender = emulator.post_webhooks(receiver.url, SECRET)
    charge = next(c for c in store.objects("charges") if c["status"] == "succeeded")

    events = emulator.changes.refund(charge["id"])

    received = receiver.wait_for(2)
    assert [json.loads(body) for body, _ in received] == events
    for body, headers in received:
        assert verify(body, headers) is True
        assert headers["Content-Type"] == "application/json; charset=utf-8"
        timestamp, v1 = headers["Stripe-Signature"].split(",")
        assert abs(int(timestamp.removeprefix("t=")) - time.time()) < 60
        assert len(v1.removeprefix("v1=")) == 64
        event = stripe.Webhook.construct_event(body, headers["Stripe-Signature"], SECRET)
        assert event.id == json.loads(body)["id"]
    assert [d.status for d in sender.deliveries] == [200, 200]


def test_bad_old_and_repeated_deliveries_can_be_sent(receiver, store):
    sender = WebhookSender(receiver.url, SECRET)
    event = walk_first_event(store)

    sender.send(event)
    sender.send(event)
    sender.send(event, secret="whsec_someone_elses_secret")
    sender.send(event, timestamp=time.time() - 600)
    sender.send(event, signature="t=1,v1=00")

    (good, headers), (again, again_headers), *bad = receiver.wait_for(5)
    assert good == again and verify(good, headers) and verify(again, again_headers)
    assert json.loads(good)["id"] == json.loads(again)["id"] == event["id"]
    for body, headers in bad:
        with pytest.raises(stripe.SignatureVerificationError):
            verify(body, headers)
    replayed = bad[1][1]["Stripe-Signature"]
    with pytest.raises(stripe.SignatureVerificationError, match="outside the tolerance"):
        verify(bad[1][0], bad[1][1])
    assert replayed == signature_header(bad[1][0], SECRET, int(replayed[2:].split(",")[0]))
    with pytest.raises(ValueError, match="whsec_"):
        WebhookSender(receiver.url, "sk_test_not_a_signing_secret")


def walk_first_event(store):
    return store.list("events", {"limit": 1})["data"][0]


def test_an_unreachable_endpoint_is_recorded_not_raised(store):
    sender = WebhookSender("http://127.0.0.1:9/nowhere", SECRET, timeout=2)
    [delivery] = sender.deliver([walk_first_event(store)])
    assert delivery.status is None and not delivery.delivered and delivery.error


def test_the_command_forwards_changes_as_signed_webhooks(receiver):
    command = [
        sys.executable,
        "manage.py",
        "stripe_emulator",
        "--port",
        "0",
        "--charges",
        "300",
        "--webhook-url",
        receiver.url,
        "--webhook-secret-env",
        "LUMEN_TEST_WEBHOOK_SECRET",
    ]
    server = subprocess.Popen(
        command,
        cwd=PROJECT,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env={**os.environ, "PYTHONUNBUFFERED": "1", "LUMEN_TEST_WEBHOOK_SECRET": SECRET},
    )
    try:
        banner = [server.stdout.readline() for _ in range(3)]
        url = next(w for line in banner for w in line.split() if w.startswith("http://"))
        charges = []
        cursor = {}
        while True:
            page = requests.get(
                f"{url}/v1/charges",
                params={"limit": 100, **cursor},
                auth=(DEMO_KEY, ""),
                timeout=10,
            ).json()
            charges += page["data"]
            if not page["has_more"]:
                break
            cursor = {"starting_after": page["data"][-1]["id"]}
        answer = requests.post(f"{url}/_emulator/changes/new_charge", json={}, timeout=10)
        received = receiver.wait_for(3)
    finally:
        server.send_signal(signal.SIGINT)
        output, errors = server.communicate(timeout=60)

    assert len(charges) == 300
    assert [json.loads(body)["id"] for body, _ in received] == [
        e["id"] for e in answer.json()["data"]
    ]
    assert all(verify(body, headers) for body, headers in received)
    assert SECRET not in "".join(banner) + output + errors
    assert server.returncode == 0


def test_the_command_refuses_a_webhook_url_without_a_secret():
    result = subprocess.run(
        [sys.executable, "manage.py", "stripe_emulator", "--webhook-url", "http://127.0.0.1:9/"],
        cwd=PROJECT,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode != 0 and "--webhook-secret-env" in result.stderr


# Sizing


@pytest.fixture(scope="module")
def sized():
    store = EmulatorStore()
    seed_account(store, seed=3, charges=2000)
    return store


def test_a_sized_account_has_exactly_its_charges_and_is_deterministic(sized):
    again, other = EmulatorStore(), EmulatorStore()
    seed_account(again, seed=3, charges=2000)
    seed_account(other, seed=4, charges=2000)
    tiny = EmulatorStore()
    seed_account(tiny, seed=3, charges=5)

    assert sized.count("charges") == 2000
    assert sized.dump() == again.dump()
    assert sized.dump() != other.dump()
    assert tiny.count("charges") == 5 and tiny.count("customers") > 0
    assert sized.count("customers") > 100 and sized.count("subscriptions") > 100


def test_a_sized_accounts_records_link_up(sized):
    transactions = {t["id"]: t for t in sized.objects("balance_transactions")}
    charges = {c["id"]: c for c in sized.objects("charges")}
    refunds = sized.objects("refunds")

    for charge in charges.values():
        assert sized.get("customers", charge["customer"]) is not None
        assert sized.get("payment_intents", charge["payment_intent"]) is not None
        if charge["status"] == "succeeded":
            txn = transactions[charge["balance_transaction"]]
            assert txn["source"] == charge["id"]
        refunded = sum(r["amount"] for r in refunds if r["charge"] == charge["id"])
        assert charge["amount_refunded"] == refunded <= charge["amount_captured"]
    for refund in refunds:
        assert transactions[refund["balance_transaction"]]["source"] == refund["id"]
    for dispute in sized.objects("disputes"):
        assert dispute["charge"] in charges
        assert all(t["id"] in transactions for t in dispute["balance_transactions"])
    for payment in sized.objects("invoice_payments"):
        invoice = sized.get("invoices", payment["invoice"])
        intent = sized.get("payment_intents", payment["payment"]["payment_intent"])
        assert invoice["amount_due"] == intent["amount"] == payment["amount_requested"]
    for invoice in sized.objects("invoices"):
        lines = sized.lines[invoice["id"]]
        discounts = sum(d["amount"] for line in lines for d in line["discount_amounts"])
        taxes = sum(t["amount"] for line in lines for t in line["taxes"])
        assert invoice["total"] == sum(line["amount"] for line in lines) - discounts + taxes
    automatic = [p for p in sized.objects("payouts") if p["automatic"]]
    assert automatic
    for payout in automatic:
        parts = [t for t in transactions.values() if sized.payout_of(t["id"]) == payout["id"]]
        assert parts and sum(t["net"] for t in parts) == payout["amount"]
        assert transactions[payout["balance_transaction"]]["amount"] == -payout["amount"]


def test_a_sized_account_tells_every_kind_of_story(sized):
    charges = sized.objects("charges")
    disputes = {d["status"] for d in sized.objects("disputes")}
    subscriptions = {s["status"] for s in sized.objects("subscriptions")}

    assert {"succeeded", "failed"} == {c["status"] for c in charges}
    assert any(0 < c["amount_captured"] < c["amount"] for c in charges)
    assert {"active", "trialing", "past_due", "unpaid", "canceled"} <= subscriptions
    assert {"needs_response", "under_review", "won", "lost"} <= disputes
    assert {c["currency"] for c in charges} == {"usd", "eur", "jpy"}
    assert len({c["customer"] for c in charges}) > 100
