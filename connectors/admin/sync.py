"""The sync as staff see it: runs with their progress, and "Sync now" on a connection."""

from datetime import datetime, timedelta
from urllib.parse import urlencode

from django.contrib import admin
from django.urls import reverse
from django.utils.html import format_html, format_html_join

from audit.models import AuditEvent
from connectors.models import SyncRun
from lumen.adminkit import NONE, ReadOnly, badge

STATUS_TONES = {
    SyncRun.Status.RUNNING: "info",
    SyncRun.Status.SUCCEEDED: "good",
    SyncRun.Status.FAILED: "bad",
    SyncRun.Status.SKIPPED: "quiet",
}


def audit_selection(run):
    """The run's calls to Stripe on the audit log, as filters of the audit list (which are
    also the lookups of the same queryset).

    The origin the door wrote on each call makes the selection exact: the connection and a
    window of time alone would take in the webhook deliveries, verifications and staff
    actions of the same connection while the run was reading. The window keeps the list to
    the run's stretch of the time index; it ends a second after the run, so that a call
    recorded in the run's last microsecond is inside it.
    """
    selection = {"origin": run.origin, "occurred_at__gte": run.started_at}
    if run.finished_at:
        selection["occurred_at__lt"] = run.finished_at + timedelta(seconds=1)
    return selection


@admin.register(SyncRun)
class SyncRunAdmin(ReadOnly, admin.ModelAdmin):
    list_display = ["__str__", "status_badge", "started_at", "duration_display", "progress",
                    "api_calls_display", "error_count"]  # fmt: skip
    list_filter = ["status", "kind", "connection"]
    list_select_related = ["connection"]
    readonly_fields = ["connection", "kind", "status_badge", "actor_kind", "actor",
                       "started_at", "finished_at", "duration_display", "current",
                       "api_calls_display", "audit_events", "counts_table", "message",
                       "warnings_list", "errors_list"]  # fmt: skip
    exclude = ["counts", "errors", "warnings", "status", "api_calls"]

    def get_readonly_fields(self, request, obj=None):
        # The link to the audit log only for whoever may read it (the Auditor role).
        fields = super().get_readonly_fields(request, obj)
        if request.user.has_perm("audit.view_auditevent"):
            return fields
        return [name for name in fields if name != "audit_events"]

    @admin.display(description="Status")
    def status_badge(self, run):
        return badge(run.get_status_display(), STATUS_TONES.get(run.status, "quiet"))

    @admin.display(description="Duration")
    def duration_display(self, run):
        return f"{run.duration.total_seconds():.1f} s"

    @admin.display(description="API calls")
    def api_calls_display(self, run):
        return f"{run.api_calls:,}"

    @admin.display(description="Audit events")
    def audit_events(self, run):
        selection = audit_selection(run)
        count = AuditEvent.objects.filter(**selection).count()
        if not count:
            return NONE
        query = {
            name: value.isoformat() if isinstance(value, datetime) else value
            for name, value in selection.items()
        }
        url = reverse("admin:audit_auditevent_changelist") + "?" + urlencode(query)
        calls = f"{count:,} call{'' if count == 1 else 's'} to Stripe"
        return format_html('<a href="{}">{} on the audit log</a>', url, calls)

    @admin.display(description="Progress")
    def progress(self, run):
        totals = run.totals()
        reading = f" · reading {run.current}" if run.status == run.Status.RUNNING else ""
        read, new, updated = totals["fetched"], totals["created"], totals["updated"]
        return f"{read:,} read, {new:,} new, {updated:,} updated{reading}"

    @admin.display(description="Errors")
    def error_count(self, run):
        return len(run.errors)

    @admin.display(description="Per kind")
    def counts_table(self, run):
        rows = [
            (kind, c["fetched"], c["created"], c["updated"])
            for kind, c in sorted(run.counts.items())
        ]
        return format_html(
            "<table><tr><th>kind</th><th>read</th><th>new</th><th>updated</th></tr>{}</table>",
            format_html_join("", "<tr><td>{}</td><td>{}</td><td>{}</td><td>{}</td></tr>", rows),
        )

    @admin.display(description="Warnings")
    def warnings_list(self, run):
        return format_html(
            "<ul>{}</ul>", format_html_join("", "<li>{}</li>", ((w,) for w in run.warnings))
        )

    @admin.display(description="Errors")
    def errors_list(self, run):
        return format_html(
            "<ul>{}</ul>", format_html_join("", "<li>{}</li>", ((e,) for e in run.errors))
        )
