"""disputes: "Open disputes by reason and amount; flag anything we should respond to today."

Open: needs a response or is under review (inquiries, warning_*, included). Each open
dispute listed is its own record; a reason's bucket cites the disputes it counts. Every open
dispute is listed in the document, so the buckets are summed from the listed rows (a few
thousand on the biggest accounts) rather than by a second pass over the table. Urgency, for
those still needing a response, from evidence_details.due_by and the time of the run:
overdue (due_by has passed), today (due within 24 hours), this_week (within 7 days), later;
those under review are submitted. Overdue and today are flagged.
"""

from collections import defaultdict
from datetime import timedelta

from reports import citations, document, sql

FLAGGED = {"overdue", "today"}

# The open disputes. Urgency and the ISO due date are worked out by the database: converting
# each row's datetime in Python took most of the report's time on a big account. They are
# put in order here (urgent_first): PostgreSQL's sort of 1,880 of them by those expressions
# took 6-20 ms, several times its reading them, where Python's takes one.
OPEN_DISPUTES = """
    SELECT stripe_id, NULLIF(charge, ''), reason, status, amount, currency, {due_by},
           has_evidence, submission_count, urgency
    FROM (
        SELECT d.*,
               CASE WHEN status IN ('warning_under_review', 'under_review') THEN 'submitted'
                    WHEN due_by IS NULL THEN NULL
                    WHEN due_by < %(now)s THEN 'overdue'
                    WHEN due_by <= %(day)s THEN 'today'
                    WHEN due_by <= %(week)s THEN 'this_week'
                    ELSE 'later' END AS urgency
        FROM {dispute} d
        WHERE connection_id = %(conn)s
          AND status IN ('warning_needs_response', 'needs_response',
                         'warning_under_review', 'under_review')
    ) o
"""
# Most urgent first; within an urgency, the earliest due (none due last), then by id. The
# due dates are ISO text in UTC, which sorts as the instants do; Python orders text by code
# point, which is the bytewise order of its UTF-8.
RANK = {"overdue": 0, "today": 1, "this_week": 2, "later": 3, "submitted": 4, None: 5}


def urgent_first(row):
    return (RANK[row[9]], row[6] is None, row[6] or "", row[0])


def disputes(connection, period, now, run_id):
    query = sql.render(OPEN_DISPUTES, due_by=sql.iso("due_by"))
    params = {"conn": connection.pk, "now": sql.moment(now),
              "day": sql.moment(now + timedelta(hours=24)),
              "week": sql.moment(now + timedelta(days=7))}  # fmt: skip
    opened, undated, buckets = [], [], defaultdict(list)
    for (stripe_id, charge, reason, status, amount, currency, due_by, evidence, count,
         level) in sorted(sql.fetchall(query, params), key=urgent_first):  # fmt: skip
        if level is None:
            undated.append(stripe_id)
        buckets[(f"by_reason/{reason}/{currency}", "amount")].append((stripe_id, amount))
        opened.append(
            {
                "id": stripe_id,
                "charge": charge,
                "reason": reason,
                "status": status,
                "amount": amount,
                "currency": currency,
                "due_by": due_by,
                "urgency": level,
                "flagged": level in FLAGGED,
                "has_evidence": bool(evidence),
                "submission_count": count,
            }
        )
    figures = citations.store(run_id, buckets)
    by_reason = []
    for (line, _), figure in sorted(figures.items()):
        _, reason, currency = line.split("/")
        by_reason.append(
            {"reason": reason, "currency": currency, "count": figure.count,
             "amount": figure.total}
        )  # fmt: skip
    warnings = []
    if undated:
        warnings.append(
            f"{len(undated)} disputes that need a response have no due date, so their "
            f"urgency is unknown (null): {', '.join(undated[: document.EXAMPLES])}."
        )
    warnings += document.currency_warnings(d["currency"] for d in opened)
    return {"as_of": document.iso(now), "open": opened, "by_reason": by_reason,
            "warnings": warnings}  # fmt: skip
