"""Report runs in the admin: ask for one ("Run a report"), watch it run, read it (tables,
charts, every figure opening to its records), download it, run it again.

A run is a record: once created it is never edited or deleted. Reading runs needs
view_reportrun; asking for one (and "Run again") needs run_report.
"""

import json

from django import forms
from django.contrib import admin
from django.core.exceptions import PermissionDenied, ValidationError
from django.http import HttpResponse, HttpResponseNotAllowed, JsonResponse
from django.shortcuts import get_object_or_404, redirect
from django.urls import path, reverse
from django.utils.html import format_html

from audit.recorder import Actor, record
from connectors.models import StripeConnection
from reports import formats, runner
from reports.admin import pages
from reports.models import ReportRun
from reports.periods import DEFAULTS, PRESETS, BadParameters, describe, parameters_from

CUSTOM = "custom"
PERIOD_CHOICES = [(key, label) for key, (label, _) in PRESETS.items() if key != "last_7_days"]
PERIOD_CHOICES.append((CUSTOM, "Custom range"))
DOWNLOADS = {
    "json": "application/json",
    "csv": "text/csv; charset=utf-8",
    "xlsx": "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet",
}


class RunForm(forms.ModelForm):
    # Declared here, a plain choice: the admin would add links to edit and add connections.
    connection = forms.ModelChoiceField(queryset=StripeConnection.objects.order_by("name"))
    period = forms.ChoiceField(
        choices=PERIOD_CHOICES,
        initial="last_30_days",
        required=False,
        help_text="Disputes need none: they show what is open now.",
    )
    date_from = forms.DateField(required=False, label="From",
                                widget=forms.DateInput(attrs={"type": "date"}))  # fmt: skip
    date_to = forms.DateField(required=False, label="To (included)",
                              widget=forms.DateInput(attrs={"type": "date"}))  # fmt: skip

    class Meta:
        model = ReportRun
        fields = ["kind", "connection", "period", "date_from", "date_to", "sync_first"]

    def clean(self):
        data = super().clean()
        kind, connection = data.get("kind"), data.get("connection")
        if not kind or not connection:
            return data
        period = data.get("period") or ""
        try:
            if kind == "disputes":
                self.parameters = {}
            elif period == CUSTOM:
                first, last = data.get("date_from"), data.get("date_to")
                self.parameters = parameters_from(
                    kind, first and first.isoformat(), last and last.isoformat()
                )
                if not self.parameters:
                    raise BadParameters("A custom range needs its first and last day.")
            elif period in PRESETS:
                self.parameters = PRESETS[period][1]
            else:
                self.parameters = {}
            runner.check(kind, connection, self.parameters, data.get("sync_first"))
        except BadParameters as e:
            raise ValidationError(str(e)) from None
        return data


@admin.register(ReportRun)
class ReportRunAdmin(admin.ModelAdmin):
    form = RunForm
    list_display = ["__str__", "status_badge", "period", "requester", "created_at", "took"]
    list_filter = ["kind", "status", "connection"]
    list_select_related = ["connection", "requested_by"]
    show_facets = admin.ShowFacets.NEVER
    change_form_template = "admin/reports/reportrun/run.html"
    add_form_template = "admin/reports/reportrun/run_form.html"

    class Media:
        css = {"all": ["reports/reports.css"]}

    # Who may do what

    def has_add_permission(self, request):
        return request.user.has_perm("reports.run_report")

    def has_change_permission(self, request, obj=None):
        return False

    def has_delete_permission(self, request, obj=None):
        return False

    def has_export_permission(self, request):
        return request.user.has_perm("reports.export_reportrun")

    # Asking for a run

    def get_fields(self, request, obj=None):
        return RunForm.Meta.fields if obj is None else []

    def save_model(self, request, obj, form, change):
        obj.parameters = form.parameters
        obj.requester_kind = ReportRun.Requester.USER
        obj.requested_by = request.user
        obj.save()
        runner.queue(obj)

    def response_add(self, request, obj, post_url_continue=None):
        return redirect("admin:reports_reportrun_change", obj.pk)

    def add_view(self, request, form_url="", extra_context=None):
        context = {**(extra_context or {}), "title": "Run a report"}
        return super().add_view(request, form_url, context)

    # Reading one

    def change_view(self, request, object_id, form_url="", extra_context=None):
        run = self.get_object(request, object_id)
        context = {**(extra_context or {})}
        if run is not None:
            context.update(self.run_context(request, run))
        return super().change_view(request, object_id, form_url, context)

    def run_context(self, request, run):
        context = {
            "run": run,
            "title": str(run),
            "period_text": self.period(run),
            "can_run": self.has_add_permission(request),
            "status_url": reverse("admin:reports_reportrun_status", args=[run.pk]),
            "again_url": reverse("admin:reports_reportrun_again", args=[run.pk]),
            "finished": run.status in (ReportRun.Status.SUCCEEDED, ReportRun.Status.FAILED),
        }
        if run.status == ReportRun.Status.SUCCEEDED:
            doc = run.document
            context.update(
                document=doc,
                sections=pages.sections(run),
                charts=pages.charts(run),
                downloads=[
                    (fmt.upper(), reverse("admin:reports_reportrun_download", args=[run.pk, fmt]))
                    for fmt in DOWNLOADS
                    if self.has_export_permission(request)
                ],
            )
        return context

    def get_urls(self):
        view = self.admin_site.admin_view
        return [
            path("<int:run_id>/status/", view(self.status_view), name="reports_reportrun_status"),
            path("<int:run_id>/again/", view(self.again_view), name="reports_reportrun_again"),
            path(
                "<int:run_id>/download/<str:fmt>/",
                view(self.download_view),
                name="reports_reportrun_download",
            ),  # fmt: skip
            *super().get_urls(),
        ]

    def status_view(self, request, run_id):
        """How a run stands, for its page to follow it without a reload."""
        if not self.has_view_permission(request):
            raise PermissionDenied
        run = get_object_or_404(ReportRun, pk=run_id)
        return JsonResponse({
            "status": run.status,
            "label": run.get_status_display(),
            "syncing": bool(run.sync_first and run.status == "running" and not run.sync_run_id),
            "error": run.error,
            "finished": run.status in (ReportRun.Status.SUCCEEDED, ReportRun.Status.FAILED),
        })  # fmt: skip

    def again_view(self, request, run_id):
        """The same question (kind, connection, period as asked, sync first), fresh data."""
        if request.method != "POST":
            return HttpResponseNotAllowed(["POST"])
        if not self.has_add_permission(request):
            raise PermissionDenied
        run = get_object_or_404(ReportRun, pk=run_id)
        try:
            again = runner.create(
                run.kind, run.connection, run.parameters,
                requester_kind=ReportRun.Requester.USER, user=request.user,
                sync_first=run.sync_first,
            )  # fmt: skip
        except BadParameters as e:
            self.message_user(request, str(e), level="error")
            return redirect("admin:reports_reportrun_change", run.pk)
        runner.queue(again)
        return redirect("admin:reports_reportrun_change", again.pk)

    def download_view(self, request, run_id, fmt):
        """The document as JSON, CSV or XLSX, recorded on the audit log as a staff action."""
        if not self.has_export_permission(request) or fmt not in DOWNLOADS:
            raise PermissionDenied
        run = get_object_or_404(ReportRun, pk=run_id, status=ReportRun.Status.SUCCEEDED)
        doc = run.document
        if fmt == "json":
            body = json.dumps(doc, indent=2) + "\n"
        elif fmt == "csv":
            body = formats.as_csv(doc)
        else:
            body = formats.as_xlsx(doc)
        record(
            actor=Actor.user(request.user),
            operation="report.downloaded",
            origin="admin",
            connection_id=run.connection_id,
            connection_name=run.connection.name,
            resource_type="report_run",
            object_id=str(run.pk),
            params={"kind": run.kind, "format": fmt},
        )
        response = HttpResponse(body, content_type=DOWNLOADS[fmt])
        name = f"{run.kind}-{run.connection.name}-run{run.pk}.{fmt}"
        response["Content-Disposition"] = f'attachment; filename="{name}"'
        return response

    # Columns

    @admin.display(description="Status", ordering="status")
    def status_badge(self, run):
        return format_html('<span class="lumen-status lumen-status-{}">{}</span>', run.status,
                           run.get_status_display())  # fmt: skip

    @admin.display(description="Period")
    def period(self, run):
        if run.kind == "disputes":
            return "–"
        asked = describe(run.parameters or DEFAULTS[run.kind])
        return f"{run.period_from} to {run.period_to} ({asked})" if run.period_from else asked

    @admin.display(description="Took")
    def took(self, run):
        return f"{run.duration.total_seconds():.1f} s" if run.duration else "–"
