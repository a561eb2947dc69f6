from django import forms
from django.core.exceptions import ImproperlyConfigured
from django.views.decorators.debug import sensitive_variables

from connectors import connections
from connectors.keys import parse_key
from connectors.models import StripeConnection


class StripeConnectionForm(forms.ModelForm):
    # Who is saving (an audit.recorder.Actor): the key is tried with Stripe in their name.
    # Set per request by the admin's get_form.
    actor = None

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

    @sensitive_variables("key")
    def _post_clean(self):
        super()._post_clean()
        # Stripe is asked last, once everything else is valid (the name is free, the key
        # well formed), and only about a key the connection does not hold already.
        self.unverified_reason = ""
        key = self.cleaned_data.get("key")
        if self.errors or not key or self.instance.holds_key(key):
            return
        if self.actor is None:
            raise ImproperlyConfigured("StripeConnectionForm.actor: who is asking Stripe")
        try:
            self.unverified_reason = connections.check_key(
                self.instance, key, actor=self.actor, origin="admin"
            )
        except forms.ValidationError as e:
            self.add_error("key", e)
