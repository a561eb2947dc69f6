"""The admin site: Django's, with Lumen's front page (where the money stands, per connection,
from the latest report runs) above the list of apps, and a second factor at login
(lumen.twofactor)."""

from django.contrib import admin
from django.contrib.admin.apps import AdminConfig
from django.http import Http404
from django.shortcuts import redirect
from django.template.response import TemplateResponse
from django.urls import path, reverse
from django.utils.http import urlencode
from django.views.decorators.cache import never_cache

# The navigation, by the task staff come to do rather than by the app that holds a model:
# (title, slug, superusers only, [(app label, model name, label or None), ...]) in the order
# shown. Every registered model is in exactly one section (tests/test_navigation.py).
SECTIONS = [
    ("Reports", "reports", False, [
        ("reports", "reportrun", None),
        ("reports", "reportschedule", None),
    ]),
    ("Money", "money", False, [
        ("connectors", "customer", None),
        ("connectors", "subscription", None),
        ("connectors", "invoice", None),
        ("connectors", "invoicepayment", None),
        ("connectors", "charge", None),
        ("connectors", "paymentintent", None),
        ("connectors", "refund", None),
        ("connectors", "dispute", None),
        ("connectors", "payout", None),
        ("connectors", "balancetransaction", None),
    ]),
    ("Catalog", "catalog", False, [
        ("connectors", "product", None),
        ("connectors", "price", None),
        ("connectors", "coupon", None),
        ("connectors", "promotioncode", None),
    ]),
    ("Setup", "setup", False, [
        ("connectors", "stripeconnection", "Connections"),
        ("connectors", "syncrun", None),
        ("connectors", "webhookendpoint", None),
        ("connectors", "webhookdelivery", None),
        ("auth", "user", None),
        ("auth", "group", "Roles and groups"),
        ("assistant", "accesstoken", "Assistant tokens"),
    ]),
    ("Audit", "audit", False, [
        ("audit", "auditevent", None),
    ]),
    # The plumbing: what runs when, what the workers returned, who failed to log in, the
    # second factors. Superusers only (roles/admin.py refuses everyone else anyway).
    ("System", "system", True, [
        ("django_celery_beat", "periodictask", "Scheduled tasks"),
        ("django_celery_beat", "crontabschedule", None),
        ("django_celery_beat", "intervalschedule", None),
        ("django_celery_beat", "clockedschedule", "Clocked schedules"),
        ("django_celery_beat", "solarschedule", None),
        ("django_celery_results", "taskresult", None),
        ("django_celery_results", "groupresult", None),
        ("axes", "accessattempt", "Login attempts"),
        ("axes", "accessfailurelog", "Login failures"),
        ("axes", "accesslog", "Login log"),
        ("otp_totp", "totpdevice", "Two-factor devices"),
    ]),
]  # fmt: skip


class LumenAdminSite(admin.AdminSite):
    site_header = "Lumen"
    site_title = "Lumen"
    index_title = "Stripe money records, reports and audit log"
    index_template = "admin/lumen_index.html"

    def index(self, request, extra_context=None):
        from reports.dashboard import overview

        context = {**(extra_context or {}), "overview": overview(request)}
        return super().index(request, context)

    # The second factor. A session that owes it is not staff yet: every admin page sends it
    # to the login, and the login sends it on to the code (or to setting up the app).
    def has_permission(self, request):
        from lumen import twofactor  # (this module is imported before the models are ready)

        return super().has_permission(request) and not twofactor.second_factor_missing(request)

    def login(self, request, extra_context=None):
        from lumen import twofactor

        # A GET only: a POST is someone logging in (again), perhaps as another user.
        user = request.user
        if (
            request.method == "GET"
            and user.is_active
            and user.is_staff
            and twofactor.second_factor_missing(request)
        ):
            query = urlencode({"next": request.GET.get("next", "")})
            return redirect(f"{reverse('admin:two_factor', current_app=self.name)}?{query}")
        return super().login(request, extra_context)

    def get_urls(self):
        from lumen import twofactor

        two_factor = never_cache(lambda request: twofactor.two_factor_view(self, request))
        return [
            path("two-factor/", two_factor, name="two_factor"),
            path("section/<slug:slug>/", self.admin_view(self.section), name="section"),
            *super().get_urls(),
        ]

    # The navigation by task (SECTIONS). An app's own page (/admin/connectors/) still lists
    # that app's models, as Django's does.
    def get_app_list(self, request, app_label=None):
        if app_label is not None:
            return super().get_app_list(request, app_label)
        return self.sections(request)

    def sections(self, request, only=None):
        by_model = {
            (app["app_label"], model["object_name"].lower()): model
            for app in self._build_app_dict(request).values()
            for model in app["models"]
        }
        shown = []
        for title, slug, superusers_only, members in SECTIONS:
            if (only and slug != only) or (superusers_only and not request.user.is_superuser):
                continue
            models = []
            for app_label, model_name, label in members:
                model = by_model.get((app_label, model_name))
                if model is not None:
                    models.append({**model, "name": label or model["name"]})
            if models:
                url = reverse("admin:section", kwargs={"slug": slug}, current_app=self.name)
                shown.append({"name": title, "app_label": slug, "app_url": url,
                              "has_module_perms": True, "models": models})  # fmt: skip
        return shown

    def section(self, request, slug):
        found = self.sections(request, only=slug)
        if not found:
            raise Http404("There is no such section, or nothing in it for you.")
        context = {**self.each_context(request), "title": found[0]["name"], "subtitle": None,
                   "app_list": found, "app_label": slug}  # fmt: skip
        request.current_app = self.name
        return TemplateResponse(request, "admin/app_index.html", context)


class LumenAdminConfig(AdminConfig):
    default_site = "lumen.admin.LumenAdminSite"
