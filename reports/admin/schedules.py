"""Report schedules in the admin: what to run, for which rolling period, when (a crontab,
edited on the same page), who gets the email, and whether to sync first."""

from django import forms
from django.conf import settings
from django.contrib import admin
from django.core.exceptions import ValidationError
from django.core.validators import validate_email
from django.db.models import OuterRef, Subquery
from django.urls import reverse
from django.utils.html import format_html
from django_celery_beat import validators
from django_celery_beat.models import CrontabSchedule

from connectors.models import StripeConnection
from lumen.adminkit import flag_column
from reports import schedules
from reports.models import ReportRun, ReportSchedule

CRONTAB_FIELDS = {
    "minute": ("Minute", validators.minute_validator),
    "hour": ("Hour", validators.hour_validator),
    "day_of_week": ("Day of the week", validators.day_of_week_validator),
    "day_of_month": ("Day of the month", validators.day_of_month_validator),
    "month_of_year": ("Month", validators.month_of_year_validator),
}


class ScheduleForm(forms.ModelForm):
    connection = forms.ModelChoiceField(queryset=StripeConnection.objects.order_by("name"))
    minute = forms.CharField(
        initial="0",
        help_text="When, in the reporting time zone: minute 0, hour 7, day 1 of the "
        "week is every Monday at 07:00.",
    )
    hour = forms.CharField(initial="7")
    day_of_week = forms.CharField(initial="1", label="Day of the week",
                                  help_text="0 or 7 is Sunday, 1 Monday; * every day.")  # fmt: skip
    day_of_month = forms.CharField(initial="*", label="Day of the month")
    month_of_year = forms.CharField(initial="*", label="Month")

    class Meta:
        model = ReportSchedule
        fields = [
            "name", "kind", "connection", "period", *CRONTAB_FIELDS, "recipients",
            "sync_first", "enabled",
        ]  # fmt: skip

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        crontab = self.instance.crontab if self.instance.crontab_id else None
        for name in CRONTAB_FIELDS:
            if crontab is not None:
                self.initial[name] = getattr(crontab, name)

    def clean(self):
        data = super().clean()
        for name, (label, validator) in CRONTAB_FIELDS.items():
            if data.get(name):
                try:
                    validator(data[name])
                except ValidationError as e:
                    self.add_error(name, f"{label}: {' '.join(e.messages)}")
        return data

    def clean_recipients(self):
        addresses = [
            a.strip() for a in self.cleaned_data["recipients"].replace("\n", ",").split(",")
        ]
        addresses = [a for a in addresses if a]
        if not addresses:
            raise ValidationError("Give at least one email address.")
        for address in addresses:
            try:
                validate_email(address)
            except ValidationError:
                raise ValidationError(f"{address!r} is not an email address.") from None
        return ", ".join(addresses)

    def save(self, commit=True):
        schedule = super().save(commit=False)
        crontab, _ = CrontabSchedule.objects.get_or_create(
            timezone=settings.LUMEN_REPORT_TIMEZONE,
            **{name: self.cleaned_data[name] for name in CRONTAB_FIELDS},
        )
        schedule.crontab = crontab
        if commit:
            schedule.save()
        return schedule


@admin.register(ReportSchedule)
class ReportScheduleAdmin(admin.ModelAdmin):
    form = ScheduleForm
    list_display = ["name", "kind", "connection", "period_shown", "when", "recipients",
                    "state", "last_run"]  # fmt: skip
    list_filter = ["kind", "enabled", "connection"]
    list_select_related = ["connection", "crontab"]
    state = flag_column("enabled", "State", "On", "Paused")
    actions = ["run_now"]

    def get_queryset(self, request):
        last = ReportRun.objects.filter(
            requester_kind=ReportRun.Requester.SCHEDULE, requester_name=OuterRef("name")
        ).order_by("-pk")
        return (
            super()
            .get_queryset(request)
            .annotate(
                last_run_id=Subquery(last.values("pk")[:1]),
                last_run_status=Subquery(last.values("status")[:1]),
            )
        )

    def save_model(self, request, obj, form, change):
        if not change:
            obj.created_by = request.user
        super().save_model(request, obj, form, change)
        schedules.keep_in_step(obj)

    def delete_model(self, request, obj):
        schedules.forget(obj)
        super().delete_model(request, obj)

    def delete_queryset(self, request, queryset):
        for schedule in queryset:
            schedules.forget(schedule)
        super().delete_queryset(request, queryset)

    def has_run_permission(self, request):
        return request.user.has_perm("reports.run_report")

    @admin.action(description="Run the selected schedules now (and email them)",
                  permissions=["run"])  # fmt: skip
    def run_now(self, request, queryset):
        from reports.tasks import run_schedule

        for schedule in queryset:
            run_schedule.delay(schedule.pk)
        self.message_user(request, "Queued: each run appears under Report runs, and is emailed.")

    @admin.display(description="Period")
    def period_shown(self, schedule):
        return "–" if schedule.kind == "disputes" else schedule.get_period_display()

    @admin.display(description="When")
    def when(self, schedule):
        c = schedule.crontab
        return f"{c.minute} {c.hour} {c.day_of_month} {c.month_of_year} {c.day_of_week}"

    @admin.display(description="Last run")
    def last_run(self, schedule):
        if not schedule.last_run_id:
            return "–"
        url = reverse("admin:reports_reportrun_change", args=[schedule.last_run_id])
        return format_html('<a href="{}">#{} {}</a>', url, schedule.last_run_id,
                           schedule.last_run_status)  # fmt: skip
