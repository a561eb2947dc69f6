"""The door: read-only, audited request by request, retried, rate limited, honest errors."""

import json
import logging
import os
import subprocess
import sys
import time
from urllib.parse import urlsplit

import pytest

from audit.models import AuditEvent
from audit.recorder import Actor
from connectors.door import (
    Door,
    KeyRejected,
    PermissionMissing,
    ReadOnlyViolation,
    StripeRequestFailed,
    StripeUnavailable,
)
from connectors.emulator import Canned, Faults
from connectors.ratelimit import LocalLimiter, RedisLimiter
from tests.accounts import connect
from tests.conftest import TEST_KEY, grant_key, redis_url_or_skip, revoke_key
from tests.worker import ROOT, child_env


@pytest.fixture
def door(connection, emulator):
    emulator.clear_log()
    return Door(connection, actor=Actor.command("tests"), origin="tests")


def stripe_calls_since(event_id):
    return AuditEvent.objects.filter(id__gt=event_id, path__startswith="/v1/")


def last_id():
    return AuditEvent.objects.order_by("-id").values_list("id", flat=True).first() or 0


@pytest.mark.parametrize("method", ["POST", "DELETE", "post", "PUT", "PATCH"])
def test_a_write_never_leaves_the_door(door, emulator, method):
    start = last_id()
    with pytest.raises(ReadOnlyViolation, match="read-only"):
        door.request(method, "/v1/refunds", {"charge": "ch_1"})
    assert emulator.request_log == []
    (event,) = stripe_calls_since(start)
    assert event.outcome == "blocked" and event.method == method.upper()
    assert event.path == "/v1/refunds" and event.http_status is None


def test_every_request_served_is_one_audit_row(door, emulator):
    start = last_id()
    charges = list(door.iter_list("charges"))
    door.retrieve("charges", charges[0]["id"])
    door.retrieve("balance")
    events = list(stripe_calls_since(start).order_by("id"))
    assert len(events) == len(emulator.request_log) >= 3
    served_ids = [entry.request_id for entry in emulator.request_log]
    assert [e.request_id for e in events] == served_ids

    listing = events[0]
    assert (listing.operation, listing.resource_type, listing.outcome) == ("list", "charges", "ok")
    assert listing.actor_kind == "command" and listing.actor == "tests"
    assert listing.origin == "tests" and listing.connection_name == "acme"
    assert listing.params["limit"] == 100 and listing.http_status == 200
    assert listing.object_count == min(100, len(charges))
    retrieval = events[-2]
    assert (retrieval.operation, retrieval.object_id) == ("retrieve", charges[0]["id"])


def test_the_date_range_asked_is_recorded(door):
    start = last_id()
    door.list_page("charges", created={"gte": 1_700_000_000, "lt": 1_800_000_000})
    (event,) = stripe_calls_since(start)
    assert event.date_from.timestamp() == 1_700_000_000
    assert event.date_to.timestamp() == 1_800_000_000
    assert event.params["created"] == {"gte": 1_700_000_000, "lt": 1_800_000_000}


def test_it_reads_every_object_of_a_list_in_pages_of_100(door, emulator):
    ids = [c["id"] for c in door.iter_list("charges")]
    assert len(ids) == len(set(ids)) == emulator.store.count("charges")
    assert all(entry.query.get("limit") == "100" for entry in emulator.request_log)


def test_faults_are_retried_until_the_answer_is_exact(door, emulator, settings):
    settings.STRIPE_MAX_RETRIES = 12  # half the attempts fail: allow long runs of bad luck
    # Pages of 2, so that the walk takes enough requests for every kind of fault to occur.
    expected = [c["id"] for c in door.iter_list("charges", limit=2)]
    assert len(expected) > 10
    emulator.clear_log()
    start = last_id()
    emulator.faults = Faults(rate_429=0.3, rate_500=0.2, rate_drop=0.1, seed=3)

    got = [c["id"] for c in door.iter_list("charges", limit=2)]

    assert got == expected
    events = stripe_calls_since(start)
    outcomes = set(events.values_list("outcome", flat=True))
    assert {"rate_limited", "server_error", "network_error", "ok"} <= outcomes
    # Every attempt is on the log: those answered and those whose connection was dropped.
    assert events.count() == len(emulator.request_log) + len(emulator.dropped)


def test_it_gives_up_after_the_retries_and_says_so(door, emulator, settings):
    settings.STRIPE_MAX_RETRIES = 2
    emulator.faults = Faults(rate_500=1.0)
    start = last_id()
    with pytest.raises(StripeUnavailable, match="after 3 attempts"):
        door.list_page("charges")
    assert stripe_calls_since(start).filter(outcome="server_error").count() == 3


def test_a_revoked_key_marks_the_connection_failing(door, connection, emulator):
    revoke_key(emulator, TEST_KEY)
    with pytest.raises(KeyRejected, match="paste a new key"):
        door.list_page("charges")
    connection.refresh_from_db()
    assert connection.health == "failing"
    assert "revoked or rotated" in connection.health_reason
    assert len(emulator.request_log) == 1  # a 401 is not retried


def test_a_missing_permission_names_it(door, emulator):
    grant_key(emulator, TEST_KEY, permissions={"rak_charge_read"})
    with pytest.raises(PermissionMissing) as e:
        door.list_page("disputes")
    assert e.value.permission == "rak_dispute_read" and e.value.resource == "disputes"
    assert "Disputes: Read" in str(e.value)


def test_a_bad_request_is_not_retried(door, emulator):
    with pytest.raises(StripeRequestFailed) as e:
        door.list_page("charges", bogus="1")
    assert e.value.http_status == 400 and "bogus" in str(e.value)
    assert len(emulator.request_log) == 1


def test_an_unreachable_stripe_is_a_network_error(connection, settings):
    settings.STRIPE_API_BASE = "http://127.0.0.1:9"  # discard port: nothing listens
    settings.STRIPE_MAX_RETRIES = 1
    settings.STRIPE_RETRY_BASE_DELAY = 0.001
    door = Door(connection, actor=Actor.command("tests"))
    with pytest.raises(StripeUnavailable):
        door.list_page("charges")
    assert AuditEvent.objects.filter(outcome="network_error").count() == 2


def test_the_local_rate_limit_spaces_requests_by_the_rate():
    limiter = LocalLimiter()
    waits = [limiter.reserve("conn-1", rate=10) for _ in range(5)]
    # Slots 0.1 s apart: each request waits about 0.1 s more than the one before it.
    for before, after in zip(waits, waits[1:], strict=False):
        assert 0.09 < after - before < 0.11
    assert limiter.reserve("conn-2", rate=10) == 0  # another connection has its own budget


def test_the_redis_rate_limit_is_shared_between_processes():
    # Two limiters stand for two worker processes: they share one timeline in Redis.
    url = redis_url_or_skip()
    key = f"test-{os.getpid()}"
    first, second = RedisLimiter(url), RedisLimiter(url)
    waits = [first.reserve(key, rate=20), second.reserve(key, rate=20), first.reserve(key, rate=20)]
    assert waits[0] < 0.05
    assert 0.04 < waits[1] < 0.06
    assert 0.09 < waits[2] < 0.11


def test_it_does_not_retry_when_stripe_says_not_to(door, emulator):
    emulator.faults = Faults(rate_500=1.0, should_retry=False)
    with pytest.raises(StripeRequestFailed) as e:
        door.list_page("charges")
    assert e.value.http_status == 500
    assert len(emulator.request_log) == 1


def test_it_waits_as_long_as_retry_after_asks(door, emulator, settings, monkeypatch):
    slept = []
    monkeypatch.setattr("connectors.door.time.sleep", slept.append)
    settings.STRIPE_MAX_RETRIES = 2
    settings.STRIPE_RETRY_MAX_DELAY = 30
    emulator.faults = Faults(rate_429=1.0, retry_after=7)
    with pytest.raises(StripeUnavailable):
        door.list_page("charges")
    assert slept == [7.0, 7.0]
    assert len(emulator.request_log) == 3


def test_backoff_grows_and_stays_under_the_cap(settings):
    from connectors.door import backoff_delay

    settings.STRIPE_RETRY_BASE_DELAY, settings.STRIPE_RETRY_MAX_DELAY = 1.0, 5.0
    assert all(0 <= backoff_delay(1) <= 1.0 for _ in range(50))
    assert all(0 <= backoff_delay(8) <= 5.0 for _ in range(50))
    assert max(backoff_delay(3) for _ in range(200)) > 2.0  # grows past the first step
    assert backoff_delay(1, retry_after=60) == 5.0  # Retry-After is honoured, within the cap


# Answers that cannot be Stripe's: recorded like any other attempt, and refused ------------


def host_of(emulator):
    return urlsplit(emulator.url).netloc


@pytest.mark.parametrize(
    "body, content_type",
    [
        (json.dumps([{"id": "ch_1", "object": "charge"}]), "application/json"),
        (json.dumps("ok"), "application/json"),
        ("null", "application/json"),
        ("<html><body>Please sign in to the guest network</body></html>", "text/html"),
        ("", "application/json"),
    ],
    ids=["a JSON list", "a JSON string", "null", "HTML", "nothing"],
)
def test_a_200_that_is_not_a_json_object_is_recorded_and_refused(
    door, emulator, body, content_type
):
    emulator.faults = Faults(answer=Canned(200, body, content_type=content_type))
    start = last_id()
    with pytest.raises(StripeRequestFailed, match="not a JSON object") as e:
        door.list_page("charges")
    assert e.value.http_status == 200
    assert len(emulator.request_log) == 1  # sent once: whatever answered will again
    (event,) = stripe_calls_since(start)
    assert (event.path, event.http_status, event.outcome) == ("/v1/charges", 200, "server_error")
    assert event.host == host_of(emulator)
    assert "not a JSON object" in event.message and event.object_count is None
    assert "guest network" not in str(e.value) + event.message


def test_answers_are_parsed_into_plain_dicts_and_what_orjson_refuses_is_still_read(door, emulator):
    # The door has the stripe library parse with orjson (a sixth of a sync's CPU went to the
    # standard library's OrderedDicts): were the library to parse some other way after an
    # upgrade, the pages would come back as OrderedDicts again.
    page = door.list_page("charges")
    assert type(page) is dict and all(type(charge) is dict for charge in page["data"])
    assert page["data"], "the emulator's account has charges"
    # A lone surrogate: JSON that orjson refuses and the standard library reads.
    body = '{"object": "list", "data": [{"id": "ch_1", "description": "\\ud83d"}], '
    emulator.faults = Faults(answer=Canned(200, body + '"has_more": false}'))
    assert door.list_page("charges")["data"][0]["description"] == "\ud83d"


def test_the_stripe_library_formats_its_log_lines_only_when_they_are_kept(
    door, caplog, monkeypatch
):
    # The library formats each answer's whole body into a debug line (2% of a sync's CPU);
    # the door has it format the lines only for a logger or console that shows them.
    import stripe._util

    formatted = []
    logfmt = stripe._util.logfmt
    monkeypatch.setattr(stripe._util, "logfmt", lambda props: formatted.append(1) or logfmt(props))
    caplog.set_level(logging.WARNING, logger="stripe")
    door.list_page("charges")
    assert formatted == []
    caplog.set_level(logging.DEBUG, logger="stripe")
    door.list_page("charges")
    lines = [r.getMessage() for r in caplog.records if r.name == "stripe"]
    # logfmt's keys in order: the body, then the message
    assert sum(line.endswith("message='API response body'") for line in lines) == 1
    assert sum("response_code=200" in line for line in lines) == 1
    assert TEST_KEY not in caplog.text


@pytest.mark.parametrize("status", [301, 302, 307, 308])
def test_a_redirect_is_recorded_and_not_followed(door, emulator, status):
    # Were the redirect followed, the key would go with it, and the balance would come
    # back as if it were the list of charges.
    emulator.faults = Faults(
        answer=Canned.redirect(f"{emulator.url}/v1/balance", status, path="/v1/charges")
    )
    start = last_id()
    with pytest.raises(StripeRequestFailed, match="redirect") as e:
        door.list_page("charges")
    assert e.value.http_status == status
    assert [(r.path, r.status) for r in emulator.request_log] == [("/v1/charges", status)]
    (event,) = stripe_calls_since(start)
    assert (event.http_status, event.outcome, event.attempt) == (status, "server_error", 1)
    assert event.host == host_of(emulator) and "does not follow" in event.message
    assert door.retrieve("balance")["object"] == "balance"  # the door still works


def test_a_netrc_entry_for_stripes_host_never_replaces_the_key(
    door, emulator, tmp_path, monkeypatch
):
    """requests lets a netrc file override a request's Authorization header: an entry for
    the host would send its credentials, not the connection's key."""
    netrc = tmp_path / "netrc"
    netrc.write_text(f"machine {urlsplit(emulator.url).hostname} login sk_test_other password x\n")
    netrc.chmod(0o600)
    monkeypatch.setenv("NETRC", str(netrc))
    assert door.retrieve("balance")["object"] == "balance"
    assert [r.status for r in emulator.request_log] == [200]


# The README's claims about the door -------------------------------------------------------

MASKED = "rk_test_…Wxyz"


def test_a_key_echoed_whole_in_an_error_is_masked(door, connection, emulator):
    start = last_id()
    emulator.faults = Faults(answer=Canned.echoing_the_key(status=400))
    with pytest.raises(StripeRequestFailed) as refused:
        door.list_page("charges")
    emulator.faults = Faults(answer=Canned.echoing_the_key(status=401))
    with pytest.raises(KeyRejected) as rejected:
        door.list_page("charges")
    emulator.faults = Faults(answer=Canned.echoing_the_key(status=500))
    with pytest.raises(StripeUnavailable) as unavailable:
        door.list_page("charges")

    events = list(stripe_calls_since(start))
    assert len(events) == len(emulator.request_log) >= 3  # each answer is on the log
    for event in events:
        assert MASKED in event.message and TEST_KEY not in event.message
    assert MASKED in str(refused.value) and MASKED in str(unavailable.value)
    for error in (refused, rejected, unavailable):
        assert TEST_KEY not in str(error.value)
    connection.refresh_from_db()
    assert TEST_KEY not in connection.health_reason


def test_stripe_timeout_ends_a_hung_request_and_the_attempt_is_audited(door, emulator, settings):
    settings.STRIPE_TIMEOUT = 0.5
    settings.STRIPE_MAX_RETRIES = 1
    emulator.faults = Faults(rate_slow=1.0, slow_seconds=5.0)  # Stripe hangs for 5 s
    start = last_id()
    began = time.monotonic()
    with pytest.raises(StripeUnavailable, match="after 2 attempts"):
        door.list_page("charges")
    took = time.monotonic() - began
    assert 1.0 <= took < 3.0  # two attempts of 0.5 s, not 5 s each
    events = list(stripe_calls_since(start))
    assert [e.outcome for e in events] == ["network_error", "network_error"]
    assert all(500 <= e.duration_ms < 2500 for e in events)
    assert all("network error or timeout" in e.message and e.http_status is None for e in events)
    # The emulator answers the abandoned requests later: let it, so no later test counts them.
    deadline = time.monotonic() + 15
    while len(emulator.request_log) < 2 and time.monotonic() < deadline:
        time.sleep(0.05)
    assert len(emulator.request_log) == 2


# Each child is a process of its own, with its own door, paced by the shared Redis limiter.
PACED_CHILD = """
import os, pathlib, time
from audit.recorder import Actor
from connectors.door import Door
from connectors.models import StripeConnection
connection = StripeConnection.objects.get()
door = Door(connection, actor=Actor.command("tests"), origin=os.environ["ORIGIN"])
door.retrieve("balance")  # the connection to Stripe is open before the race starts
pathlib.Path(os.environ["READY"]).touch()
deadline = time.monotonic() + 60
while not pathlib.Path(os.environ["GO"]).exists() and time.monotonic() < deadline:
    time.sleep(0.01)
for _ in range(int(os.environ["REQUESTS"])):
    door.retrieve("balance")
"""


@pytest.mark.django_db(transaction=True)
def test_the_rate_limit_holds_across_two_processes_sharing_redis(emulator, tmp_path):
    url = redis_url_or_skip()
    connect("acme")
    rate, each = 10, 8  # 16 requests at 10 a second: at least 1.5 s from first to last
    go = tmp_path / "go"
    children = [
        subprocess.Popen(
            [sys.executable, "manage.py", "shell", "--no-imports", "-c", PACED_CHILD],
            cwd=ROOT,
            env=child_env(
                REDIS_URL=url,
                STRIPE_RATE_LIMIT_TEST=str(rate),
                ORIGIN=f"child-{n}",
                READY=str(tmp_path / f"ready-{n}"),
                GO=str(go),
                REQUESTS=str(each),
            ),
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
        )
        for n in (1, 2)
    ]
    deadline = time.monotonic() + 60
    while not all((tmp_path / f"ready-{n}").exists() for n in (1, 2)):
        assert time.monotonic() < deadline, "the children did not start"
        assert all(c.poll() is None for c in children), [c.communicate() for c in children]
        time.sleep(0.05)
    time.sleep(1.0 / rate)  # the warm-up requests' slots are behind us
    go.touch()
    for child in children:
        output, _ = child.communicate(timeout=60)
        assert child.returncode == 0, output

    raced = AuditEvent.objects.filter(origin__startswith="child-", outcome="ok").order_by("id")
    raced = list(raced)[2:]  # after each child's warm-up request
    assert len(raced) == 2 * each
    times = sorted(e.occurred_at.timestamp() for e in raced)
    # Both processes took part all along, and together they kept to the one budget.
    first, second = ([e for e in raced if e.origin == f"child-{n}"] for n in (1, 2))
    assert min(e.id for e in second) < max(e.id for e in first)
    assert min(e.id for e in first) < max(e.id for e in second)
    assert times[-1] - times[0] >= (2 * each - 1) / rate * 0.95
