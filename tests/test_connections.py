"""Stripe connections in the admin: keys validated, encrypted, masked, verified, rotated."""

import pytest
from django.db import connection as db
from django.urls import reverse

from audit import verification as audit_verification
from audit.models import AuditEvent
from audit.recorder import Actor
from connectors import connections
from connectors.emulator import Canned, Faults
from connectors.models import StripeConnection
from tests.conftest import TEST_KEY, grant_key, revoke_key

ADD_URL = reverse("admin:connectors_stripeconnection_add")
LIST_URL = reverse("admin:connectors_stripeconnection_changelist")


def change_url(conn):
    return reverse("admin:connectors_stripeconnection_change", args=[conn.pk])


@pytest.fixture
def staff_client(client, alice):
    client.force_login(alice)
    return client


@pytest.mark.parametrize(
    "key, message",
    [
        ("pk_live_" + "a" * 30, "publishable key"),
        ("rk_live_" + "a" * 5, "does not look like a Stripe API key"),
        ("rk_live_" + "a" * 20 + " b", "does not look like a Stripe API key"),
        ("", "Paste a Stripe key"),
    ],
)
def test_it_refuses_a_bad_key_and_saves_nothing(staff_client, emulator, key, message):
    r = staff_client.post(ADD_URL, {"name": "acme", "key": key})
    assert r.status_code == 200
    assert message in r.content.decode()
    assert not StripeConnection.objects.exists()
    assert not AuditEvent.objects.exists()
    assert emulator.request_log == []
    if key:
        assert key not in r.content.decode()


def test_it_saves_a_restricted_key_encrypted_and_verifies_it(
    staff_client, emulator, alice, after_commit
):
    with after_commit():
        r = staff_client.post(ADD_URL, {"name": "acme", "key": TEST_KEY}, follow=True)
        # The page asks Stripe once whether it knows the key; the verification (seventeen
        # calls) waits for a worker.
        assert [(e.path, e.status) for e in emulator.request_log] == [("/v1/account", 403)]
    assert r.status_code == 200
    assert "Verifying acme with Stripe" in r.content.decode()
    conn = StripeConnection.objects.get(name="acme")
    assert (conn.key_kind, conn.mode, conn.health) == ("restricted", "test", "ok")
    assert conn.created_by == alice
    # A restricted key cannot read the account: its id comes from Stripe's refusal, its
    # name from the invoices.
    assert conn.account_id == emulator.store.account["id"]
    assert conn.account_name == emulator.store.objects("invoices")[0]["account_name"]
    assert conn.unreadable_resources == {}
    assert "charges" in conn.readable_resources and "payouts" in conn.readable_resources
    assert ">OK<" in staff_client.get(change_url(conn)).content.decode()

    with db.cursor() as cursor:
        cursor.execute("SELECT secret_key FROM connectors_stripeconnection")
        (stored,) = cursor.fetchone()
    assert TEST_KEY not in stored
    assert TEST_KEY[8:] not in stored
    assert conn.secret_key == TEST_KEY  # and it decrypts back

    events = list(AuditEvent.objects.order_by("id"))
    probe, created = events[:2]
    assert (probe.operation, probe.path, probe.http_status) == ("retrieve", "/v1/account", 403)
    # Before the connection exists: named, with no id yet. A restricted key's 403 there is
    # what is expected, not a refusal.
    assert (probe.connection_id, probe.connection_name, probe.actor) == (None, "acme", "alice")
    assert probe.outcome == "not_permitted"
    assert created.operation == "connection.created"
    assert events[-1].operation == "connection.verified"


def test_pages_show_only_the_masked_key(staff_client, connection):
    for url in (LIST_URL, change_url(connection)):
        page = staff_client.get(url).content.decode()
        assert "rk_test_…Wxyz" in page
        assert TEST_KEY not in page
        assert TEST_KEY[8:20] not in page
    assert repr(connection) == "<StripeConnection acme rk_test_…Wxyz>"
    assert str(connection) == "acme"


def test_the_changelist_shows_mode_and_health_badges(staff_client, connection):
    page = staff_client.get(LIST_URL).content.decode()
    assert ">TEST<" in page
    assert ">OK<" in page


def test_a_full_secret_key_is_accepted_with_a_warning(staff_client, emulator, after_commit):
    secret = "sk_test_" + "S3cretKeyForTests0000" + "Abcd"
    grant_key(emulator, secret)
    with after_commit():
        r = staff_client.post(ADD_URL, {"name": "acme", "key": secret}, follow=True)
    page = r.content.decode()
    assert "full secret key" in page and "Charges: Read" in page
    conn = StripeConnection.objects.get()
    assert conn.key_kind == "secret" and conn.masked_key == "sk_test_…Abcd"
    # A secret key reads the account itself, and its name as the dashboard shows it.
    assert conn.account_name == emulator.store.account["settings"]["dashboard"]["display_name"]
    assert secret not in page


def test_a_blank_key_on_change_keeps_the_key(staff_client, connection):
    r = staff_client.post(change_url(connection), {"name": "acme-eu", "key": ""})
    assert r.status_code == 302
    connection.refresh_from_db()
    assert connection.name == "acme-eu"
    assert connection.secret_key == TEST_KEY
    assert connection.key_rotated_at is None


def test_pasting_a_new_key_rotates_it(staff_client, connection, emulator, after_commit):
    new_key = "rk_test_" + "RotatedKeyForLumen0000" + "N3w9"
    grant_key(emulator, new_key)
    before = connection.secret_key
    with after_commit():
        r = staff_client.post(change_url(connection), {"name": "acme", "key": new_key})
    assert r.status_code == 302
    connection.refresh_from_db()
    assert before != connection.secret_key == new_key
    assert connection.masked_key == "rk_test_…N3w9"
    assert connection.key_rotated_at is not None
    assert connection.health == "ok"
    rotated = AuditEvent.objects.get(operation="connection.key_rotated")
    assert rotated.actor == "alice" and rotated.params["key"] == "rk_test_…N3w9"


def test_a_bad_key_on_change_changes_nothing(staff_client, connection):
    r = staff_client.post(change_url(connection), {"name": "other", "key": "pk_test_" + "x" * 24})
    assert r.status_code == 200 and "publishable key" in r.content.decode()
    connection.refresh_from_db()
    assert connection.name == "acme" and connection.secret_key == TEST_KEY


def test_verify_records_which_resources_the_key_can_read(
    staff_client, connection, emulator, after_commit
):
    everything = {
        "rak_customer_read",
        "rak_charge_read",
        "rak_refund_read",
        "rak_payment_intent_read",
        "rak_invoice_read",
        "rak_subscription_read",
        "rak_product_read",
        "rak_plan_read",
        "rak_coupon_read",
        "rak_promotion_code_read",
        "rak_balance_read",
        "rak_event_read",
    }
    grant_key(emulator, TEST_KEY, permissions=everything)  # no disputes, no payouts
    with after_commit():
        staff_client.post(change_url(connection), {"name": "acme", "key": "", "_verify": "1"})
    connection.refresh_from_db()
    assert connection.unreadable_resources == {
        "disputes": "rak_dispute_read",
        "payouts": "rak_payout_read",
    }
    assert "disputes" not in connection.readable_resources
    assert "charges" in connection.readable_resources
    assert connection.health == "ok"
    detail = staff_client.get(change_url(connection)).content.decode()
    assert "Disputes: Read" in detail and "Payouts: Read" in detail


def test_a_live_key_is_recorded_as_live(staff_client, emulator, after_commit):
    live_key = "rk_live_" + "LiveModeKeyForTests000" + "L1ve"
    grant_key(emulator, live_key)
    with after_commit():
        staff_client.post(ADD_URL, {"name": "acme-live", "key": live_key})
    conn = StripeConnection.objects.get()
    assert conn.mode == "live" and conn.health == "ok"
    assert ">LIVE<" in staff_client.get(LIST_URL).content.decode()


def test_a_revoked_key_turns_the_connection_failing(
    staff_client, connection, emulator, after_commit
):
    revoke_key(emulator, TEST_KEY)
    with after_commit():
        staff_client.post(
            LIST_URL, {"action": "verify_selected", "_selected_action": [connection.pk]}
        )
    connection.refresh_from_db()
    assert connection.health == "failing"
    assert (
        connection.health_reason == "Stripe refused the key (revoked or rotated): paste a new key."
    )
    assert connection.failing_since is not None
    assert "revoked or rotated" in staff_client.get(change_url(connection)).content.decode()
    assert ">Failing<" in staff_client.get(LIST_URL).content.decode()
    verified = AuditEvent.objects.filter(operation="connection.verified").latest("id")
    assert (verified.actor_kind, verified.actor) == ("user", "alice")

    # Pasting a good key again brings it back.
    grant_key(emulator, TEST_KEY)
    with after_commit():
        staff_client.post(change_url(connection), {"name": "acme", "key": TEST_KEY})
    connection.refresh_from_db()
    assert connection.health == "ok" and connection.failing_since is None


def test_deleting_a_connection_is_recorded_and_keeps_its_history(staff_client, connection):
    calls = AuditEvent.objects.filter(connection_id=connection.pk).count()
    url = reverse("admin:connectors_stripeconnection_delete", args=[connection.pk])
    staff_client.post(url, {"post": "yes"})
    assert not StripeConnection.objects.exists()
    deleted = AuditEvent.objects.get(operation="connection.deleted")
    assert deleted.connection_name == "acme" and deleted.actor == "alice"
    assert AuditEvent.objects.filter(connection_id=connection.pk).count() == calls + 1


def test_view_only_staff_cannot_change_a_connection(client, bob, connection):
    client.force_login(bob)
    assert client.get(LIST_URL).status_code == 200
    r = client.post(change_url(connection), {"name": "hijacked", "key": ""})
    assert r.status_code == 403
    connection.refresh_from_db()
    assert connection.name == "acme"


def test_the_admin_index_names_webhook_deliveries_in_english(staff_client):
    page = staff_client.get(reverse("admin:index")).content.decode()
    assert "Webhook deliveries" in page and "deliverys" not in page


def test_saving_the_same_key_again_is_not_a_rotation(staff_client, connection):
    rotations = AuditEvent.objects.filter(operation="connection.key_rotated")
    r = staff_client.post(change_url(connection), {"name": "acme", "key": TEST_KEY})
    assert r.status_code == 302
    connection.refresh_from_db()
    assert connection.key_rotated_at is None and not rotations.exists()
    assert connection.health == "ok" and connection.secret_key == TEST_KEY


# Asking Stripe about a key before it is saved ----------------------------------------------

NEVER_ISSUED = "rk_test_" + "NeverIssuedByStripe000" + "N0pe"  # the emulator refuses it (401)


def test_a_key_stripe_refuses_on_add_is_not_saved(staff_client, emulator):
    r = staff_client.post(ADD_URL, {"name": "acme", "key": NEVER_ISSUED}, follow=True)
    page = r.content.decode()
    assert r.status_code == 200
    assert "Stripe refused this key (401)" in page and "Nothing was saved." in page
    # The red note and no green one: the admin says "added successfully" only on a save.
    assert 'class="errornote"' in page
    assert "added successfully" not in page and 'class="success"' not in page
    assert not StripeConnection.objects.exists()
    assert NEVER_ISSUED not in page and NEVER_ISSUED[8:] not in page
    # One call, on the log in the user's name, not retried.
    (call,) = AuditEvent.objects.all()
    assert (call.path, call.http_status, call.outcome) == ("/v1/account", 401, "client_error")
    assert (call.connection_name, call.actor) == ("acme", "alice")
    assert [entry.path for entry in emulator.request_log] == ["/v1/account"]


def test_a_key_stripe_refuses_on_rotation_is_not_saved_and_the_connection_turns_failing(
    staff_client, connection, emulator
):
    r = staff_client.post(change_url(connection), {"name": "acme", "key": NEVER_ISSUED})
    page = r.content.decode()
    assert r.status_code == 200
    assert "Stripe refused this key (401)" in page
    assert "keeps its current key (rk_test_…Wxyz)" in page
    connection.refresh_from_db()
    # The old key stays, and the connection turns failing, saying why.
    assert connection.secret_key == TEST_KEY and connection.key_rotated_at is None
    assert connection.health == "failing" and "refused the new key" in connection.health_reason
    assert connection.failing_since is not None
    assert not AuditEvent.objects.filter(operation="connection.key_rotated").exists()
    refused = AuditEvent.objects.get(http_status=401)
    assert refused.connection_id == connection.pk


@pytest.mark.parametrize(
    "fault, what",
    [
        (Faults(rate_500=1.0), "server error"),
        (Faults(rate_drop=1.0), "dropped connection"),
        (Faults(answer=Canned.echoing_the_key(status=503)), "an error echoing the key"),
    ],
)
def test_a_key_stripe_cannot_be_asked_about_is_saved_unverified_with_the_reason(
    staff_client, emulator, fault, what
):
    emulator.faults = fault
    r = staff_client.post(ADD_URL, {"name": "acme", "key": TEST_KEY}, follow=True)
    page = r.content.decode()
    conn = StripeConnection.objects.get()
    assert conn.secret_key == TEST_KEY and conn.health == "unverified"
    assert conn.health_reason.startswith("Stripe could not be asked about the key"), what
    assert "saved with the key, not verified yet" in page
    assert conn.health_reason in page  # on the message and on the connection's page
    assert conn.health_reason in staff_client.get(change_url(conn)).content.decode()
    # Asked once: the person is waiting for the page.
    assert len(emulator.request_log) + len(emulator.dropped) == 1
    for text in (page, conn.health_reason, *AuditEvent.objects.values_list("message", flat=True)):
        assert TEST_KEY not in text and TEST_KEY[8:] not in text


def test_a_key_that_never_worked_is_refused_not_revoked(db, emulator, alice):
    conn = StripeConnection(name="acme")
    connections.save_key(conn, TEST_KEY, actor=Actor.user(alice))  # not verified yet
    revoke_key(emulator, TEST_KEY)
    assert not connections.verify(conn, actor=Actor.user(alice)).ok
    conn.refresh_from_db()
    assert conn.health == "failing"
    assert conn.health_reason.startswith("Stripe refused the key; it has never worked")
    assert "revoked or rotated" not in conn.health_reason


def test_a_rotated_key_is_new_until_verified(staff_client, connection, emulator):
    new_key = "rk_test_" + "RotatedKeyForLumen0000" + "N3w9"
    grant_key(emulator, new_key)
    staff_client.post(change_url(connection), {"name": "acme", "key": new_key})
    connection.refresh_from_db()
    assert connection.secret_key == new_key and connection.last_verified_at is None
    revoke_key(emulator, new_key)
    connections.verify(connection, actor=Actor.command("tests"))
    assert "never worked" in connection.health_reason


# The verification's expected 403 --------------------------------------------------------


def test_a_verification_files_the_accounts_403_as_expected_not_as_refused(
    staff_client, connection, emulator
):
    """A restricted key may not read the account (no permission grants it): the 403 is the
    answer the probe expects, and the log says so. A resource the key may not read is
    still a refusal."""
    account = AuditEvent.objects.filter(path="/v1/account").latest("id")
    assert (account.http_status, account.outcome) == (403, "not_permitted")
    assert account.get_outcome_display() == "Not permitted, as expected (probe)"
    assert account.message.startswith("Expected: Stripe lets no restricted key read the account")
    assert not AuditEvent.objects.filter(outcome="client_error").exists()

    grant_key(emulator, TEST_KEY, permissions={"rak_charge_read"})
    connections.verify(connection, actor=Actor.command("tests"))
    refused = set(
        AuditEvent.objects.filter(outcome="client_error").values_list("resource_type", flat=True)
    )
    assert "disputes" in refused and "account" not in refused

    audit_list = reverse("admin:audit_auditevent_changelist")
    page = staff_client.get(audit_list + "?outcome__exact=not_permitted").content.decode()
    assert "Not permitted, as expected (probe)" in page and "/v1/account" in page
    # The new value leaves the chain whole.
    assert audit_verification.verify().intact
