"""After a full run (connect, verify, faults, refusals, a revoked key, pages, exports), the key
string is nowhere but in its encrypted column: not in a log line, a page, an export, an
audit row, a command's output, or any other column of the database."""

import io
import logging
import signal
import time

import pytest
from django.core.management import call_command
from django.db import connection as db
from django.urls import reverse
from django.views.debug import ExceptionReporter

from audit.export import AuditEventResource
from audit.models import AuditEvent
from audit.recorder import Actor
from connectors.door import Door, DoorError
from connectors.emulator import Faults
from connectors.models import StripeConnection
from reports.models import ReportRun
from tests.conftest import TEST_KEY, grant_key, revoke_key

ROTATED_KEY = "rk_test_" + "SecondKeyNeverToLeak00" + "R0t8"


def fragments(key):
    # The whole key, and its secret body: a leak of the body alone is still a leak.
    return [key, key[8:], key[8:-4]]


def assert_clean(text, where):
    for key in (TEST_KEY, ROTATED_KEY):
        for fragment in fragments(key):
            assert fragment not in text, f"key material found in {where}"


@pytest.fixture
def everything_logged(caplog):
    caplog.set_level(logging.DEBUG)
    for name in ("stripe", "urllib3", "django", "connectors", "audit"):
        logging.getLogger(name).setLevel(logging.DEBUG)
    return caplog


def test_the_key_appears_nowhere_after_a_full_run(
    client, alice, emulator, everything_logged, capfd, tmp_path, monkeypatch, after_commit
):
    client.force_login(alice)
    seen = []

    # Connect in the admin, then rotate from the command line.
    add = reverse("admin:connectors_stripeconnection_add")
    with after_commit():  # the verification the save queues
        seen.append(client.post(add, {"name": "acme", "key": TEST_KEY}, follow=True).content)
    conn = StripeConnection.objects.get()
    assert conn.health == "ok"
    grant_key(emulator, ROTATED_KEY)
    monkeypatch.setenv("NEW_STRIPE_KEY", ROTATED_KEY)
    out = io.StringIO()
    call_command("connect", "acme", "--key-env", "NEW_STRIPE_KEY", "--json", stdout=out)
    seen.append(out.getvalue())

    # Reports, the first syncing the mirror through the door on the way.
    for kind, first in (("revenue", "--sync-first"), ("mrr", ""), ("disputes", ""),
                        ("payouts", "")):  # fmt: skip
        out = io.StringIO()
        call_command("report", kind, "acme", *filter(None, [first]), stdout=out)
        seen.append(out.getvalue())

    # Every kind of failure the door knows.
    conn.refresh_from_db()
    door = Door(conn, actor=Actor.user(alice), origin="tests")
    emulator.faults = Faults(rate_429=0.3, rate_500=0.3, rate_drop=0.2, seed=11)
    list(door.iter_list("customers"))
    emulator.faults = Faults()
    grant_key(emulator, ROTATED_KEY, permissions={"rak_charge_read"})
    for attempt in (
        lambda: door.list_page("disputes"),
        lambda: door.list_page("charges", nonsense="1"),
        lambda: door.retrieve("charges", "ch_missing"),
        lambda: door.request("POST", "/v1/refunds", {"charge": "ch_1"}),
    ):
        with pytest.raises(DoorError) as e:
            attempt()
        seen.append(str(e.value))
    revoke_key(emulator, ROTATED_KEY)
    with pytest.raises(DoorError) as e:
        door.list_page("charges")
    seen.append(str(e.value))
    conn.refresh_from_db()
    assert conn.health == "failing"

    # Every page staff can open, and every export.
    pages = [
        reverse("admin:connectors_stripeconnection_changelist"),
        reverse("admin:connectors_stripeconnection_change", args=[conn.pk]),
        reverse("admin:audit_auditevent_changelist"),
        reverse("admin:reports_reportrun_changelist"),
    ]
    pages += [
        reverse("admin:reports_reportrun_change", args=[pk])
        for pk in ReportRun.objects.values_list("pk", flat=True)
    ]
    pages += [
        reverse("admin:audit_auditevent_change", args=[pk])
        for pk in AuditEvent.objects.values_list("pk", flat=True)[:50]
    ]
    for url in pages:
        response = client.get(url)
        assert response.status_code == 200, url
        body = b"".join(response.streaming_content) if response.streaming else response.content
        seen.append(body)
    streamed = client.post(reverse("admin:audit_auditevent_export_csv"))
    seen.append(b"".join(streamed.streaming_content))
    seen.append(AuditEventResource().export(AuditEvent.objects.all()).csv)
    exported = tmp_path / "audit.csv"
    call_command("audit_export", "--output", str(exported), stdout=io.StringIO())
    seen.append(exported.read_text())

    for i, item in enumerate(seen):
        assert_clean(item.decode() if isinstance(item, bytes) else item, f"output #{i}")
    assert_clean("\n".join(r.getMessage() for r in everything_logged.records), "the logs")
    captured = capfd.readouterr()
    assert_clean(captured.out + captured.err, "stdout/stderr")
    assert_clean(repr(conn) + str(conn), "the repr")
    assert AuditEvent.objects.filter(method="GET").count() > 20

    # Every column of every table, but the encrypted one.
    with db.cursor() as cursor:
        for table in db.introspection.table_names(cursor):
            cursor.execute(f'SELECT * FROM "{table}"')
            names = [c[0] for c in cursor.description]
            for row in cursor.fetchall():
                for name, value in zip(names, row, strict=True):
                    if (table, name) == ("connectors_stripeconnection", "secret_key"):
                        assert_clean(str(value), "the encrypted column (as stored)")
                        continue
                    assert_clean(str(value), f"{table}.{name}")


def test_a_wrong_encryption_key_fails_loudly(transactional_db, alice, emulator, tmp_path):
    """A process started with another FIELD_ENCRYPTION_KEY must refuse to use the stored
    key, not send ciphertext to Stripe as if it were one. The child is a sync, which talks
    to Stripe (the emulator) as soon as it holds a key."""
    import subprocess
    import sys

    from cryptography.fernet import Fernet

    from connectors import connections
    from tests.worker import ROOT, child_env

    conn = StripeConnection(name="acme")
    connections.save_key(conn, TEST_KEY, actor=Actor.user(alice))
    emulator.clear_log()
    result = subprocess.run(
        [sys.executable, "manage.py", "sync", "acme", "--json"],
        cwd=ROOT,
        env=child_env(FIELD_ENCRYPTION_KEY=Fernet.generate_key().decode()),
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode != 0
    assert emulator.request_log == []  # nothing at all was sent, ciphertext or otherwise
    assert "cannot be decrypted: FIELD_ENCRYPTION_KEY is not the key" in result.stderr
    assert_clean(result.stdout + result.stderr, "the failing process's output")
    assert not AuditEvent.objects.filter(path__startswith="/v1/").exists()


class Interrupted(BaseException):
    """What a worker's time limit or a web server's timeout raises wherever the code happens
    to be (gunicorn raises SystemExit in a worker it aborts)."""


def test_an_error_report_from_inside_a_request_shows_no_key(connection, emulator, settings):
    """An error report (DEBUG off: a logged 500, an email to the admins) shows the local
    variables of every frame; those under the door hold the key and the headers it is in."""
    settings.DEBUG = False
    emulator.faults = Faults(rate_slow=1.0, slow_seconds=1.0)
    door = Door(connection, actor=Actor.command("tests"))
    emulator.clear_log()

    def interrupt(signum, frame):
        raise Interrupted

    previous = signal.signal(signal.SIGALRM, interrupt)
    signal.setitimer(signal.ITIMER_REAL, 0.3)  # while the request waits for its answer
    try:
        with pytest.raises(Interrupted) as e:
            door.list_page("charges")
    finally:
        signal.setitimer(signal.ITIMER_REAL, 0)
        signal.signal(signal.SIGALRM, previous)

    # The emulator answers the abandoned request later: let it, so no later test counts it.
    deadline = time.monotonic() + 10
    while not emulator.request_log and time.monotonic() < deadline:
        time.sleep(0.05)

    reporter = ExceptionReporter(None, e.type, e.value, e.tb)
    text, html = reporter.get_traceback_text(), reporter.get_traceback_html()
    assert "urllib3" in text and "stripe" in text  # the report reaches the request in flight
    assert_clean(text, "the error report (text)")
    assert_clean(html, "the error report (HTML)")
