"""The connect and demo commands, run as a user runs them."""

import io
import json
import os
import re
import subprocess
import sys

import pytest
import requests
from django.core.management import CommandError, call_command

from audit.models import AuditEvent
from connectors.models import StripeConnection, SyncRun
from tests import accounts as account
from tests.conftest import TEST_KEY, grant_key, revoke_key
from tests.worker import ROOT, manage, url_of_test_database


def connect(*args, **env):
    out, err = io.StringIO(), io.StringIO()
    call_command("connect", *args, stdout=out, stderr=err)
    return out.getvalue(), err.getvalue()


def test_it_connects_from_an_environment_variable(db, emulator, monkeypatch):
    monkeypatch.setenv("ACME_KEY", TEST_KEY)
    out, _ = connect("acme", "--key-env", "ACME_KEY")
    conn = StripeConnection.objects.get(name="acme")
    assert conn.health == "ok" and conn.mode == "test"
    assert f"acme: {conn.account_name} (test mode), key rk_test_…Wxyz" in out
    (readable,) = [line for line in out.splitlines() if line.startswith("can read: ")]
    assert {"customers", "charges", "events"} <= set(readable[len("can read: ") :].split(", "))
    assert TEST_KEY not in out
    created = AuditEvent.objects.get(operation="connection.created")
    assert created.actor_kind == "command" and created.actor.startswith("connect (")


def test_it_connects_from_a_file_and_prints_json(db, emulator, tmp_path):
    key_file = tmp_path / "key"
    key_file.write_text(TEST_KEY + "\n")
    out, _ = connect("acme", "--key-file", str(key_file), "--json")
    document = json.loads(out)
    assert document["connection"] == "acme" and document["key"] == "rk_test_…Wxyz"
    assert document["ok"] is True and document["unreadable"] == {}
    assert document["account_id"].startswith("acct_")


def test_running_it_again_with_another_key_rotates_it(db, emulator, monkeypatch):
    monkeypatch.setenv("ACME_KEY", TEST_KEY)
    connect("acme", "--key-env", "ACME_KEY")
    rotations = AuditEvent.objects.filter(operation="connection.key_rotated")
    connect("acme", "--key-env", "ACME_KEY")  # the same key: not a rotation
    assert not rotations.exists() and StripeConnection.objects.get().key_rotated_at is None
    other = "rk_test_" + "AnotherKeyForLumen0000" + "Oth3"
    grant_key(emulator, other)
    monkeypatch.setenv("ACME_KEY", other)
    connect("acme", "--key-env", "ACME_KEY")
    assert StripeConnection.objects.count() == 1
    assert rotations.count() == 1 and StripeConnection.objects.get().masked_key.endswith("Oth3")


@pytest.mark.parametrize(
    "key, message",
    [("pk_test_" + "p" * 30, "publishable key"), ("nonsense", "does not look like")],
)
def test_a_bad_key_is_refused_and_nothing_is_saved(db, emulator, monkeypatch, key, message):
    monkeypatch.setenv("ACME_KEY", key)
    with pytest.raises(CommandError, match=message):
        connect("acme", "--key-env", "ACME_KEY")
    assert not StripeConnection.objects.exists() and not AuditEvent.objects.exists()
    assert emulator.request_log == []


def test_an_unset_variable_is_a_clear_error(db, emulator):
    with pytest.raises(CommandError, match="NO_SUCH_VARIABLE is empty or not set"):
        connect("acme", "--key-env", "NO_SUCH_VARIABLE")


def test_it_never_takes_the_key_as_an_argument(db, emulator):
    with pytest.raises(CommandError):
        connect("acme", TEST_KEY)


def test_a_key_stripe_refuses_is_not_saved(db, emulator, monkeypatch):
    monkeypatch.setenv("ACME_KEY", TEST_KEY)
    revoke_key(emulator, TEST_KEY)
    with pytest.raises(CommandError, match=r"Stripe refused this key \(401\).*Nothing was saved"):
        connect("acme", "--key-env", "ACME_KEY")
    assert not StripeConnection.objects.exists()
    assert AuditEvent.objects.get().http_status == 401  # the one call, on the log


def test_a_refused_new_key_leaves_the_connection_its_key(db, emulator, monkeypatch):
    monkeypatch.setenv("ACME_KEY", TEST_KEY)
    connect("acme", "--key-env", "ACME_KEY")
    monkeypatch.setenv("ACME_KEY", "rk_test_" + "NeverIssuedByStripe000" + "N0pe")
    with pytest.raises(CommandError, match=r"keeps its current key \(rk_test_…Wxyz\)"):
        connect("acme", "--key-env", "ACME_KEY")
    conn = StripeConnection.objects.get()
    assert conn.secret_key == TEST_KEY and conn.health == "failing"


def test_a_revoked_key_exits_non_zero_with_the_reason(db, emulator, monkeypatch):
    monkeypatch.setenv("ACME_KEY", TEST_KEY)
    connect("acme", "--key-env", "ACME_KEY")
    revoke_key(emulator, TEST_KEY)  # in Stripe's dashboard; the connection still holds it
    with pytest.raises(SystemExit) as e:
        connect("acme", "--key-env", "ACME_KEY")
    assert e.value.code == 1
    conn = StripeConnection.objects.get()
    assert conn.health == "failing" and "revoked or rotated" in conn.health_reason


@pytest.mark.django_db(transaction=True)
def test_the_demo_serves_a_working_portal(tmp_path):
    """`manage.py demo` as the README runs it: the admin answers on 127.0.0.1, the printed
    login works, the demo connection is verified with its calls on the audit log, and the
    front page shows the figures of a run of each report. A second demo on its ports is
    refused and changes nothing, and the commands it prints work against it as printed."""
    env = {**os.environ, "DATABASE_URL": url_of_test_database(), "PYTHONUNBUFFERED": "1"}
    process = subprocess.Popen(
        [sys.executable, "manage.py", "demo", "--port", "0", "--emulator-port", "0"],
        cwd=ROOT,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    try:
        printed = []
        for line in process.stdout:  # blocks until the demo prints; no sleeping
            printed.append(line)
            if line.startswith("Log in as"):
                break
        text = "".join(printed)
        assert "Verified: 16 of 16 resources readable" in text, text
        username, password = re.search(r"Log in as (\S+) / (\S+)", text).groups()
        base = re.search(r"Admin: (http://127\.0\.0\.1:(\d+))/admin/", text).group(1)
        ports = [
            "--port",
            base.rsplit(":", 1)[1],
            "--emulator-port",
            re.search(r"Stripe emulator: http://127\.0\.0\.1:(\d+)", text).group(1),
        ]
        events_before = AuditEvent.objects.count()

        second = subprocess.run(
            [sys.executable, "manage.py", "demo", *ports],
            cwd=ROOT,
            env=env,
            capture_output=True,
            text=True,
            timeout=120,
        )
        assert second.returncode == 2, second.stdout + second.stderr
        assert "is another demo running?" in second.stderr
        assert "Nothing was changed" in second.stderr
        assert AuditEvent.objects.count() == events_before

        session = requests.Session()  # the first demo's password still logs in
        login = session.get(f"{base}/admin/login/", timeout=30)
        session.post(
            f"{base}/admin/login/",
            data={
                "username": username,
                "password": password,
                "csrfmiddlewaretoken": session.cookies["csrftoken"],
                "next": "/admin/",
            },
            headers={"Referer": login.url},
            timeout=30,
        )
        page = session.get(f"{base}/admin/connectors/stripeconnection/", timeout=30).text
        assert "demo" in page and ">OK<" in page and "rk_test_…" in page
        events = session.get(f"{base}/admin/audit/auditevent/", timeout=30).text
        assert "/v1/account" in events
        # A new user sees where the money stands at once: one finished run of each report.
        assert "Reports: revenue succeeded, mrr succeeded, disputes succeeded, payouts" in text
        front = session.get(f"{base}/admin/", timeout=30).text
        assert "Net revenue, last 30 days" in front and "No run yet." not in front
        assert front.count('class="lumen-headline"') >= 5

        # The commands the demo prints, exactly as printed, from the folder it names, in a
        # shell that has none of the settings they need.
        usage = text[text.index("Commands against this demo while it runs, from ") :]
        folder = usage.split("from ", 1)[1].split(":\n", 1)[0]
        sync_line, report_line = [line.strip() for line in usage.splitlines()[1:3]]
        unset = ("DEBUG", "DATABASE_URL", "STRIPE_API_BASE", "LUMEN_VAR_DIR")
        shell = {k: v for k, v in os.environ.items() if k not in unset}
        synced, reported = [
            subprocess.run(
                ["bash", "-c", line],
                cwd=folder,
                env=shell,
                capture_output=True,
                text=True,
                timeout=120,
            )
            for line in (sync_line, report_line)
        ]
        assert synced.returncode == 0, sync_line + synced.stderr
        assert "succeeded" in synced.stdout
        assert reported.returncode == 0, report_line + reported.stderr
        assert "Open disputes" in reported.stdout
    finally:
        process.terminate()
        process.wait(timeout=30)
    demo = StripeConnection.objects.get(name="demo")
    assert demo.health == "ok"
    assert not AuditEvent.objects.filter(operation__startswith="connection.key").exists()
    sync, printed_sync = SyncRun.objects.filter(connection=demo).order_by("pk")
    assert sync.status == "succeeded" and sync.totals()["created"] > 0
    assert printed_sync.actor_kind == "command" and printed_sync.status == "succeeded"
    # Every call it made is on the audit log: 17 to verify, and the syncs'.
    calls = AuditEvent.objects.filter(connection_id=demo.pk, method="GET").count()
    assert calls == 17 + sync.api_calls + printed_sync.api_calls


@pytest.fixture
def small_account():
    """An account of a few objects behind an emulator of its own (STRIPE_API_BASE points at
    it, for the children too)."""
    built = account.Account()
    ada = built.customer("Ada")
    built.pay(ada, 5000, created=account.at(2026, 11, 2))
    with account.served(built) as emulator:
        yield emulator


@pytest.mark.django_db(transaction=True)
def test_sync_exits_1_when_it_fails_and_json_is_one_document(small_account):
    emulator = small_account
    account.connect("acme")

    synced = manage("sync", "acme", "--json", "-v", "2")  # -v 2: progress goes to stderr
    assert synced.returncode == 0, synced.stderr
    document = json.loads(synced.stdout)  # one document, nothing before or after it
    assert document["status"] == "succeeded" and document["totals"]["fetched"] > 0
    assert "page written" in synced.stderr

    revoke_key(emulator, TEST_KEY)
    failed = manage("sync", "acme", "--json")
    assert failed.returncode == 1, failed.stdout + failed.stderr
    document = json.loads(failed.stdout)
    assert document["status"] == "failed" and "paste a new key" in document["message"]
    assert SyncRun.objects.get(pk=document["sync_run"]).status == "failed"

    summary = manage("sync", "acme")
    assert summary.returncode == 1
    assert "failed" in summary.stdout and "paste a new key" in summary.stdout
