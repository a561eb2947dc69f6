"""A figure's citations as a list in the mirror's pages: the link under a figure opens the
mirror list of its kind with `?selection=cited:<run>|<line>|<figure>`, which this resolves
to the records the run cited (connectors.admin.mirror.selections)."""

from django.core.exceptions import PermissionDenied

from connectors.admin.mirror import selections
from reports import citations
from reports.models import ReportCitation, ReportRun

SHOWN = 10_000  # records a list can show at once; the run's CSV download has them all


def resolve(request, value):
    if not request.user.has_perm("reports.view_reportrun"):
        raise PermissionDenied
    run_id, _, rest = value.partition("|")
    line, _, figure = rest.rpartition("|")
    if not run_id.isdigit() or not line:
        raise ValueError(value)
    run = ReportRun.objects.filter(pk=int(run_id)).select_related("connection").first()
    if run is None:
        raise ValueError(value)
    stripe_ids = [i for i, _ in citations.records(run.pk, line, figure, limit=SHOWN)]
    total = sum(
        ReportCitation.objects.filter(run=run, line=line, figure=figure).values_list(
            "count", flat=True
        )
    )
    label = f"cited by {run.get_kind_display().lower()} run #{run.pk}: {line} · {figure}"
    return selections.Selection(label, run.connection_id, stripe_ids, total)


selections.register("cited", resolve)
