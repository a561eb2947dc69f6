"""The admin site: Django's, with Lumen's front page (where the money stands, per connection,
from the latest report runs) above the list of apps."""

from django.contrib import admin
from django.contrib.admin.apps import AdminConfig


class LumenAdminSite(admin.AdminSite):
    site_header = "Lumen"
    site_title = "Lumen"
    index_title = "Stripe money records, reports and audit log"
    index_template = "admin/lumen_index.html"

    def index(self, request, extra_context=None):
        from reports.dashboard import overview

        context = {**(extra_context or {}), "overview": overview(request)}
        return super().index(request, context)


class LumenAdminConfig(AdminConfig):
    default_site = "lumen.admin.LumenAdminSite"
