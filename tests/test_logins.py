"""Logging in to the admin, through its real login view: sessions of a working day that end
with the browser, failed logins throttled per username and address (django-axes), and an
optional TOTP second factor (django-otp), required of superusers and connection admins
when LUMEN_REQUIRE_2FA is on."""

import re
from datetime import UTC, datetime, timedelta

import pytest
import time_machine
from django.test import Client
from django_otp.oath import totp
from django_otp.plugins.otp_totp.models import TOTPDevice

from tests.conftest import staff

T0 = datetime(2026, 3, 2, 9, 0, tzinfo=UTC)


@pytest.fixture
def clock():
    with time_machine.travel(T0, tick=False) as traveller:
        yield traveller


def log_in(client, username, password="password", next_url="/admin/"):
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

    def attempt(claimed, password="guess"):
        # The client claims any X-Forwarded-For it likes; the proxy appends the real one.
        client = Client(REMOTE_ADDR="10.0.0.1", HTTP_X_FORWARDED_FOR=f"{claimed}, 203.0.113.7")
        return log_in(client, "alice", password)

    assert attempt("1.1.1.1").status_code == 200
    assert attempt("2.2.2.2").status_code == 429  # a new claimed address per guess: no help
    assert attempt("3.3.3.3", "password").status_code == 429


# The second factor ------------------------------------------------------------------------


def code_for(device):
    """The code an authenticator app shows now (the clock is pinned)."""
    return f"{totp(device.bin_key, step=device.step, t0=device.t0, digits=device.digits):06d}"


def enrol(client, user):
    """From a fresh password login to a verified session, as a user sees it."""
    response = client.get("/admin/", follow=True)
    assert response.redirect_chain[-1][0].startswith("/admin/two-factor/")
    page = response.content.decode()
    assert "Scan this code with an authenticator app" in page and "<svg" in page
    device = TOTPDevice.objects.get(user=user, confirmed=False)
    assert re.search(r'user-select:all">([A-Z2-7]+)<', page).group(1) == (
        __import__("base64").b32encode(device.bin_key).decode()
    )
    response = client.post(
        "/admin/two-factor/", {"code": code_for(device), "next": "/admin/"}
    )
    assert response.status_code == 302 and response["Location"] == "/admin/"
    return device


def test_two_factor_is_optional_unless_required(alice, clock, settings):
    settings.LUMEN_REQUIRE_2FA = False
    client = Client()
    log_in(client, "alice")
    assert can_see_admin(client)
    assert "Two-factor login" in client.get("/admin/").content.decode()  # to enrol


def test_a_superuser_must_enrol_before_any_admin_page(alice, clock, settings):
    settings.LUMEN_REQUIRE_2FA = True
    client = Client()
    response = log_in(client, "alice", next_url="/admin/connectors/stripeconnection/")
    assert response.status_code == 302  # the password was right
    for page in ("/admin/", "/admin/connectors/stripeconnection/", "/admin/auth/user/"):
        response = client.get(page)
        assert response.status_code == 302 and "/admin/login/" in response["Location"], page

    # A wrong code enrols nothing and opens nothing.
    client.get("/admin/two-factor/")
    device = TOTPDevice.objects.get(user=alice)
    wrong = (int(code_for(device)) + 1) % 1_000_000
    response = client.post("/admin/two-factor/", {"code": f"{wrong:06d}"})
    assert "That code is not right" in response.content.decode()
    assert not TOTPDevice.objects.get(user=alice).confirmed
    assert not can_see_admin(client)

    clock.move_to(T0 + timedelta(minutes=2))  # past the throttle of one wrong code
    enrol(client, alice)
    assert TOTPDevice.objects.get(user=alice).confirmed
    assert can_see_admin(client)
    assert client.get("/admin/connectors/stripeconnection/").status_code == 200


def test_an_enrolled_user_gives_a_code_at_every_login(alice, clock, settings):
    settings.LUMEN_REQUIRE_2FA = True
    first = Client()
    log_in(first, "alice")
    device = enrol(first, alice)
    # The first browser's session is verified; a new login is not, until its code.
    clock.move_to(T0 + timedelta(hours=1))
    client = Client()
    log_in(client, "alice")
    response = client.get("/admin/", follow=True)
    assert "Enter the six-digit code" in response.content.decode()
    assert not can_see_admin(client)
    now = T0 + timedelta(hours=1)
    client.post("/admin/two-factor/", {"code": code_for(device), "next": "/admin/"})
    assert can_see_admin(client)
    # Even with the requirement off, an enrolled user is asked for the code.
    settings.LUMEN_REQUIRE_2FA = False
    clock.move_to(T0 + timedelta(hours=2))
    later = Client()
    log_in(later, "alice")
    assert not can_see_admin(later)
    assert can_see_admin(first)


def test_connection_admins_must_pass_it_and_viewers_need_not(bob, clock, settings):
    settings.LUMEN_REQUIRE_2FA = True
    keyholder = staff("erin", ["view_stripeconnection", "change_stripeconnection"])
    client = Client()
    log_in(client, "erin")
    assert not can_see_admin(client)
    enrol(client, keyholder)
    assert can_see_admin(client)

    viewer = Client()
    log_in(viewer, "bob")
    assert can_see_admin(viewer)
