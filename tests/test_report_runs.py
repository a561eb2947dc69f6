"""Report runs: the command's contract, citations that add up to every figure, runs that are
safe to retry, sync first, and the same document whoever asks for it."""

import csv
import io
import json
import subprocess
import sys
from datetime import timedelta

import pytest
from django.core.management import CommandError, call_command
from django.urls import reverse
from django.utils import timezone

from audit.models import AuditEvent
from connectors.emulator import AccountChanges
from connectors.models import (
    BalanceTransaction,
    Charge,
    Customer,
    Dispute,
    Refund,
)
from reports import citations, runner
from reports.models import ReportCitation, ReportRun
from tests.accounts import Account, at, connect, report_run, served
from tests.conftest import TEST_KEY, revoke_key
from tests.worker import ROOT, child_env

pytestmark = pytest.mark.django_db

KINDS = ("revenue", "mrr", "disputes", "payouts")
PERIODS = {
    "revenue": {"date_from": "2026-10-01", "date_to": "2026-11-30"},
    "mrr": {"months": 6},
    "disputes": {},
    "payouts": {"date_from": "2026-10-01", "date_to": "2026-11-30"},
}
OPTIONS = {
    "revenue": ["--from", "2026-10-01", "--to", "2026-11-30"],
    "mrr": ["--months", "6"],
    "disputes": [],
    "payouts": ["--from", "2026-10-01", "--to", "2026-11-30"],
}


def busy_account():
    """A little of everything every report reads."""
    a = Account()
    pro, extra = a.product("Pro"), a.product('=HYPERLINK("http://evil")')
    monthly, addon = a.price(pro, 10000), a.price(extra, 2500)
    ada, bob = a.customer("Ada"), a.customer("Bob")
    kenji = a.customer("Kenji", currency="jpy")
    a.subscribe(ada, monthly, at(2026, 6, 3), extras=((addon, 1),))
    a.subscribe(bob, monthly, at(2026, 7, 9), ends=at(2026, 10, 2),
                end_reason="cancellation_requested", at_period_end=False)  # fmt: skip
    a.subscribe(kenji, a.price(pro, 15000, currency="jpy"), at(2026, 8, 1))
    _, *later = a.charges_of(ada)
    a.refund(later[-1], 4999, at(2026, 11, 10))
    a.dispute(later[-2], at(2026, 11, 12), "needs_response", due_by=at(2026, 11, 30))
    a.dispute(a.pay(bob, 777, at(2026, 10, 20)), at(2026, 10, 25), "lost",
              closed_at=at(2026, 11, 5))  # fmt: skip
    for day in (2, 9, 16):
        a.payout(at(2026, 10, day, 17))
        a.payout(at(2026, 10, day, 17), currency="jpy")
    a.payout(at(2026, 11, 6, 17), automatic=False)
    return a


@pytest.fixture
def acme(mirror):
    return mirror(busy_account())


def run_command(*args):
    out, err = io.StringIO(), io.StringIO()
    call_command("report", *args, stdout=out, stderr=err)
    return out.getvalue(), err.getvalue()


# Citations ---------------------------------------------------------------------------------


def figures_of(doc):
    """{(line, figure): value} for every figure of a document that cites records."""
    found = {}
    if doc["kind"] == "revenue":
        for currency, c in doc["currencies"].items():
            for figure in ("gross", "refunded", "disputed"):
                found[(f"currencies/{currency}", figure)] = c[figure]
                for p in c["products"]:
                    line = f"currencies/{currency}/products/{p['product'] or ''}"
                    found[(line, figure)] = p[figure]
        for currency, fee in doc["fees"].items():
            found[("fees", currency)] = fee
    elif doc["kind"] == "mrr":
        for m in doc["months"]:
            line = f"months/{m['month']}/{m['currency']}"
            for figure in ("mrr_start", "mrr_end", "new", "reactivation", "expansion",
                           "contraction", "churned"):  # fmt: skip
                found[(line, figure)] = m[figure]
    elif doc["kind"] == "disputes":
        for r in doc["by_reason"]:
            found[(f"by_reason/{r['reason']}/{r['currency']}", "amount")] = r["amount"]
    else:
        # A component cites its records once, with their net; its amount and fee are
        # checked against the same records below.
        for p in doc["payouts"]:
            for category, c in p["components"].items():
                found[(f"payouts/{p['id']}/components/{category}", "net")] = c["net"]
    return found


def mirrored_amount(connection, line, figure, stripe_id):
    """What the cited record itself says it contributes, read from the mirror."""
    part = line.split("/")
    get = {"connection": connection, "stripe_id": stripe_id}
    if part[0] == "currencies" and len(part) == 2:
        if figure == "gross":
            return Charge.objects.get(**get).amount_captured
        return (Refund if figure == "refunded" else Dispute).objects.get(**get).amount
    if part[0] == "fees":
        return BalanceTransaction.objects.get(**get, currency=figure).fee
    if part[0] == "by_reason":
        dispute = Dispute.objects.get(**get)
        assert (dispute.reason, dispute.currency) == (part[1], part[2])
        return dispute.amount
    if part[0] == "payouts":
        txn = BalanceTransaction.objects.get(**get, payout=part[1], reporting_category=part[3])
        return getattr(txn, figure)
    return None  # product parts and MRR customers are checked as a whole below


@pytest.mark.parametrize("kind", KINDS)
def test_every_figure_is_the_sum_of_the_records_it_cites(acme, kind, monkeypatch):
    # Few chunks, so that figures spread over several citation rows, and rows holding
    # several records, are both summed.
    monkeypatch.setattr(ReportCitation, "CHUNKS", 3)
    run = report_run(acme, kind, **PERIODS[kind])
    doc = run.document
    figures = figures_of(doc)
    assert figures, "the account should give this report figures to check"
    cited = {key: sums for key, (sums, _) in citations.summary(run.pk).items()}
    for (line, figure), value in figures.items():
        records = citations.records(run.pk, line, figure)
        assert sum(amount for _, amount in records) == value, (line, figure)
        assert cited.get((line, figure), citations.Figure(0, 0)).total == value
        for stripe_id, amount in records:
            expected = mirrored_amount(acme, line, figure, stripe_id)
            if expected is not None:
                assert amount == expected, (line, figure, stripe_id)
    if kind == "revenue":
        # Each charge, refund and dispute is split whole over the products of its currency.
        for currency in doc["currencies"]:
            for figure in ("gross", "refunded", "disputed"):
                whole = dict(citations.records(run.pk, f"currencies/{currency}", figure))
                parts = {}
                for (line, name), _ in figures.items():
                    if name == figure and line.startswith(f"currencies/{currency}/products/"):
                        for stripe_id, amount in citations.records(run.pk, line, figure):
                            parts[stripe_id] = parts.get(stripe_id, 0) + amount
                assert parts == whole
        counts = doc["currencies"]["usd"]
        assert cited[("currencies/usd", "gross")].count == counts["charge_count"]
    if kind == "payouts":
        fees = {}
        for p in doc["payouts"]:
            for category, c in p["components"].items():
                line = f"payouts/{p['id']}/components/{category}"
                ids = [i for i, _ in citations.records(run.pk, line, "net")]
                txns = BalanceTransaction.objects.filter(connection=acme, stripe_id__in=ids)
                assert len(ids) == txns.count() == c["count"]
                assert sum(t.amount for t in txns) == c["amount"]
                assert sum(t.fee for t in txns) == c["fee"]
                for t in txns:
                    for detail in t.raw["fee_details"]:
                        kinds = fees.setdefault(p["currency"], {})
                        kinds[detail["type"]] = kinds.get(detail["type"], 0) + detail["amount"]
        assert fees == doc["fee_breakdown"]
    if kind == "mrr":
        for m in doc["months"]:
            line = f"months/{m['month']}/{m['currency']}"
            customers = citations.records(run.pk, line, "mrr_end")
            assert len(customers) == m["customers_end"]
            assert Customer.objects.filter(
                connection=acme, stripe_id__in=[c for c, _ in customers]
            ).count() == len(customers)
    assert ReportCitation.objects.filter(run=run).exclude(chunk__lt=3).count() == 0
    if kind == "revenue":
        assert ReportCitation.objects.filter(run=run, count__gt=1).exists()


# The command's contract ---------------------------------------------------------------------


@pytest.mark.parametrize("kind", KINDS)
def test_json_is_the_document_and_nothing_else(acme, kind):
    out, _ = run_command(kind, "acme", *OPTIONS[kind], "--format", "json")
    document = json.loads(out)
    run = ReportRun.objects.get()
    assert document == run.document
    assert out == json.dumps(json.loads(run.result), indent=2) + "\n"  # in the run's order
    assert document["kind"] == kind and document["connection"] == "acme"
    assert document["data_as_of"] == acme.data_as_of.strftime("%Y-%m-%dT%H:%M:%SZ")
    assert run.requester_kind == "command" and run.status == "succeeded"


def test_the_table_formats_each_currency_in_its_own_units(acme):
    out, _ = run_command("revenue", "acme", *OPTIONS["revenue"])
    assert "Revenue by product of acme, 2026-10-01 to 2026-11-30" in out
    assert "30,000 JPY" in out  # two months of 15,000 yen: no decimals for yen
    assert "100.00 USD" in out
    assert "Refund rate" in out
    out, _ = run_command("payouts", "acme", *OPTIONS["payouts"])
    assert "manual: Stripe does not say what it paid out" in out
    assert "reconciled" in out


def test_csv_has_a_row_per_line_and_escapes_formulas(acme, tmp_path):
    target = tmp_path / "revenue.csv"
    out, err = run_command("revenue", "acme", *OPTIONS["revenue"], "--format", "csv",
                           "--output", str(target))  # fmt: skip
    assert out == "" and "wrote" in err
    rows = list(csv.DictReader(target.open(newline="")))
    doc = ReportRun.objects.get().document
    usd = doc["currencies"]["usd"]
    totals = [r for r in rows if r["currency"] == "usd" and r["product"] == ""]
    assert totals[0]["gross"] == f"{usd['gross'] // 100}.{usd['gross'] % 100:02d}"
    assert len(rows) == sum(1 + len(c["products"]) for c in doc["currencies"].values())
    names = {r["name"] for r in rows}
    assert '\'=HYPERLINK("http://evil")' in names
    assert not any(name.startswith("=") for name in names)
    yen = next(r for r in rows if r["currency"] == "jpy" and r["product"] == "")
    assert yen["gross"] == str(doc["currencies"]["jpy"]["gross"])  # no decimal point


BAD_INPUT = [
    (["revenue", "nobody"], "No connection named 'nobody'"),
    (["revenue", "acme", "--from", "2026-10-31", "--to", "2026-10-01"], "range is inverted"),
    (["revenue", "acme", "--from", "2026-13-01", "--to", "2026-12-01"], "YYYY-MM-DD"),
    (["revenue", "acme", "--from", "2026-10-01"], "both --from and --to"),
    (["mrr", "acme", "--months", "0"], "whole number from 1"),
    (["mrr", "acme", "--months", "3", "--from", "2026-01-01", "--to", "2026-02-01"], "not both"),
    (["disputes", "acme", "--months", "2"], "takes no period"),
    (["revenue", "acme", "--from", "2027-01-01", "--to", "2027-01-31"], "in the future"),
]


@pytest.mark.parametrize("args, message", BAD_INPUT)
def test_bad_input_is_refused_with_status_2_and_changes_nothing(acme, args, message):
    with pytest.raises(CommandError) as e:
        run_command(*args)
    assert e.value.returncode == 2
    assert message in str(e.value)
    assert ReportRun.objects.count() == 0


def test_a_connection_never_synced_is_refused(db, pinned):
    connect("fresh")
    with pytest.raises(CommandError) as e:
        run_command("revenue", "fresh")
    assert e.value.returncode == 2 and "never been synced" in str(e.value)
    assert ReportRun.objects.count() == 0


def test_unknown_kinds_and_unwritable_outputs_exit_2_from_the_shell(db, tmp_path):
    for args, message in (
        (["refunds", "acme"], "invalid choice: 'refunds'"),
        (["revenue", "acme", "--output", "/no/such/dir/x.csv"], "Cannot write /no/such/dir"),
        (["revenue", "nobody"], "No connection named 'nobody'"),
    ):
        result = subprocess.run(
            [sys.executable, "manage.py", "report", *args],
            cwd=ROOT, env=child_env(), capture_output=True, text=True, timeout=60,
        )  # fmt: skip
        assert result.returncode == 2, result.stderr
        assert message in result.stderr
        assert result.stdout == ""


def test_a_failed_computation_is_recorded_with_its_reason(mirror):
    a = Account()
    product = a.product("Odd")
    # Billed every 7, 11, 13, 17 and 19 months: no common denominator small enough.
    for count in (7, 11, 13, 17, 19):
        a.subscribe(a.customer(f"c{count}"), a.price(product, 1000, count=count),
                    at(2026, 1, 5))  # fmt: skip
    mirror(a)
    with pytest.raises(SystemExit) as e:
        run_command("mrr", "acme")
    assert e.value.code == 1
    run = ReportRun.objects.get()
    assert run.status == "failed" and "least common multiple is too large" in run.error
    assert run.result == "" and run.citations.count() == 0


# Runs that are safe to retry ----------------------------------------------------------------


def test_running_a_finished_run_again_changes_nothing(acme):
    run = report_run(acme, "revenue", **PERIODS["revenue"])
    rows = list(run.citations.values_list("pk", "entries"))
    again = runner.execute(run.pk)
    assert (again.status, again.result, again.finished_at) == (
        run.status, run.result, run.finished_at)  # fmt: skip
    assert list(again.citations.values_list("pk", "entries")) == rows


def test_a_run_left_running_by_a_dead_worker_is_taken_over(acme):
    run = runner.create("disputes", acme, {}, requester_kind="command", name="tests")
    dead = subprocess.run([sys.executable, "-c", "import os; print(os.getpid())"],
                          capture_output=True, text=True).stdout.strip()  # fmt: skip
    import socket

    ReportRun.objects.filter(pk=run.pk).update(
        status="running", worker=f"{socket.gethostname()}:{dead}",
        started_at=timezone.now() - timedelta(minutes=5),
    )  # fmt: skip
    assert runner.execute(run.pk).status == "succeeded"


def test_a_run_held_by_a_live_worker_elsewhere_is_left_to_it(acme):
    run = runner.create("disputes", acme, {}, requester_kind="command", name="tests")
    ReportRun.objects.filter(pk=run.pk).update(status="running", worker="another-host:12")
    assert runner.execute(run.pk).status == "running"
    assert ReportCitation.objects.count() == 0


# Sync first ---------------------------------------------------------------------------------


def test_sync_first_brings_the_figures_up_to_the_minute(mirror):
    account = busy_account()
    connection = mirror(account)
    before = report_run(connection, "revenue", **PERIODS["revenue"]).document
    changes = AccountChanges(account.store)
    ada = next(c for c in account.store.objects("customers") if c["name"] == "Ada")
    changes.new_charge(customer=ada["id"], amount=12345, currency="usd")

    stale = report_run(connection, "revenue", **PERIODS["revenue"]).document
    fresh_run = report_run(connection, "revenue", sync_first=True, **PERIODS["revenue"])
    fresh = fresh_run.document

    assert stale["currencies"]["usd"]["gross"] == before["currencies"]["usd"]["gross"]
    assert fresh["currencies"]["usd"]["gross"] == before["currencies"]["usd"]["gross"] + 12345
    assert fresh_run.data_as_of > connection.data_as_of
    assert fresh_run.sync_run.status == "succeeded"
    calls = AuditEvent.objects.filter(origin=f"sync_run:{fresh_run.sync_run.pk}")
    assert calls.exists()
    assert set(calls.values_list("actor_kind", "actor")) == {("command", "tests")}


def test_a_sync_first_that_fails_still_reports_and_says_so(mirror):
    connection = mirror(busy_account())
    revoke_key(connection.emulator, TEST_KEY)
    run = report_run(connection, "disputes", sync_first=True)
    assert run.status == "succeeded" and run.sync_run.status == "failed"
    (warning,) = run.document["warnings"]
    assert warning.startswith("The sync before this run failed")
    assert "paste a new key" in warning
    assert run.document["data_as_of"] == connection.data_as_of.strftime("%Y-%m-%dT%H:%M:%SZ")


def test_sync_first_on_a_connection_never_synced(db, settings, pinned):
    settings.STRIPE_RATE_LIMIT_TEST = 10_000
    with served(busy_account()):
        connection = connect()
        run = report_run(connection, "disputes", sync_first=True)
    assert run.status == "succeeded" and len(run.document["open"]) == 1


# The same document, whoever asks --------------------------------------------------------------


def without_time(doc):
    return {k: v for k, v in doc.items() if k not in ("generated_at", "as_of")}


def test_a_run_asked_for_in_the_admin_is_the_commands_document(
    acme, alice, client, settings, django_capture_on_commit_callbacks
):
    settings.CELERY_TASK_ALWAYS_EAGER = True
    client.force_login(alice)
    out, _ = run_command("mrr", "acme", "--months", "6", "--format", "json")
    add = reverse("admin:reports_reportrun_add")
    with django_capture_on_commit_callbacks(execute=True):
        response = client.post(
            add, {"kind": "mrr", "connection": acme.pk, "period": "last_6_months"}, follow=True
        )
    assert response.status_code == 200
    run = ReportRun.objects.filter(requester_kind="user").get()
    assert run.requested_by == alice and run.status == "succeeded", run.error
    assert without_time(run.document) == without_time(json.loads(out))
    page = client.get(reverse("admin:reports_reportrun_change", args=[run.pk]))
    assert page.status_code == 200 and b"mrr_start" in page.content


def test_the_admin_form_says_what_is_wrong_and_creates_nothing(acme, alice, client):
    client.force_login(alice)
    add = reverse("admin:reports_reportrun_add")
    response = client.post(add, {"kind": "revenue", "connection": acme.pk, "period": "custom",
                                 "date_from": "2026-10-31", "date_to": "2026-10-01"})  # fmt: skip
    assert response.status_code == 200
    assert b"range is inverted" in response.content
    assert ReportRun.objects.count() == 0


def test_runs_are_read_only_in_the_admin(acme, alice, client):
    run = report_run(acme, "disputes")
    client.force_login(alice)
    change = reverse("admin:reports_reportrun_change", args=[run.pk])
    client.post(change, {"kind": "revenue"})
    run.refresh_from_db()
    assert run.kind == "disputes"
    delete = reverse("admin:reports_reportrun_delete", args=[run.pk])
    assert client.post(delete, {"post": "yes"}).status_code == 403
    listing = client.get(reverse("admin:reports_reportrun_changelist"))
    assert listing.status_code == 200 and b"Open disputes" in listing.content


def test_citations_are_compressed_with_lz4_on_postgresql(db):
    """The ids of a run's citations are its biggest write; lz4 compresses them several times
    faster than PostgreSQL's default (reports/migrations/0005)."""
    from django.db import connection as database

    from lumen.postgres import has_lz4

    if database.vendor != "postgresql":
        pytest.skip("PostgreSQL only: SQLite does not compress")
    with database.cursor() as cursor:
        if not has_lz4(cursor):
            pytest.skip("this PostgreSQL is built without lz4")
        cursor.execute(
            "SELECT attcompression FROM pg_attribute "
            "WHERE attrelid = 'reports_reportcitation'::regclass AND attname = 'entries'"
        )
        assert cursor.fetchone()[0] == "l"
