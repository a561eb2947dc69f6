"""The disputes report: what is open, how urgent, and by reason, as of the run's time
(2026-11-22 09:00 UTC, the accounts' NOW)."""

import pytest

from tests.accounts import Account, at, report

pytestmark = pytest.mark.django_db


def test_open_disputes_by_urgency_and_reason(mirror):
    a = Account()
    ada, eva = a.customer("Ada"), a.customer("Eva", currency="eur")
    charges = [a.pay(ada, 1000 * n, at(2026, 10, n)) for n in range(1, 12)]
    eur = a.pay(eva, 4200, at(2026, 10, 20))
    d = {
        # Due yesterday evening, never answered.
        "overdue": a.dispute(charges[0], at(2026, 11, 1), "needs_response",
                             due_by=at(2026, 11, 21, 23, 59)),
        # Due at 08:59 tomorrow: within 24 hours of 09:00 today.
        "today": a.dispute(charges[1], at(2026, 11, 2), "needs_response",
                           due_by=at(2026, 11, 23, 8, 59)),
        # Due at 09:01 tomorrow: just more than 24 hours away.
        "this_week": a.dispute(charges[2], at(2026, 11, 3), "warning_needs_response",
                               reason="general", due_by=at(2026, 11, 23, 9, 1)),
        "later": a.dispute(charges[3], at(2026, 11, 4), "needs_response",
                           reason="duplicate", due_by=at(2026, 11, 29, 9, 1)),
        "submitted": a.dispute(charges[4], at(2026, 11, 5), "under_review",
                               due_by=at(2026, 11, 20)),
        "inquiry_submitted": a.dispute(charges[5], at(2026, 11, 6), "warning_under_review",
                                       reason="general", due_by=at(2026, 11, 25)),
        "eur": a.dispute(eur, at(2026, 11, 7), "needs_response", due_by=at(2026, 12, 20)),
    }  # fmt: skip
    # Closed: none of these is open.
    a.dispute(charges[6], at(2026, 10, 8), "won", closed_at=at(2026, 10, 30))
    a.dispute(charges[7], at(2026, 10, 9), "lost", closed_at=at(2026, 10, 31))
    a.dispute(charges[8], at(2026, 10, 10), "warning_closed", closed_at=at(2026, 10, 29))

    doc = report(mirror(a), "disputes")

    assert doc["as_of"].startswith("2026-11-22T09:00:")  # the run's time (the clock ticks)
    opened = {x["id"]: x for x in doc["open"]}
    assert set(opened) == {x["id"] for x in d.values()}
    assert opened[d["overdue"]["id"]] == {
        "id": d["overdue"]["id"], "charge": charges[0]["id"], "reason": "fraudulent",
        "status": "needs_response", "amount": 1000, "currency": "usd",
        "due_by": "2026-11-21T23:59:00Z", "urgency": "overdue", "flagged": True,
        "has_evidence": False, "submission_count": 0,
    }  # fmt: skip
    urgency = {key: opened[x["id"]]["urgency"] for key, x in d.items()}
    assert urgency == {"overdue": "overdue", "today": "today", "this_week": "this_week",
                       "later": "later", "submitted": "submitted",
                       "inquiry_submitted": "submitted", "eur": "later"}  # fmt: skip
    flagged = {key for key, x in d.items() if opened[x["id"]]["flagged"]}
    assert flagged == {"overdue", "today"}
    assert opened[d["submitted"]["id"]]["has_evidence"] is True
    assert opened[d["submitted"]["id"]]["submission_count"] == 1
    # The most urgent first.
    assert [x["urgency"] for x in doc["open"]] == [
        "overdue",
        "today",
        "this_week",
        "later",
        "later",
        "submitted",
        "submitted",
    ]
    # Within an urgency, the earliest due first.
    in_order = ("overdue", "today", "this_week", "later", "eur", "submitted", "inquiry_submitted")
    assert [x["id"] for x in doc["open"]] == [d[key]["id"] for key in in_order]
    assert doc["by_reason"] == [
        {"reason": "duplicate", "currency": "usd", "count": 1, "amount": 4000},
        {"reason": "fraudulent", "currency": "eur", "count": 1, "amount": 4200},
        {"reason": "fraudulent", "currency": "usd", "count": 3, "amount": 1000 + 2000 + 5000},
        {"reason": "general", "currency": "usd", "count": 2, "amount": 3000 + 6000},
    ]
    assert doc["warnings"] == []


def test_no_open_disputes(mirror):
    a = Account()
    a.pay(a.customer("Ada"), 1000, at(2026, 10, 1))
    doc = report(mirror(a), "disputes")
    assert doc["open"] == [] and doc["by_reason"] == []
    assert "from" not in doc and "to" not in doc
