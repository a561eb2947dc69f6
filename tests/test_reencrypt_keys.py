"""Rotating FIELD_ENCRYPTION_KEY: with NEW,OLD the old rows still read, `reencrypt_keys` moves
them to NEW, after which NEW alone reads them. Each step is a process started with the
setting an operator would give it, against the test database."""

import hashlib

import pytest
from cryptography.fernet import Fernet
from django.conf import settings
from django.db.models import TextField
from django.db.models.functions import Cast

from audit.models import AuditEvent
from audit.recorder import Actor
from connectors import webhook_endpoints
from connectors.models import StripeConnection, UndecryptableSecret, WebhookEndpoint
from tests.accounts import connect
from tests.conftest import TEST_KEY
from tests.test_key_never_leaks import assert_clean
from tests.worker import manage as manage_with

pytestmark = pytest.mark.django_db(transaction=True)

SIGNING_SECRET = "whsec_" + "ReencryptMe" + "0123456789abcdefghij"
# What a child prints of the secrets it read: their digests, never the secrets.
READ_SECRETS = (
    "import hashlib; from connectors.models import StripeConnection as C, WebhookEndpoint as W;"
    "print(hashlib.sha256(C.objects.get().secret_key.encode()).hexdigest());"
    "print(hashlib.sha256(W.objects.get().signing_secret.encode()).hexdigest())"
)
EXPECTED = "\n".join(hashlib.sha256(s.encode()).hexdigest() for s in (TEST_KEY, SIGNING_SECRET))


def manage(*args, keys):
    """A command in its own process, reading secrets with FIELD_ENCRYPTION_KEY=keys."""
    return manage_with(*args, FIELD_ENCRYPTION_KEY=",".join(keys))


def stored():
    """The ciphertexts as the database holds them."""
    return [
        model.objects.annotate(stored_as=Cast(name, TextField()))
        .values_list("stored_as", flat=True)
        .get()
        for model, name in ((StripeConnection, "secret_key"), (WebhookEndpoint, "signing_secret"))
    ]


@pytest.fixture
def old_rows(db):
    """A connection and its webhook endpoint, encrypted with this process's (the old) key."""
    connection = connect("acme")
    endpoint = WebhookEndpoint(connection=connection)
    webhook_endpoints.save_endpoint(endpoint, secret=SIGNING_SECRET, actor=Actor.command("tests"))
    return connection


def test_new_comma_old_reads_old_rows_and_reencrypt_moves_them_to_new(old_rows):
    old = settings.FIELD_ENCRYPTION_KEY[0]
    new = Fernet.generate_key().decode()
    before = stored()

    read = manage("shell", "--no-imports", "-c", READ_SECRETS, keys=[new, old])
    assert read.returncode == 0, read.stderr
    assert read.stdout.strip() == EXPECTED

    moved = manage("reencrypt_keys", keys=[new, old])
    assert moved.returncode == 0, moved.stderr
    assert "connectors.StripeConnection.secret_key: 1 re-encrypted, 0 already" in moved.stdout
    assert "connectors.WebhookEndpoint.signing_secret: 1 re-encrypted" in moved.stdout
    after = stored()
    assert all(a != b for a, b in zip(after, before, strict=True))

    read = manage("shell", "--no-imports", "-c", READ_SECRETS, keys=[new])
    assert read.returncode == 0, read.stderr
    assert read.stdout.strip() == EXPECTED
    # This process knows only the old key: the rows are no longer under it.
    with pytest.raises(UndecryptableSecret):
        StripeConnection.objects.get()

    (event,) = AuditEvent.objects.filter(operation="connection.key_reencrypted")
    assert (event.actor_kind, event.connection_name) == ("command", "acme")
    assert event.actor.startswith("reencrypt_keys")
    assert sorted(event.params["secrets"]) == [
        "stripeconnection.secret_key",
        "webhookendpoint.signing_secret",
    ]

    again = manage("reencrypt_keys", "--json", keys=[new, old])
    assert again.returncode == 0, again.stderr
    assert '"reencrypted": 0' in again.stdout and '"reencrypted": 1' not in again.stdout
    assert stored() == after  # nothing written twice
    assert AuditEvent.objects.filter(operation="connection.key_reencrypted").count() == 1

    for result in (moved, again):
        assert_clean(result.stdout + result.stderr, "the command's output")
        assert SIGNING_SECRET not in result.stdout + result.stderr


def test_a_secret_no_key_opens_stops_it_before_anything_changes(old_rows):
    other, new = Fernet.generate_key().decode(), Fernet.generate_key().decode()
    before = stored()
    result = manage("reencrypt_keys", keys=[new, other])
    assert result.returncode != 0
    assert "cannot be decrypted with any key in FIELD_ENCRYPTION_KEY" in result.stderr
    assert "nothing was changed" in result.stderr
    assert stored() == before
    assert not AuditEvent.objects.filter(operation="connection.key_reencrypted").exists()
