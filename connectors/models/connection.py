from cryptography.fernet import InvalidToken
from django.conf import settings
from django.core.exceptions import ImproperlyConfigured
from django.db import models
from django.utils import timezone
from django.views.decorators.debug import sensitive_variables
from encrypted_model_fields.fields import EncryptedCharField, decrypt_str, encrypt_str


class UndecryptableSecret(ImproperlyConfigured):
    pass


class SecretField(EncryptedCharField):
    """An encrypted column that fails loudly when it cannot be decrypted.

    The library returns the ciphertext as if it were the value when FIELD_ENCRYPTION_KEY is
    wrong; Lumen would then send ciphertext to Stripe as a key and report "key revoked". A
    wrong encryption key is a deployment error and must be said as one.
    """

    def from_db_value(self, value, *args, **kwargs):
        if value is None or value == "":
            return value
        try:
            return decrypt_str(value)
        except InvalidToken:
            raise UndecryptableSecret(
                f"{self.model.__name__}.{self.name} cannot be decrypted: FIELD_ENCRYPTION_KEY "
                "is not the key these secrets were encrypted with. Restore the right key "
                "(add the new one in front of the old one to rotate)."
            ) from None

    def value_from_object(self, obj):
        """The ciphertext, to whatever reads fields generically (dumpdata and every other
        serializer): a dump is then as safe as the database, and loads back as it was (the
        field decrypts what it is given). Only the attribute itself holds the plaintext."""
        value = getattr(obj, self.attname)
        return encrypt_str(value).decode() if value else value


class StripeConnection(models.Model):
    class KeyKind(models.TextChoices):
        SECRET = "secret", "Secret key"
        RESTRICTED = "restricted", "Restricted key"

    class Mode(models.TextChoices):
        TEST = "test", "Test"
        LIVE = "live", "Live"

    class Health(models.TextChoices):
        UNVERIFIED = "unverified", "Not verified yet"
        OK = "ok", "OK"
        FAILING = "failing", "Failing"

    name = models.SlugField(
        max_length=100, unique=True, help_text="A short nickname used in commands and reports."
    )
    secret_key = SecretField(max_length=255, editable=False)
    key_last4 = models.CharField(max_length=4, editable=False)
    key_kind = models.CharField(max_length=16, choices=KeyKind.choices, editable=False)
    mode = models.CharField(max_length=8, choices=Mode.choices, editable=False)
    account_id = models.CharField(max_length=64, blank=True, editable=False)
    account_name = models.CharField(max_length=255, blank=True, editable=False)
    health = models.CharField(
        max_length=16, choices=Health.choices, default=Health.UNVERIFIED, editable=False
    )
    health_reason = models.TextField(blank=True, editable=False)
    failing_since = models.DateTimeField(null=True, blank=True, editable=False)
    last_verified_at = models.DateTimeField(null=True, blank=True, editable=False)
    readable_resources = models.JSONField(default=list, blank=True, editable=False)
    # resource name -> the permission Stripe says is missing ("rak_charge_read")
    unreadable_resources = models.JSONField(default=dict, blank=True, editable=False)
    key_rotated_at = models.DateTimeField(null=True, blank=True, editable=False)
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="+",
        editable=False,
    )
    created_at = models.DateTimeField(default=timezone.now, editable=False)

    # The mirror. One sync at a time per connection: a sync holds a lease it renews as it
    # goes; a holder that died (a killed worker) is seen as such and its lease taken over.
    sync_interval_minutes = models.PositiveIntegerField(
        default=0,
        help_text="Poll Stripe for changes every N minutes (0: only on demand and webhooks). "
        "Creates the schedule 'Sync NAME' under Periodic tasks.",
    )
    sync_holder = models.CharField(max_length=255, blank=True, editable=False)
    sync_lease_until = models.DateTimeField(null=True, blank=True, editable=False)
    data_as_of = models.DateTimeField(
        null=True, blank=True, editable=False, help_text="When the mirror was last up to date."
    )

    class Meta:
        ordering = ["name"]
        verbose_name = "Stripe connection"
        # What staff may do beyond Django's add/change/delete/view, each granted by a role
        # (see roles/definitions.py). Verifying and syncing call Stripe in the staff user's
        # name; card details and exports take data out of the portal.
        permissions = [
            ("verify_stripeconnection", "Can verify connections (calls Stripe)"),
            ("sync_stripeconnection", "Can sync connections (calls Stripe)"),
            ("export_mirror", "Can export mirrored records as CSV"),
            ("view_card_details", "Can see card details: brand, last four, fingerprint, "
                                  "billing details (full access)"),
        ]  # fmt: skip

    def __str__(self):
        return self.name

    def __repr__(self):
        # The default repr is str(); spelled out so no later change can leak the key here.
        return f"<StripeConnection {self.name} {self.masked_key}>"

    @property
    def masked_key(self):
        if not self.key_kind:
            return ""
        prefix = "rk" if self.key_kind == self.KeyKind.RESTRICTED else "sk"
        return f"{prefix}_{self.mode}_…{self.key_last4}"

    @sensitive_variables("key")
    def holds_key(self, key):
        """Whether `key` is the key this connection already holds (compared here, beside the
        encrypted column: Fernet's random IV makes two encryptions of one key differ)."""
        return bool(self.pk and self.key_last4) and self.secret_key == key

    @sensitive_variables("key")
    def set_key(self, key, parsed):
        """Store a new key (validated by connectors.keys.parse_key) and forget what the old
        one was known to allow, and that it was ever verified: the new key must be verified
        before it is trusted (and a refusal of a key never verified reads as such)."""
        rotating = bool(self.pk and self.key_last4)
        self.secret_key = key
        self.key_last4 = key[-4:]
        self.key_kind = parsed.kind
        self.mode = parsed.mode
        self.health = self.Health.UNVERIFIED
        self.health_reason = ""
        self.failing_since = None
        self.last_verified_at = None
        self.readable_resources = []
        self.unreadable_resources = {}
        if rotating:
            self.key_rotated_at = timezone.now()
        return rotating

    def mark_failing(self, reason):
        """Record that Stripe refuses this connection, keeping the first time it did."""
        now = timezone.now()
        StripeConnection.objects.filter(pk=self.pk, failing_since__isnull=True).update(
            failing_since=now
        )
        StripeConnection.objects.filter(pk=self.pk).update(
            health=self.Health.FAILING, health_reason=reason
        )
        self.health, self.health_reason = self.Health.FAILING, reason
        self.failing_since = self.failing_since or now

    def mark_ok(self):
        StripeConnection.objects.filter(pk=self.pk).update(
            health=self.Health.OK, health_reason="", failing_since=None
        )
        self.health, self.health_reason, self.failing_since = self.Health.OK, "", None
