"""The optional TOTP second factor (django-otp), through the real admin login: required of
superusers and connection admins when LUMEN_REQUIRE_2FA is on, and of anyone who enrolled.
Codes are computed here from the device's key, with the clock pinned."""

import re
from base64 import b32encode
from datetime import timedelta

import pytest
import time_machine
from django.test import Client
from django_otp.oath import totp
from django_otp.plugins.otp_totp.models import TOTPDevice

from tests.conftest import member
from tests.test_logins import T0, can_see_admin, log_in


@pytest.fixture
def clock():
    with time_machine.travel(T0, tick=False) as traveller:
        yield traveller


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
        b32encode(device.bin_key).decode()
    )
    response = client.post("/admin/two-factor/", {"code": code_for(device), "next": "/admin/"})
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
    keyholder = member("erin", "Connection admin")
    client = Client()
    log_in(client, "erin")
    assert not can_see_admin(client)
    enrol(client, keyholder)
    assert can_see_admin(client)

    viewer = Client()
    log_in(viewer, "bob")
    assert can_see_admin(viewer)
