"""The Stripe emulator: real HTTP against a started server, checked against Stripe's own
object shapes (tests/data/stripe_fixtures.json) and list semantics.

None of these tests touches the database.
"""

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
import requests
import stripe

from connectors.emulator import (
    DEFAULT_NOW,
    DEMO_KEY,
    EmulatorStore,
    Faults,
    KeyGrant,
    StripeEmulator,
    StripeError,
    load_fixture,
    mask_key,
    seed_account,
)
from connectors.resources import RESOURCES

PROJECT = Path(__file__).resolve().parents[1]
FIXTURES_FILE = PROJECT / "tests" / "data" / "stripe_fixtures.json"
FIXTURES = json.loads(FIXTURES_FILE.read_text())["resources"]

# Built in two parts so that no live-looking key stands whole in the repository.
LIVE_KEY = "rk_live_" + "51LumenTestLiveKeyZ8y7X6w5V4u3T2s1R0q"
NO_CHARGES_KEY = "rk_test_51LumenTestNoChargesK3j4H5g6F7d8S9a0P1o"
SECRET_KEY = "sk_test_51LumenTestSecretKeyM1n2B3v4C5x6Z7l8K9j"
UNKNOWN_KEY = "rk_test_51LumenTestUnknownKeyQ2w3E4r5T6y7U8i9O0pZ"
LISTS = [r for r in RESOURCES if r.is_list]

# Where the fixtures show one variant of a hash and Stripe sends more fields for another:
# an invoice payment by payment intent names it, a line priced by a price names price and
# product, a declined payment's error says why, and an *.updated event says what changed.
ALLOWED_EXTRA = {
    "event.data": {"previous_attributes"},
    "invoice_payment.payment": {"payment_intent"},
    "line_item.pricing": {"price_details"},
    "payment_intent.last_payment_error": {"charge", "code", "decline_code", "doc_url", "message"},
}
# Items of lists that the fixtures leave empty, with their fields from Stripe's API reference.
LIST_ITEMS = {
    "balance_transaction.fee_details": {"amount", "application", "currency", "description", "type"},
    "line_item.discount_amounts": {"amount", "discount"},
    "invoice.total_discount_amounts": {"amount", "discount"},
}


def shape_problems(ours, model, where=""):
    """Differences in field names and nesting between `ours` and the fixture `model`."""
    if not isinstance(ours, dict) or not isinstance(model, dict):
        return []
    kind = ours.get("object")
    if isinstance(kind, str) and kind in FIXTURES:
        where = kind
        if model.get("object") != kind:  # e.g. an event's data.object
            model = FIXTURES[kind]
    if not model:  # the fixture leaves this hash free-form (metadata and the like)
        return []
    problems = [f"{where}: missing {sorted(model.keys() - ours.keys())}"] * bool(
        model.keys() - ours.keys()
    )
    extra = ours.keys() - model.keys() - ALLOWED_EXTRA.get(where, set())
    if extra:
        problems.append(f"{where}: unexpected {sorted(extra)}")
    for key in sorted(ours.keys() & model.keys()):
        mine, theirs, at = ours[key], model[key], f"{where}.{key}"
        if mine is None or theirs is None:
            continue
        if type(theirs) in (dict, list) and type(mine) is not type(theirs):
            problems.append(f"{at}: {type(mine).__name__}, fixture {type(theirs).__name__}")
        elif isinstance(mine, dict):
            problems += shape_problems(mine, theirs, at)
        elif isinstance(mine, list):
            example = theirs[0] if theirs and isinstance(theirs[0], dict) else None
            for item in mine:
                if not isinstance(item, dict):
                    continue
                if at in LIST_ITEMS:
                    if item.keys() != LIST_ITEMS[at]:
                        problems.append(f"{at}[]: fields {sorted(item)}")
                else:
                    reference = example or FIXTURES.get(item.get("object"))
                    assert reference is not None, f"{at}[]: nothing to compare with"
                    problems += shape_problems(item, reference, f"{at}[]")
        elif not _same_scalar_type(mine, theirs):
            problems.append(f"{at}: {type(mine).__name__}, fixture {type(theirs).__name__}")
    return problems


def _same_scalar_type(mine, theirs):
    numbers = (int, float)
    if isinstance(mine, bool) or isinstance(theirs, bool):
        return isinstance(mine, bool) and isinstance(theirs, bool)
    if isinstance(mine, numbers) and isinstance(theirs, numbers):
        return True
    return type(mine) is type(theirs)


@pytest.fixture(scope="module")
def store():
    store = EmulatorStore()
    seed_account(store, seed=0)
    return store


@pytest.fixture(scope="module")
def emulator(store):
    readable = {r.permission for r in RESOURCES}
    keys = [
        KeyGrant(DEMO_KEY),
        KeyGrant(LIVE_KEY),
        KeyGrant(SECRET_KEY),
        KeyGrant(NO_CHARGES_KEY, permissions=readable - {"rak_charge_read"}),
    ]
    with StripeEmulator(store, keys=keys) as emulator:
        yield emulator


@pytest.fixture
def fresh_emulator(store):
    """An emulator of its own, for tests that change faults or keys or count requests."""
    with StripeEmulator(store, keys=[KeyGrant(DEMO_KEY)]) as emulator:
        yield emulator


def get(emulator, path, key=DEMO_KEY, **params):
    headers = {"Authorization": f"Bearer {key}"} if key else {}
    return requests.get(f"{emulator.url}{path}", params=params, headers=headers, timeout=10)


def walk(emulator, path, **params):
    """Every object of a list, following starting_after."""
    seen, cursor = [], None
    while True:
        page = get(
            emulator, path, limit=100, **params, **({"starting_after": cursor} if cursor else {})
        ).json()
        seen += page["data"]
        if not page["has_more"]:
            return seen
        cursor = page["data"][-1]["id"]


# Shapes


def test_the_shape_comparison_catches_differences():
    charge = json.loads(json.dumps(FIXTURES["charge"]))
    assert shape_problems(charge, FIXTURES["charge"]) == []
    del charge["outcome"]["type"]
    charge["refunds"]["data"] = [dict(FIXTURES["refund"], surprise=1)]
    charge["payment_method_details"]["card"]["checks"] = "pass"
    charge["amount"] = "100"

    assert shape_problems(charge, FIXTURES["charge"]) == [
        "charge.amount: str, fixture int",
        "charge.outcome: missing ['type']",
        "charge.payment_method_details.card.checks: str, fixture dict",
        "refund: unexpected ['surprise']",
    ]


@pytest.mark.parametrize("resource", LISTS, ids=lambda r: r.name)
def test_it_lists_and_retrieves_each_resource_in_stripes_shapes(emulator, store, resource):
    objects = walk(
        emulator,
        f"/v1/{resource.name}",
        **({"status": "all"} if resource.name == "subscriptions" else {}),
    )

    assert len(objects) == store.count(resource.name) > 0
    assert {o["object"] for o in objects} == {resource.object}
    problems = [p for obj in objects for p in shape_problems(obj, FIXTURES[resource.object])]
    assert sorted(set(problems)) == []
    retrieved = get(emulator, f"/v1/{resource.name}/{objects[-1]['id']}")
    assert retrieved.status_code == 200
    assert retrieved.json() == objects[-1]


def test_it_serves_the_account_and_balance_in_stripes_shapes(emulator, store):
    account = get(emulator, "/v1/account", key=SECRET_KEY).json()
    balance = get(emulator, "/v1/balance").json()

    assert account["id"].startswith("acct_")
    assert account["settings"]["dashboard"]["display_name"] == "Brightwave"
    assert account["business_profile"]["name"] == "Brightwave Analytics, Inc."
    assert shape_problems(account, FIXTURES["account"]) == []
    assert shape_problems(balance, FIXTURES["balance"]) == []
    assert {f["currency"] for f in balance["available"]} == {"usd", "jpy"}


def test_no_restricted_key_reads_the_account_as_with_stripe(emulator, store):
    answer = get(emulator, "/v1/account")
    assert answer.status_code == 403
    message = answer.json()["error"]["message"]
    assert f"on account '{store.account['id']}'" in message
    assert "not available for use by restricted keys" in message
    assert DEMO_KEY not in answer.text


def test_it_lists_an_invoices_lines_in_invoice_order(emulator, store):
    invoice = next(i for i in store.objects("invoices") if len(i["lines"]["data"]) == 2)

    first = get(emulator, f"/v1/invoices/{invoice['id']}/lines", limit=1).json()
    second = get(
        emulator,
        f"/v1/invoices/{invoice['id']}/lines",
        limit=1,
        starting_after=first["data"][0]["id"],
    ).json()
    back = get(
        emulator,
        f"/v1/invoices/{invoice['id']}/lines",
        limit=5,
        ending_before=second["data"][0]["id"],
    ).json()

    assert first["url"] == f"/v1/invoices/{invoice['id']}/lines"
    assert (first["has_more"], second["has_more"]) == (True, False)
    assert [first["data"][0], second["data"][0]] == invoice["lines"]["data"]
    assert back["data"] == first["data"]
    for line in invoice["lines"]["data"]:
        assert shape_problems(line, FIXTURES["line_item"]) == []
        assert line["pricing"]["price_details"]["product"].startswith("prod_")
    assert get(emulator, "/v1/invoices/in_missing/lines").status_code == 404


def test_its_events_carry_the_objects_they_announce(emulator, store):
    events = walk(emulator, "/v1/events")
    types = {e["type"] for e in events}

    assert {
        "customer.created",
        "charge.succeeded",
        "invoice.paid",
        "charge.refunded",
        "charge.dispute.created",
        "payout.paid",
        "customer.subscription.deleted",
        "invoice_payment.paid",
    } <= types
    assert all(DEFAULT_NOW - 30 * 86400 <= e["created"] <= DEFAULT_NOW for e in events)
    for event in events:
        obj = event["data"]["object"]
        resource = next(r.name for r in RESOURCES if r.object == obj["object"])
        assert store.get(resource, obj["id"]) is not None
    charge_events = walk(emulator, "/v1/events", type="charge.*")
    assert charge_events and all(e["type"].startswith("charge.") for e in charge_events)
    recent = [
        o
        for o in store.objects("refunds") + store.objects("payouts")
        if o["created"] >= DEFAULT_NOW - 30 * 86400
    ]
    assert len(
        walk(emulator, "/v1/events", **{"types[0]": "refund.created", "types[1]": "payout.created"})
    ) == len(recent)


# List semantics


def test_it_pages_forward_and_back_over_every_object_once_newest_first(emulator, store):
    everything = store.objects("charges")
    forward, cursor = [], None
    while True:
        page = get(
            emulator, "/v1/charges", limit=7, **({"starting_after": cursor} if cursor else {})
        ).json()
        forward += page["data"]
        if not page["has_more"]:
            break
        cursor = page["data"][-1]["id"]
    backward, cursor = [], forward[-1]["id"]
    while True:
        page = get(emulator, "/v1/charges", limit=7, ending_before=cursor).json()
        backward = page["data"] + backward
        if not page["has_more"]:
            break
        cursor = page["data"][0]["id"]

    keys = [(c["created"], c["id"]) for c in forward]
    assert [c["id"] for c in forward] == [c["id"] for c in everything]
    assert len(set(c["id"] for c in forward)) == len(everything) > 50
    assert keys == sorted(keys, reverse=True)
    assert backward == forward[:-1]


def test_it_pages_within_a_filter(emulator, store):
    charges = store.objects("charges")
    customer = max((c["customer"] for c in charges), key=[c["customer"] for c in charges].count)
    expected = [c["id"] for c in store.objects("charges") if c["customer"] == customer]

    first = get(emulator, "/v1/charges", customer=customer, limit=2).json()
    rest = walk(emulator, "/v1/charges", customer=customer, starting_after=first["data"][-1]["id"])

    assert len(expected) > 2 and first["has_more"] is True
    assert [c["id"] for c in first["data"] + rest] == expected


def test_it_keeps_limit_between_1_and_100(emulator, store):
    assert store.count("charges") > 10
    assert len(get(emulator, "/v1/charges").json()["data"]) == 10
    assert len(get(emulator, "/v1/charges", limit=100).json()["data"]) == min(
        100, store.count("charges")
    )
    for limit, message in (
        (0, "greater than or equal to 1"),
        (101, "less than or equal to 100"),
        ("ten", "Invalid integer: ten"),
    ):
        answer = get(emulator, "/v1/charges", limit=limit)
        assert answer.status_code == 400
        assert answer.json()["error"]["type"] == "invalid_request_error"
        assert message in answer.json()["error"]["message"]
        assert answer.json()["error"]["param"] == "limit"


def test_it_filters_on_created(emulator, store):
    charges = store.objects("charges")
    pivot = charges[len(charges) // 2]["created"]

    def ids(**bounds):
        params = {f"created[{op}]": value for op, value in bounds.items()}
        return [c["id"] for c in walk(emulator, "/v1/charges", **params)]

    def expect(test):
        return [c["id"] for c in charges if test(c["created"])]

    assert ids(gt=pivot) == expect(lambda t: t > pivot)
    assert ids(gte=pivot) == expect(lambda t: t >= pivot)
    assert ids(lt=pivot) == expect(lambda t: t < pivot)
    assert ids(lte=pivot) == expect(lambda t: t <= pivot)
    assert ids(gte=pivot - 40 * 86400, lt=pivot) == expect(
        lambda t: pivot - 40 * 86400 <= t < pivot
    )
    exact = [c["id"] for c in walk(emulator, "/v1/charges", created=pivot)]
    assert exact == expect(lambda t: t == pivot) and exact
    assert get(emulator, "/v1/charges", **{"created[gte]": "soon"}).status_code == 400


def test_it_applies_each_resources_filters(emulator, store):
    subscriptions = store.objects("subscriptions")
    canceled = [s["id"] for s in subscriptions if s["status"] == "canceled"]
    listed = [s["id"] for s in walk(emulator, "/v1/subscriptions")]
    every = [s["id"] for s in walk(emulator, "/v1/subscriptions", status="all")]
    payout = next(p for p in store.objects("payouts") if p["automatic"])
    intent = next(i for i in store.objects("invoice_payments"))["payment"]["payment_intent"]

    assert canceled and not set(canceled) & set(listed)
    assert len(every) == len(subscriptions) == len(listed) + len(canceled)
    assert [s["id"] for s in walk(emulator, "/v1/subscriptions", status="canceled")] == canceled
    assert get(emulator, "/v1/subscriptions", status="gone").status_code == 400
    assert {p["active"] for p in walk(emulator, "/v1/prices", active="false")} == {False}
    assert {p["currency"] for p in walk(emulator, "/v1/prices", currency="jpy")} == {"jpy"}
    assert {i["status"] for i in walk(emulator, "/v1/invoices", status="open")} == {"open"}
    for subscription in every:
        for invoice in walk(emulator, "/v1/invoices", subscription=subscription):
            assert invoice["parent"]["subscription_details"]["subscription"] == subscription
    paid_by = walk(
        emulator,
        "/v1/invoice_payments",
        **{"payment[type]": "payment_intent", "payment[payment_intent]": intent},
    )
    assert [p["payment"]["payment_intent"] for p in paid_by] == [intent]
    assert all(
        p["arrival_date"] >= payout["arrival_date"]
        for p in walk(emulator, "/v1/payouts", **{"arrival_date[gte]": payout["arrival_date"]})
    )


def test_it_refuses_unknown_parameters_as_stripe_does(emulator):
    answer = get(emulator, "/v1/charges", colour="blue")
    nested = get(emulator, "/v1/charges", **{"created[after]": "1"})
    retrieve = get(emulator, "/v1/customers/cus_x", limit="1")

    assert answer.status_code == 400
    assert answer.json()["error"]["message"] == "Received unknown parameter: colour"
    assert answer.json()["error"]["type"] == "invalid_request_error"
    assert nested.json()["error"]["message"] == "Received unknown parameter: created[after]"
    assert retrieve.json()["error"]["message"] == "Received unknown parameter: limit"


def test_it_answers_404_for_unknown_ids_and_urls(emulator):
    missing = get(emulator, "/v1/charges/ch_nope")
    nowhere = get(emulator, "/v1/charges_everywhere")
    cursor = get(emulator, "/v1/charges", starting_after="ch_nope")

    assert missing.status_code == 404
    assert missing.json()["error"] == {
        "type": "invalid_request_error",
        "code": "resource_missing",
        "param": "id",
        "message": "No such charge: 'ch_nope'",
        "doc_url": "https://stripe.com/docs/error-codes/resource-missing",
    }
    assert nowhere.status_code == 404
    assert "Unrecognized request URL" in nowhere.json()["error"]["message"]
    assert cursor.status_code == 400 and cursor.json()["error"]["param"] == "starting_after"


def test_it_expands_ids_into_objects(emulator, store):
    page = get(
        emulator,
        "/v1/charges",
        limit=3,
        **{"expand[]": ["data.balance_transaction", "data.payment_intent"]},
    ).json()
    charge = page["data"][0]
    retrieved = get(
        emulator, f"/v1/charges/{charge['id']}", **{"expand[0]": "payment_intent.latest_charge"}
    ).json()

    assert charge["balance_transaction"]["object"] == "balance_transaction"
    assert charge["balance_transaction"]["source"] == charge["id"]
    assert charge["payment_intent"]["latest_charge"] == charge["id"]
    assert retrieved["payment_intent"]["latest_charge"]["id"] == charge["id"]
    assert isinstance(store.get("charges", charge["id"])["balance_transaction"], str)
    assert get(emulator, "/v1/charges", **{"expand[]": "currency"}).status_code == 400


def test_the_store_answers_in_process_as_the_api_does(store):
    charges = store.objects("charges")
    pivot = charges[20]["created"]

    page = store.list("charges", {"limit": 3, "created": {"lte": pivot}})

    assert [c["id"] for c in page["data"]] == [c["id"] for c in charges if c["created"] <= pivot][
        :3
    ]
    assert page["has_more"] is True and page["url"] == "/v1/charges"
    assert store.retrieve("charges", charges[0]["id"]) is charges[0]
    with pytest.raises(StripeError) as missing:
        store.retrieve("charges", "ch_nope")
    assert missing.value.status == 404
    with pytest.raises(StripeError) as unknown:
        store.list("prices", {"active": True, "colour": "red"})
    assert unknown.value.body()["error"]["message"] == "Received unknown parameter: colour"


# Keys and permissions


def test_it_refuses_missing_unknown_publishable_and_revoked_keys_with_the_key_masked(
    fresh_emulator,
):
    revoked = "rk_test_51LumenTestRevokedKeyA1b2C3d4E5f6G7h8I9j"
    fresh_emulator.grant(revoked)
    assert get(fresh_emulator, "/v1/charges", key=revoked).status_code == 200
    fresh_emulator.revoke(revoked)

    for key in (UNKNOWN_KEY, revoked, "pk_test_51LumenTestPublishableKeyQ1w2E3r4T5y6"):
        answer = get(fresh_emulator, "/v1/charges", key=key)
        assert answer.status_code == 401
        assert answer.json()["error"]["type"] == "invalid_request_error"
        assert key not in answer.text and key[8:] not in answer.text
        assert mask_key(key) in answer.json()["error"]["message"]
        assert mask_key(key).endswith(key[-4:]) and mask_key(key).startswith(key[:8])
    assert (
        "Invalid API Key provided: rk_test_***"
        in get(fresh_emulator, "/v1/charges", key=UNKNOWN_KEY).json()["error"]["message"]
    )
    assert get(fresh_emulator, "/v1/charges", key=None).status_code == 401
    assert all(UNKNOWN_KEY not in repr(entry) for entry in fresh_emulator.request_log)
    assert revoked not in repr(fresh_emulator.keys.get(revoked))


def test_it_accepts_the_key_as_basic_auth_user(emulator):
    answer = requests.get(f"{emulator.url}/v1/customers", auth=(DEMO_KEY, ""), timeout=10)
    assert answer.status_code == 200


def test_it_answers_403_naming_the_missing_permission(emulator, store):
    answer = get(emulator, "/v1/charges", key=NO_CHARGES_KEY)
    expanded = get(emulator, "/v1/refunds", key=NO_CHARGES_KEY, **{"expand[]": "data.charge"})

    assert answer.status_code == 403
    assert answer.json()["error"]["message"] == (
        f"The provided key '{mask_key(NO_CHARGES_KEY)}' does not have the required permissions "
        f"for this endpoint on account '{store.account['id']}'. Having the 'rak_charge_read' "
        "permission would allow this request to continue."
    )
    assert NO_CHARGES_KEY not in answer.text
    assert get(emulator, "/v1/refunds", key=NO_CHARGES_KEY).status_code == 200
    assert expanded.status_code == 403


def test_objects_follow_the_keys_mode(emulator):
    test_mode = get(emulator, "/v1/charges", limit=5).json()
    live = get(emulator, "/v1/charges", key=LIVE_KEY, limit=5).json()

    assert {c["livemode"] for c in test_mode["data"]} == {False}
    assert {c["livemode"] for c in live["data"]} == {True}
    assert get(emulator, "/v1/balance", key=LIVE_KEY).json()["livemode"] is True


# Faults, the request log, and writes


def test_it_records_every_answered_request_with_its_id(fresh_emulator):
    answers = [get(fresh_emulator, "/v1/customers", limit=n) for n in (1, 2, 3)]
    answers.append(get(fresh_emulator, "/v1/charges/ch_nope"))
    posted = requests.post(
        f"{fresh_emulator.url}/v1/refunds",
        data={"charge": "ch_1"},
        headers={"Authorization": f"Bearer {DEMO_KEY}"},
        timeout=10,
    )

    log = fresh_emulator.request_log
    assert [(e.method, e.path, e.status) for e in log] == [
        ("GET", "/v1/customers", 200),
        ("GET", "/v1/customers", 200),
        ("GET", "/v1/customers", 200),
        ("GET", "/v1/charges/ch_nope", 404),
        ("POST", "/v1/refunds", 405),
    ]
    assert [e.query for e in log[:3]] == [{"limit": "1"}, {"limit": "2"}, {"limit": "3"}]
    assert [e.request_id for e in log] == [a.headers["Request-Id"] for a in answers + [posted]]
    assert all(e.request_id.startswith("req_") for e in log)
    assert posted.json()["error"]["type"] == "invalid_request_error"
    assert all(a.headers["Content-Type"] == "application/json" for a in answers)


def test_faults_answer_429_500_or_drop_and_switch_off_at_run_time(fresh_emulator):
    fresh_emulator.faults = Faults(rate_429=1.0)
    limited = get(fresh_emulator, "/v1/charges")
    fresh_emulator.faults.set(rate_429=0.0, rate_500=1.0)
    failed = get(fresh_emulator, "/v1/charges")
    fresh_emulator.faults.set(rate_500=0.0, rate_drop=1.0)
    with pytest.raises(requests.ConnectionError):
        get(fresh_emulator, "/v1/charges")
    fresh_emulator.faults.set(rate_drop=0.0)
    healthy = get(fresh_emulator, "/v1/charges")

    assert limited.status_code == 429
    assert limited.headers["Stripe-Should-Retry"] == "true"
    assert limited.json()["error"]["type"] == "rate_limit_error"
    assert failed.status_code == 500 and failed.json()["error"]["type"] == "api_error"
    assert "Request-Id" in failed.headers
    assert healthy.status_code == 200
    assert [e.status for e in fresh_emulator.request_log] == [429, 500, 200]
    assert [(e.path, e.status) for e in fresh_emulator.dropped] == [("/v1/charges", None)]


def test_slow_answers_arrive_late_but_whole(fresh_emulator):
    fresh_emulator.faults = Faults(rate_slow=1.0, slow_seconds=0.3)
    started = time.monotonic()
    answer = get(fresh_emulator, "/v1/customers")
    assert time.monotonic() - started >= 0.3
    assert answer.status_code == 200 and len(answer.json()["data"]) == 10


def test_stopping_ends_kept_alive_connections(store):
    session = requests.Session()
    session.headers["Authorization"] = f"Bearer {DEMO_KEY}"
    emulator = StripeEmulator(store, keys=[KeyGrant(DEMO_KEY)]).start()
    url = emulator.url
    assert session.get(f"{url}/v1/customers", timeout=10).status_code == 200
    emulator.stop()

    with pytest.raises(requests.ConnectionError):
        session.get(f"{url}/v1/customers", timeout=10)
    assert len(emulator.request_log) == 1


def test_faults_are_deterministic_for_a_seed():
    def pattern(seed):
        faults = Faults(rate_429=0.3, rate_500=0.2, rate_drop=0.1, seed=seed)
        return [faults.draw().kind for _ in range(200)]

    assert pattern(7) == pattern(7)
    assert pattern(7) != pattern(8)
    assert {None, "429", "500", "drop"} == set(pattern(7))


# The official library


def test_the_stripe_library_reads_it(emulator, store):
    client = stripe.StripeClient(
        DEMO_KEY, base_addresses={"api": emulator.url}, max_network_retries=0
    )
    charges = client.v1.charges.list({"limit": 3})
    customers = list(client.v1.customers.list({"limit": 5}).auto_paging_iter())
    charge = client.v1.charges.retrieve(charges.data[0].id)

    assert len(charges.data) == 3 and charges.has_more
    assert [c.id for c in customers] == [c["id"] for c in store.objects("customers")]
    assert charge.amount_captured == charges.data[0].amount_captured
    assert client.v1.balance.retrieve().available
    with pytest.raises(stripe.InvalidRequestError):
        client.v1.charges.retrieve("ch_nope")
    with pytest.raises(stripe.AuthenticationError):
        stripe.StripeClient(
            UNKNOWN_KEY, base_addresses={"api": emulator.url}, max_network_retries=0
        ).v1.charges.list()
    with pytest.raises(stripe.PermissionError):
        stripe.StripeClient(
            NO_CHARGES_KEY, base_addresses={"api": emulator.url}, max_network_retries=0
        ).v1.charges.list()


def test_the_stripe_library_retries_a_rate_limited_request(fresh_emulator):
    fresh_emulator.faults = Faults(rate_429=0.5, seed=3)
    client = stripe.StripeClient(
        DEMO_KEY, base_addresses={"api": fresh_emulator.url}, max_network_retries=10
    )
    for _ in range(5):
        client.v1.customers.list({"limit": 1})
    statuses = [e.status for e in fresh_emulator.request_log]
    assert statuses.count(200) == 5 and statuses.count(429) == len(statuses) - 5 > 0


# The seeded account


def test_seeding_is_deterministic():
    first, second, other = EmulatorStore(), EmulatorStore(), EmulatorStore()
    seed_account(first, seed=0)
    seed_account(second, seed=0)
    seed_account(other, seed=1)
    assert first.dump() == second.dump()
    assert first.dump() != other.dump()


@pytest.mark.parametrize(
    "seed, now", [(0, DEFAULT_NOW), (3, DEFAULT_NOW + 5 * 86400 + 7 * 3600), (11, 1800000000)]
)
def test_the_seeded_money_adds_up(seed, now):
    store = EmulatorStore()
    seed_account(store, seed=seed, now=now)
    transactions = {t["id"]: t for t in store.objects("balance_transactions")}
    for charge in store.objects("charges"):
        if charge["status"] != "succeeded":
            assert charge["balance_transaction"] is None and charge["amount_captured"] == 0
            continue
        txn = transactions[charge["balance_transaction"]]
        assert txn["source"] == charge["id"] and txn["type"] == "charge"
        if txn["currency"] == charge["currency"]:
            assert txn["amount"] == charge["amount_captured"]
        else:  # converted at the recorded rate
            assert txn["amount"] == int(charge["amount_captured"] * txn["exchange_rate"] + 0.5)
        assert txn["net"] == txn["amount"] - sum(f["amount"] for f in txn["fee_details"])
        refunds = [r for r in store.objects("refunds") if r["charge"] == charge["id"]]
        assert charge["amount_refunded"] == sum(r["amount"] for r in refunds)
    for payment in store.objects("invoice_payments"):
        intent = store.get("payment_intents", payment["payment"]["payment_intent"])
        invoice = store.get("invoices", payment["invoice"])
        assert intent["amount"] == payment["amount_requested"] == invoice["amount_due"]
        if payment["status"] == "paid":
            assert store.get("charges", intent["latest_charge"])["status"] == "succeeded"
            assert invoice["status"] == "paid"
    balance = store.balance
    for currency in ("usd", "jpy"):
        available = sum(
            t["net"]
            for t in transactions.values()
            if t["currency"] == currency and t["status"] == "available"
        )
        assert (
            next(f["amount"] for f in balance["available"] if f["currency"] == currency)
            == available
            >= 0
        )


def test_automatic_payouts_reconcile_and_manual_ones_cannot_be_filtered(emulator, store):
    payouts = store.objects("payouts")
    automatic = [p for p in payouts if p["automatic"]]
    manual = [p for p in payouts if not p["automatic"]]
    assert automatic and manual and {p["currency"] for p in automatic} == {"usd", "jpy"}
    for payout in automatic:
        parts = walk(emulator, "/v1/balance_transactions", payout=payout["id"])
        assert parts and all(t["type"] != "payout" for t in parts)
        assert sum(t["net"] for t in parts) == payout["amount"]
        assert store.get("balance_transactions", payout["balance_transaction"])["amount"] == (
            -payout["amount"]
        )
    answer = get(emulator, "/v1/balance_transactions", payout=manual[0]["id"])
    assert answer.status_code == 400
    assert "can only be filtered on automatic" in answer.json()["error"]["message"]


def test_the_seeded_account_has_every_story_a_report_needs(store):
    subscriptions = {s["status"] for s in store.objects("subscriptions")}
    invoices = {i["status"] for i in store.objects("invoices")}
    disputes = store.objects("disputes")
    lines = [line for i in store.objects("invoices") for line in store.lines[i["id"]]]

    assert {"active", "trialing", "past_due", "unpaid", "canceled"} <= subscriptions
    assert {"draft", "open", "paid", "void", "uncollectible"} <= invoices
    assert {d["status"] for d in disputes} == {
        "warning_needs_response",
        "warning_under_review",
        "warning_closed",
        "needs_response",
        "under_review",
        "won",
        "lost",
    }
    # Deadlines around now: one passed, one today, one this week, one later.
    waiting = [d for d in disputes if d["status"] == "needs_response"]
    hours_left = sorted((d["evidence_details"]["due_by"] - DEFAULT_NOW) // 3600 for d in waiting)
    assert hours_left[0] < 0 < hours_left[1] < 24 < hours_left[2] < 7 * 24 < hours_left[3]
    assert any(
        line["parent"]["subscription_item_details"]
        and line["parent"]["subscription_item_details"]["proration"]
        for line in lines
    )
    assert any(line["discount_amounts"] for line in lines)
    assert {c["currency"] for c in store.objects("charges")} == {"usd", "eur", "jpy"}
    refunds = store.objects("refunds")
    charges = {c["id"]: c for c in store.objects("charges")}
    assert any(r["amount"] == charges[r["charge"]]["amount"] for r in refunds)
    assert any(r["amount"] < charges[r["charge"]]["amount"] for r in refunds)
    assert all("number" not in c["payment_method_details"]["card"] for c in charges.values())


def test_the_seeded_account_bills_every_way_a_company_does(store):
    prices = store.objects("prices")
    subscriptions = store.objects("subscriptions")
    invoices = store.objects("invoices")
    charges = store.objects("charges")
    licensed = [
        [i for i in s["items"]["data"] if i["price"]["recurring"]["usage_type"] == "licensed"]
        for s in subscriptions
    ]

    assert {("month", 1), ("month", 3), ("year", 1), ("week", 1)} <= {
        (p["recurring"]["interval"], p["recurring"]["interval_count"])
        for p in prices
        if p["recurring"]
    }
    assert any(item["quantity"] > 1 for items in licensed for item in items)
    assert any(len(items) >= 2 for items in licensed)
    assert {c["duration"] for c in store.objects("coupons") if c["times_redeemed"]} == {
        "once",
        "repeating",
        "forever",
    }
    # Tax on top of the discounted lines, never inside them.
    taxed = [i for i in invoices if i["total_taxes"]]
    assert taxed and all(
        i["total"] == i["total_excluding_tax"] + sum(t["amount"] for t in i["total_taxes"])
        and i["total_excluding_tax"]
        == i["subtotal"] - sum(d["amount"] for d in i["total_discount_amounts"])
        for i in taxed
    )
    unpaid = next(s for s in subscriptions if s["status"] == "unpaid")
    latest = store.get("invoices", unpaid["latest_invoice"])
    assert latest["status"] == "open" and latest["next_payment_attempt"] is None
    assert latest["attempt_count"] == 4
    # Cancellations: asked for, to happen when the period ends; and done at once.
    assert any(
        s["status"] == "active" and s["cancel_at_period_end"] and s["cancel_at"] > DEFAULT_NOW
        for s in subscriptions
    )
    assert any(
        s["status"] == "canceled" and not s["cancel_at_period_end"] and s["cancel_at"] is None
        for s in subscriptions
    )
    updates = [e for e in store.objects("events") if e["type"] == "customer.subscription.updated"]
    assert updates and all(e["data"]["previous_attributes"] for e in updates)
    # A downgrade takes effect at the next renewal, without proration.
    unit_amounts = {}
    for invoice in sorted(invoices, key=lambda i: i["created"]):
        if invoice["billing_reason"] == "subscription_cycle":
            sub = invoice["parent"]["subscription_details"]["subscription"]
            unit = int(store.lines[invoice["id"]][0]["pricing"]["unit_amount_decimal"])
            unit_amounts.setdefault(sub, []).append(unit)
    assert any(units != sorted(units) for units in unit_amounts.values())
    # A hold captured in part: the balance sees what was captured.
    partial = next(c for c in charges if 0 < c["amount_captured"] < c["amount"])
    intent = store.get("payment_intents", partial["payment_intent"])
    txn = store.get("balance_transactions", partial["balance_transaction"])
    assert intent["capture_method"] == "manual"
    assert intent["amount_received"] == partial["amount_captured"] == txn["amount"]
    assert partial["refunded"] is False and partial["amount_refunded"] == 0


def test_it_loads_objects_from_a_fixture_file(tmp_path):
    charge = dict(FIXTURES["charge"], id="ch_fromfile", created=1700000000)
    customer = dict(FIXTURES["customer"], id="cus_fromfile")
    (tmp_path / "page.json").write_text(json.dumps({"object": "list", "data": [charge]}))
    (tmp_path / "list.json").write_text(json.dumps([customer, FIXTURES["balance"]]))
    store = EmulatorStore()

    assert load_fixture(store, tmp_path / "page.json") == 1
    assert load_fixture(store, tmp_path / "list.json") == 2
    with StripeEmulator(store, keys=[KeyGrant(DEMO_KEY)]) as emulator:
        assert get(emulator, "/v1/charges/ch_fromfile").json()["amount"] == charge["amount"]
        assert [c["id"] for c in get(emulator, "/v1/customers").json()["data"]] == ["cus_fromfile"]
        assert get(emulator, "/v1/balance").json()["object"] == "balance"


# The command


def test_the_command_serves_until_interrupted(tmp_path):
    command = [sys.executable, "manage.py", "stripe_emulator", "--port", "0", "--seed", "2"]
    server = subprocess.Popen(
        command,
        cwd=PROJECT,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env={**os.environ, "PYTHONUNBUFFERED": "1"},
    )
    try:
        banner = [server.stdout.readline() for _ in range(3)]
        url = next(w for line in banner for w in line.split() if w.startswith("http://"))
        answer = requests.get(f"{url}/v1/customers", auth=(DEMO_KEY, ""), timeout=10)
    finally:
        server.send_signal(signal.SIGINT)
        output, errors = server.communicate(timeout=60)

    assert answer.status_code == 200 and len(answer.json()["data"]) == 10
    assert DEMO_KEY not in "".join(banner) + output + errors
    assert mask_key(DEMO_KEY) in "".join(banner) + output
    assert f"STRIPE_API_BASE={url}" in "".join(banner) + output
    assert server.returncode == 0
