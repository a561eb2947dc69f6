"""Report runs in the admin: ask for one, and read what each run did. A run is a record:
once created it is never edited (the next pages of the reports build on this)."""

import json

from django import forms
from django.contrib import admin
from django.core.exceptions import ValidationError
from django.utils.html import format_html, format_html_join

from reports import runner
from reports.models import ReportRun
from reports.periods import BadParameters, parameters_from


class ReportRunForm(forms.ModelForm):
    date_from = forms.DateField(required=False, label="From", help_text="YYYY-MM-DD")
    date_to = forms.DateField(required=False, label="To", help_text="YYYY-MM-DD, included")
    months = forms.IntegerField(
        required=False, min_value=1, help_text="Or: the N calendar months up to this one."
    )
    days = forms.IntegerField(required=False, min_value=1, help_text="Or: the N days to today.")

    class Meta:
        model = ReportRun
        fields = ["kind", "connection", "date_from", "date_to", "months", "days", "sync_first"]

    def clean(self):
        data = super().clean()
        kind, connection = data.get("kind"), data.get("connection")
        if not kind or not connection:
            return data
        try:
            self.parameters = parameters_from(
                kind,
                data["date_from"].isoformat() if data.get("date_from") else None,
                data["date_to"].isoformat() if data.get("date_to") else None,
                data.get("months"),
                data.get("days"),
            )
            runner.check(kind, connection, self.parameters, data.get("sync_first"))
        except BadParameters as e:
            raise ValidationError(str(e)) from None
        return data


@admin.register(ReportRun)
class ReportRunAdmin(admin.ModelAdmin):
    form = ReportRunForm
    list_display = ["__str__", "status", "period", "requester", "created_at", "took"]
    list_filter = ["kind", "status", "connection"]
    list_select_related = ["connection", "requested_by"]
    readonly_fields = ["kind", "connection", "parameters", "sync_first", "requester", "status",
                       "error", "created_at", "started_at", "finished_at", "period",
                       "data_as_of", "sync_run", "warnings_list", "document"]  # fmt: skip

    def get_fields(self, request, obj=None):
        if obj is None:
            return ReportRunForm.Meta.fields
        return self.readonly_fields

    def get_readonly_fields(self, request, obj=None):
        return [] if obj is None else self.readonly_fields

    def has_change_permission(self, request, obj=None):
        return False

    def has_delete_permission(self, request, obj=None):
        return False

    def save_model(self, request, obj, form, change):
        obj.parameters = form.parameters
        obj.requester_kind = ReportRun.Requester.USER
        obj.requested_by = request.user
        obj.save()
        runner.queue(obj)

    @admin.display(description="Period")
    def period(self, run):
        if run.period_from:
            return f"{run.period_from} to {run.period_to}"
        return json.dumps(run.parameters) if run.parameters else "–"

    @admin.display(description="Took")
    def took(self, run):
        return f"{run.duration.total_seconds():.1f} s" if run.duration else "–"

    @admin.display(description="Warnings")
    def warnings_list(self, run):
        if not run.warnings:
            return "–"
        items = format_html_join("", "<li>{}</li>", ((w,) for w in run.warnings))
        return format_html("<ul>{}</ul>", items)

    @admin.display(description="Document")
    def document(self, run):
        return format_html("<pre>{}</pre>", run.result) if run.result else "–"
