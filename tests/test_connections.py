"""Stripe connections in the admin: keys validated, encrypted, masked, verified, rotated."""

import pytest
from django.db import connection as db
from django.urls import reverse

from audit.models import AuditEvent
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
        # The page answers at once; the verification waits for a worker.
        assert emulator.request_log == []
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

    operations = list(AuditEvent.objects.order_by("id").values_list("operation", flat=True))
    assert operations[0] == "connection.created"
    assert operations[-1] == "connection.verified"


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
