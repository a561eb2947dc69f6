"""How fast, and in how much memory, the four reports run on a big account.

    .venv/bin/python bench/reports.py [--charges 1000000] [--repeat 2]

Builds a mirror directly in the database (no sync): N charges, N/10 subscriptions with
their invoices (one line each, some discounted), the invoice payments that link charges to
them, refunds, disputes, a balance transaction per money movement and weekly automatic
payouts. Then, for each report, it times the report as a run computes it (runner.execute:
the SQL, the citations it writes, the document) against its floor: a hand-written SQL
aggregate of the same sums over the same rows, on the same database, in the same run, with
no citations and no document. Each measurement runs in a fresh child process, whose peak
memory is its maximum resident set size; the best of --repeat runs is kept.

The account is built twice, at N/10 and N charges, so that the memory of each report at
the larger size can be set beside the smaller: it should stay flat as the account grows.

Works on the database DATABASE_URL names, in a scratch database of its own that it removes
afterwards (see bench/audit_export.py): `lumen_bench` on the same PostgreSQL server, or a
temporary SQLite file.
"""

import argparse
import json
import os
import random
import subprocess
import sys
import time
from datetime import timedelta
from pathlib import Path

BENCH = Path(__file__).resolve().parent
ROOT = BENCH.parent
# This script is bench/reports.py; the Django app is reports/. The project comes first on the
# path, so `import reports` is the app; the bench folder last, for audit_export.
sys.path[:] = [str(ROOT)] + [p for p in sys.path if Path(p or ".").resolve() != BENCH]
sys.path.append(str(BENCH))

from audit_export import scratch_database  # noqa: E402

DAY = timedelta(days=1)
BATCH = 20_000
PERIODS = {
    "revenue": ["--days", "365"],
    "mrr": ["--months", "6"],
    "disputes": [],
    "payouts": ["--days", "365"],
}


# The account -------------------------------------------------------------------------------


class Builder:
    """Rows for every mirror table, made in Python and written in batches."""

    def __init__(self, connection_id, now, charges, subscriptions, seed=7):
        from django.db import connection

        self.db = connection
        self.connection_id = connection_id
        self.now = now
        self.rng = random.Random(seed)
        self.charges_wanted = charges
        self.subscriptions = subscriptions
        self.buffers = {}
        self.counts = {}
        self.payouts = {}  # (payout id) -> [currency, amount, arrival]
        self.serial = 0

    def next_id(self, prefix):
        self.serial += 1
        return f"{prefix}_{self.serial:010d}"

    def row(self, model, **values):
        self.buffers.setdefault(model, []).append(values)
        if len(self.buffers[model]) >= BATCH:
            self.flush(model)

    def flush(self, model=None):
        for m in [model] if model else list(self.buffers):
            rows = self.buffers.pop(m, [])
            if rows:
                write(self.db, m, self.connection_id, self.now, rows)
                self.counts[m.__name__] = self.counts.get(m.__name__, 0) + len(rows)

    def build(self):
        from connectors.models import (
            Customer,
            InvoiceLineItem,
            Price,
            Product,
            Subscription,
        )

        rng, now = self.rng, self.now
        prices = []
        for n in range(20):
            product = f"prod_{n:04d}"
            self.row(Product, stripe_id=product, created=now - 800 * DAY, name=f"Product {n}")
            for interval, count, amount in (("month", 1, 1000 + 500 * n), ("year", 1, 10000 +
                                            5000 * n), ("month", 3, 2800 + 1400 * n)):  # fmt: skip
                for currency in ("usd", "eur"):
                    price = f"price_{n:04d}_{interval}{count}_{currency}"
                    self.row(Price, stripe_id=price, created=now - 800 * DAY, product=product,
                             currency=currency, unit_amount=amount, type="recurring",
                             interval=interval, interval_count=count,
                             usage_type="licensed")  # fmt: skip
                    prices.append((price, product, currency, amount, interval, count))
        customers = max(1, self.subscriptions * 8 // 10)
        for c in range(customers):
            self.row(Customer, stripe_id=f"cus_{c:08d}", created=now - 800 * DAY,
                     currency="usd" if c % 5 else "eur")  # fmt: skip

        invoice_charges = 0
        for s in range(self.subscriptions):
            customer = f"cus_{s % customers:08d}"
            currency = "usd" if (s % customers) % 5 else "eur"
            monthly = [p for p in prices if p[2] == currency and p[4] == "month" and p[5] == 1]
            other = [p for p in prices if p[2] == currency and p not in monthly]
            price, product, _, amount, interval, count = rng.choice(
                monthly if rng.random() < 0.85 else other
            )
            quantity = rng.choice((1, 1, 1, 2, 3))
            start = now - rng.randrange(1, 420) * DAY - timedelta(seconds=rng.randrange(86400))
            trial_end = start + 14 * DAY if rng.random() < 0.1 else None
            ended = None
            if rng.random() < 0.2:
                ended = start + rng.randrange(20, 400) * DAY
                ended = ended if ended < now else None
            sub = f"sub_{s:08d}"
            self.row(Subscription, stripe_id=sub, created=start, customer=customer,
                     status="canceled" if ended else "active", currency=currency,
                     start_date=start, ended_at=ended, trial_start=trial_end and start,
                     trial_end=trial_end)  # fmt: skip
            discount = amount * quantity // 10 if rng.random() < 0.1 else 0
            period = trial_end or start
            while period < (ended or now) and period < now:
                following = add_interval(period, interval, count)
                invoice = self.next_id("in")
                total = amount * quantity - discount
                self.invoice(invoice, customer, sub, currency, period, following, total)
                self.row(InvoiceLineItem, stripe_id=f"il{invoice[2:]}", created=period,
                         invoice=invoice, subscription=sub, subscription_item=f"si_{s:08d}",
                         price=price, product=product, currency=currency,
                         amount=amount * quantity, discount_amount=discount, quantity=quantity,
                         period_start=period, period_end=following)  # fmt: skip
                if invoice_charges < self.charges_wanted:
                    self.charge(customer, currency, total, period + timedelta(hours=1),
                                f"pi{invoice[2:]}", invoice)  # fmt: skip
                    invoice_charges += 1
                period = following
        for _ in range(self.charges_wanted - invoice_charges):
            c = rng.randrange(customers)
            created = now - timedelta(seconds=rng.randrange(365 * 86400))
            self.charge(f"cus_{c:08d}", "usd" if c % 5 else "eur",
                        rng.choice((900, 2500, 4900, 9900, 25000)), created, "", "")  # fmt: skip
        self.write_payouts()
        self.flush()
        self.analyze()
        return self.counts

    def invoice(self, invoice, customer, sub, currency, start, end, total):
        from connectors.models import Invoice, InvoicePayment

        status = "paid" if self.rng.random() < 0.98 else "open"
        self.row(Invoice, stripe_id=invoice, created=start, customer=customer,
                 subscription=sub, status=status, currency=currency, subtotal=total,
                 total=total, amount_due=total, amount_paid=total if status == "paid" else 0,
                 period_start=start, period_end=start)  # fmt: skip
        self.row(InvoicePayment, stripe_id=f"inpay{invoice[2:]}", created=start,
                 invoice=invoice, payment_intent=f"pi{invoice[2:]}", status=status,
                 currency=currency, amount_paid=total, amount_requested=total)  # fmt: skip

    def charge(self, customer, currency, amount, created, intent, invoice):
        from connectors.models import Charge, Dispute, Refund

        rng = self.rng
        charge, txn = self.next_id("ch"), self.next_id("txn")
        self.row(Charge, stripe_id=charge, created=created, customer=customer,
                 payment_intent=intent, invoice=invoice, balance_transaction=txn,
                 status="succeeded", currency=currency, amount=amount, amount_captured=amount,
                 captured=True)  # fmt: skip
        fee = int(amount * 0.029 + 0.5) + 30
        self.transaction(txn, created, "charge", "charge", currency, amount, fee, charge)
        if rng.random() < 0.02:
            refund, txn = self.next_id("re"), self.next_id("txn")
            part = amount if rng.random() < 0.5 else amount // 3
            when = min(created + rng.randrange(1, 40) * DAY, self.now - DAY)
            self.row(Refund, stripe_id=refund, created=when, charge=charge,
                     payment_intent=intent, balance_transaction=txn, status="succeeded",
                     currency=currency, amount=part)  # fmt: skip
            self.transaction(txn, when, "refund", "refund", currency, -part, 0, refund)
        elif rng.random() < 0.003:
            dispute = self.next_id("dp")
            when = min(created + rng.randrange(1, 60) * DAY, self.now - DAY)
            status = rng.choice(("needs_response", "under_review", "won", "lost",
                                 "warning_needs_response"))  # fmt: skip
            self.row(Dispute, stripe_id=dispute, created=when, charge=charge,
                     payment_intent=intent, status=status, reason="fraudulent",
                     currency=currency, amount=amount, due_by=when + 8 * DAY)  # fmt: skip
            if not status.startswith("warning"):
                self.transaction(self.next_id("txn"), when, "adjustment", "dispute", currency,
                                 -amount, 1500, dispute)  # fmt: skip

    def transaction(self, txn, created, type, category, currency, amount, fee, source):
        from connectors.models import BalanceTransaction

        settled = "usd"  # EUR payments settle in USD here, as in the emulator
        available = created + 2 * DAY
        payout = None
        if available < self.now:
            friday = available + timedelta(days=(4 - available.weekday()) % 7 or 7)
            payout = f"po_{friday:%Y%m%d}_{settled}"
            entry = self.payouts.setdefault(payout, [settled, 0, friday])
            entry[1] += amount - fee
        self.row(BalanceTransaction, stripe_id=txn, created=created, type=type,
                 reporting_category=category, status="available" if payout else "pending",
                 currency=settled, amount=amount, fee=fee, fee_stripe=fee, net=amount - fee,
                 source=source, available_on=available, payout=payout or "")  # fmt: skip

    def write_payouts(self):
        from connectors.models import Balance, Payout

        for payout, (currency, amount, friday) in self.payouts.items():
            self.row(Payout, stripe_id=payout, created=friday, status="paid", currency=currency,
                     amount=amount, arrival_date=friday + 3 * DAY, automatic=True)  # fmt: skip
        self.flush()
        Balance.objects.create(
            connection_id=self.connection_id,
            raw={"available": [{"amount": 0, "currency": "usd"}], "pending": []},
            observed_at=self.now,
        )

    def analyze(self):
        with self.db.cursor() as cursor:
            cursor.execute("ANALYZE")


def add_interval(moment, interval, count):
    if interval == "year":
        return moment.replace(year=moment.year + count) if not (
            moment.month == 2 and moment.day == 29) else moment + 365 * count * DAY  # fmt: skip
    if interval == "month":
        index = moment.year * 12 + moment.month - 1 + count
        year, month = divmod(index, 12)
        day = min(moment.day, 28)
        return moment.replace(year=year, month=month + 1, day=day)
    return moment + (7 if interval == "week" else 1) * count * DAY


def write(db, model, connection_id, now, rows):
    """Insert `rows` (dicts of some columns) with every other column at its default."""
    fields = [f for f in model._meta.concrete_fields if not f.primary_key]
    columns = [f.column for f in fields]
    # get_default() is "" for a text column that has no default, None for a nullable one.
    defaults = {f.attname: f.get_default() for f in fields}
    defaults.update(connection_id=connection_id, livemode=False, deleted=False, raw="{}",
                    observed_at=now)  # fmt: skip
    adapt = db.ops.adapt_datetimefield_value
    dated = {f.attname for f in fields if f.get_internal_type() == "DateTimeField"}
    tuples = []
    for values in rows:
        merged = {**defaults, **values}
        tuples.append(tuple(
            adapt(merged[f.attname]) if f.attname in dated and merged[f.attname] else
            merged[f.attname] for f in fields))  # fmt: skip
    table = db.ops.quote_name(model._meta.db_table)
    names = ", ".join(db.ops.quote_name(c) for c in columns)
    if db.vendor == "postgresql":
        db.ensure_connection()
        with (
            db.connection.cursor() as cursor,
            cursor.copy(f"COPY {table} ({names}) FROM STDIN") as copy,
        ):
            for t in tuples:
                copy.write_row(t)
        db.connection.commit() if not db.connection.autocommit else None
    else:
        # The driver's own cursor: Django's (with DEBUG on) would keep every row as a query.
        # One transaction: Django keeps SQLite in autocommit, a commit (and fsync) a row.
        db.ensure_connection()
        marks = ", ".join(["?"] * len(columns))
        db.connection.execute("BEGIN")
        db.connection.executemany(f"INSERT INTO {table} ({names}) VALUES ({marks})", tuples)
        db.connection.execute("COMMIT")


# The floors: hand-written SQL of the same sums, no citations, no document -----------------

FLOORS = {
    "revenue": """
        WITH moves AS (
            SELECT 'gross' AS kind, currency, amount_captured AS amount, invoice,
                   balance_transaction AS txn
            FROM {charge}
            WHERE connection_id = %(conn)s AND created >= %(start)s AND created < %(end)s
              AND status = 'succeeded' AND amount_captured > 0
            UNION ALL
            SELECT 'refunded', r.currency, r.amount, c.invoice, '' FROM {refund} r
            LEFT JOIN {charge} c ON c.connection_id = r.connection_id AND c.stripe_id = r.charge
            WHERE r.connection_id = %(conn)s AND r.created >= %(start)s AND r.created < %(end)s
              AND r.status IN ('succeeded', 'pending')
            UNION ALL
            SELECT 'disputed', d.currency, d.amount, c.invoice, '' FROM {dispute} d
            LEFT JOIN {charge} c ON c.connection_id = d.connection_id AND c.stripe_id = d.charge
            WHERE d.connection_id = %(conn)s AND d.created >= %(start)s AND d.created < %(end)s
              AND d.status IN ('needs_response', 'under_review', 'lost')
        ),
        weights AS (
            SELECT l.invoice, l.product, CAST(SUM(l.amount - l.discount_amount) AS BIGINT) AS weight
            FROM {invoice_line} l
            WHERE l.connection_id = %(conn)s GROUP BY l.invoice, l.product
        ),
        totals AS (
            SELECT invoice, CAST(SUM(weight) AS BIGINT) AS total FROM weights GROUP BY invoice
        )
        SELECT m.kind, m.currency, w.product,
               SUM(CASE WHEN w.product IS NULL THEN m.amount
                        ELSE m.amount * w.weight / t.total END)
        FROM moves m
        LEFT JOIN weights w ON w.invoice = m.invoice
        LEFT JOIN totals t ON t.invoice = m.invoice
        GROUP BY m.kind, m.currency, w.product
        UNION ALL
        SELECT 'fees', t.currency, NULL, SUM(t.fee)
        FROM moves m JOIN {balance_transaction} t
          ON t.connection_id = %(conn)s AND t.stripe_id = m.txn
        GROUP BY t.currency
    """,
    "mrr": """
        WITH instants(idx, at) AS (VALUES {instants}),
        invoices AS (
            SELECT i.stripe_id AS invoice, i.subscription, i.created, l.currency,
                   MAX(l.period_start) AS starts,
                   CAST(SUM((l.amount - l.discount_amount)
                       * (CASE p.interval WHEN 'month' THEN 12 WHEN 'year' THEN 1
                          WHEN 'week' THEN 52 ELSE 365 END)
                       * (%(multiple)s / p.interval_count)) AS BIGINT) AS units
            FROM {invoice} i
            JOIN {invoice_line} l ON l.connection_id = i.connection_id AND l.invoice = i.stripe_id
            JOIN {price} p ON p.connection_id = l.connection_id AND p.stripe_id = l.price
            WHERE i.connection_id = %(conn)s AND i.status IN ('paid', 'open', 'uncollectible')
              AND l.subscription_item <> '' AND NOT l.proration AND p.usage_type = 'licensed'
            GROUP BY i.stripe_id, i.subscription, i.created, l.currency
        ),
        spans AS (
            SELECT subscription, currency, starts, units,
                   LEAD(starts) OVER (PARTITION BY subscription ORDER BY starts, created, invoice)
                       AS until
            FROM invoices
        )
        SELECT t.idx, sp.currency, SUM(sp.units) / (12 * %(multiple)s)
        FROM spans sp
        JOIN {subscription} s ON s.connection_id = %(conn)s AND s.stripe_id = sp.subscription
        JOIN instants t ON sp.starts <= t.at AND (sp.until IS NULL OR t.at < sp.until)
        WHERE s.start_date <= t.at AND (s.ended_at IS NULL OR s.ended_at > t.at)
          AND NOT (s.trial_start IS NOT NULL AND s.trial_end IS NOT NULL
                   AND s.trial_start <= t.at AND t.at < s.trial_end)
        GROUP BY t.idx, sp.currency
    """,
    "disputes": """
        SELECT stripe_id, charge, reason, status, amount, currency, due_by, has_evidence,
               submission_count, COUNT(*) OVER (PARTITION BY reason, currency),
               SUM(amount) OVER (PARTITION BY reason, currency)
        FROM {dispute}
        WHERE connection_id = %(conn)s AND status IN ('warning_needs_response',
              'needs_response', 'warning_under_review', 'under_review')
    """,
    "payouts": """
        SELECT t.payout, t.reporting_category, COUNT(*), SUM(t.amount), SUM(t.fee), SUM(t.net),
               SUM(t.fee_stripe), SUM(t.fee_application), SUM(t.fee_passthrough), SUM(t.fee_tax)
        FROM {balance_transaction} t
        WHERE t.connection_id = %(conn)s AND t.type <> 'payout'
          AND t.payout IN (SELECT stripe_id FROM {payout} WHERE connection_id = %(conn)s
                           AND automatic AND arrival_date >= %(start)s AND arrival_date < %(end)s)
        GROUP BY t.payout, t.reporting_category
    """,
}


def floor(kind, connection):
    """The floor's query for `kind`, with the parameters the report itself would use."""
    from django.utils import timezone

    from reports import mrr, periods, sql
    from reports.periods import add_months, month_start

    now = timezone.now()
    parameters = periods.parameters_from(kind, *option_values(PERIODS[kind]))
    period = periods.resolve(kind, parameters, now)
    params = {"conn": connection.pk}
    extra = {}
    if kind in ("revenue", "payouts"):
        params.update(start=sql.moment(period.start()), end=sql.moment(period.end()))
    if kind == "mrr":
        shown = period.months()
        first = add_months(*shown[0], -mrr.HISTORY)
        instants = [month_start(*add_months(*first, n)) for n in range(mrr.HISTORY + len(shown))]
        instants.append(now)
        values = []
        for n, at in enumerate(instants):
            params[f"at{n}"] = sql.moment(at)
            values.append(f"({n}, %(at{n})s)")
        extra["instants"] = ", ".join(values)
        params["multiple"] = mrr._common_multiple(connection)
    return sql.render(FLOORS[kind], **extra), params


def option_values(options):
    named = dict(zip(options[::2], options[1::2], strict=True))
    return (named.get("--from"), named.get("--to"), named.get("--months"), named.get("--days"))


# Measurements, each in a child process ------------------------------------------------------


def child(what, kind):
    import django

    django.setup()
    from connectors.models import StripeConnection
    from reports import runner, sql
    from reports.models import ReportRun

    connection = StripeConnection.objects.get(name="bench")
    started = time.perf_counter()
    if what == "idle":
        result = {}
    elif what == "floor":
        from django.db import transaction

        query, params = floor(kind, connection)
        with transaction.atomic():
            sql.tune()  # the settings a report's transaction runs with
            rows = sql.fetchall(query, params)
        result = {"rows": len(rows)}
    else:
        parameters = periods_of(kind)
        run = runner.create(kind, connection, parameters,
                            requester_kind=ReportRun.Requester.COMMAND, name="bench")  # fmt: skip
        run = runner.execute(run.pk)
        if run.status != "succeeded":
            raise SystemExit(f"the {kind} report failed: {run.error}")
        result = {"citations": run.citations.count(), "bytes": len(run.result)}
    seconds = time.perf_counter() - started
    print(json.dumps({**result, "seconds": seconds, "peak_mb": peak_mb()}))


def peak_mb():
    """This process's peak resident memory since it started running this program. (The
    parent's rusage would count the moment between fork and exec, when the child is still a
    copy of the parent, and report the parent's size.)"""
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) / 1024
    raise SystemExit("no VmHWM in /proc/self/status: peak memory needs Linux")


def periods_of(kind):
    from reports import periods

    return periods.parameters_from(kind, *option_values(PERIODS[kind]))


def measure(what, kind=""):
    process = subprocess.Popen(
        [sys.executable, __file__, "--child", what, "--kind", kind or "none"],
        stdout=subprocess.PIPE,
        env=os.environ.copy(),
    )
    out, _ = process.communicate()
    if process.returncode != 0:
        raise SystemExit(f"the {what} of {kind} failed")
    return json.loads(out)


def best(what, kind, repeat):
    runs = [measure(what, kind) for _ in range(repeat)]
    return min(runs, key=lambda r: r["seconds"]) | {"peak_mb": max(r["peak_mb"] for r in runs)}


def bench_size(charges, repeat, kinds):
    from django.utils import timezone

    from connectors.models import StripeConnection

    StripeConnection.objects.all().delete()
    now = timezone.now().replace(microsecond=0)
    connection = StripeConnection.objects.create(
        name="bench", secret_key="rk_test_" + "bench" * 4, key_last4="ench", key_kind="restricted",
        mode="test", data_as_of=now,
    )  # fmt: skip
    started = time.perf_counter()
    counts = Builder(connection.pk, now, charges, charges // 10).build()
    print(f"  built in {time.perf_counter() - started:.0f} s: " + ", ".join(
        f"{n:,} {name}" for name, n in sorted(counts.items())))  # fmt: skip
    idle = measure("idle")
    results = {}
    for kind in kinds:
        floor_run = best("floor", kind, repeat)
        report_run = best("report", kind, repeat)
        results[kind] = (floor_run, report_run)
        ratio = report_run["seconds"] / floor_run["seconds"] if floor_run["seconds"] else 0
        print(f"  {kind:<9} report {report_run['seconds']:>7.2f} s  floor "
              f"{floor_run['seconds']:>7.2f} s  = {ratio:4.2f} x floor   peak "
              f"{report_run['peak_mb']:>5.0f} MB ({report_run['peak_mb'] - idle['peak_mb']:.0f} MB "
              f"above idle Django), {report_run['citations']:,} citation rows")  # fmt: skip
    return idle, results


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--charges", type=int, default=1_000_000)
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument(
        "--kinds",
        default=",".join(PERIODS),
        help="the reports to measure, comma-separated (default: all four)",
    )
    parser.add_argument("--child", help=argparse.SUPPRESS)
    parser.add_argument("--kind", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        os.environ.setdefault("DJANGO_SETTINGS_MODULE", "lumen.settings")
        os.environ.setdefault("DEBUG", "true")  # benchmarks run on development settings
        return child(args.child, args.kind)

    kinds = [k for k in args.kinds.split(",") if k]
    unknown = set(kinds) - set(PERIODS)
    if unknown:
        parser.error(f"unknown report kinds: {', '.join(sorted(unknown))}")
    with scratch_database() as vendor:
        sizes = {}
        for charges in (args.charges // 10, args.charges):
            print(f"reports bench on {vendor}: {charges:,} charges, "
                  f"{charges // 10:,} subscriptions")  # fmt: skip
            sizes[charges] = bench_size(charges, args.repeat, kinds)
    small, large = sizes[args.charges // 10], sizes[args.charges]
    print(f"memory at {args.charges:,} charges against {args.charges // 10:,} (10x the account):")
    for kind in kinds:
        big, little = large[1][kind][1]["peak_mb"], small[1][kind][1]["peak_mb"]
        above = (big - large[0]["peak_mb"], little - small[0]["peak_mb"])
        print(f"  {kind:<9} {big / little:.2f} x the peak RSS "
              f"({above[0]:.0f} MB against {above[1]:.0f} MB above idle Django)")  # fmt: skip


if __name__ == "__main__":
    main()
