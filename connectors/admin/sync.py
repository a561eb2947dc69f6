"""The sync as staff see it: runs with their progress, and "Sync now" on a connection."""

from django.contrib import admin
from django.utils.html import format_html, format_html_join

from connectors.models import SyncRun
from lumen.adminkit import ReadOnly


@admin.register(SyncRun)
class SyncRunAdmin(ReadOnly, admin.ModelAdmin):
    list_display = ["__str__", "status", "started_at", "duration_display", "progress",
                    "api_calls", "error_count"]  # fmt: skip
    list_filter = ["status", "kind", "connection"]
    list_select_related = ["connection"]
    readonly_fields = ["connection", "kind", "status", "actor_kind", "actor", "started_at",
                       "finished_at", "current", "api_calls", "counts_table", "message",
                       "warnings_list", "errors_list"]  # fmt: skip
    exclude = ["counts", "errors", "warnings"]

    @admin.display(description="Duration")
    def duration_display(self, run):
        return f"{run.duration.total_seconds():.1f} s"

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
