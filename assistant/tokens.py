"""Issuing, checking and revoking assistant tokens (assistant.models.AccessToken).

The admin issues and revokes them; both MCP transports check them here, on every tool call,
so a token revoked or expired while an assistant is connected stops working at its next call.
"""

import hashlib
import secrets
from datetime import timedelta

from django.db import transaction
from django.utils import timezone

from assistant.models import AccessToken
from audit.recorder import Actor, record

PREFIX = "lumen_"
# Far enough for a working quarter; a token that lives for ever is one nobody remembers.
DEFAULT_LIFETIME = timedelta(days=90)
MAX_LIFETIME = timedelta(days=366)
# A token is marked used at most this often: the admin shows when it was last used, to the
# minute, and a write with its commit on every tool call cost more than the call's lookup.
TOUCH_EVERY = timedelta(minutes=1)


class TokenRefused(Exception):
    """The token cannot be used; the message says why, for the person holding it. `token`:
    the token refused, when it is one Lumen issued (revoked, expired, its user gone)."""

    def __init__(self, message, token=None):
        super().__init__(message)
        self.token = token


def digest_of(secret):
    return hashlib.sha256(secret.encode()).hexdigest()


def issue(token, *, origin="admin"):
    """Save a new token (an unsaved AccessToken with its user, name and expiry), recorded on
    the audit log. Returns its secret, which exists only in this return value: the caller
    shows it once."""
    secret = PREFIX + secrets.token_urlsafe(32)
    token.digest, token.hint = digest_of(secret), secret[-4:]
    with transaction.atomic():
        token.save()
        recorded(token, token.user, "assistant.token_created", origin)
    return secret


def revoke(tokens, *, by, origin="admin"):
    """Revoke the tokens not revoked yet; returns how many were."""
    now = timezone.now()
    count = 0
    with transaction.atomic():
        for token in tokens.filter(revoked_at__isnull=True).select_related("user"):
            AccessToken.objects.filter(pk=token.pk).update(revoked_at=now)
            recorded(token, by, "assistant.token_revoked", origin)
            count += 1
    return count


def recorded(token, by, operation, origin):
    record(
        actor=Actor.user(by),
        operation=operation,
        origin=origin,
        resource_type="assistant_token",
        object_id=str(token.pk),
        params={
            "name": token.name,
            "user": token.user.get_username(),
            "token": token.masked,
            "expires_at": token.expires_at.isoformat(),
        },
    )


def authenticate(secret, now=None, touch=True):
    """The active token whose secret this is, with its user; raises TokenRefused saying why
    not. `touch`: mark it used (one UPDATE, unless it was marked within TOUCH_EVERY)."""
    now = now or timezone.now()
    if not secret or not secret.strip():
        raise TokenRefused(
            "No assistant token was given. Create one in Lumen's admin (Setup → Assistant "
            "tokens) and pass it as LUMEN_MCP_TOKEN (stdio) or as a bearer token (HTTP)."
        )
    token = (
        AccessToken.objects.select_related("user").filter(digest=digest_of(secret.strip())).first()
    )
    if token is None:
        raise TokenRefused(
            "This assistant token is not one Lumen issued (or it was mistyped). Create one "
            "in Lumen's admin (Setup → Assistant tokens)."
        )
    state = token.state(now)
    if state == AccessToken.State.REVOKED:
        raise TokenRefused(
            f"The assistant token {token.name!r} ({token.masked}) was revoked on "
            f"{token.revoked_at:%Y-%m-%d %H:%M} UTC. Create a new one in Lumen's admin.",
            token,
        )
    if state == AccessToken.State.EXPIRED:
        raise TokenRefused(
            f"The assistant token {token.name!r} ({token.masked}) expired on "
            f"{token.expires_at:%Y-%m-%d %H:%M} UTC. Create a new one in Lumen's admin.",
            token,
        )
    user = token.user
    if not (user.is_active and user.is_staff):
        raise TokenRefused(
            f"The assistant token {token.name!r} belongs to {user.get_username()}, who is no "
            "longer active staff.",
            token,
        )
    if touch and (token.last_used_at is None or now - token.last_used_at >= TOUCH_EVERY):
        AccessToken.objects.filter(pk=token.pk).update(last_used_at=now)
        token.last_used_at = now
    return token
