from django.contrib import admin, messages
from django.contrib.admin.actions import delete_selected as confirm_deletion
from django.contrib.admin.utils import unquote
from django.core.exceptions import PermissionDenied
from django.db import transaction
from django.shortcuts import redirect
from django.urls import path
from django.utils.decorators import method_decorator
from django.utils.html import format_html, format_html_join
from django.views.decorators.debug import sensitive_post_parameters, sensitive_variables
from django.views.decorators.http import require_POST

from audit.recorder import Actor
from connectors import connections, deletion
from connectors.admin.connection_records import records_of, webhook_link
from connectors.forms import StripeConnectionForm
from connectors.models import StripeConnection
from connectors.resources import BY_PERMISSION
from connectors.sync import lease
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
    actions = ["verify_selected", "sync_selected", "delete_selected"]
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

    def get_form(self, request, obj=None, change=False, **kwargs):
        form = super().get_form(request, obj, change=change, **kwargs)
        # get_form builds a new class per request, so this is this request's own.
        form.actor = Actor.user(request.user)
        return form

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
            # The form asked Stripe already: a key it refused never gets here. One it could
            # not ask about is saved, unverified, with the reason (the user's work is kept).
            unverified = form.unverified_reason
            for warning in connections.save_key(
                obj, key, actor=actor, origin="admin", unverified_reason=unverified
            ):
                messages.warning(request, warning)
            if unverified:
                messages.warning(request, UNVERIFIED.format(reason=unverified))
        else:
            obj.save()
        if key or ("_verify" in request.POST and self.has_verify_permission(request)):
            connections.queue_verification(obj, user=request.user)
            messages.info(request, VERIFYING.format(names=obj.name))
        connections.schedule_sync(obj)

    # Deleting: the confirmation counts what goes with the connection (Django's own would
    # read and list every mirrored row, and refuse for want of a permission to delete
    # them, which nobody has: the mirror is read-only to staff). The deletion itself goes
    # through connectors.connections, in batches, and is recorded on the audit log.

    def get_deleted_objects(self, objs, request):
        listed, total = [], {"Stripe connections": 0}
        for connection in objs:
            counts = deletion.counts(connection)
            listed.append(f"Stripe connection: {connection.name} ({connection.masked_key})")
            listed.append(
                [f"{label.capitalize()}: {rows:,}" for label, rows in counts.items() if rows]
            )
            total["Stripe connections"] += 1
            for label, rows in counts.items():
                if rows:
                    total[label] = total.get(label, 0) + rows
        summary = {label.capitalize(): f"{rows:,}" for label, rows in total.items()}
        return listed, summary, set(), []

    def delete_view(self, request, object_id, extra_context=None):
        obj = self.get_object(request, unquote(object_id))
        if obj is not None and self.has_delete_permission(request, obj):
            holder = lease.syncing_now(obj)
            if holder:
                self.message_user(request, connections.busy_message(obj, holder), messages.ERROR)
                return redirect("admin:connectors_stripeconnection_change", obj.pk)
        try:
            return super().delete_view(request, object_id, extra_context)
        except connections.ConnectionBusy as e:  # a sync started since the check above
            self.message_user(request, str(e), messages.ERROR)
            return redirect("admin:connectors_stripeconnection_change", obj.pk)

    def delete_model(self, request, obj):
        name = obj.name
        deleted = connections.delete_connection(obj, actor=Actor.user(request.user), origin="admin")
        self.message_user(request, deleted_message(name, deleted), messages.INFO)

    def delete_queryset(self, request, queryset):
        for obj in queryset:
            self.delete_model(request, obj)

    @admin.action(description="Delete selected connections and their data", permissions=["delete"])
    def delete_selected(self, request, queryset):
        """Django's confirmation page, then each connection deleted on its own (in its own
        transaction, with its admin log entry): one being synced is refused, not the rest."""
        busy = [(obj, holder) for obj in queryset if (holder := lease.syncing_now(obj))]
        for obj, holder in busy:
            self.message_user(request, connections.busy_message(obj, holder), messages.ERROR)
        if busy:
            return None
        if not request.POST.get("post"):
            return confirm_deletion(self, request, queryset)
        for obj in queryset:
            try:
                with transaction.atomic():
                    self.log_deletions(request, [obj])
                    self.delete_model(request, obj)
            except connections.ConnectionBusy as e:
                self.message_user(request, str(e), messages.ERROR)
        return None

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
        messages.info(request, SYNCING)

    # "Sync now" and "Verify now" on a connection's page: the list's actions, for one.

    def get_urls(self):
        def view(function, name):
            wrapped = self.admin_site.admin_view(require_POST(function))
            return path(
                f"<path:object_id>/{name}/", wrapped, name=f"connectors_stripeconnection_{name}"
            )

        return [
            view(self.sync_now_view, "sync"),
            view(self.verify_now_view, "verify"),
            *super().get_urls(),
        ]

    def sync_now_view(self, request, object_id):
        obj = self.connection_for(request, object_id, self.has_sync_permission)
        connections.sync_now(obj, user=request.user)
        messages.info(request, SYNCING)
        return redirect("admin:connectors_stripeconnection_change", obj.pk)

    def verify_now_view(self, request, object_id):
        obj = self.connection_for(request, object_id, self.has_verify_permission)
        connections.queue_verification(obj, user=request.user)
        messages.info(request, VERIFYING.format(names=obj.name))
        return redirect("admin:connectors_stripeconnection_change", obj.pk)

    def connection_for(self, request, object_id, may):
        obj = self.get_object(request, unquote(object_id))
        if obj is None or not (self.has_view_permission(request, obj) and may(request)):
            raise PermissionDenied
        return obj

    def render_change_form(self, request, context, add=False, change=False, form_url="", obj=None):
        context["can_verify"] = self.has_verify_permission(request)
        context["can_sync"] = self.has_sync_permission(request)
        if obj is not None:
            context["records"] = records_of(obj, request, self.admin_site)
            context["webhook"] = webhook_link(obj, request, self.admin_site)
        return super().render_change_form(request, context, add, change, form_url, obj)


def deleted_message(name, deleted):
    rows = [f"{count:,} {label}" for label, count in deleted.items() if count]
    went = f": {', '.join(rows)} went with it" if rows else ""
    return (
        f"The connection {name} was deleted{went}. Its events stay on the audit log, as they "
        "were written."
    )


VERIFYING = (
    "Verifying {names} with Stripe: the health badge and what the key can read show here "
    "when it is done (a few seconds; reload the page)."
)
SYNCING = (
    "Sync started: its progress is under Sync runs (one sync per connection at a time; a "
    "connection already syncing is skipped)."
)
UNVERIFIED = (
    "{reason} The connection is saved with the key, not verified yet: a worker verifies it "
    "now, and Verify now on its page tries again later."
)
