"""Webhooks as staff see them: each connection's endpoint (its address to paste into Stripe,
its signing secret, masked) and the deliveries it received, read-only but for having failed
ones applied again. What the pages do goes through connectors.webhook_endpoints."""

import json

from django import forms
from django.contrib import admin, messages
from django.core import signing
from django.core.exceptions import ValidationError
from django.urls import reverse
from django.utils.decorators import method_decorator
from django.utils.html import format_html
from django.views.decorators.debug import sensitive_post_parameters, sensitive_variables

from audit.recorder import Actor
from connectors import webhook_endpoints
from connectors.models import StripeConnection, WebhookDelivery, WebhookEndpoint
from lumen.adminkit import ReadOnly, Styled, badge, flag_column

ADDRESS_SALT = "connectors.webhook-endpoint-token"
ADDRESS_MAX_AGE = 24 * 3600


class WebhookEndpointForm(forms.ModelForm):
    # Never rendered back (render_value=False), not even after a validation error.
    secret = forms.CharField(
        label="Signing secret",
        required=False,
        strip=True,
        widget=forms.PasswordInput(render_value=False, attrs={"autocomplete": "off"}),
        help_text="whsec_…, from the endpoint's page in Stripe's dashboard. On an existing "
        "endpoint, leave blank to keep the current secret; paste a new one to rotate it.",
    )
    # Stripe shows the signing secret only once the address is entered in its dashboard, so
    # the add page shows the address first: its token is chosen when the page is first
    # shown and carried, signed, through the submission.
    signed_token = forms.CharField(widget=forms.HiddenInput, required=False)

    url_base = ""  # "https://lumen.example.com", set per request by the admin's get_form

    class Meta:
        model = WebhookEndpoint
        fields = ["connection", "enabled"]

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.instance.url_base = self.url_base
        self.token_was_carried = True
        if self.instance.pk is None:
            name = self.add_prefix("signed_token")
            carried = self.carried_token(self.data.get(name, "")) if self.is_bound else None
            if carried:
                self.instance.token = carried
            signed = signing.dumps(self.instance.token, salt=ADDRESS_SALT)
            self.initial["signed_token"] = signed
            if self.is_bound and not carried:
                # Too old or altered: the page shows a new address, and submits that.
                self.token_was_carried = False
                self.data = self.data.copy()
                self.data[name] = signed
        if "connection" in self.fields:
            self.fields["connection"].queryset = StripeConnection.objects.filter(
                webhook__isnull=True
            )

    @staticmethod
    def carried_token(value):
        try:
            return signing.loads(value, salt=ADDRESS_SALT, max_age=ADDRESS_MAX_AGE)
        except signing.BadSignature:
            return None

    def clean_signed_token(self):
        if self.instance.pk is not None:
            return ""
        if not self.token_was_carried:
            raise ValidationError(
                "This page was too old, so the address above is a new one: paste it into "
                "Stripe, then paste the endpoint's signing secret again."
            )
        if WebhookEndpoint.objects.filter(token=self.instance.token).exists():
            raise ValidationError("This endpoint was saved already: see the list of endpoints.")
        return self.instance.token

    @sensitive_variables("secret")
    def clean_secret(self):
        secret = self.cleaned_data.get("secret", "")
        if not secret:
            if self.instance.pk is None:
                raise ValidationError(
                    "Paste the endpoint's signing secret. "
                    + webhook_endpoints.WHERE_TO_COPY_IT_FROM
                )
            return ""
        return webhook_endpoints.check_signing_secret(secret)


Status = WebhookDelivery.Status
STATUS_TONES = {
    Status.WAITING: "info",
    Status.PROCESSING: "info",
    Status.APPLIED: "good",
    Status.ALREADY_APPLIED: "quiet",
    Status.FAILED: "bad",
}


def status_badge(delivery):
    return badge(delivery.get_status_display(), STATUS_TONES[delivery.status])


@admin.register(WebhookEndpoint)
class WebhookEndpointAdmin(Styled, admin.ModelAdmin):
    form = WebhookEndpointForm
    list_display = ["__str__", "state", "masked_secret", "path_display", "last_delivery_at"]
    list_filter = ["enabled"]
    state = flag_column("enabled", "State", "On", "Off")
    list_select_related = ["connection"]

    # An error while a signing secret is being saved must not show it.
    @method_decorator(sensitive_post_parameters("secret"))
    def changeform_view(self, request, object_id=None, form_url="", extra_context=None):
        return super().changeform_view(request, object_id, form_url, extra_context)

    def get_fieldsets(self, request, obj=None):
        if obj is None:
            fields = ["endpoint_url", "connection", "secret", "enabled", "signed_token"]
            return [(None, {"fields": fields})]
        return [
            (
                None,
                {
                    "fields": [
                        "connection",
                        "endpoint_url",
                        "masked_secret",
                        "secret",
                        "enabled",
                    ]
                },
            ),
            ("Deliveries", {"fields": ["last_delivery", "created_at"]}),
        ]

    def get_readonly_fields(self, request, obj=None):
        shown = ["endpoint_url", "masked_secret", "last_delivery", "created_at"]
        return shown + (["connection"] if obj else [])

    def get_form(self, request, obj=None, change=False, **kwargs):
        form = super().get_form(request, obj, change=change, **kwargs)
        # get_form builds a new class per request, so this is this request's own.
        form.url_base = request.build_absolute_uri("/").rstrip("/")
        return form

    @admin.display(description="Address for Stripe")
    def endpoint_url(self, endpoint):
        url = getattr(endpoint, "url_base", "") + endpoint.path
        mode = f" in {endpoint.connection.mode} mode" if endpoint.connection_id else ""
        return format_html(
            '<code class="lumen-copy">{}</code><div class="help">In Stripe\'s dashboard'
            "{}: Developers → Webhooks → Add endpoint, paste this address, then copy the "
            "endpoint's signing secret here.</div>",
            url,
            mode,
        )

    @admin.display(description="Signing secret")
    def masked_secret(self, endpoint):
        return format_html("<code>{}</code>", webhook_endpoints.masked_secret(endpoint))

    @admin.display(description="Path")
    def path_display(self, endpoint):
        return format_html("<code>{}</code>", endpoint.path)

    @admin.display(description="Last delivery")
    def last_delivery(self, endpoint):
        delivery = WebhookDelivery.objects.filter(endpoint=endpoint).first()
        if delivery is None:
            return "none yet"
        return format_html(
            '{} <a href="{}">{}</a> · {} · <a href="{}">all deliveries</a>',
            f"{delivery.received_at:%Y-%m-%d %H:%M:%S} UTC",
            reverse("admin:connectors_webhookdelivery_change", args=[delivery.pk]),
            f"{delivery.event_type} {delivery.event_id}",
            status_badge(delivery),
            reverse("admin:connectors_webhookdelivery_changelist") + f"?endpoint={endpoint.pk}",
        )

    # Saving and deleting go through connectors.webhook_endpoints: validated and audited.
    def save_model(self, request, obj, form, change):
        webhook_endpoints.save_endpoint(
            obj,
            secret=form.cleaned_data.get("secret", ""),
            actor=Actor.user(request.user),
            origin="admin",
        )

    def delete_model(self, request, obj):
        webhook_endpoints.delete_endpoint(obj, actor=Actor.user(request.user), origin="admin")

    def delete_queryset(self, request, queryset):
        for obj in queryset:
            self.delete_model(request, obj)


@admin.register(WebhookDelivery)
class WebhookDeliveryAdmin(ReadOnly, admin.ModelAdmin):
    list_display = ["received_at", "event_type", "event_id", "status_display", "connection"]
    list_filter = ["status", "endpoint", "event_type"]
    list_select_related = ["endpoint__connection"]
    search_fields = ["event_id", "event_type"]
    date_hierarchy = "received_at"
    actions = ["retry_selected"]
    fields = ["endpoint", "event_id", "event_type", "received_at", "status_display",
              "processed_at", "error", "stripe_object", "payload_pretty"]  # fmt: skip
    readonly_fields = fields

    @admin.display(description="Status", ordering="status")
    def status_display(self, delivery):
        return status_badge(delivery)

    @admin.display(description="Connection", ordering="endpoint__connection__name")
    def connection(self, delivery):
        return delivery.endpoint.connection.name

    @admin.display(description="Object")
    def stripe_object(self, delivery):
        object_id = ((delivery.payload.get("data") or {}).get("object") or {}).get("id", "")
        return format_html("<code>{}</code>", object_id or "–")

    @admin.display(description="Payload")
    def payload_pretty(self, delivery):
        return format_html(
            '<pre class="lumen-raw">{}</pre>',
            json.dumps(delivery.payload, indent=2, ensure_ascii=False),
        )

    # Applying an event may read Stripe in the webhook's name, as a sync does: the same
    # permission (roles: Connection admin).
    def has_retry_permission(self, request):
        return request.user.has_perm("connectors.sync_stripeconnection")

    @admin.action(description="Apply the selected failed deliveries again", permissions=["retry"])
    def retry_selected(self, request, queryset):
        retried = webhook_endpoints.retry_deliveries(
            queryset, actor=Actor.user(request.user), origin="admin"
        )
        left = len(queryset) - retried
        if retried:
            messages.info(
                request,
                f"{retried} of the selected deliveries queued to be applied again: their "
                "status shows here when they are done (reload the page).",
            )
        if left:
            messages.warning(
                request, f"{left} of the selected deliveries had not failed: left as they were."
            )
