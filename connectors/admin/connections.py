from django.contrib import admin, messages
from django.utils.decorators import method_decorator
from django.utils.html import format_html, format_html_join
from django.views.decorators.debug import sensitive_post_parameters, sensitive_variables

from audit.recorder import Actor
from connectors import connections
from connectors.forms import StripeConnectionForm
from connectors.models import StripeConnection
from connectors.resources import BY_PERMISSION
from lumen.adminkit import Styled, badge

HEALTH_TONES = {"ok": "good", "failing": "bad", "unverified": "quiet"}
MODE_TONES = {"live": "bad", "test": "warn"}  # live money is the one to be careful with


@admin.register(StripeConnection)
class StripeConnectionAdmin(Styled, admin.ModelAdmin):
    form = StripeConnectionForm
    list_display = [
        "name",
        "mode_badge",
        "account_name",
        "masked_key",
        "health_badge",
        "last_verified_at",
        "readable_count",
    ]
    list_filter = ["mode", "health"]
    search_fields = ["name", "account_id", "account_name"]
    actions = ["verify_selected", "sync_selected"]
    readonly_fields = [
        "masked_key",
        "key_kind",
        "mode_badge",
        "account_id",
        "account_name",
        "health_badge",
        "health_reason",
        "failing_since",
        "last_verified_at",
        "readable_list",
        "unreadable_list",
        "key_rotated_at",
        "created_by",
        "created_at",
        "data_as_of",
    ]
    fieldsets = [
        (None, {"fields": ["name", "key", "masked_key", "key_kind", "mode_badge"]}),
        ("Mirror", {"fields": ["sync_interval_minutes", "data_as_of"]}),
        ("Account", {"fields": ["account_id", "account_name"]}),
        (
            "Health",
            {
                "fields": [
                    "health_badge",
                    "health_reason",
                    "failing_since",
                    "last_verified_at",
                    "readable_list",
                    "unreadable_list",
                ]
            },
        ),
        ("History", {"fields": ["key_rotated_at", "created_by", "created_at"]}),
    ]

    # An error while a key is being saved must not show it (the debug page, error mail).
    @method_decorator(sensitive_post_parameters("key"))
    def changeform_view(self, request, object_id=None, form_url="", extra_context=None):
        return super().changeform_view(request, object_id, form_url, extra_context)

    def get_fieldsets(self, request, obj=None):
        if obj is None:
            return [(None, {"fields": ["name", "key"]})]
        return self.fieldsets

    @admin.display(description="Key")
    def masked_key(self, obj):
        return format_html('<code class="lumen-key">{}</code>', obj.masked_key)

    @admin.display(description="Mode", ordering="mode")
    def mode_badge(self, obj):
        return badge(obj.get_mode_display().upper(), MODE_TONES.get(obj.mode, "quiet"))

    @admin.display(description="Health", ordering="health")
    def health_badge(self, obj):
        return badge(obj.get_health_display(), HEALTH_TONES.get(obj.health, "quiet"))

    @admin.display(description="Readable")
    def readable_count(self, obj):
        if obj.health == obj.Health.UNVERIFIED:
            return "–"
        readable, unreadable = len(obj.readable_resources), len(obj.unreadable_resources)
        return f"{readable} / {readable + unreadable}"

    @admin.display(description="Can read")
    def readable_list(self, obj):
        return ", ".join(obj.readable_resources) or "–"

    @admin.display(description="Cannot read")
    def unreadable_list(self, obj):
        if not obj.unreadable_resources:
            return "–"
        rows = []
        for name, permission in sorted(obj.unreadable_resources.items()):
            resource = BY_PERMISSION.get(permission)
            rows.append((name, resource.grant if resource else permission))
        return format_html("<ul>{}</ul>", format_html_join("", "<li>{} – grant “{}”</li>", rows))

    # Saving goes through connectors.connections so it is validated and audited the same
    # way as the connect command. Verifying calls Stripe up to seventeen times: it runs in a
    # worker, and the page shows the connection's health when it is done.
    @sensitive_variables("key")
    def save_model(self, request, obj, form, change):
        actor = Actor.user(request.user)
        key = form.cleaned_data.get("key")
        if not change:
            obj.created_by = request.user
        if key:
            for warning in connections.save_key(obj, key, actor=actor, origin="admin"):
                messages.warning(request, warning)
        else:
            obj.save()
        if key or ("_verify" in request.POST and self.has_verify_permission(request)):
            connections.queue_verification(obj, user=request.user)
            messages.info(request, VERIFYING.format(names=obj.name))
        connections.schedule_sync(obj)

    def delete_model(self, request, obj):
        connections.delete_connection(obj, actor=Actor.user(request.user), origin="admin")

    def delete_queryset(self, request, queryset):
        for obj in queryset:
            self.delete_model(request, obj)

    # Both call Stripe in the staff user's name: each needs its own permission, which view
    # permission does not give (roles: Connection admin).
    def has_verify_permission(self, request):
        return request.user.has_perm("connectors.verify_stripeconnection")

    def has_sync_permission(self, request):
        return request.user.has_perm("connectors.sync_stripeconnection")

    @admin.action(description="Verify selected connections", permissions=["verify"])
    def verify_selected(self, request, queryset):
        names = []
        for obj in queryset:
            connections.queue_verification(obj, user=request.user)
            names.append(obj.name)
        messages.info(request, VERIFYING.format(names=", ".join(names)))

    @admin.action(description="Sync selected connections now", permissions=["sync"])
    def sync_selected(self, request, queryset):
        for obj in queryset:
            connections.sync_now(obj, user=request.user)
        messages.info(
            request,
            "Sync started: its progress is under Sync runs (one sync per connection "
            "at a time; a connection already syncing is skipped).",
        )

    def render_change_form(self, request, context, *args, **kwargs):
        context["can_verify"] = self.has_verify_permission(request)
        return super().render_change_form(request, context, *args, **kwargs)


VERIFYING = (
    "Verifying {names} with Stripe: the health badge and what the key can read show here "
    "when it is done (a few seconds; reload the page)."
)
