"""What a connection's page links to: its sync runs, its audit events, its report runs and
schedules, its webhook endpoint, and each kind of its mirrored data, with how many there are.

Each link is shown to whoever may open it, and costs one COUNT, stopped at COUNT_CAP rows:
a connection's mirror or audit log can hold millions of rows, and the page does not count
them all to say "10,000+".
"""

from dataclasses import dataclass

from django.apps import apps
from django.urls import reverse
from django.utils.http import urlencode

from audit.models import AuditEvent
from connectors.models import MIRROR_MODELS, SyncRun, WebhookEndpoint

COUNT_CAP = 10_000


@dataclass(frozen=True)
class Record:
    label: str  # "Charges"
    count: str  # "1,234" or "10,000+"
    url: str = ""  # its list, filtered to the connection ("" when it has no list here)


def capped_count(queryset):
    rows = queryset.order_by()[: COUNT_CAP + 1].count()
    return f"{COUNT_CAP:,}+" if rows > COUNT_CAP else f"{rows:,}"


def records_of(connection, request, admin_site):
    """[(heading, [Record])] for the connection's page, as far as the user may see them."""

    def visible(model):
        model_admin = admin_site.get_model_admin(model) if admin_site.is_registered(model) else None
        if model_admin is not None:
            return model_admin.has_view_permission(request)
        # Kinds with no list of their own (invoice lines, subscription items) are counted for
        # whoever may view them; their rows are shown on their invoice's or subscription's page.
        opts = model._meta
        return request.user.has_perm(f"{opts.app_label}.view_{opts.model_name}")

    def record(model, queryset, label, **filters):
        url = ""
        if admin_site.is_registered(model):
            url = changelist(model) + "?" + urlencode(filters or {"connection__id__exact": pk})
        return Record(label, capped_count(queryset), url)

    pk = connection.pk
    activity = []
    if visible(SyncRun):
        runs = SyncRun.objects.filter(connection=connection)
        activity.append(record(SyncRun, runs, "Sync runs"))
    if visible(AuditEvent):
        events = AuditEvent.objects.filter(connection_id=pk)
        activity.append(record(AuditEvent, events, "Audit events", connection=pk))
    for model_name in ("ReportRun", "ReportSchedule"):
        model = apps.get_model("reports", model_name)
        if visible(model):
            rows = model.objects.filter(connection=connection)
            activity.append(record(model, rows, label(model)))

    mirror = [
        record(model, model.objects.filter(connection=connection), label(model))
        for model in MIRROR_MODELS.values()
        if visible(model)
    ]
    return [
        (heading, rows) for heading, rows in (("Activity", activity), ("Mirror", mirror)) if rows
    ]


def webhook_link(connection, request, admin_site):
    """(label, url) of the connection's webhook endpoint, or of the page that adds one; None
    when the user may do neither."""
    model_admin = admin_site.get_model_admin(WebhookEndpoint)
    endpoint = WebhookEndpoint.objects.filter(connection=connection).first()
    if endpoint is not None:
        if not model_admin.has_view_permission(request, endpoint):
            return None
        url = reverse("admin:connectors_webhookendpoint_change", args=[endpoint.pk])
        state = "enabled" if endpoint.enabled else "disabled"
        return f"Webhook endpoint ({state})", url
    if not model_admin.has_add_permission(request):
        return None
    url = (
        reverse("admin:connectors_webhookendpoint_add")
        + "?"
        + urlencode({"connection": connection.pk})
    )
    return "Add a webhook endpoint", url


def changelist(model):
    return reverse(f"admin:{model._meta.app_label}_{model._meta.model_name}_changelist")


def label(model):
    return str(model._meta.verbose_name_plural).capitalize()
