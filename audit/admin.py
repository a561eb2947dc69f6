"""The audit log in the admin: read-only, filterable, searchable, exportable.

Built for millions of rows. No page of the list runs a query whose cost grows with the
table: the result count stops at 10,000, filters never run a DISTINCT over the whole table
to list their choices, search is an exact match on indexed columns, and the list is ordered
by id only.
"""

import datetime

from django.contrib import admin
from django.contrib.admin.options import IncorrectLookupParameters
from django.contrib.auth import get_permission_codename
from django.core.exceptions import PermissionDenied
from django.core.paginator import Paginator
from django.db import transaction
from django.db.models import Q
from django.http import HttpResponseRedirect, StreamingHttpResponse
from django.urls import path, reverse
from django.utils import timezone
from django.utils.dateparse import parse_datetime
from django.utils.functional import cached_property
from django.utils.html import format_html
from django.views.decorators.http import require_POST

from audit.export import csv_records, in_blocks
from audit.models import AuditEvent
from audit.recorder import Actor, record
from lumen.adminkit import ReadOnly, badge

# Filters list the values seen among about this many latest events: one short scan of the
# primary key. A value older than that still filters when given in the URL.
RECENT_EVENTS = 10_000


class CappedCountPaginator(Paginator):
    """Counts at most `cap` rows, so a page of a huge selection never counts all of it.

    Past the cap the list says "10,000+" and pages through the first 10,000; filters narrow
    the selection to the rest.
    """

    cap = 10_000

    @cached_property
    def _capped_count(self):
        # A sliced queryset counts as SELECT COUNT(*) FROM (SELECT ... LIMIT cap + 1).
        return self.object_list[: self.cap + 1].count()

    @cached_property
    def count(self):
        return min(self._capped_count, self.cap)

    @property
    def capped(self):
        return self._capped_count > self.cap

    @property
    def count_display(self):
        return f"{self.count:,}+" if self.capped else f"{self.count:,}"


def utc(moment, microseconds=False):
    """A time to the second (or microsecond), as an audit log should show it."""
    if moment is None:
        return None
    return moment.astimezone(datetime.UTC).strftime(
        "%Y-%m-%d %H:%M:%S.%f" if microseconds else "%Y-%m-%d %H:%M:%S"
    )


def recent_events():
    newest = AuditEvent.objects.order_by("-id").values_list("id", flat=True).first() or 0
    return AuditEvent.objects.filter(id__gt=newest - RECENT_EVENTS)


class RecentValuesFilter(admin.SimpleListFilter):
    """A filter whose choices are the values of one column among the latest events."""

    field_name = None

    def lookups(self, request, model_admin):
        values = set(
            recent_events()
            .exclude(**{self.field_name: ""})
            .values_list(self.field_name, flat=True)
            .distinct()
            .order_by()
        )
        if self.value():
            values.add(self.value())
        return [(value, value) for value in sorted(values)]

    def queryset(self, request, queryset):
        if self.value() is not None:
            return queryset.filter(**{self.field_name: self.value()})
        return queryset


class OperationFilter(RecentValuesFilter):
    title = "operation"
    parameter_name = field_name = "operation"


class ResourceTypeFilter(RecentValuesFilter):
    title = "resource type"
    parameter_name = field_name = "resource_type"


class ConnectionFilter(admin.SimpleListFilter):
    """Connections by name, filtering on the indexed connection id.

    The id and not the name: the name is a copy taken when the event was written (a renamed
    connection keeps its history) and only the id is indexed.
    """

    title = "connection"
    parameter_name = "connection"
    NONE = "none"

    def lookups(self, request, model_admin):
        names = {}
        pairs = (
            recent_events()
            .filter(connection_id__isnull=False)
            .values_list("connection_id", "connection_name")
            .distinct()
            .order_by()
        )
        for connection_id, name in pairs:
            names.setdefault(connection_id, set()).add(name or f"#{connection_id}")
        selected = self.selected_id()
        if selected is not None and selected not in names:
            latest = (
                AuditEvent.objects.filter(connection_id=selected)
                .order_by("-id")
                .values_list("connection_name", flat=True)
                .first()
            )
            names[selected] = {latest or f"#{selected}"}
        choices = [(str(pk), " / ".join(sorted(n))) for pk, n in names.items()]
        choices.sort(key=lambda choice: choice[1].lower())
        return [*choices, (self.NONE, "No connection (staff actions)")]

    def selected_id(self):
        value = self.value()
        if value is None or value == self.NONE:
            return None
        if not value.isdigit():
            raise IncorrectLookupParameters(f"Unknown connection {value!r}.")
        return int(value)

    def queryset(self, request, queryset):
        if self.value() == self.NONE:
            return queryset.filter(connection_id__isnull=True)
        if self.value() is not None:
            return queryset.filter(connection_id=self.selected_id())
        return queryset


class OccurredAtFilter(admin.DateFieldListFilter):
    """Today, the last 7 or 30 days. Any range works in the URL:
    ?occurred_at__gte=2025-01-01&occurred_at__lt=2025-02-01."""

    def __init__(self, field, request, params, model, model_admin, field_path):
        super().__init__(field, request, params, model, model_admin, field_path)
        today = timezone.localtime().replace(hour=0, minute=0, second=0, microsecond=0)
        tomorrow = today + datetime.timedelta(days=1)
        self.links = (
            ("Any time", {}),
            ("Today", {self.lookup_kwarg_since: today, self.lookup_kwarg_until: tomorrow}),
            *(
                (
                    f"Last {days} days",
                    {
                        self.lookup_kwarg_since: tomorrow - datetime.timedelta(days=days),
                        self.lookup_kwarg_until: tomorrow,
                    },
                )
                for days in (7, 30)
            ),
        )

    def queryset(self, request, queryset):
        # A date or a time without a zone in the URL means the admin's time zone (UTC).
        bounds = {}
        for name, values in self.used_parameters.items():
            try:
                moment = parse_datetime(values[-1])
            except ValueError:
                moment = None
            if moment is None:
                raise IncorrectLookupParameters(f"{name} must be a date or a time.")
            bounds[name] = timezone.make_aware(moment) if timezone.is_naive(moment) else moment
        return queryset.filter(**bounds)


class OriginFilter(admin.SimpleListFilter):
    """What the events were part of, as the recorder wrote it ("sync_run:12"): how a sync
    run's page opens exactly its own calls to Stripe.

    Shown only once given in the URL: the origins seen lately would list every sync run.
    """

    title = "part of"
    parameter_name = "origin"

    def lookups(self, request, model_admin):
        value = self.value()
        return [] if value is None else [(value, value or "nothing")]

    def queryset(self, request, queryset):
        if self.value() is not None:
            return queryset.filter(origin=self.value())
        return queryset


# How each outcome reads in the list: a short label (the status code is in the next column,
# the whole label on the event's page and in the filter) and a tone. An outcome missing
# here shows its whole label, in a neutral tone.
OUTCOME_BADGES = {
    AuditEvent.Outcome.OK: ("OK", "good"),
    AuditEvent.Outcome.CLIENT_ERROR: ("Refused by Stripe", "bad"),
    AuditEvent.Outcome.RATE_LIMITED: ("Rate limited", "warn"),
    AuditEvent.Outcome.SERVER_ERROR: ("Stripe error", "bad"),
    AuditEvent.Outcome.NETWORK_ERROR: ("Network error", "bad"),
    AuditEvent.Outcome.BLOCKED: ("Blocked", "bad"),
    # A probe's expected 403 (a restricted key may not read the account): no failure.
    AuditEvent.Outcome.NOT_PERMITTED: ("Expected 403", "quiet"),
}


# Read-only for everyone, superusers included: the log is changed only by being appended to.
@admin.register(AuditEvent)
class AuditEventAdmin(ReadOnly, admin.ModelAdmin):
    change_list_template = "admin/audit/auditevent/change_list.html"

    # What fits 1440 pixels beside the navigation and the filters (measured in
    # tests/test_admin_browser.py). The origin, the operation of a call, its resource type
    # and object id (all in its path) and the number of objects it read are on the event's
    # page; the filters and the search still reach them.
    list_display = (
        "time",
        "actor_display",
        "connection_display",
        "request_line",
        "outcome_badge",
        "http_status_display",
        "duration_display",
    )
    list_filter = (
        ConnectionFilter,
        "actor_kind",
        OperationFilter,
        ResourceTypeFilter,
        "outcome",
        ("occurred_at", OccurredAtFilter),
        OriginFilter,
    )
    search_fields = ("object_id", "request_id")
    search_help_text = "Exact Stripe object id (ch_…, po_…) or request id (req_…)."
    ordering = ("-id",)
    sortable_by = ()
    list_per_page = 100
    list_select_related = False
    show_full_result_count = False
    show_facets = admin.ShowFacets.NEVER
    paginator = CappedCountPaginator
    actions = None

    # Every column is on the event's page; a few under a label of their own (the model's
    # field names read "Http status" and "Duration ms").
    SHOWN_AS = {
        "occurred_at": "occurred_at_utc",
        "date_from": "date_from_utc",
        "date_to": "date_to_utc",
        "http_status": "http_status_display",
        "duration_ms": "duration_display",
    }
    readonly_fields = [
        *(field.name for field in AuditEvent._meta.fields),
        *SHOWN_AS.values(),
    ]
    # fmt: off
    fieldsets = (
        (None, {"fields": ("id", "occurred_at_utc", "actor_kind", "actor", "origin")}),
        ("Call", {"fields": (
            "connection_id", "connection_name", "operation", "method", "host", "path",
            "resource_type",
            "object_id", "date_from_utc", "date_to_utc", "params",
        )}),
        ("Result", {"fields": (
            "outcome", "http_status_display", "request_id", "duration_display", "object_count",
            "attempt", "message",
        )}),
        ("Chain", {"fields": ("chain_hash",)}),
    )
    # fmt: on

    @admin.display(description="Time (UTC)")
    def time(self, event):
        # The date above the time (side by side, they cost the list a column); neither
        # breaks.
        day, moment = utc(event.occurred_at).split()
        return format_html('<span class="lumen-nowrap">{}<br>{}</span>', day, moment)

    @admin.display(description="Occurred at (UTC)")
    def occurred_at_utc(self, event):
        return utc(event.occurred_at, microseconds=True)

    @admin.display(description="Date from (UTC)")
    def date_from_utc(self, event):
        return utc(event.date_from, microseconds=True)

    @admin.display(description="Date to (UTC)")
    def date_to_utc(self, event):
        return utc(event.date_to, microseconds=True)

    @admin.display(description="Outcome")
    def outcome_badge(self, event):
        return badge(*OUTCOME_BADGES.get(event.outcome, (event.get_outcome_display(), "quiet")))

    @admin.display(description="HTTP status")
    def http_status_display(self, event):
        return event.http_status

    @admin.display(description="Duration")
    def duration_display(self, event):
        return None if event.duration_ms is None else f"{event.duration_ms:,} ms"

    @admin.display(description="Actor")
    def actor_display(self, event):
        kind = event.get_actor_kind_display()
        if not event.actor:
            return kind
        return format_html('{}<br><small class="quiet">{}</small>', event.actor, kind.lower())

    @admin.display(description="Connection")
    def connection_display(self, event):
        return event.connection_name or (f"#{event.connection_id}" if event.connection_id else "")

    @admin.display(description="Request or action")
    def request_line(self, event):
        # A call to Stripe is its request; a staff action (no request) its operation. Either
        # wraps when too long for the column (/v1/invoices/in_…/lines) rather than widen the
        # list past the screen.
        if not event.path:
            return format_html('<span class="lumen-token">{}</span>', event.operation)
        return format_html('{} <span class="lumen-token">{}</span>', event.method, event.path)

    def has_export_permission(self, request):
        # Taking a copy of the log away needs its own permission, on top of the right to
        # read it.
        codename = get_permission_codename("export", self.opts)
        return self.has_view_permission(request) and request.user.has_perm(
            f"{self.opts.app_label}.{codename}"
        )

    def get_search_results(self, request, queryset, search_term):
        # Exact and case-sensitive, so each is one index lookup (the admin's "=" prefix would
        # compare UPPER() of both sides, which no index serves).
        term = search_term.strip()
        if not term:
            return queryset, False
        return queryset.filter(Q(object_id=term) | Q(request_id=term)), False

    def get_urls(self):
        # A POST: a download that writes to the log must not be started by a link, a
        # prefetch or another site's <img>, and the admin's CSRF check covers only POSTs.
        streaming = path(
            "export-csv/",
            self.admin_site.admin_view(require_POST(self.export_csv_view)),
            name=f"{self.opts.app_label}_{self.opts.model_name}_export_csv",
        )
        verify = path(
            "verify/",
            self.admin_site.admin_view(require_POST(self.verify_view)),
            name=f"{self.opts.app_label}_{self.opts.model_name}_verify",
        )
        return [streaming, verify, *super().get_urls()]

    # Verifying the chain and exporting ---------------------------------------------------

    def has_verify_permission(self, request):
        return self.has_view_permission(request) and request.user.has_perm(
            f"{self.opts.app_label}.verify_auditevent"
        )

    def verify_view(self, request):
        """Queue a walk of the chain for a worker; its outcome lands on the log."""
        if not self.has_verify_permission(request):
            raise PermissionDenied
        from audit.tasks import verify_chain

        user_id = request.user.pk
        transaction.on_commit(lambda: verify_chain.delay(user_id))
        self.message_user(
            request,
            "Verifying the chain and its anchors in a worker: the outcome appears at the top "
            "of the log as an audit.verified event (reload in a moment).",
        )
        return HttpResponseRedirect(
            reverse(f"admin:{self.opts.app_label}_{self.opts.model_name}_changelist")
        )

    def changelist_view(self, request, extra_context=None):
        context = {
            **(extra_context or {}),
            "has_export_permission": self.has_export_permission(request),
            "has_verify_permission": self.has_verify_permission(request),
        }
        if context["has_verify_permission"]:
            context["last_verification"] = (
                AuditEvent.objects.filter(operation="audit.verified").order_by("-id").first()
            )
        return super().changelist_view(request, context)

    def export_csv_view(self, request):
        """The current selection of the list (its filters and search in the query string)
        as CSV, oldest first, streamed as it is read.

        The list's one export. CSV only: an XLSX is built whole in memory (django-import-
        export took 530 MB for 500,000 events) and stops at 1,048,576 rows, while this
        stream stays flat; `manage.py export XLSX audit.AuditEvent` writes one, recorded too.
        """
        if not self.has_export_permission(request):
            raise PermissionDenied
        try:
            queryset = self.get_changelist_instance(request).queryset.order_by("id")
        except IncorrectLookupParameters:
            return self._changelist_with_error()
        # Recorded before the first byte leaves, so an interrupted download is on the log
        # too. The count is not known yet; the export stops at this event, its own record.
        event = self.record_export(request, "csv-stream", rows=None)
        records = csv_records(queryset.filter(id__lt=event.id))
        response = StreamingHttpResponse(in_blocks(records), content_type="text/csv; charset=utf-8")
        filename = f"audit-events-{timezone.now():%Y-%m-%d}.csv"
        response["Content-Disposition"] = f'attachment; filename="{filename}"'
        return response

    def record_export(self, request, file_format, rows):
        filters = {
            key: values[0] if len(values) == 1 else values
            for key, values in request.GET.lists()
            if key != "p"
        }
        return record(
            actor=Actor.user(request.user),
            operation="audit.exported",
            origin="admin",
            params={"filters": filters, "format": file_format, "rows": rows},
        )

    def _changelist_with_error(self):
        changelist = f"admin:{self.opts.app_label}_{self.opts.model_name}_changelist"
        return HttpResponseRedirect(reverse(changelist) + "?e=1")
