"""Logging in to the admin, through its real login view: sessions of a working day that end
with the browser, and failed logins throttled per username and address (django-axes)."""

from datetime import UTC, datetime, timedelta

import pytest
import time_machine
from django.test import Client

T0 = datetime(2026, 3, 2, 9, 0, tzinfo=UTC)
PASSWORD = "password"  # the fixtures' users' (tests/conftest.py)
WRONG = "guess"


@pytest.fixture
def clock():
    with time_machine.travel(T0, tick=False) as traveller:
        yield traveller


def log_in(client, username, password=PASSWORD, next_url="/admin/"):
    return client.post(
        "/admin/login/", {"username": username, "password": password, "next": next_url}
    )


def can_see_admin(client):
    response = client.get("/admin/")
    return response.status_code == 200 and "Log out</button>" in response.content.decode()


# Sessions ---------------------------------------------------------------------------------


def test_a_staff_session_lasts_eight_hours_and_ends_with_the_browser(alice, clock):
    client = Client()
    response = log_in(client, "alice")
    assert response.status_code == 302 and response["Location"] == "/admin/"
    cookie = response.cookies["sessionid"]
    # No Max-Age, no Expires: the browser forgets it when it closes.
    assert cookie["max-age"] == "" and cookie["expires"] == ""

    clock.move_to(T0 + timedelta(hours=7, minutes=59))
    assert can_see_admin(client)
    clock.move_to(T0 + timedelta(hours=8, minutes=1))
    response = client.get("/admin/")
    assert response.status_code == 302 and response["Location"].startswith("/admin/login/")


# Failed logins ----------------------------------------------------------------------------


def test_failed_logins_lock_that_username_from_that_address(alice, bob, clock, settings):
    settings.AXES_FAILURE_LIMIT = 3
    settings.AXES_COOLOFF_TIME = timedelta(minutes=30)
    attacker = Client(REMOTE_ADDR="203.0.113.7")
    for _ in range(2):
        response = log_in(attacker, "alice", "guess")
        assert response.status_code == 200
        assert "Please enter the correct username and password" in response.content.decode()
    locked = log_in(attacker, "alice", "guess")
    assert locked.status_code == 429
    page = locked.content.decode()
    assert "Login locked" in page and "Too many failed logins for <strong>alice</strong>" in page
    assert "locked\nfor 30 minutes" in page or "for 30 minutes" in " ".join(page.split())

    # Even the right password is refused from there now, before it is checked.
    assert log_in(attacker, "alice").status_code == 429
    assert not can_see_admin(attacker)

    # The lock is for that pair only: alice from her own address, bob from the attacker's.
    assert log_in(Client(REMOTE_ADDR="198.51.100.2"), "alice").status_code == 302
    assert log_in(Client(REMOTE_ADDR="203.0.113.7"), "bob").status_code == 302

    # It lifts once the cool-off has passed.
    clock.move_to(T0 + timedelta(minutes=31))
    again = Client(REMOTE_ADDR="203.0.113.7")
    assert log_in(again, "alice").status_code == 302 and can_see_admin(again)


def test_behind_a_proxy_the_address_is_the_one_the_proxy_saw(alice, clock, settings):
    settings.AXES_FAILURE_LIMIT = 2
    settings.LUMEN_BEHIND_PROXY = True

    def attempt(claimed, password=WRONG):
        # The client claims any X-Forwarded-For it likes; the proxy appends the real one.
        client = Client(REMOTE_ADDR="10.0.0.1", HTTP_X_FORWARDED_FOR=f"{claimed}, 203.0.113.7")
        return log_in(client, "alice", password)

    assert attempt("1.1.1.1").status_code == 200
    assert attempt("2.2.2.2").status_code == 429  # a new claimed address per guess: no help
    assert attempt("3.3.3.3", PASSWORD).status_code == 429
