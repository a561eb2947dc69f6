"""The email a schedule sends after each firing: a short summary, a link to the run, and the
run's CSV attached; or, when the run failed, the reason and the link."""

from django.conf import settings
from django.core.mail import EmailMessage
from django.urls import reverse
from django.utils import timezone

from reports import formats
from reports.dashboard import figures
from reports.models import ReportRun


def link_to(run):
    return settings.LUMEN_BASE_URL + reverse("admin:reports_reportrun_change", args=[run.pk])


def period_of(run):
    if run.period_from:
        return f"{run.period_from} to {run.period_to}"
    return f"as of {timezone.localtime(run.finished_at):%Y-%m-%d %H:%M}" if run.finished_at else ""


def send_run(schedule, run):
    what = f"{run.get_kind_display()} of {run.connection}"
    if run.status == ReportRun.Status.SUCCEEDED:
        doc = run.document
        lines = [f"{what}, {period_of(run)} (schedule “{schedule.name}”).", ""]
        lines += [f"{label}: {text}" for label, text in figures(run.kind, doc)]
        if doc["warnings"]:
            lines += ["", "Warnings:"] + [f"- {w}" for w in doc["warnings"]]
        lines += ["", f"The whole report, each figure opening to its records: {link_to(run)}",
                  "The CSV attached has one row per line of the report."]  # fmt: skip
        message = EmailMessage(f"[Lumen] {what}, {period_of(run)}", "\n".join(lines),
                               settings.DEFAULT_FROM_EMAIL, schedule.recipient_list())  # fmt: skip
        name = f"{run.kind}-{run.connection}-{timezone.localdate(run.finished_at)}.csv"
        message.attach(name, formats.as_csv(doc), "text/csv")
    else:
        body = (f"{what} (schedule “{schedule.name}”) could not be run:\n\n{run.error}\n\n"
                f"The run: {link_to(run)}\n")  # fmt: skip
        message = EmailMessage(f"[Lumen] FAILED: {what}", body, settings.DEFAULT_FROM_EMAIL,
                               schedule.recipient_list())  # fmt: skip
    message.send()
    ReportRun.objects.filter(pk=run.pk).update(emailed_at=timezone.now())
