"""disputes: "Open disputes by reason and amount; flag anything we should respond to today."

Open: needs a response or is under review (inquiries, warning_*, included). Each open
dispute listed is its own record; a reason's bucket cites the disputes it counts. Urgency, for
those still needing a response, from evidence_details.due_by and the time of the run:
overdue (due_by has passed), today (due within 24 hours), this_week (within 7 days), later;
those under review are submitted. Overdue and today are flagged.
"""

from datetime import timedelta

from connectors.models import Dispute
from reports import citations, document, sql

OPEN = ("warning_needs_response", "needs_response", "warning_under_review", "under_review")
URGENCY_ORDER = ("overdue", "today", "this_week", "later", "submitted", None)
FLAGGED = {"overdue", "today"}

CTES = """
open_disputes AS (
    SELECT stripe_id, reason, currency, amount
    FROM {dispute}
    WHERE connection_id = %(conn)s
      AND status IN ('warning_needs_response', 'needs_response',
                     'warning_under_review', 'under_review')
),
entries(line, figure, record, amount) AS (
    SELECT 'by_reason/' || reason || '/' || currency, 'amount', stripe_id, amount
    FROM open_disputes
)
"""


def urgency(status, due_by, now):
    if "under_review" in status:
        return "submitted"
    if due_by is None:
        return None
    if due_by < now:
        return "overdue"
    if due_by - now <= timedelta(hours=24):
        return "today"
    if due_by - now <= timedelta(days=7):
        return "this_week"
    return "later"


def disputes(connection, period, now, run_id):
    citations.write(run_id, sql.render(CTES), {"conn": connection.pk}, hashed=True)
    figures = citations.figures(run_id)
    rows = (
        Dispute.objects.filter(connection=connection, status__in=OPEN)
        .order_by()
        .values_list(
            "stripe_id",
            "charge",
            "reason",
            "status",
            "amount",
            "currency",
            "due_by",
            "has_evidence",
            "submission_count",
        )  # fmt: skip
    )
    opened, undated = [], []
    for stripe_id, charge, reason, status, amount, currency, due_by, evidence, count in rows:
        level = urgency(status, due_by, now)
        if level is None:
            undated.append(stripe_id)
        opened.append(
            {
                "id": stripe_id,
                "charge": charge or None,
                "reason": reason,
                "status": status,
                "amount": amount,
                "currency": currency,
                "due_by": document.iso(due_by),
                "urgency": level,
                "flagged": level in FLAGGED,
                "has_evidence": evidence,
                "submission_count": count,
            }
        )
    # Most urgent first; within an urgency, the earliest due (none due last), then by id.
    opened.sort(key=lambda d: (URGENCY_ORDER.index(d["urgency"]), d["due_by"] is None,
                               d["due_by"] or "", d["id"]))  # fmt: skip
    by_reason = []
    for (line, _), figure in sorted(figures.items()):
        _, reason, currency = line.split("/") if line.startswith("by_reason/") else ("", "", "")
        if currency:
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
