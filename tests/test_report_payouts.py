"""The payouts report: the balance, each payout of the period and what it is made of, and
the fees by type. Fees in the emulator: 2.9% + 30 cents a charge, 15.00 a dispute; funds of a
charge are available two days after the day it was made."""

import threading

import pytest

from connectors.emulator.shapes_funds import fee_detail
from tests.accounts import Account, at, report, report_run

pytestmark = pytest.mark.django_db


def test_payouts_reconciled_not_reconciled_and_manual(mirror):
    a = Account()
    ada = a.customer("Ada")
    first = a.pay(ada, 10000, at(2026, 10, 1))  # fee 320
    second = a.pay(ada, 20000, at(2026, 10, 2))  # fee 610
    third = a.pay(ada, 5000, at(2026, 10, 3))  # fee 175, and 46 of tax on the fee (below)
    a.refund(second, 2000, at(2026, 10, 4))
    a.dispute(first, at(2026, 10, 5), "needs_response")  # -10000, and a 1500 fee
    a.pay(ada, 8000, at(2026, 10, 12))  # fee 262
    a.pay(ada, 3000, at(2026, 10, 19))  # fee 117
    a.pay(ada, 1000, at(2026, 11, 2))  # fee 59, paid out in November
    a.pay(ada, 4000, at(2026, 11, 20))  # fee 146: available on the 22nd at 00:00
    a.pay(ada, 6000, at(2026, 11, 22, 8))  # fee 204: pending until the 24th
    taxed = next(t for t in a.ledger.objects if t["id"] == third["balance_transaction"])
    taxed["fee_details"].append(fee_detail(46, "usd", "Tax on Stripe fees", type="tax"))
    taxed["fee"] += 46
    taxed["net"] -= 46

    # Fridays at 17:00; each arrives two business days later (Tuesday).
    reconciled = a.payout(at(2026, 10, 9, 17))
    short = a.payout(at(2026, 10, 16, 17))
    manual = a.payout(at(2026, 10, 23, 17), automatic=False)
    november = a.payout(at(2026, 11, 6, 17))
    # Stripe says this payout is 1.00 more than the transactions it lists for it.
    short["amount"] += 100

    doc = report(mirror(a), "payouts", date_from="2026-10-01", date_to="2026-10-31")

    assert doc["balance"] == {"available": {"usd": 4000 - 146}, "pending": {"usd": 6000 - 204}}
    assert [p["id"] for p in doc["payouts"]] == [reconciled["id"], short["id"], manual["id"]]
    assert november["id"] not in str(doc)
    first_net = (10000 - 320) + (20000 - 610) + (5000 - 221) - 2000 - 11500
    assert doc["payouts"][0] == {
        "id": reconciled["id"], "amount": first_net, "currency": "usd",
        "arrival_date": "2026-10-13", "status": "paid", "automatic": True,
        "reconcilable": True, "reconciled": True, "difference": 0,
        "components": {
            "charge": {"count": 3, "amount": 35000, "fee": 320 + 610 + 221,
                       "net": 35000 - 320 - 610 - 221},
            "dispute": {"count": 1, "amount": -10000, "fee": 1500, "net": -11500},
            "refund": {"count": 1, "amount": -2000, "fee": 0, "net": -2000},
        },
    }  # fmt: skip
    assert doc["payouts"][1] == {
        "id": short["id"], "amount": 8000 - 262 + 100, "currency": "usd",
        "arrival_date": "2026-10-20", "status": "paid", "automatic": True,
        "reconcilable": True, "reconciled": False, "difference": 100,
        "components": {"charge": {"count": 1, "amount": 8000, "fee": 262, "net": 7738}},
    }  # fmt: skip
    assert doc["payouts"][2] == {
        "id": manual["id"], "amount": 3000 - 117, "currency": "usd",
        "arrival_date": "2026-10-27", "status": "paid", "automatic": False,
        "reconcilable": False, "reconciled": None, "difference": None, "components": {},
    }  # fmt: skip
    assert doc["fee_breakdown"] == {"usd": {"stripe_fee": 320 + 610 + 175 + 1500 + 262,
                                            "tax": 46}}  # fmt: skip
    assert doc["warnings"] == []
    assert (doc["from"], doc["to"]) == ("2026-10-01", "2026-10-31")


def test_payouts_in_yen_and_dinars_keep_their_currency(mirror):
    a = Account()
    kenji, amal = a.customer("Kenji", currency="jpy"), a.customer("Amal", currency="kwd")
    a.pay(kenji, 15000, at(2026, 10, 1))  # 3.6%: fee 540
    a.pay(amal, 12345, at(2026, 10, 1))  # fee 358 + 30 = 388
    yen = a.payout(at(2026, 10, 9, 17), currency="jpy")
    dinars = a.payout(at(2026, 10, 9, 17), currency="kwd")

    doc = report(mirror(a), "payouts", date_from="2026-10-01", date_to="2026-10-31")

    amounts = {p["id"]: (p["amount"], p["currency"], p["reconciled"]) for p in doc["payouts"]}
    assert amounts == {yen["id"]: (14460, "jpy", True), dinars["id"]: (11957, "kwd", True)}
    assert doc["fee_breakdown"] == {"jpy": {"stripe_fee": 540}, "kwd": {"stripe_fee": 388}}


@pytest.mark.django_db(transaction=True)
def test_citations_written_beside_the_run_see_its_mirror_while_a_sync_commits(mirror, monkeypatch):
    """On PostgreSQL the payouts' citations are written by two statements at once, one on a
    connection of its own (reports.sql.alongside), in the snapshot of the run's own
    transaction. A transaction committed in between, as a sync's page would be, is seen by
    neither: the figures, and the records they cite (read back once the run has
    committed), still agree."""
    from django.db import connection as database

    from connectors.models import BalanceTransaction
    from reports import citations, sql

    if database.vendor != "postgresql":
        pytest.skip("the citations are written in parts on PostgreSQL only")
    a = Account()
    ada = a.customer("Ada")
    for day in range(1, 7):
        a.pay(ada, 10000, at(2026, 10, day))  # fee 320 each
    payout = a.payout(at(2026, 10, 9, 17))
    conn = mirror(a)

    # Between the run's snapshot and its statements, a sync commits one more charge's
    # transaction for the payout (in a thread: a connection and a transaction of its own).
    real, beside = sql.alongside, []

    def after_a_commit(query, params, **options):
        def commit():
            row = BalanceTransaction.objects.filter(connection=conn, payout=payout["id"]).first()
            row.pk, row.stripe_id, row.net = None, "txn_committed_meanwhile", 99999
            row.save()
            database.close()

        if not beside:
            worker = threading.Thread(target=commit)
            worker.start()
            worker.join()
        beside.append(True)
        return real(query, params, **options)

    monkeypatch.setattr(sql, "alongside", after_a_commit)
    run = report_run(conn, "payouts", date_from="2026-10-01", date_to="2026-10-31")
    assert run.status == "succeeded", run.error
    assert beside, "the citations were not written in parts"
    (listed,) = run.document["payouts"]
    assert listed["components"]["charge"] == {
        "count": 6, "amount": 60000, "fee": 6 * 320, "net": 6 * (10000 - 320),
    }  # fmt: skip
    assert listed["reconciled"] is True
    line = f"payouts/{payout['id']}/components/charge"
    cited = citations.records(run.pk, line, "net")
    assert len(cited) == 6 and sum(amount for _, amount in cited) == 6 * (10000 - 320)
    assert "txn_committed_meanwhile" not in dict(cited)
    # Committed: the next run sees it.
    assert BalanceTransaction.objects.filter(stripe_id="txn_committed_meanwhile").exists()
    again = report(conn, "payouts", date_from="2026-10-01", date_to="2026-10-31")
    assert again["payouts"][0]["components"]["charge"]["count"] == 7


@pytest.mark.django_db(transaction=True)
def test_a_failed_run_keeps_no_citations_written_beside_it(mirror, monkeypatch):
    """A part of the citations written on another connection commits on its own; when the
    run then fails, the run keeps none of them."""
    from django.db import connection as database

    from reports import payouts, sql
    from reports.models import ReportCitation

    if database.vendor != "postgresql":
        pytest.skip("the citations are written in parts on PostgreSQL only")
    a = Account()
    ada = a.customer("Ada")
    for day in range(1, 7):
        a.pay(ada, 10000, at(2026, 10, day))
    a.payout(at(2026, 10, 9, 17))
    conn = mirror(a)
    real, written = sql.alongside, []

    def and_then_fail(query, params, **options):
        rows = real(query, params, **options)

        def wait():
            written.extend(rows())
            raise RuntimeError("the database went away")

        return wait

    monkeypatch.setattr(sql, "alongside", and_then_fail)
    monkeypatch.setattr(payouts, "PARTS", 2)
    run = report_run(conn, "payouts", date_from="2026-10-01", date_to="2026-10-31")
    assert run.status == "failed" and "the database went away" in run.error
    assert written, "no part was written beside the run"
    assert not ReportCitation.objects.filter(run=run).exists()


@pytest.mark.django_db
def test_the_shares_of_a_table_neither_overlap_nor_leave_a_block_out_however_small():
    """A table of one block, split in two: one share is empty and the other has it all (an
    end of block 0 once read as "to the end of the table", and both shares cited it)."""
    from django.db import connection as database

    from connectors.models import BalanceTransaction
    from reports import sql

    if database.vendor != "postgresql":
        pytest.skip("tables are shared out by blocks on PostgreSQL only")
    for blocks in (0, 1, 2, 7):
        ranges = sql.shares(BalanceTransaction, 2, blocks=blocks)
        assert ranges[0]["share_from"] == "(0,0)" and ranges[-1]["share_to"] == sql.BEYOND
        for before, after in zip(ranges, ranges[1:], strict=False):
            assert before["share_to"] == after["share_from"], (blocks, ranges)
