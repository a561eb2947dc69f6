"""Writing and reading the records behind each figure of a run.

A report kind describes its figures as SQL: common table expressions that end in one named
`entries(line, figure, record, amount)`, a row per record and figure it adds to. `write()`
turns them into ReportCitation rows inside the database, up to CHUNKS rows a figure, and
`summary()` sums those rows back into the document's figures. Nothing here walks the records
in Python, so a run over millions of charges costs the database's time, not Python's memory.
"""

from collections import defaultdict
from dataclasses import dataclass

from reports import sql
from reports.models import ReportCitation

GROUPED = "lumen_cited_chunks"  # SQLite's temporary table of a write with tallies (write())
WARNINGS = "warnings"  # the line under which a kind cites the records each warning is about


@dataclass(frozen=True)
class Figure:
    count: int
    total: int
    tallies: tuple = ()  # the kind's further sums over the same records (write(tally=...))


def write(run_id, ctes, params, hashed=False, tally=(), parts=1, split=None, chunks=None):
    """Run the kind's `ctes` (ending in `entries`), store its citations for run_id, and
    return the figures they make: {(line, figure): Figure}.

    `tally`: SQL aggregates (SUMs or COUNTs, so that chunks add up) over further columns of
    `entries`, which a kind needs per figure beside its total: the payouts' gross and fees.
    They are summed in the same pass as the citations, and come back as Figure.tallies.

    `parts`, `split`: on PostgreSQL, write the citations with `parts` statements at once,
    each on a database connection of its own, all in the run's snapshot (sql.alongside).
    Each reads one share of the blocks of the model `split`, whose scan in `ctes` carries
    the condition sql.share(), and writes its own chunks of each figure. An INSERT never
    runs in parallel on PostgreSQL, where the floor it is measured against does. The other
    connections commit before the run's does, and this transaction does not see their rows:
    read the figures from here, not from summary().

    `chunks`: how many rows a figure's records are spread over (ReportCitation.CHUNKS unless
    the kind says), and at least one a part; one a part means no hash of every record. A
    kind whose figures each cite a bounded number of records (a payout's transactions)
    needs no more, and the hash and the extra groups were a quarter of the payouts'
    statement.

    `hashed`: group the entries in a hash table, for SQL without window functions. The
    planner of PostgreSQL reckons 8 kB a group for string_agg and sorts every entry
    instead, which took most of the time of the payouts report."""
    # A figure's records are spread over up to CHUNKS rows by a hash of their ids: no sort
    # of every entry by id, which on SQLite cost more than computing the figures. Only the
    # kind's own SQL and the model's constants are formatted in; values are parameters.
    parts = parts if split and sql.writes_in_with() else 1
    each = max((chunks or ReportCitation.CHUNKS) // parts, 1)  # a part's chunks of a figure
    chunk = "%(part)s" if each == 1 else f"{sql.bucket('e.record', each)} * {parts} + %(part)s"
    tallies = "".join(f", {aggregate} AS tally_{n}" for n, aggregate in enumerate(tally))
    grouped = f"""
        WITH {ctes},
        chunked AS (
            SELECT e.*, {sql.bytewise("e.line")} AS cited_line,
                   {sql.bytewise("e.figure")} AS cited_figure,
                   {chunk} AS chunk
            FROM entries e
        ),
        grouped AS (
            SELECT cited_line AS line, cited_figure AS figure, chunk, COUNT(*) AS count,
                   CAST(SUM(amount) AS BIGINT) AS total,
                   {sql.string_agg("record || ':' || CAST(amount AS TEXT)")} AS cited
                   {tallies}
            FROM chunked
            GROUP BY cited_line, cited_figure, chunk
        )
    """  # noqa: S608
    insert = """
        INSERT INTO {citation} (run_id, line, figure, chunk, count, total, entries)
        SELECT %(run)s, line, figure, chunk, count, total, cited FROM {grouped}
    """
    tallied = ", ".join(["line", "figure", "count", "total"] +
                        [f"tally_{n}" for n in range(len(tally))])  # fmt: skip
    values = {**params, "run": run_id}
    shared = [{**values, **rows, "part": part}
              for part, rows in enumerate(sql.shares(split, parts))]  # fmt: skip
    if sql.writes_in_with():
        # One statement: the grouped chunks are stored and their sums come back (a WITH
        # query read twice is computed once).
        statement = f"{grouped}, stored AS ({insert}) SELECT {tallied} FROM grouped"  # noqa: S608
        statement = sql.render(statement, grouped="grouped")
        first, *others = shared
        others = [sql.alongside(statement, share, hashed=hashed) for share in others]
        with sql.hash_grouping(hashed):
            rows = sql.fetchall(statement, first)
        for more in others:
            rows += more()
    elif tally:
        # SQLite has no INSERT inside WITH, and its RETURNING gives the inserted columns
        # only: the grouped chunks, tallies and all, are made once in a temporary table of
        # this connection, then stored and summed from there. A second statement summing
        # the entries again scanned every record twice.
        made = f"CREATE TEMP TABLE {GROUPED} AS {grouped} SELECT * FROM grouped"  # noqa: S608
        sql.execute(sql.render(made), shared[0])
        try:
            sql.execute(sql.render(insert, grouped=GROUPED), shared[0])
            rows = sql.fetchall(f"SELECT {tallied} FROM {GROUPED}", [])  # noqa: S608
        finally:
            sql.execute(f"DROP TABLE {GROUPED}", [])
    else:  # SQLite: the sums come back from RETURNING
        rows = sql.fetchall(
            sql.render(
                grouped + insert + " RETURNING line, figure, count, total", grouped="grouped"
            ),
            shared[0],
        )
    sums = defaultdict(lambda: [0] * (2 + len(tally)))
    for line, figure, *numbers in rows:
        into = sums[(line, figure)]
        for n, number in enumerate(numbers):
            into[n] += number or 0
    return {key: Figure(count, total, tuple(more)) for key, (count, total, *more) in sums.items()}


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


# Each figure's sums, and the head of its first chunk: grouped first, so that the head is
# read once a figure rather than once a chunk. SUBSTR reads a slice of the stored text (on
# PostgreSQL without decompressing the rest), where a chunk of a payout's transactions holds
# all of them.
SUMMARY = """
    SELECT g.line, g.figure, g.count, g.total,
           (SELECT SUBSTR(c.entries, 1, %(head)s) FROM {citation} c
            WHERE c.run_id = %(run)s AND c.line = g.line AND c.figure = g.figure
            ORDER BY c.chunk LIMIT 1)
    FROM (SELECT line, figure, SUM(count) AS count, SUM(total) AS total FROM {citation}
          WHERE run_id = %(run)s GROUP BY line, figure) g
"""


def summary(run_id, head=0):
    """{(line, figure): (Figure(count, total), the first `head` characters of the
    "id:amount,..." text of its first chunk)}, in one query: a run's figures as its
    citations sum them (by the database: a big run's figures are spread over thousands of
    chunks), and what an answer that cites them needs, without their every record."""
    rows = sql.fetchall(sql.render(SUMMARY), {"run": run_id, "head": head})
    # int(): PostgreSQL sums a bigint column as numeric.
    return {(line, figure): (Figure(int(count), int(total)), text)
            for line, figure, count, total, text in rows}  # fmt: skip


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
