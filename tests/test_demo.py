"""The demo as a newcomer meets it: `bin/demo --help` answers at once and creates nothing, a
second demo beside a running one changes nothing, a demo run again keeps its login and key,
and the demo's account is seeded up to the day it runs on."""

import io
import json
import re
import socket
import subprocess
from datetime import UTC, datetime, timedelta

import pytest
from django.contrib.auth.models import User
from django.core.management import CommandError, call_command
from django.core.management.base import BaseCommand

from audit.models import AuditEvent
from connectors.management.commands.demo import Command as Demo
from connectors.models import Dispute, Payout, StripeConnection, SyncRun
from lumen.celery import app as celery_app
from reports.models import ReportRun
from tests.worker import ROOT

# Any day but the emulator's DEFAULT_NOW (2026-11-22): the demo must not care which.
SOME_DAY = datetime(2027, 3, 15, 14, 30, tzinfo=UTC)


@pytest.fixture
def demo(db, settings):
    """demo(*args) runs `manage.py demo --no-serve` in this process on free ports and returns
    what it printed (its JSON document with --json)."""
    settings.DEBUG = True
    # The demo points STRIPE_API_BASE at its emulator: set here, so it is restored after.
    settings.STRIPE_API_BASE = settings.STRIPE_API_BASE

    def run(*args):
        out = io.StringIO()
        call_command("demo", "--no-serve", "--port", "0", "--emulator-port", "0", *args, stdout=out)
        return json.loads(out.getvalue()) if "--json" in args else out.getvalue()

    yield run
    celery_app.conf.changes.pop("task_always_eager", None)  # the demo runs its tasks eagerly


def state():
    """Everything a demo could change, as one comparable value."""
    return (
        list(User.objects.values_list("username", "password", "is_superuser").order_by("pk")),
        list(StripeConnection.objects.values().order_by("pk")),
        AuditEvent.objects.count(),
        SyncRun.objects.count(),
        ReportRun.objects.count(),
    )


def test_help_answers_at_once_and_creates_nothing(tmp_path):
    """No setup, no migration, no var/: only the help, naming every option of manage.py demo
    with the default it really has."""
    var = tmp_path / "var"
    for flag in ("--help", "-h"):
        answer = subprocess.run(
            ["bin/demo", "--port", "9000", flag],
            cwd=ROOT,
            env={"PATH": "/usr/bin:/bin", "LUMEN_VAR_DIR": str(var)},
            capture_output=True,
            text=True,
            timeout=10,
        )
        assert answer.returncode == 0, answer.stderr
        assert answer.stdout.startswith("usage: bin/demo") and answer.stderr == ""
        assert not var.exists()

    described = {
        line.split()[0]: line for line in answer.stdout.splitlines() if line.startswith("  -")
    }
    parser = Demo().create_parser("manage.py", "demo")
    common = {a.dest for a in BaseCommand().create_parser("manage.py", "demo")._actions}
    own = {a.option_strings[0]: a.default for a in parser._actions if a.dest not in common}
    assert described.keys() == own.keys()
    for option, default in own.items():
        if default not in (None, False):
            assert re.search(rf"\(default {default}\b", described[option]), described[option]


def test_a_busy_port_is_refused_before_anything_changes(demo):
    """A second demo beside a running one: today it would reset the printed password and
    then fail on the port. Either port busy: exit status 2, and nothing changed."""
    first = demo("--json")
    before = state()
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        busy = str(taken.getsockname()[1])
        for option, message in [
            ("--emulator-port", "The emulator cannot listen on port"),
            ("--port", "The admin cannot listen on port"),
        ]:
            args = ["--port", "0", "--emulator-port", "0"]
            args[args.index(option) + 1] = busy
            with pytest.raises(CommandError) as refused:
                call_command("demo", *args)
            assert refused.value.returncode == 2
            assert f"{message} {busy}" in str(refused.value)
            assert "another demo running" in str(refused.value)
            assert "Nothing was changed" in str(refused.value)
            assert state() == before
    assert User.objects.get(username="demo").check_password(first["password"])


def open_disputes_and_payouts(today):
    """What the demo's mirror says about `today`: disputes due today, overdue, and payouts
    still in transit that should have arrived."""
    waiting = Dispute.objects.filter(status="needs_response")
    return {
        "due today": sum(d.due_by.date() == today for d in waiting),
        "overdue": sum(d.due_by.date() < today for d in waiting),
        "later": sum(d.due_by.date() > today for d in waiting),
        "late payouts": Payout.objects.filter(
            status="in_transit", arrival_date__date__lt=today
        ).count(),
    }


def test_the_account_is_seeded_up_to_the_day_it_runs_on(demo, time_machine):
    time_machine.move_to(SOME_DAY, tick=True)
    demo()
    assert open_disputes_and_payouts(SOME_DAY.date()) == {
        "due today": 1,
        "overdue": 1,
        "later": 2,
        "late payouts": 0,
    }
    # Paid out weekly up to this day, the latest still on its way to the bank.
    newest = Payout.objects.filter(automatic=True).latest("created")
    assert SOME_DAY - timedelta(days=7) < newest.created < SOME_DAY
    assert newest.status == "in_transit" and newest.arrival_date > SOME_DAY


def test_running_it_again_keeps_the_login_and_the_key(demo, time_machine):
    """A week later, the same demo: the password it printed still works, the key is not
    rotated, and the mirror follows the account to the new day."""
    time_machine.move_to(SOME_DAY, tick=True)
    first = demo("--json")
    connection = StripeConnection.objects.get(name="demo")
    password = User.objects.get(username="demo").password

    later = SOME_DAY + timedelta(days=8, hours=3)
    time_machine.move_to(later, tick=True)
    printed = demo()
    assert "Log in as demo with the password an earlier run printed (kept)" in printed
    assert "manage.py changepassword demo" in printed
    assert User.objects.get(username="demo").password == password
    assert User.objects.get(username="demo").check_password(first["password"])
    again = StripeConnection.objects.get(name="demo")
    assert again.pk == connection.pk and again.key_rotated_at is None and again.health == "ok"
    operations = list(
        AuditEvent.objects.filter(operation__startswith="connection.key").values_list(
            "operation", flat=True
        )
    )
    assert operations == []
    assert AuditEvent.objects.filter(operation="connection.created").count() == 1
    assert open_disputes_and_payouts(later.date()) == {
        "due today": 1,
        "overdue": 1,
        "later": 2,
        "late payouts": 0,
    }
