"""Anchors of the audit chain: the removal of the newest events, or of all of them, is found."""

import json
import stat

import pytest
from django.core.management import CommandError
from django.db import connection
from django_celery_beat.models import PeriodicTask

from audit.models import AuditEvent
from audit.tasks import anchor_chain
from tests.audit_fixtures import (
    behind_the_apps_back,
    day,
    event_at,
    verify,
)
from tests.worker import celery_worker

pytestmark = pytest.mark.django_db


def verify_json(*args):
    status, out = verify("--json", *args)
    return status, json.loads(out)


def anchors_in(path):
    return [json.loads(line) for line in path.read_text().splitlines()]


def remove_newest(count):
    with behind_the_apps_back() as cursor:
        cursor.execute(
            "DELETE FROM audit_auditevent WHERE id IN "
            "(SELECT id FROM audit_auditevent ORDER BY id DESC LIMIT %s)",
            [count],
        )


# Writing anchors ---------------------------------------------------------------------------


def test_it_appends_the_head_as_an_anchor(three, audit_anchor_file, time_machine):
    time_machine.move_to(day(9), tick=False)
    status, out = verify("--anchor")
    assert status == 0
    assert (
        out.splitlines()[-1] == f"anchored event #{three[2].pk} (3 events) in {audit_anchor_file}"
    )
    assert anchors_in(audit_anchor_file) == [
        {
            "id": three[2].pk,
            "hash": three[2].chain_hash,
            "events": 3,
            "at": "2025-01-09T12:00:00+00:00",
        }
    ]
    assert stat.S_IMODE(audit_anchor_file.stat().st_mode) == 0o600

    later = event_at(day(10))
    first_line = audit_anchor_file.read_text()
    status, document = verify_json("--anchor")
    assert (status, document["anchors_checked"]) == (0, 1)
    assert document["anchored"]["id"] == later.pk and document["anchored"]["events"] == 4
    assert audit_anchor_file.read_text().startswith(first_line)  # appended, never rewritten
    assert [a["id"] for a in anchors_in(audit_anchor_file)] == [three[2].pk, later.pk]


def test_it_checks_the_chain_against_every_anchor(three, audit_anchor_file):
    verify("--anchor")
    event_at(day(4))
    verify("--anchor")
    event_at(day(5))
    assert verify() == (0, "audit chain intact: 5 events, checked against 2 anchors\n")
    status, document = verify_json()
    assert (status, document["intact"], document["anchors_checked"]) == (0, True, 2)
    assert document["anchor_file"] == str(audit_anchor_file)


def test_it_does_not_anchor_a_broken_chain(three, audit_anchor_file):
    with behind_the_apps_back() as cursor:
        cursor.execute("UPDATE audit_auditevent SET message = 'x' WHERE id = %s", [three[0].pk])
    status, document = verify_json("--anchor")
    assert (status, document["intact"], document["anchored"]) == (1, False, None)
    assert not audit_anchor_file.exists()


def test_it_anchors_nothing_of_an_empty_log(db, audit_anchor_file):
    assert verify("--anchor") == (
        0,
        "audit chain intact: 0 events\nnothing to anchor: the log is empty\n",
    )
    assert not audit_anchor_file.exists()


def test_it_refuses_an_anchor_file_in_a_missing_folder(three, settings, tmp_path):
    settings.LUMEN_AUDIT_ANCHOR_PATH = tmp_path / "nowhere" / "anchors.jsonl"
    with pytest.raises(CommandError, match="The folder of .*nowhere/anchors.jsonl does not exist"):
        verify("--anchor")
    assert list(tmp_path.iterdir()) == []


# What anchors find -------------------------------------------------------------------------


def test_it_finds_the_newest_events_removed(three, audit_anchor_file):
    verify("--anchor")
    remove_newest(1)
    # The two events left are a whole chain: only the anchor knows there was a third.
    status, out = verify()
    assert status == 1
    assert out == (
        f"audit chain BROKEN: event #{three[2].pk} is missing: the anchor on line 1 of "
        f"{audit_anchor_file}, written {anchors_in(audit_anchor_file)[0]['at']}, counted 3 "
        f"events up to it; the newest events were removed\n"
    )
    status, document = verify_json()
    assert (status, document["intact"], document["events"]) == (1, False, 2)
    assert document["anchors_checked"] == 1


def test_it_finds_events_removed_after_several_anchors(three, audit_anchor_file):
    verify("--anchor")
    event_at(day(4))
    event_at(day(5))
    verify("--anchor")
    event_at(day(6))
    remove_newest(2)  # the last anchored event, and one written since
    status, out = verify()
    assert status == 1
    assert "the anchor on line 2 of" in out and "counted 5 events" in out


def test_it_finds_an_emptied_table(three, audit_anchor_file):
    verify("--anchor")
    if connection.vendor == "postgresql":
        # TRUNCATE fires no row trigger: the append-only trigger does not see it.
        with connection.cursor() as cursor:
            cursor.execute("TRUNCATE audit_auditevent")
    else:
        # SQLite has no TRUNCATE; its equivalent is a DELETE without WHERE.
        with behind_the_apps_back() as cursor:
            cursor.execute("DELETE FROM audit_auditevent")
    assert not AuditEvent.objects.exists()
    status, document = verify_json()
    assert (status, document["intact"], document["events"]) == (1, False, 0)
    assert document["reason"].startswith(f"event #{three[2].pk} is missing")


def test_it_finds_an_anchor_that_does_not_match_its_event(three, audit_anchor_file):
    verify("--anchor")
    anchor = anchors_in(audit_anchor_file)[0]
    with audit_anchor_file.open("a") as f:
        f.write(json.dumps({**anchor, "id": three[1].pk}) + "\n")
    status, out = verify()
    assert status == 1
    assert out.startswith(
        f"audit chain BROKEN at event #{three[1].pk}: it differs from the anchor on line 2 of "
    )


@pytest.mark.parametrize(
    "line", ["not json", '{"id": 1}', '{"id": "1", "hash": "", "events": 1, "at": ""}']
)
def test_it_reports_a_line_that_is_not_an_anchor(three, audit_anchor_file, line):
    verify("--anchor")
    with audit_anchor_file.open("a") as f:
        f.write(line + "\n")
    status, out = verify()
    assert status == 1
    assert out == (
        f"audit chain BROKEN: Line 2 of the anchor file {audit_anchor_file} is not an anchor: "
        f"the file was changed by something other than Lumen.\n"
    )


def test_it_reports_a_missing_anchor_file_without_failing(three, audit_anchor_file):
    # A new install (or an upgrade) has no anchor until the first is written.
    status, out = verify()
    assert status == 0
    assert f"no anchors in {audit_anchor_file}, so the removal of the newest events" in out
    status, document = verify_json()
    assert (status, document["anchor_file_missing"], document["anchors_checked"]) == (0, True, 0)


# The schedule ------------------------------------------------------------------------------


def test_a_schedule_anchors_the_chain_every_hour(db):
    schedule = PeriodicTask.objects.get(name="Anchor the audit chain")
    assert schedule.task == "audit.tasks.anchor_chain"
    assert (schedule.interval.every, schedule.interval.period) == (1, "hours")
    assert schedule.enabled


@pytest.mark.worker
@pytest.mark.django_db(transaction=True)
def test_a_worker_anchors_the_chain(audit_anchor_file):
    events = [event_at(day(d)) for d in (1, 2)]
    with celery_worker() as queue:
        outcome = anchor_chain.apply_async(queue=queue).get(timeout=120)
    assert outcome["anchored"]["id"] == events[1].pk
    assert anchors_in(audit_anchor_file) == [outcome["anchored"]]
    assert verify() == (0, "audit chain intact: 2 events, checked against 1 anchor\n")
