"""`manage.py demo` sets a connection's key and makes a superuser with a printed password, so
it refuses any database but an empty one or one earlier demos made, and DEBUG off. It
refuses before writing anything: exit status 2, a clear message, nothing changed."""

import pytest
from django.contrib.auth.models import User
from django.core.management import CommandError, call_command

from audit.models import AuditEvent
from audit.recorder import Actor
from connectors import connections
from connectors.emulator import DEMO_KEY
from connectors.models import StripeConnection
from tests.conftest import TEST_KEY


def run_demo():
    with pytest.raises(CommandError) as refused:
        call_command("demo", "--no-serve", "--port", "0", "--emulator-port", "0")
    assert refused.value.returncode == 2
    assert "Nothing was changed" in str(refused.value)
    return str(refused.value)


def snapshot():
    return (
        list(User.objects.values_list("username", "is_superuser", "password").order_by("pk")),
        list(StripeConnection.objects.values_list("name", "key_last4", "health")),
        AuditEvent.objects.count(),
    )


def test_it_refuses_with_debug_off(db, settings):
    settings.DEBUG = False
    assert "only with DEBUG on" in run_demo()
    assert not User.objects.exists()


def test_it_refuses_a_production_database(alice, emulator, settings):
    """A real connection named demo and a real user named demo: today the demo would put its
    own key on the one and make the other a superuser with a new password."""
    settings.DEBUG = True
    real = StripeConnection(name="demo", created_by=alice)
    connections.save_key(real, TEST_KEY, actor=Actor.user(alice))
    User.objects.create_user("demo", "demo@example.org", "their-own-password", is_staff=True)
    before = snapshot()

    message = run_demo()
    assert "1 user(s) other than 'demo'" in message
    assert "1 connection(s) that no demo made" in message
    assert snapshot() == before
    assert StripeConnection.objects.get(name="demo").secret_key == TEST_KEY
    assert not User.objects.get(username="demo").is_superuser


def test_it_refuses_a_user_named_demo_that_no_demo_made(db, settings):
    settings.DEBUG = True
    User.objects.create_user("demo", "demo@example.org", "their-own-password")
    before = snapshot()
    assert "a user 'demo' that no demo made" in run_demo()
    assert snapshot() == before


def test_it_runs_again_on_what_an_earlier_demo_made(db, emulator, settings):
    """What a previous run left (its connection, its user) is no reason to refuse."""
    settings.DEBUG = True
    earlier = StripeConnection(name="demo")
    connections.save_key(earlier, DEMO_KEY, actor=Actor.command("demo"), origin="command:demo")
    User.objects.create_superuser("demo", "", "printed-last-time")
    from connectors.management.commands.demo import refuse_unless_a_demo_database

    refuse_unless_a_demo_database()  # no CommandError
