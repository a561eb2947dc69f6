from django.contrib import admin
from django.urls import include, path
from django.views.generic import RedirectView

admin.site.site_header = "Lumen"
admin.site.site_title = "Lumen"
admin.site.index_title = "Stripe money records, reports and audit log"

urlpatterns = [
    path("", RedirectView.as_view(url="/admin/", permanent=False)),
    path("admin/", admin.site.urls),
    path("webhooks/", include("connectors.urls")),
]
