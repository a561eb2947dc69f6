"""The admin site: Django's, with Lumen's front page (where the money stands, per connection,
from the latest report runs) above the list of apps, and a second factor at login
(lumen.twofactor)."""

from django.contrib import admin
from django.contrib.admin.apps import AdminConfig
from django.shortcuts import redirect
from django.urls import path, reverse
from django.utils.http import urlencode
from django.views.decorators.cache import never_cache


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
        return [path("two-factor/", two_factor, name="two_factor"), *super().get_urls()]


class LumenAdminConfig(AdminConfig):
    default_site = "lumen.admin.LumenAdminSite"
