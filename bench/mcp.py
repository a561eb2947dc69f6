"""How long each of the assistant's tools takes on a big account, as an assistant sees it.

    .venv/bin/python bench/mcp.py [--charges 1000000] [--calls 20] [--repeat 3] [--kinds ...]

Builds the mirror bench/reports.py builds (N charges, N/10 subscriptions with their invoices,
refunds, disputes, balance transactions, weekly payouts), a staff user and an assistant
token, then starts `manage.py mcp` as a desktop assistant does and calls each tool through
the official SDK's client over stdio: the time of a call is the client's, from the request
to the answer (the token's check, the query, the answer's JSON, the audit row, the pipe).

Lookups (every tool but `report` and `sync`) are called --calls times each; the median and
the slowest are printed against the target of 100 ms at the median. `report` is timed
against the reports engine itself (runner.execute, as the report command runs it, in this
process) on the same report: best of --repeat, each a new run (the runs before are made
stale, so that the tool computes rather than reuses), with what the tool adds in
milliseconds beside a tool call's floor (the median of the lightest lookup,
list_connections: the token, the audit row, the protocol and the pipe); then once more as
the tool answers when a fresh run exists. `sync` is not measured: it reaches Stripe.

Works on the database DATABASE_URL names, in a scratch database of its own that it removes
afterwards (see bench/audit_export.py): `lumen_bench` on the same PostgreSQL server, or a
temporary SQLite file.
"""

import argparse
import importlib.util
import os
import statistics
import sys
import time
from datetime import timedelta
from pathlib import Path

BENCH = Path(__file__).resolve().parent
ROOT = BENCH.parent
# bench/reports.py shares its name with the reports app: the project comes first on the
# path (`import reports` is the app), and the bench's builder is loaded from its file.
sys.path[:] = [str(ROOT)] + [p for p in sys.path if Path(p or ".").resolve() != BENCH]
sys.path.append(str(BENCH))

from audit_export import scratch_database  # noqa: E402

TARGET_MS = 100
REPORTS = {"revenue": {"days": 365}, "mrr": {"months": 6}, "disputes": {},
           "payouts": {"days": 365}}  # fmt: skip


def bench_reports():
    spec = importlib.util.spec_from_file_location("bench_reports", BENCH / "reports.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def lookups():
    """(label, tool, arguments): what an assistant asks most, on the builder's account."""
    customer = "cus_00000042"
    return [
        ("list_connections", "list_connections", {}),
        ("balance", "balance", {}),
        ("find_customers by id", "find_customers", {"query": customer}),
        ("find_customers by text (no match)", "find_customers", {"query": "jane@acme"}),
        ("customer", "customer", {"id": customer}),
        ("search_charges, newest", "search_charges", {}),
        ("search_charges, a customer", "search_charges", {"customer": customer}),
        ("search_charges, a week", "search_charges",
         {"date_from": days_ago(14), "date_to": days_ago(7)}),
        ("search_charges, >= 25,000, page of 100", "search_charges",
         {"min_amount": 25000, "limit": 100}),
        ("list_subscriptions, active", "list_subscriptions", {"status": "active"}),
        ("open_invoices", "open_invoices", {}),
        ("list_products", "list_products", {}),
        ("list_coupons", "list_coupons", {}),
        ("list_payouts, a quarter", "list_payouts", {"date_from": days_ago(90)}),
        ("disputes_due, 90 days", "disputes_due", {"days": 90}),
    ]  # fmt: skip


def days_ago(days):
    from django.utils import timezone

    return (timezone.now() - timedelta(days=days)).date().isoformat()


def build(charges):
    from django.contrib.auth.models import User
    from django.utils import timezone

    from assistant import tokens
    from assistant.models import AccessToken
    from connectors.models import StripeConnection

    now = timezone.now().replace(microsecond=0)
    connection = StripeConnection.objects.create(
        name="bench", secret_key="rk_test_" + "bench" * 4, key_last4="ench", key_kind="restricted",
        mode="test", data_as_of=now,
    )  # fmt: skip
    started = time.perf_counter()
    counts = bench_reports().Builder(connection.pk, now, charges, charges // 10).build()
    print(f"built in {time.perf_counter() - started:.0f} s: " + ", ".join(
        f"{n:,} {name}" for name, n in sorted(counts.items())))  # fmt: skip
    user = User.objects.create_superuser("bench", "bench@example.org", None)
    token = AccessToken(user=user, name="bench", expires_at=now + timedelta(days=1))
    return connection, tokens.issue(token, origin="bench")


def engine(connection, kind):
    """The reports engine alone: a run created and computed as the report command does."""
    from reports import runner
    from reports.models import ReportRun
    from reports.periods import parameters_from

    asked = REPORTS[kind]
    parameters = parameters_from(kind, None, None, asked.get("months"), asked.get("days"))
    started = time.perf_counter()
    run = runner.create(kind, connection, parameters, requester_kind=ReportRun.Requester.COMMAND,
                        name="bench")  # fmt: skip
    run = runner.execute(run.pk)
    assert run.status == "succeeded", run.error
    return time.perf_counter() - started


def stale():
    """No run is fresh any more: the next `report` computes a new one."""
    from django.utils import timezone

    from reports.models import ReportRun

    ReportRun.objects.update(finished_at=timezone.now() - timedelta(hours=1))


async def timed(client, name, arguments):
    started = time.perf_counter()
    answer = await client.call_tool(name, arguments)
    seconds = time.perf_counter() - started
    if answer.is_error:
        raise SystemExit(f"{name} {arguments} failed: {answer.content[0].text}")
    return seconds


async def session(secret, calls, repeat, connection, kinds):
    import anyio.to_thread
    from mcp import Client, StdioServerParameters

    server = StdioServerParameters(command=sys.executable, args=["manage.py", "mcp"],
                                   env={**os.environ, "LUMEN_MCP_TOKEN": secret},
                                   cwd=str(ROOT))  # fmt: skip
    async with Client(server) as client:
        await client.list_tools()
        await timed(client, "list_connections", {})  # the first call warms the child up
        print(f"lookups over stdio, {calls} calls each (target: median under {TARGET_MS} ms):")
        medians = {}
        for label, name, arguments in lookups():
            times = [await timed(client, name, arguments) for _ in range(calls)]
            median = medians[label] = statistics.median(times) * 1000
            verdict = "ok" if median < TARGET_MS else "OVER"
            print(f"  {label:<40} median {median:7.1f} ms   slowest {max(times) * 1000:7.1f} ms"
                  f"   {verdict}")  # fmt: skip
        if kinds:
            # What any tool call costs beyond its query (the token, the audit row, the
            # protocol's JSON both ways, the pipe): the whole of the lightest lookup's call.
            floor = medians["list_connections"]
            print(f"report over stdio against the reports engine (best of {repeat}); "
                  f"a tool call's floor, list_connections' median: {floor:.1f} ms")  # fmt: skip
        for kind in kinds:
            arguments = {"kind": kind, "connection": "bench", **REPORTS[kind]}
            tool, alone = [], []
            for _ in range(repeat):
                await anyio.to_thread.run_sync(stale)
                tool.append(await timed(client, "report", arguments))
                await anyio.to_thread.run_sync(stale)
                alone.append(await anyio.to_thread.run_sync(engine, connection, kind))
            reused = await timed(client, "report", arguments)
            ratio = min(tool) / min(alone)
            over = (min(tool) - min(alone)) * 1000
            print(f"  {kind:<9} tool {min(tool):7.3f} s   engine {min(alone):7.3f} s   = "
                  f"{ratio:4.2f} x engine ({over:+6.1f} ms, {over / floor:4.1f} x a call's floor)"
                  f"   reused run {reused * 1000:6.0f} ms")  # fmt: skip


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--charges", type=int, default=1_000_000)
    parser.add_argument("--calls", type=int, default=20)
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument(
        "--kinds",
        default=",".join(REPORTS),
        help="the reports to time, comma-separated (default: all four; none: '')",
    )
    args = parser.parse_args()
    kinds = [k for k in args.kinds.split(",") if k]
    unknown = set(kinds) - set(REPORTS)
    if unknown:
        parser.error(f"unknown report kinds: {', '.join(sorted(unknown))}")
    with scratch_database() as vendor:
        import anyio

        print(f"mcp bench on {vendor}: {args.charges:,} charges, "
              f"{args.charges // 10:,} subscriptions")  # fmt: skip
        connection, secret = build(args.charges)
        anyio.run(session, secret, args.calls, args.repeat, connection, kinds)


if __name__ == "__main__":
    main()
