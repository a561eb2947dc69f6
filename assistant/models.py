"""Personal access tokens: how an AI assistant signs in to Lumen's MCP server as a staff user.

A token is shown once, when it is created, and stored only as the SHA-256 of its secret: the
secret is 256 random bits, so a fast hash is as safe as a slow one and costs nothing per call
(a password hash would cost half a second on every tool call). Whoever holds the database
cannot use the tokens it holds. A token is never deleted, only revoked, so that the audit
log's "assistant" rows keep naming a token that can be looked up.
"""

from django.conf import settings
from django.db import models
from django.utils import timezone


class AccessToken(models.Model):
    class State(models.TextChoices):
        ACTIVE = "active", "Active"
        EXPIRED = "expired", "Expired"
        REVOKED = "revoked", "Revoked"

    user = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="assistant_tokens"
    )
    name = models.CharField(
        max_length=100, help_text="Where it is used, e.g. 'Claude on my laptop'."
    )
    digest = models.CharField(max_length=64, unique=True, editable=False)
    # The secret's last four characters, to tell tokens apart: "lumen_…Wxyz".
    hint = models.CharField(max_length=4, editable=False)
    created_at = models.DateTimeField(default=timezone.now, editable=False)
    expires_at = models.DateTimeField()
    last_used_at = models.DateTimeField(null=True, blank=True, editable=False)
    revoked_at = models.DateTimeField(null=True, blank=True, editable=False)

    class Meta:
        ordering = ["-created_at", "-id"]
        verbose_name = "assistant token"

    def __str__(self):
        return f"{self.name} ({self.user}, {self.masked})"

    @property
    def masked(self):
        return f"lumen_…{self.hint}"

    def state(self, now=None):
        if self.revoked_at:
            return self.State.REVOKED
        if self.expires_at <= (now or timezone.now()):
            return self.State.EXPIRED
        return self.State.ACTIVE
