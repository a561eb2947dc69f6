"""Writing and reading the records behind each figure of a run.

A report kind describes its figures as SQL: common table expressions that end in one named
`entries(line, figure, record, amount)`, a row per record and figure it adds to. `write()`
turns them into ReportCitation rows inside the database, up to CHUNKS rows a figure, and
`figures()` sums those rows back into the document's figures. Nothing here walks the records
in Python, so a run over millions of charges costs the database's time, not Python's memory.
"""

from collections import defaultdict
from dataclasses import dataclass

from reports import sql
from reports.models import ReportCitation

WARNINGS = "warnings"  # the line under which a kind cites the records each warning is about


@dataclass(frozen=True)
class Figure:
    count: int
    total: int


def write(run_id, ctes, params, hashed=False):
    """Run the kind's `ctes` (ending in `entries`) and store its citations for run_id.

    `hashed`: group the entries in a hash table, for SQL without window functions. The
    planner of PostgreSQL reckons 8 kB a group for string_agg and sorts every entry
    instead, which took most of the time of the payouts report."""
    # A figure's records are spread over up to CHUNKS rows by a hash of their ids: no sort
    # of every entry by id, which on SQLite cost more than computing the figures. Only the
    # kind's own SQL and the model's constants are formatted in; values are parameters.
    template = f"""
        WITH {ctes},
        chunked AS (
            SELECT {sql.bytewise("line")} AS line, {sql.bytewise("figure")} AS figure,
                   record, amount, {sql.bucket("record", ReportCitation.CHUNKS)} AS chunk
            FROM entries
        )
        INSERT INTO {{citation}} (run_id, line, figure, chunk, count, total, entries)
        SELECT %(run)s, line, figure, chunk, COUNT(*), CAST(SUM(amount) AS BIGINT),
               {sql.string_agg("record || ':' || CAST(amount AS TEXT)")}
        FROM chunked
        GROUP BY line, figure, chunk
    """  # noqa: S608
    with sql.hash_grouping(hashed):
        sql.execute(sql.render(template), {**params, "run": run_id})


def store(run_id, cited):
    """Store the citations of figures whose records a kind already holds in Python (a short
    list, such as the open disputes it lists one by one): {(line, figure): [(record, amount),
    ...]}, a row per figure. Returns their {(line, figure): Figure}."""
    rows = [
        ReportCitation(
            run_id=run_id,
            line=line,
            figure=figure,
            chunk=0,
            count=len(records),
            total=sum(amount for _, amount in records),
            entries=",".join(f"{record}:{amount}" for record, amount in records),
        )  # fmt: skip
        for (line, figure), records in cited.items()
    ]
    ReportCitation.objects.bulk_create(rows)
    return {(row.line, row.figure): Figure(row.count, row.total) for row in rows}


def figures(run_id):
    """{(line, figure): Figure(count, total)} of a run."""
    rows = (
        ReportCitation.objects.filter(run_id=run_id)
        .values_list("line", "figure", "count", "total")
        .order_by()
    )
    sums = defaultdict(lambda: [0, 0])
    for line, figure, count, total in rows.iterator(chunk_size=2000):
        sums[(line, figure)][0] += count
        sums[(line, figure)][1] += total
    return {key: Figure(count, total) for key, (count, total) in sums.items()}


def records(run_id, line, figure, limit=None):
    """[(stripe id, amount), ...] behind one figure, in id order; `limit` stops early."""
    found = []
    chunks = ReportCitation.objects.filter(run_id=run_id, line=line, figure=figure).order_by(
        "chunk"
    )
    for chunk in chunks.iterator(chunk_size=1):
        found.extend(sorted(chunk.pairs()))
        if limit is not None and len(found) >= limit:
            return found[:limit]
    return found


def clear(run_id):
    ReportCitation.objects.filter(run_id=run_id).delete()
