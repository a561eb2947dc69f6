"""Lumen's reports, run (or a fresh run reused) for an assistant: the spec's document, each
figure with the records it sums."""

from datetime import timedelta
from typing import Annotated, Any, Literal

from django.utils import timezone
from pydantic import BaseModel, Field

from assistant import arguments
from assistant.calls import current, fail, refuse, require, tool
from assistant.shapes import Answer, absolute, admin_url, moment
from connectors.admin.mirror.links import model_of
from reports import citations, document, periods, runner
from reports.admin.pages import cited_url
from reports.models import ReportRun

# A succeeded run this recent, of the same report over the same days and the same data (no
# sync since), answers again instead of a new run: an assistant often asks twice in a row.
FRESH = timedelta(minutes=10)
# A document's lists of records, which can run to thousands on a big account (every open
# dispute, a year of daily payouts): the answer carries their first LIMIT_CAP entries, in
# the document's order (most urgent first, oldest first), as every list tool does. An
# assistant reads a few hundred entries no better than the run's page shows them all.
LONG_LISTS = {"disputes": "open", "payouts": "payouts"}
# Characters of a citation chunk's "id:amount,..." text read for its first ids: room for
# document.EXAMPLES pairs of ids far longer than Stripe's.
HEAD = 2000
# The command line's option names in the reports' messages, as this tool's arguments.
ARGUMENT_NAMES = {"--from": "date_from", "--to": "date_to", "--months": "months", "--days": "days"}


class Run(BaseModel):
    id: int
    reused: bool = Field(description="An earlier run of the last minutes on the same data.")
    admin: str = Field(
        description="The run's page in Lumen's admin: tables, charts, figures "
        "that open to their records, downloads."
    )
    requested_by: str
    finished_at: str | None


class Citation(BaseModel):
    line: str = Field(
        description="Where the figure is in the document, e.g. 'currencies/usd' "
        "or 'currencies/usd/products/prod_1'."
    )
    figure: str = Field(description="Which figure of that line, e.g. 'gross'.")
    count: int = Field(description="How many records it sums.")
    total: int = Field(description="Their sum, in minor units: the figure.")
    examples: list[str] = Field(description="A few of the records' Stripe ids.")
    records: str = Field(description="All of them, listed in Lumen's admin.")


class Report(Answer):
    run: Run
    document: dict[str, Any] = Field(
        description="The report's JSON document, as Lumen's "
        "reports define it (amounts in minor units)."
    )
    citations: list[Citation]
    left_out: dict[str, int] = Field(
        default_factory=dict,
        description=f"Lists of the document cut to their first {arguments.LIMIT_CAP} "
        "entries: how many entries each left out. Their figures (by_reason, components) "
        "still count every record; the run's admin page lists them all, and "
        "`disputes_due` pages through open disputes.",
    )

    def record_count(self):
        return len(self.citations)


@tool(title="Run a report", permission="reports.run_report")
def report(
    kind: Annotated[
        Literal["revenue", "mrr", "disputes", "payouts"],
        Field(
            description="revenue: gross, refunded, disputed and net revenue, refund rate "
            "and fees, per currency and product. mrr: MRR per month with new, "
            "expansion, contraction and churned MRR and churn rates. disputes: "
            "open disputes, most urgent first, and totals by reason. payouts: "
            "the balance, and each payout's transactions, reconciled."
        ),
    ],
    connection: Annotated[str, Field(description="The name of a connection (list_connections).")],
    date_from: arguments.DateFrom = None,
    date_to: arguments.DateTo = None,
    months: Annotated[
        int | None,
        Field(
            ge=1,
            le=periods.MAX_MONTHS,
            description="The N calendar months ending with this one, instead of dates.",
        ),
    ] = None,
    days: Annotated[
        int | None,
        Field(
            ge=1,
            le=periods.MAX_MONTHS * 31,
            description="The N days ending today, instead of dates.",
        ),
    ] = None,
) -> Report:
    """Run one of Lumen's reconciliation reports (or reuse a run of the last minutes on the
    same data) and return its document: the figures finance staff hold against Stripe's
    dashboard, exact to the minor unit, per currency. Give a period as date_from and
    date_to, or months, or days; without one: revenue and payouts the last 30 days, mrr the
    last 6 months; disputes takes none. Every figure is cited: `citations` names, for each
    line and figure, how many records it sums, a few of their ids and a link to all of
    them. Prefer this to adding up charges or subscriptions yourself."""
    require("reports.view_reportrun")
    chosen = arguments.connection(connection)
    try:
        parameters = periods.parameters_from(
            kind,
            date_from and date_from.isoformat(),
            date_to and date_to.isoformat(),
            months,
            days,
        )
        runner.check(kind, chosen, parameters)
        period = periods.resolve(kind, parameters, timezone.now())
    except periods.BadParameters as e:
        message = str(e)
        for option, name in ARGUMENT_NAMES.items():
            message = message.replace(option, name)
        if isinstance(e, runner.NotReady):
            message += " Here: the `sync` tool syncs it, for a connection admin."
        raise refuse(message) from None
    run = fresh_run(kind, chosen, period)
    reused = run is not None
    if run is None:
        run = runner.create(
            kind, chosen, parameters, requester_kind=ReportRun.Requester.USER, user=current().user
        )
        run = runner.execute(run.pk)
        if run.status != ReportRun.Status.SUCCEEDED:
            raise fail(f"The report run failed: {run.error} (see {admin_url(run)}).")
    return Report(
        run=Run(
            id=run.pk,
            reused=reused,
            admin=admin_url(run),
            requested_by=run.requester,
            finished_at=moment(run.finished_at),
        ),
        **shortened(kind, run),
    )


def shortened(kind, run):
    """The run's document and citations, with LONG_LISTS cut to LIMIT_CAP entries and the
    citations of the entries cut (a payout's components) left out with them."""
    body, figures, left_out = run.document, cited(run), {}
    name = LONG_LISTS.get(kind)
    entries = body.get(name) or []
    if len(entries) > arguments.LIMIT_CAP:
        body[name] = entries[: arguments.LIMIT_CAP]
        left_out[name] = len(entries) - arguments.LIMIT_CAP
        gone = {f"{name}/{entry['id']}/" for entry in entries[arguments.LIMIT_CAP :]}
        figures = [c for c in figures if not c.line.startswith(tuple(gone))]
    return {"document": body, "citations": figures, "left_out": left_out}


def fresh_run(kind, connection, period):
    return (
        ReportRun.objects.filter(
            kind=kind,
            connection=connection,
            status=ReportRun.Status.SUCCEEDED,
            data_as_of=connection.data_as_of,
            period_from=period.first if period else None,
            period_to=period.last if period else None,
            finished_at__gte=timezone.now() - FRESH,
        )
        .select_related("requested_by")
        .order_by("-pk")
        .first()
    )


def cited(run):
    """Each figure of the run with its records: count and total (the figure itself), a few
    ids and the admin's list of all of them. One query, however many figures."""
    found = []
    for (line, figure), (sums, head) in sorted(citations.summary(run.pk, HEAD).items()):
        if not sums.count:
            continue
        ids = first_ids(head)
        model = model_of(ids[0]) if ids else None
        url = cited_url(run, model, line, figure) if model else None
        found.append(
            Citation(
                line=line,
                figure=figure,
                count=sums.count,
                total=sums.total,
                examples=ids,
                records=absolute(url) if url else admin_url(run),
            )
        )
    return found


def first_ids(head):
    """The first document.EXAMPLES ids of a chunk's "id:amount,..." text cut to HEAD
    characters (only the head leaves the database: a chunk of a payout's transactions holds
    every one of them)."""
    pairs = head.split(",", document.EXAMPLES)
    if len(pairs) <= document.EXAMPLES and len(head) == HEAD:
        pairs.pop()  # cut short: its last pair may be part of one
    return [pair.rpartition(":")[0] for pair in pairs[: document.EXAMPLES] if pair]
