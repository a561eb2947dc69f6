"""Assistant tokens in the admin: each staff user creates and revokes their own; superusers
see and revoke everyone's. The secret is shown once, in the message after creation."""

from django import forms
from django.contrib import admin, messages
from django.utils import timezone

from assistant import tokens
from assistant.models import AccessToken
from lumen.adminkit import Styled, badge

STATE_TONES = {
    AccessToken.State.ACTIVE: "good",
    AccessToken.State.EXPIRED: "quiet",
    AccessToken.State.REVOKED: "bad",
}


class AccessTokenForm(forms.ModelForm):
    class Meta:
        model = AccessToken
        fields = ["name", "expires_at"]

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        if "expires_at" in self.fields and not self.instance.pk:
            self.fields["expires_at"].initial = timezone.now() + tokens.DEFAULT_LIFETIME
            self.fields[
                "expires_at"
            ].help_text = "At most a year from now. The assistant is refused from then on."

    def clean_expires_at(self):
        value = self.cleaned_data["expires_at"]
        now = timezone.now()
        if value <= now:
            raise forms.ValidationError("Choose a moment in the future.")
        if value > now + tokens.MAX_LIFETIME:
            raise forms.ValidationError(
                "At most a year from now: a token that lives longer is one nobody remembers."
            )
        return value


@admin.register(AccessToken)
class AccessTokenAdmin(Styled, admin.ModelAdmin):
    form = AccessTokenForm
    list_display = [
        "name",
        "user",
        "masked",
        "expires_at",
        "last_used_at",
        "state_badge",
        "created_at",
    ]
    list_select_related = ["user"]
    search_fields = ["name", "user__username"]
    actions = ["revoke_selected"]

    # Any staff user manages their own tokens: no role grants this, as none grants a password.
    def has_module_permission(self, request):
        return request.user.is_active and request.user.is_staff

    def has_view_permission(self, request, obj=None):
        return self.has_module_permission(request)

    def has_add_permission(self, request):
        return self.has_module_permission(request)

    def has_change_permission(self, request, obj=None):
        return self.has_module_permission(request)

    # Revoked, never deleted: the audit log's rows name the token that made each call.
    def has_delete_permission(self, request, obj=None):
        return False

    def get_queryset(self, request):
        queryset = super().get_queryset(request)
        return queryset if request.user.is_superuser else queryset.filter(user=request.user)

    def get_fields(self, request, obj=None):
        if obj is None:
            return ["name", "expires_at"]
        return [
            "name",
            "user",
            "masked",
            "state_badge",
            "created_at",
            "expires_at",
            "last_used_at",
            "revoked_at",
        ]

    def get_readonly_fields(self, request, obj=None):
        # Once created, a token's fields are all shown read-only but its name.
        if obj is None:
            return []
        return [field for field in self.get_fields(request, obj) if field != "name"]

    def save_model(self, request, obj, form, change):
        if change:
            return super().save_model(request, obj, form, change)
        # A token is always its creator's: one made for somebody else would let its maker
        # act, on the audit log, as that person.
        obj.user = request.user
        secret = tokens.issue(obj)
        messages.warning(
            request,
            f"Your new assistant token is {secret} — copy it now: Lumen keeps only its "
            "hash and will never show it again. Give it to the assistant as LUMEN_MCP_TOKEN "
            "(stdio) or as its bearer token (HTTP); see the README.",
        )

    @admin.action(description="Revoke the selected tokens")
    def revoke_selected(self, request, queryset):
        count = tokens.revoke(queryset, by=request.user)
        plural = "" if count == 1 else "s"
        self.message_user(request, f"Revoked {count} token{plural}: refused from now on.")

    @admin.display(description="Token")
    def masked(self, token):
        return token.masked

    @admin.display(description="State")
    def state_badge(self, token):
        state = token.state()
        return badge(state.label, STATE_TONES[state])
