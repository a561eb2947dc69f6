from django import forms
from django.views.decorators.debug import sensitive_variables

from connectors.keys import parse_key
from connectors.models import StripeConnection


class StripeConnectionForm(forms.ModelForm):
    # Never rendered back (render_value=False), not even after a validation error: the page
    # is the one place the key would otherwise show up again.
    key = forms.CharField(
        label="Stripe key",
        required=False,
        strip=True,
        widget=forms.PasswordInput(render_value=False, attrs={"autocomplete": "off"}),
        help_text="A restricted key (rk_live_… or rk_test_…) with read permissions. "
        "On an existing connection, leave blank to keep the current key; paste a new one "
        "to rotate it.",
    )

    sync_interval_minutes = forms.IntegerField(
        label="Sync every (minutes)",
        min_value=0,
        max_value=24 * 60,
        required=False,
        initial=0,
        help_text=StripeConnection._meta.get_field("sync_interval_minutes").help_text,
    )

    class Meta:
        model = StripeConnection
        fields = ["name", "sync_interval_minutes"]

    def clean_sync_interval_minutes(self):
        return self.cleaned_data["sync_interval_minutes"] or 0

    @sensitive_variables("key")
    def clean_key(self):
        key = self.cleaned_data["key"]
        if not key:
            if self.instance.pk is None:
                raise forms.ValidationError("Paste a Stripe key.", code="required")
            return ""
        self.parsed_key = parse_key(key)
        return key
