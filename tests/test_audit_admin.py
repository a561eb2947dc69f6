"""The audit log in the admin: read-only, filterable, searchable, and cheap on a big table."""

import re

import pytest
from django.contrib import admin
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.urls import reverse

from audit.admin import CappedCountPaginator
from audit.models import AuditEvent
from tests import audit_fixtures as fixtures
from tests.audit_fixtures import CHANGELIST, changelist_url, day

superuser, viewer, outsider, events = (
    fixtures.superuser,
    fixtures.viewer,
    fixtures.outsider,
    fixtures.events,
)

pytestmark = pytest.mark.django_db


def listed(response):
    """The events on the page, newest first."""
    assert response.status_code == 200, response
    return list(response.context["cl"].result_list)


def change_url(event):
    return reverse("admin:audit_auditevent_change", args=[event.pk])


@pytest.fixture
def as_viewer(client, viewer):
    client.force_login(viewer)
    return client


@pytest.fixture
def as_superuser(client, superuser):
    client.force_login(superuser)
    return client


# Who may see what ----------------------------------------------------------------------


def test_it_lists_events_for_staff_with_the_view_permission(as_viewer, events):
    response = as_viewer.get(changelist_url())
    assert listed(response) == sorted(events.values(), key=lambda e: -e.pk)
    assert b"/v1/charges/ch_123" in response.content


def row_of(page, event):
    """The list's row of `event`, as its cells' text (tags dropped) and its HTML."""
    rows = re.findall(r"<tr[^>]*>.*?</tr>", page, re.DOTALL)
    (row,) = [r for r in rows if f'href="{change_url(event)}' in r]
    cells = re.findall(r"<t[hd][^>]*>(.*?)</t[hd]>", row, re.DOTALL)
    return [re.sub(r"<[^>]+>", " ", c).split() for c in cells], row


def test_the_list_shows_outcome_status_and_duration(as_viewer, events):
    page = as_viewer.get(changelist_url()).content.decode()
    thead = re.search(r'<table id="result_list">.*?</thead>', page, re.DOTALL)[0]
    headers = re.findall(r'<th scope="col"[^>]*>.*?<span>(.*?)</span>', thead, re.DOTALL)
    assert headers == [
        "Time (UTC)", "Actor", "Connection", "Request or action", "Outcome", "HTTP status",
        "Duration",
    ]  # fmt: skip
    cells, html = row_of(page, events["charges"])
    assert [" ".join(c) for c in cells] == [
        "2025-01-01 12:00:00", "nightly schedule", "acme", "GET /v1/charges", "OK", "200",
        "120 ms",
    ]  # fmt: skip
    assert '<span class="lumen-badge lumen-good">OK</span>' in html

    cells, html = row_of(page, events["payouts"])
    assert [" ".join(c) for c in cells[4:7]] == ["Rate limited", "429", "-"]
    assert '<span class="lumen-badge lumen-warn">Rate limited</span>' in html
    cells, html = row_of(page, events["refused"])
    assert cells[4] == ["Blocked"] and "lumen-bad" in html
    # A staff action has no request: its operation says what it was.
    cells, _ = row_of(page, events["staff"])
    assert cells[3] == ["connection.created"]


def test_it_shows_every_field_of_an_event_read_only(as_viewer, events):
    event = events["refused"]
    response = as_viewer.get(change_url(event))
    assert response.status_code == 200
    page = response.content.decode()
    for value in (event.chain_hash, "/v1/refunds", "globex", "Blocked before sending"):
        assert value in page
    assert "HYPERLINK" in page
    assert not re.search(r"<(input|textarea|select)[^>]+name=\"(message|path|outcome)\"", page)
    assert 'name="_save"' not in page
    assert reverse("admin:audit_auditevent_delete", args=[event.pk]) not in page


def test_the_detail_view_shows_every_column(as_viewer, events):
    model_admin = admin.site._registry[AuditEvent]
    shown = {name for _, options in model_admin.fieldsets for name in options["fields"]}
    field_of = {label: name for name, label in model_admin.SHOWN_AS.items()}
    assert {f.name for f in AuditEvent._meta.fields} == {field_of.get(n, n) for n in shown}
    page = as_viewer.get(change_url(events["charges"])).content.decode()
    assert "2025-01-01 00:00:00.000000" in page  # date_from, to the microsecond, in UTC
    assert "2025-01-01 12:00:00.000000" in page  # occurred_at
    assert "&quot;limit&quot;: 100" in page  # params
    assert re.search(r"<label>HTTP status:</label>\s*<div class=\"readonly\">200</div>", page)
    assert re.search(r"<label>Duration:</label>\s*<div class=\"readonly\">120 ms</div>", page)


@pytest.mark.parametrize("who", ["as_viewer", "as_superuser"])
def test_it_offers_no_add_change_or_delete_to_anyone(who, request, events):
    client = request.getfixturevalue(who)
    event = events["charge"]
    add = reverse("admin:audit_auditevent_add")
    delete = reverse("admin:audit_auditevent_delete", args=[event.pk])

    page = client.get(changelist_url()).content.decode()
    assert add not in page
    assert 'name="action"' not in page  # no bulk actions, so no "delete selected"
    assert client.get(add).status_code == 403
    assert client.post(add, {"operation": "list", "actor_kind": "user"}).status_code == 403
    assert client.post(change_url(event), {"message": "rewritten"}).status_code == 403
    assert client.get(delete).status_code == 403
    assert client.post(delete, {"post": "yes"}).status_code == 403
    assert AuditEvent.objects.count() == len(events)
    assert AuditEvent.objects.get(pk=event.pk).message == ""


def test_it_keeps_staff_without_the_permission_out(client, outsider, events):
    client.force_login(outsider)
    assert client.get(changelist_url()).status_code == 403
    assert client.get(change_url(events["charge"])).status_code == 403
    assert client.post(reverse("admin:audit_auditevent_export_csv")).status_code == 403
    assert not AuditEvent.objects.filter(operation="audit.exported").exists()


# Filters and search ------------------------------------------------------------------------


@pytest.mark.parametrize(
    "query, names",
    [
        ({"connection": "7"}, ["charge", "charges"]),
        ({"connection": "none"}, ["staff"]),
        ({"actor_kind__exact": "command"}, ["refused", "payouts"]),
        ({"operation": "retrieve"}, ["charge"]),
        ({"resource_type": "payouts"}, ["payouts"]),
        ({"outcome__exact": "blocked"}, ["refused"]),
        (
            {"occurred_at__gte": "2025-01-02", "occurred_at__lt": "2025-01-04"},
            ["payouts", "charge"],
        ),
        ({"connection": "9", "outcome__exact": "rate_limited"}, ["payouts"]),
        ({"origin": "+admin"}, ["staff"]),
        ({"origin": "admin"}, []),
    ],
)
def test_it_filters(as_viewer, events, query, names):
    assert listed(as_viewer.get(changelist_url(**query))) == [events[n] for n in names]


def test_it_filters_by_time_with_static_choices(as_viewer, events, time_machine):
    time_machine.move_to(day(5, hour=18), tick=False)
    response = as_viewer.get(changelist_url())
    choices = {c["display"]: c["query_string"] for c in _filter(response, "occurred at")}
    assert list(choices) == ["Any time", "Today", "Last 7 days", "Last 30 days"]
    path = reverse(CHANGELIST)
    assert listed(as_viewer.get(path + choices["Today"])) == [events["staff"]]
    assert len(listed(as_viewer.get(path + choices["Last 7 days"]))) == 5


def test_it_names_connections_and_values_seen_lately(as_viewer, events):
    response = as_viewer.get(changelist_url())
    assert [c["display"] for c in _filter(response, "connection")] == [
        "All",
        "acme",
        "globex",
        "No connection (staff actions)",
    ]
    assert [c["display"] for c in _filter(response, "operation")] == [
        "All",
        "connection.created",
        "create",
        "list",
        "retrieve",
    ]
    assert [c["display"] for c in _filter(response, "outcome")][:2] == ["All", "OK"]


def test_it_offers_the_origin_filter_only_once_given(as_viewer, events):
    titles = [
        str(spec.title) for spec in as_viewer.get(changelist_url()).context["cl"].filter_specs
    ]
    assert "part of" not in titles  # the origins seen would list every sync run
    response = as_viewer.get(changelist_url(origin="sync_run:12"))
    assert [c["display"] for c in _filter(response, "part of")] == ["All", "sync_run:12"]


def test_it_filters_by_a_connection_not_seen_lately(as_viewer, events, monkeypatch):
    monkeypatch.setattr("audit.admin.RECENT_EVENTS", 1)  # only the newest event is "recent"
    response = as_viewer.get(changelist_url(connection="7"))
    assert listed(response) == [events["charge"], events["charges"]]
    assert "acme" in [c["display"] for c in _filter(response, "connection")]


def test_it_refuses_a_malformed_connection_filter(as_viewer, events):
    response = as_viewer.get(changelist_url(connection="acme"))
    assert response.status_code == 302
    assert response.url.endswith("?e=1")


@pytest.mark.parametrize(
    "term, names",
    [
        ("ch_123", ["charge"]),
        ("req_limited", ["payouts"]),
        (" req_one ", ["charge"]),
        ("ch_12", []),
        ("CH_123", []),
        ("-ch_123", ["staff"]),
    ],
)
def test_it_searches_object_and_request_ids_exactly(as_viewer, events, term, names):
    assert listed(as_viewer.get(changelist_url(q=term))) == [events[n] for n in names]


# Cost on a big table -----------------------------------------------------------------------


def unbounded_counts(queries):
    """Queries that count rows of the audit table with no LIMIT to stop them."""
    return [
        q["sql"]
        for q in queries
        if re.search(r"COUNT\(", q["sql"], re.IGNORECASE)
        and "audit_auditevent" in q["sql"]
        and not re.search(r"\bLIMIT\b", q["sql"], re.IGNORECASE)
    ]


def unbounded_distincts(queries):
    """Queries listing the distinct values of a column over the whole audit table."""
    return [
        q["sql"]
        for q in queries
        if "DISTINCT" in q["sql"].upper()
        and "audit_auditevent" in q["sql"]
        and not re.search(r'"audit_auditevent"\."id" > ', q["sql"])
    ]


@pytest.mark.parametrize(
    "query",
    [{}, {"outcome__exact": "ok"}, {"q": "ch_123"}, {"connection": "7", "operation": "list"}],
)
def test_it_never_counts_the_whole_table(as_viewer, events, query):
    with CaptureQueriesContext(connection) as ctx:
        listed(as_viewer.get(changelist_url(**query)))
    counts = [q["sql"] for q in ctx.captured_queries if "COUNT(" in q["sql"].upper()]
    assert counts, "the page should count its rows, with a cap"
    assert unbounded_counts(ctx.captured_queries) == []
    assert unbounded_distincts(ctx.captured_queries) == []


def test_it_says_plus_past_the_count_cap(as_viewer, events, monkeypatch):
    monkeypatch.setattr(CappedCountPaginator, "cap", 3)
    monkeypatch.setattr("audit.admin.AuditEventAdmin.list_per_page", 2)
    response = as_viewer.get(changelist_url())
    assert "3+ audit events" in response.content.decode()
    assert len(listed(response)) == 2
    assert len(listed(as_viewer.get(changelist_url(p="2")))) == 1  # the 3 counted, no more
    response = as_viewer.get(changelist_url(outcome__exact="ok"))
    assert re.search(r"\b3 audit events", response.content.decode())


def test_the_unbounded_count_check_would_see_one(events):
    # The check above is only worth something if it catches the admin's default count.
    with CaptureQueriesContext(connection) as ctx:
        AuditEvent.objects.filter(outcome="ok").count()
    assert len(unbounded_counts(ctx.captured_queries)) == 1


# helpers -------------------------------------------------------------------------------------


def _filter(response, title):
    cl = response.context["cl"]
    for spec in cl.filter_specs:
        if str(spec.title) == title:
            return list(spec.choices(cl))
    raise AssertionError(f"no filter {title!r} among {[str(s.title) for s in cl.filter_specs]}")


def test_it_refuses_a_malformed_time_filter(as_viewer, events):
    response = as_viewer.get(changelist_url(occurred_at__gte="last tuesday"))
    assert (response.status_code, response.url[-4:]) == (302, "?e=1")
