"""Assistant tokens: created in the admin and shown once, stored as a hash, listed with their
expiry, last use and state, revoked, each user's own (superusers see everyone's)."""

import re
from datetime import timedelta

import pytest
import time_machine
from django.urls import reverse
from django.utils import timezone

from assistant import tokens
from assistant.models import AccessToken
from audit.models import AuditEvent

pytestmark = pytest.mark.django_db

ADD = reverse("admin:assistant_accesstoken_add")
LIST = reverse("admin:assistant_accesstoken_changelist")


def new_token(user, name="laptop", days=30):
    token = AccessToken(user=user, name=name, expires_at=timezone.now() + timedelta(days=days))
    return token, tokens.issue(token)


def create_in_admin(client, name="Claude on my laptop", expires_at=None):
    expires_at = expires_at or timezone.now() + timedelta(days=30)
    return client.post(
        ADD,
        {"name": name, "expires_at_0": f"{expires_at:%Y-%m-%d}", "expires_at_1": "12:00:00"},
        follow=True,
    )


def test_a_token_is_shown_once_after_creation_and_stored_only_as_its_hash(client, viewer):
    client.force_login(viewer)
    response = create_in_admin(client)
    html = response.content.decode()
    shown = re.findall(r"lumen_[A-Za-z0-9_-]{43}", html)
    assert len(set(shown)) == 1, "the new token is shown in the message after creation"
    secret = shown[0]

    token = AccessToken.objects.get()
    assert token.user == viewer and token.name == "Claude on my laptop"
    assert token.digest == tokens.digest_of(secret) and secret not in token.digest
    assert token.hint == secret[-4:]
    # Never again: neither its page nor the list shows it.
    for url in (LIST, reverse("admin:assistant_accesstoken_change", args=[token.pk])):
        page = client.get(url).content.decode()
        assert secret not in page
        assert token.masked in page
    assert tokens.authenticate(secret) == token
    created = AuditEvent.objects.get(operation="assistant.token_created")
    assert created.actor == "dave" and secret not in str(created.params)


def test_the_list_shows_name_user_expiry_last_use_and_state(client, viewer):
    active, secret = new_token(viewer, "active")
    tokens.authenticate(secret)
    new_token(viewer, "revoked")
    tokens.revoke(AccessToken.objects.filter(name="revoked"), by=viewer)
    expired, _ = new_token(viewer, "expired")
    AccessToken.objects.filter(pk=expired.pk).update(expires_at=timezone.now())
    client.force_login(viewer)
    html = client.get(LIST).content.decode()
    for header in ("Name", "User", "Expires at", "Last used at", "State"):
        assert f">{header}<" in html or f">{header}</a>" in html
    found = re.findall(r"(?s)<tr>.*?>(active|revoked|expired)</a>(.*?)</tr>", html)
    rows = dict(found)
    assert "Active" in rows["active"] and "Revoked" in rows["revoked"]
    assert "Expired" in rows["expired"]
    assert "dave" in rows["active"]
    active.refresh_from_db()
    assert active.last_used_at is not None


def test_users_see_and_revoke_their_own_tokens_superusers_everyones(client, viewer, analyst, alice):
    new_token(viewer, "dave's")
    theirs, their_secret = new_token(analyst, "carol's")
    client.force_login(viewer)
    html = client.get(LIST).content.decode()
    assert "dave&#x27;s" in html and "carol&#x27;s" not in html
    change = reverse("admin:assistant_accesstoken_change", args=[theirs.pk])
    assert client.get(change).status_code in (302, 404)
    # The revoke action on somebody else's token changes nothing.
    client.post(LIST, {"action": "revoke_selected", "_selected_action": [theirs.pk]})
    theirs.refresh_from_db()
    assert theirs.revoked_at is None
    assert tokens.authenticate(their_secret) == theirs

    client.force_login(alice)
    html = client.get(LIST).content.decode()
    assert "dave&#x27;s" in html and "carol&#x27;s" in html
    client.post(LIST, {"action": "revoke_selected", "_selected_action": [theirs.pk]})
    theirs.refresh_from_db()
    assert theirs.revoked_at is not None
    revoked = AuditEvent.objects.get(operation="assistant.token_revoked")
    assert revoked.actor == "alice" and revoked.params["user"] == "carol"


def test_a_revoked_an_expired_or_an_unknown_token_is_refused_saying_why(viewer):
    token, secret = new_token(viewer)
    tokens.revoke(AccessToken.objects.filter(pk=token.pk), by=viewer)
    with pytest.raises(tokens.TokenRefused, match="was revoked"):
        tokens.authenticate(secret)

    token, secret = new_token(viewer, "short")
    with pytest.raises(tokens.TokenRefused, match="expired on"):
        tokens.authenticate(secret, now=token.expires_at + timedelta(seconds=1))

    with pytest.raises(tokens.TokenRefused, match="not one Lumen issued"):
        tokens.authenticate(secret[:-1] + ("A" if secret[-1] != "A" else "B"))
    with pytest.raises(tokens.TokenRefused, match="No assistant token"):
        tokens.authenticate("")

    viewer.is_active = False
    viewer.save()
    with pytest.raises(tokens.TokenRefused, match="no longer active staff"):
        tokens.authenticate(secret)


def test_an_expiry_in_the_past_or_beyond_a_year_is_refused_and_nothing_is_created(client, viewer):
    client.force_login(viewer)
    html = create_in_admin(client, expires_at=timezone.now() - timedelta(days=1)).content.decode()
    assert "Choose a moment in the future." in html
    html = create_in_admin(client, expires_at=timezone.now() + timedelta(days=400)).content.decode()
    assert "At most a year from now" in html
    assert not AccessToken.objects.exists()
    assert not AuditEvent.objects.filter(operation="assistant.token_created").exists()


def test_a_token_is_always_its_creators(client, alice, viewer):
    """A token made for somebody else would let its maker act as them on the audit log."""
    client.force_login(alice)
    expires_at = timezone.now() + timedelta(days=30)
    client.post(
        ADD,
        {"name": "for dave", "user": viewer.pk, "expires_at_0": f"{expires_at:%Y-%m-%d}",
         "expires_at_1": "12:00:00"},
    )  # fmt: skip
    assert AccessToken.objects.get().user == alice


def test_last_use_is_kept_to_the_minute_without_a_write_on_every_call(viewer):
    token, secret = new_token(viewer)
    start = timezone.now()
    with time_machine.travel(start, tick=False):
        tokens.authenticate(secret)
    with time_machine.travel(start + timedelta(seconds=59), tick=False):
        tokens.authenticate(secret)
        token.refresh_from_db()
        assert token.last_used_at == start, "a use within the minute writes nothing"
    with time_machine.travel(start + tokens.TOUCH_EVERY, tick=False):
        tokens.authenticate(secret)
        token.refresh_from_db()
        assert token.last_used_at == start + tokens.TOUCH_EVERY
