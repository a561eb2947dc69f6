"""Exports of the audit log: the selection asked for, exactly, with formulas defused, and
each export itself on the log."""

import csv
import io
import json
import re
from datetime import UTC, datetime
from urllib.parse import urlencode

import openpyxl
import pytest
from django.contrib.auth.models import Group
from django.core.management import CommandError, call_command
from django.test import Client
from django.urls import NoReverseMatch, reverse

from audit.export import COLUMNS, csv_records
from audit.models import AuditEvent
from audit.recorder import Actor
from tests import audit_fixtures as fixtures
from tests.audit_fixtures import EXPORT_CSV, day, event_at
from tests.conftest import member

viewer, auditor, superuser, events = (
    fixtures.viewer,
    fixtures.auditor,
    fixtures.superuser,
    fixtures.events,
)

pytestmark = pytest.mark.django_db


def parse(text):
    rows = list(csv.DictReader(io.StringIO(text)))
    return rows


def ids(rows):
    return [int(row["id"]) for row in rows]


def export_event():
    return AuditEvent.objects.filter(operation="audit.exported").get()


# The CSV itself ------------------------------------------------------------------------------


def test_it_writes_a_header_then_one_record_per_event(db):
    event = event_at(
        datetime(2025, 1, 2, 3, 4, 5, 600, tzinfo=UTC),
        method="GET",
        path="/v1/charges",
        params={"limit": 100, "created": {"gte": 1}},
        http_status=200,
        message="two\nlines",
    )
    records = list(csv_records(AuditEvent.objects.all()))
    assert len(records) == 2
    assert records[0] == ",".join(COLUMNS) + "\r\n"
    (row,) = parse("".join(records))
    assert row["id"] == str(event.pk)
    assert row["occurred_at"] == "2025-01-02T03:04:05.000600+00:00"
    assert row["params"] == '{"created":{"gte":1},"limit":100}'
    assert (row["http_status"], row["duration_ms"], row["date_from"]) == ("200", "", "")
    assert row["message"] == "two\nlines"
    assert row["chain_hash"] == event.chain_hash


@pytest.mark.parametrize(
    "text, cell",
    [
        ("=1+2", "'=1+2"),
        ("+1+2", "'+1+2"),
        ("-1+2", "'-1+2"),
        ("@SUM(A1)", "'@SUM(A1)"),
        ("\t=1", "'\t=1"),
        ("\r=1", "'\r=1"),
        ("a=1", "a=1"),
        ("", ""),
        ("'=1", "'=1"),
    ],
)
def test_it_defuses_cells_a_spreadsheet_would_run(db, text, cell):
    event_at(day(1), message=text)
    (row,) = parse("".join(csv_records(AuditEvent.objects.all())))
    assert row["message"] == cell


def test_it_defuses_formulas_in_every_text_column(db):
    event_at(
        day(1),
        actor=Actor.system("=cmd"),
        origin="+x",
        connection_name="-x",
        path="@x",
        object_id="=x",
        request_id="+x",
        params=["=x"],
    )
    (row,) = parse("".join(csv_records(AuditEvent.objects.all())))
    assert [
        row[c]
        for c in ("actor", "origin", "connection_name", "path", "object_id", "request_id", "params")
    ] == [
        "'=cmd",
        "'+x",
        "'-x",
        "'@x",
        "'=x",
        "'+x",
        '["=x"]',
    ]


# The admin's exports --------------------------------------------------------------------------


@pytest.fixture
def as_auditor(client, auditor):
    client.force_login(auditor)
    return client


def stream(client, query=""):
    """POST the download, as the list's Download CSV button does; return the response."""
    return client.post(reverse(EXPORT_CSV) + query)


SELECTION = {"connection": "9"}  # globex: "payouts" and "refused"


def test_the_download_exports_the_filtered_selection(as_auditor, events):
    response = stream(as_auditor, "?" + urlencode(SELECTION))
    assert response.status_code == 200
    assert response.streaming
    assert response["Content-Type"] == "text/csv; charset=utf-8"
    assert response["Content-Disposition"].startswith('attachment; filename="audit-events-')
    rows = parse(b"".join(response.streaming_content).decode())
    assert ids(rows) == [events["payouts"].pk, events["refused"].pk]
    assert rows[1]["message"] == '\'=HYPERLINK("http://evil.example")'
    assert rows[1]["occurred_at"] == "2025-01-04T12:00:00+00:00"
    assert rows[0]["duration_ms"] == ""  # not "None"


def test_the_download_and_the_import_export_command_write_the_same_cells(as_auditor, events):
    streamed = parse(b"".join(stream(as_auditor).streaming_content).decode())
    exported = parse(import_export_command("CSV", "audit.AuditEvent").decode())
    assert len(streamed) == len(events)
    # The command's export also holds the record of the download.
    assert exported[:-1] == streamed
    assert exported[-1]["operation"] == "audit.exported"


def test_the_download_follows_search(as_auditor, events):
    response = stream(as_auditor, "?q=req_one")
    assert ids(parse(b"".join(response.streaming_content).decode())) == [events["charge"].pk]


def test_each_download_is_recorded_on_the_log(as_auditor, auditor, events):
    b"".join(stream(as_auditor, "?connection=9&p=2").streaming_content)
    streamed = export_event()
    assert (streamed.actor_kind, streamed.actor) == ("user", auditor.username)
    assert streamed.params == {"filters": {"connection": "9"}, "format": "csv-stream", "rows": None}

    b"".join(stream(as_auditor, "?outcome__exact=ok").streaming_content)
    again = AuditEvent.objects.filter(operation="audit.exported").latest("id")
    assert again.pk != streamed.pk and again.actor == auditor.username
    assert again.params["filters"] == {"outcome__exact": "ok"}


def test_the_download_leaves_out_its_own_record(as_auditor, events):
    rows = parse(b"".join(stream(as_auditor).streaming_content).decode())
    assert export_event().pk not in ids(rows)
    assert len(rows) == len(events)


def export_buttons(html):
    """The HTML of each of the list's object tools that exports or downloads."""
    tools = re.search(r'<ul class="object-tools">(.*?)</ul>', html, re.DOTALL)
    items = re.findall(r"<li>(.*?)</li>", tools[1] if tools else "", re.DOTALL)
    return [item for item in items if re.search(r"export|download", item, re.IGNORECASE)]


def test_the_list_offers_one_export_with_its_filters(as_auditor, events):
    page = as_auditor.get(reverse("admin:audit_auditevent_changelist") + "?connection=9")
    (button,) = export_buttons(page.content.decode())
    form = re.search(r'<form method="post" action="([^"]+)">(.*?)</form>', button, re.DOTALL)
    assert form[1] == f"{reverse(EXPORT_CSV)}?connection=9"
    assert 'name="csrfmiddlewaretoken"' in form[2]
    assert "Download CSV" in form[2]
    # django-import-export's own Export page, which built the same file in memory, is gone.
    with pytest.raises(NoReverseMatch):
        reverse("admin:audit_auditevent_export")


# Who may export, and how -------------------------------------------------------------------


def test_a_get_does_not_stream_the_log(as_auditor, events):
    response = as_auditor.get(reverse(EXPORT_CSV))
    assert response.status_code == 405
    assert not response.streaming
    assert not AuditEvent.objects.filter(operation="audit.exported").exists()


def test_the_streaming_download_needs_the_pages_csrf_token(auditor, events):
    client = Client(enforce_csrf_checks=True)
    client.force_login(auditor)
    refused = client.post(reverse(EXPORT_CSV))
    assert refused.status_code == 403
    assert not refused.streaming
    assert not AuditEvent.objects.filter(operation="audit.exported").exists()

    page = client.get(reverse("admin:audit_auditevent_changelist")).content.decode()
    token = re.search(r'name="csrfmiddlewaretoken" value="([^"]+)"', page)[1]
    response = client.post(reverse(EXPORT_CSV), {"csrfmiddlewaretoken": token})
    assert response.status_code == 200
    assert len(parse(b"".join(response.streaming_content).decode())) == len(events)
    assert export_event().actor == auditor.username


def test_viewing_the_log_is_not_enough_to_export_it(client, viewer, events):
    client.force_login(viewer)
    page = client.get(reverse("admin:audit_auditevent_changelist")).content.decode()
    assert export_buttons(page) == []
    assert reverse(EXPORT_CSV) not in page
    assert stream(client).status_code == 403
    assert not AuditEvent.objects.filter(operation="audit.exported").exists()


def test_the_auditor_role_sees_the_export_button(client, events):
    client.force_login(member("frank", "Auditor"))
    page = client.get(reverse("admin:audit_auditevent_changelist")).content.decode()
    assert len(export_buttons(page)) == 1
    assert len(parse(b"".join(stream(client).streaming_content).decode())) == len(events)
    assert export_event().actor == "frank"


def test_a_superuser_may_export(client, superuser, events):
    client.force_login(superuser)
    assert len(parse(b"".join(stream(client).streaming_content).decode())) == len(events)
    assert export_event().actor == superuser.username


# manage.py audit_export ----------------------------------------------------------------------


@pytest.fixture
def five_days(db):
    """An event at the first and last microsecond of 1-5 January 2025, UTC."""
    return {d: (event_at(day(d, 0)), event_at(day(d, 23, 59, 59, 999999))) for d in range(1, 6)}


def export(*args):
    out, err = io.StringIO(), io.StringIO()
    call_command("audit_export", *args, stdout=out, stderr=err)
    return out.getvalue(), err.getvalue()


def test_the_command_exports_the_days_asked_for(five_days, tmp_path):
    target = tmp_path / "audit.csv"
    out, _ = export("--from", "2025-01-02", "--to", "2025-01-04", "--output", str(target))
    expected = [e.pk for d in (2, 3, 4) for e in five_days[d]]
    assert ids(parse(target.read_text())) == expected
    assert out == f"Exported 6 audit events to {target}.\n"
    assert oct(target.stat().st_mode & 0o777) == "0o600"


def test_the_command_exports_everything_without_dates(five_days, tmp_path):
    target = tmp_path / "audit.csv"
    out, _ = export("--output", str(target), "--json")
    assert len(parse(target.read_text())) == 10
    assert json.loads(out) == {"rows": 10, "output": str(target)}


def test_the_command_takes_open_ended_ranges(five_days, tmp_path):
    target = tmp_path / "audit.csv"
    export("--from", "2025-01-05", "--output", str(target))
    assert ids(parse(target.read_text())) == [e.pk for e in five_days[5]]
    export("--to", "2025-01-01", "--output", str(target))
    assert ids(parse(target.read_text())) == [e.pk for e in five_days[1]]


def test_the_command_refuses_an_inverted_range_and_writes_nothing(five_days, tmp_path):
    target = tmp_path / "audit.csv"
    with pytest.raises(CommandError, match="--to 2025-01-02 is before --from 2025-01-04"):
        export("--from", "2025-01-04", "--to", "2025-01-02", "--output", str(target))
    assert list(tmp_path.iterdir()) == []
    assert not AuditEvent.objects.filter(operation="audit.exported").exists()


@pytest.mark.parametrize("bad", ["2025-13-01", "01/02/2025", "yesterday", "2025-1-2x"])
def test_the_command_refuses_a_malformed_date(db, tmp_path, bad):
    with pytest.raises(CommandError, match="--from must be a date as YYYY-MM-DD"):
        export("--from", bad, "--output", str(tmp_path / "audit.csv"))
    assert list(tmp_path.iterdir()) == []


def test_the_command_writes_stdout_and_summarises_on_stderr(five_days):
    out, err = export("--from", "2025-01-03", "--to", "2025-01-03", "--output", "-")
    assert ids(parse(out)) == [e.pk for e in five_days[3]]
    assert err == "Exported 2 audit events to stdout.\n"


def test_the_command_export_is_recorded_on_the_log(five_days, tmp_path):
    target = tmp_path / "audit.csv"
    export("--from", "2025-01-02", "--to", "2025-01-03", "--output", str(target))
    event = export_event()
    assert (event.actor_kind, event.actor) == ("command", "audit_export")
    assert event.params == {
        "format": "csv",
        "from": "2025-01-02",
        "to": "2025-01-03",
        "rows": 4,
        "output": str(target),
    }
    assert (event.date_from, event.date_to) == (day(2, 0), day(4, 0))
    assert event.pk not in ids(parse(target.read_text()))


# manage.py export (django-import-export's command) ---------------------------------------------


def import_export_command(*args):
    """Run `manage.py export ...`; return the bytes it wrote on stdout."""
    out = io.BytesIO()
    stdout = io.TextIOWrapper(out, write_through=True)
    call_command("export", *args, stdout=stdout)
    return out.getvalue()


@pytest.mark.parametrize(
    "resource", ["audit.AuditEvent", "audit.auditevent", "audit.export.AuditEventResource"]
)
def test_the_import_export_command_records_an_export_of_the_log(events, resource):
    rows = parse(import_export_command("CSV", resource).decode())
    assert ids(rows) == sorted(e.pk for e in events.values())  # oldest first
    assert rows[3]["message"] == '\'=HYPERLINK("http://evil.example")'  # defused
    event = export_event()
    assert (event.actor_kind, event.actor, event.origin) == ("command", "export", "command:export")
    assert event.params == {"format": "csv", "resource": resource, "rows": len(events)}


def test_the_import_export_command_records_an_xlsx_export_of_the_log(events):
    sheet = openpyxl.load_workbook(io.BytesIO(import_export_command("XLSX", "audit.AuditEvent")))
    assert sheet.active.max_row == len(events) + 1
    assert export_event().params["format"] == "xlsx"


def test_the_import_export_command_exports_other_models_as_before(db):
    group = Group.objects.create(name="night shift")
    lines = import_export_command("CSV", "auth.Group").decode().splitlines()
    assert lines[0] == "id,name,permissions"
    assert f"{group.pk},night shift," in lines
    assert len(lines) == 1 + Group.objects.count()
    assert not AuditEvent.objects.exists()
