"""What every mirror page shares: read-only, lists that cost the same whatever their length,
links by Stripe id, the object's page (its details, sections of related objects, the raw
object), the columns several kinds have, and filters over Stripe's documented values."""

import json
from datetime import timedelta

from django.contrib import admin, messages
from django.contrib.admin.views.main import ChangeList
from django.core.exceptions import PermissionDenied
from django.db.models import Count, OuterRef, Q, Subquery, Value
from django.db.models.functions import Coalesce, NullIf
from django.shortcuts import redirect
from django.urls import path, reverse
from django.utils import timezone
from django.utils.html import format_html
from django.utils.http import urlencode

from connectors.admin.mirror import export
from connectors.admin.mirror.display import (
    NONE,
    badge,
    day,
    moment,
    money,
    raw_for_page,
    table,
)
from connectors.admin.mirror.links import changelist_url, mirror_link, stripe_link
from connectors.admin.mirror.selections import SelectionFilter
from connectors.models import Customer
from lumen.adminkit import ReadOnly, flag_column, readable_column

RELATED_ROWS = 20  # rows of related objects shown on an object's page
LIST_TEMPLATE = "admin/connectors/mirror_change_list.html"


# Filters ---------------------------------------------------------------------------------


class StripeValueFilter(admin.SimpleListFilter):
    """A column's possible values as Stripe documents them: listing them costs no query
    (a DISTINCT over a large mirror table would). A value not listed still filters."""

    values = ()

    def lookups(self, request, model_admin):
        values = list(self.values)
        if self.value() and self.value() not in values:
            values.append(self.value())
        return [(v, v.replace("_", " ").capitalize()) for v in values]

    def queryset(self, request, queryset):
        if self.value():
            return queryset.filter(**{self.parameter_name: self.value()})
        return queryset


def value_filter(field, values, title=None):
    return type(
        f"{field.title()}Filter",
        (StripeValueFilter,),
        {"parameter_name": field, "title": title or field.replace("_", " "), "values": values},
    )


class CreatedWithinFilter(admin.SimpleListFilter):
    title = "created"
    parameter_name = "created_within"

    def lookups(self, request, model_admin):
        return [("today", "Today"), ("7d", "Past 7 days"), ("30d", "Past 30 days")]

    def queryset(self, request, queryset):
        now = timezone.now()
        since = {
            "today": timezone.localtime(now).replace(hour=0, minute=0, second=0, microsecond=0),
            "7d": now - timedelta(days=7),
            "30d": now - timedelta(days=30),
        }.get(self.value())
        return queryset.filter(created__gte=since) if since else queryset


# Lists ------------------------------------------------------------------------------------


class MirrorChangeList(ChangeList):
    def get_queryset(self, request, exclude_parameters=None):
        # The raw object is most of a row's size and no list column reads it.
        return super().get_queryset(request, exclude_parameters).defer("raw")

    def get_results(self, request):
        super().get_results(request)
        # What a column needs from other tables (product names, lifetime values) is looked
        # up for the page's rows at once: a few queries per page, whatever its length.
        self.result_list = list(self.result_list)
        self.model_admin.prepare_page(self.result_list)


def quick_links(request, model, links):
    """The links, keeping the connection chosen, with their counts (one query)."""
    keep = {k: v for k, v in request.GET.items() if k == "connection__id__exact" and v.isdigit()}
    counts = model.objects.filter(**keep).aggregate(
        **{f"link{i}": Count("pk", filter=q) for i, (_, _, q) in enumerate(links)}
    )
    return [
        {"label": f"{label} · {counts[f'link{i}']:,}", "url": "?" + urlencode({**keep, **params})}
        for i, (label, params, _) in enumerate(links)
    ]


def with_customer_names(queryset, customer="customer"):
    """Annotate each row with its customer's admin id and name (or email): one subquery in
    the list's query instead of one query per row. `customer`: the field (or annotation)
    that holds the customer's id."""
    customers = Customer.objects.filter(
        connection=OuterRef("connection"), stripe_id=OuterRef(customer)
    ).order_by()
    label = Coalesce(NullIf("name", Value("")), "email")
    return queryset.annotate(
        customer_pk=Subquery(customers.values("pk")[:1]),
        customer_label=Subquery(customers.annotate(label=label).values("label")[:1]),
    )


# Sections of an object's page -------------------------------------------------------------


def related_rows(model, field, obj):
    """The `model` rows whose `field` holds the id of `obj`, in its connection."""
    rows = model.objects.filter(connection_id=obj.connection_id, **{field: obj.stripe_id})
    return rows.defer("raw")


def related_section(model, field, obj, headers, row, noun, queryset=None):
    """The first RELATED_ROWS of the `model` rows whose `field` holds the id of `obj` (or of
    `queryset`, some of them) as a table, and a link to all of them as a list."""
    if queryset is None:
        queryset = related_rows(model, field, obj)
    url = changelist_url(
        model, **{field: obj.stripe_id, "connection__id__exact": obj.connection_id}
    )
    rows = list(queryset[: RELATED_ROWS + 1])
    if not rows:
        return f"No {noun}."
    total = len(rows) if len(rows) <= RELATED_ROWS else queryset.count()
    shown = rows[:RELATED_ROWS]
    noun = noun[:-1] if total == 1 else noun  # "1 charge", "3 charges"
    count = f"{total:,} {noun}" if total == len(shown) else f"{len(shown)} of {total:,} {noun}"
    return format_html(
        '{}<p class="lumen-related-more">{} · <a href="{}">open as a list</a></p>',
        table(headers, (row(r) for r in shown)),
        count,
        url,
    )


def related_table(queryset, headers, row, empty):
    """The first RELATED_ROWS of `queryset` as a table, for kinds that have no list here."""
    shown = list(queryset[:RELATED_ROWS])
    return table(headers, (row(r) for r in shown)) if shown else empty


# Columns ----------------------------------------------------------------------------------


def money_column(field, description):
    @admin.display(description=description, ordering=field)
    def column(self, obj):
        return money(getattr(obj, field), obj.currency)

    return column


def day_column(field, description):
    @admin.display(description=description, ordering=field)
    def column(self, obj):
        return day(getattr(obj, field))

    return column


def link_column(model, field, description):
    @admin.display(description=description, ordering=field)
    def column(self, obj):
        return mirror_link(model, obj.connection_id, getattr(obj, field))

    return column


# The base of every mirror page ------------------------------------------------------------


class MirrorAdmin(ReadOnly, admin.ModelAdmin):
    actions = None
    list_select_related = ["connection"]
    list_per_page = 50
    # Facet counts run over the whole table for every choice of every filter.
    show_facets = admin.ShowFacets.NEVER
    # Counting a whole mirror table on every page is the one cost that grows with it.
    show_full_result_count = False
    # Lookups matched against the search box's whole text: ids exactly (Stripe ids are
    # case-sensitive), a few text columns by substring.
    search_fields = ["stripe_id"]
    search_help_text = "An exact Stripe id."
    detail_fields = []  # shown under the id and the dashboard link on an object's page
    sections = []  # (title, method) rendered below, e.g. a customer's charges
    annotate_customers = False

    change_list_template = LIST_TEMPLATE

    def get_list_filter(self, request):
        # Any list can show a selection made elsewhere (a report's citations).
        return [SelectionFilter, *super().get_list_filter(request)]

    def get_quick_links(self):
        """[(label, {parameter: value}, Q)]: links above the list to the selections staff
        look at most, each with how many rows it holds."""
        return []

    def prepare_page(self, rows):
        """Set on the rows of a list's page what its columns read from other tables."""

    mode = flag_column("livemode", "Mode", "Live", "Test")
    presence = flag_column("deleted", "In Stripe", "Deleted in Stripe", "Yes")

    # Taking records out of the portal is apart from looking at them (roles: Analyst).
    def has_export_permission(self, request):
        return self.has_view_permission(request) and request.user.has_perm(
            "connectors.export_mirror"
        )

    def get_changelist(self, request, **kwargs):
        return MirrorChangeList

    def get_queryset(self, request):
        queryset = super().get_queryset(request)
        return with_customer_names(queryset) if self.annotate_customers else queryset

    def get_search_results(self, request, queryset, search_term):
        term = search_term.strip()
        if not term:
            return queryset, False
        return queryset.filter(self.search_match(request, term)), False

    def search_match(self, request, term):
        """What the search box's whole text matches: each of search_fields' lookups."""
        match = Q()
        for lookup in self.search_fields:
            match |= Q(**{lookup: term})
        return match

    def get_fieldsets(self, request, obj=None):
        fieldsets = [(None, {"fields": ["stripe_id", "view_in_stripe_page", *self.detail_fields]})]
        fieldsets += [(title, {"fields": [method]}) for title, method in self.sections]
        fieldsets += [
            ("In the mirror", {"fields": ["connection", "mode", "presence", "observed_at"]}),
            ("As Stripe sent it", {"fields": ["raw_json"], "classes": ["collapse"]}),
        ]
        return fieldsets

    def get_urls(self):
        name = f"{self.opts.app_label}_{self.opts.model_name}"
        by_id = self.admin_site.admin_view(self.open_by_stripe_id)
        export = self.admin_site.admin_view(self.export_csv)
        return [
            path("by-id/<int:connection_id>/<str:stripe_id>/", by_id, name=f"{name}_by_stripe_id"),
            path("export.csv", export, name=f"{name}_export_csv"),
            *super().get_urls(),
        ]

    def export_csv(self, request):
        """The list as it is filtered and searched, as CSV: every typed column, the raw object
        left out. Streamed as it is read, and recorded on the audit log."""
        if not self.has_export_permission(request):
            raise PermissionDenied
        changelist = self.get_changelist_instance(request)
        queryset = changelist.get_queryset(request).order_by("pk")
        return export.streamed(request, self.model, queryset)

    def open_by_stripe_id(self, request, connection_id, stripe_id):
        """The page of the object a link names by Stripe id; its list (searched for the id)
        with a note when the mirror does not hold it."""
        if not self.has_view_permission(request):
            raise PermissionDenied
        pk = (
            self.model.objects.filter(connection_id=connection_id, stripe_id=stripe_id)
            .values_list("pk", flat=True)
            .first()
        )
        if pk is not None:
            return redirect(f"admin:connectors_{self.opts.model_name}_change", pk)
        messages.info(request, f"Not in the mirror (yet): {stripe_id}.")
        return redirect(changelist_url(self.model, q=stripe_id))

    def changelist_view(self, request, extra_context=None):
        context = {**(extra_context or {})}
        links = self.get_quick_links()
        if links and self.has_view_permission(request):
            context["quick_links"] = quick_links(request, self.model, links)
        if self.has_export_permission(request):
            query = request.GET.urlencode()
            url = reverse(f"admin:connectors_{self.opts.model_name}_export_csv")
            context["export_url"] = url + (f"?{query}" if query else "")
        response = super().changelist_view(request, context)
        selection = getattr(request, "mirror_selection", None)
        if selection and hasattr(response, "context_data"):
            response.context_data["selection"] = selection
        return response

    # Columns of several kinds; each page shows those its kind has.

    amount_money = money_column("amount", "Amount")

    @admin.display(description="Stripe")
    def view_in_stripe(self, obj):
        return stripe_link(obj, "Stripe")

    @admin.display(description="Stripe")
    def view_in_stripe_page(self, obj):
        return stripe_link(obj)

    @admin.display(description="Status", ordering="status")
    def status_badge(self, obj):
        return badge(obj.status)

    reason_readable = readable_column("reason", "Reason")

    @admin.display(description="Created", ordering="created")
    def created_at(self, obj):
        return moment(obj.created)

    @admin.display(description="Customer", ordering="customer_label")
    def customer_link(self, obj):
        customer = getattr(obj, "customer", None) or getattr(obj, "customer_id_of", None)
        if not customer:
            return NONE
        pk, label = getattr(obj, "customer_pk", None), getattr(obj, "customer_label", None)
        if pk is None:
            return mirror_link(Customer, obj.connection_id, customer)
        url = reverse("admin:connectors_customer_change", args=[pk])
        return format_html('<a href="{}" title="{}">{}</a>', url, customer, label or customer)

    @admin.display(description="Currency", ordering="currency")
    def currency_code(self, obj):
        return (obj.currency or "").upper() or NONE

    @admin.display(description="Object")
    def raw_json(self, obj):
        text = json.dumps(raw_for_page(obj.raw), indent=2, sort_keys=True, ensure_ascii=False)
        return format_html('<pre class="lumen-raw">{}</pre>', text)
