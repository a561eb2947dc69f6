"""Pages that only a superuser may open, whatever permissions a role holds.

The periodic tasks of django-celery-beat say which task runs with which arguments: whoever
edits one chooses what the workers do. Task results hold what tasks returned. Neither is for
staff roles (report and sync schedules are edited on their own pages, which keep their
periodic tasks in step). This module is loaded after those apps' admin modules (INSTALLED_APPS
order), so their registrations are there to replace.
"""

from django.contrib import admin

# Failed logins (axes) and second-factor devices (otp_totp): an administrator unlocks a user
# or resets a lost device; staff set up their own device on the two-factor page.
SUPERUSER_ONLY_APPS = ("django_celery_beat", "django_celery_results", "axes", "otp_totp")


def superuser_only(model_admin_class):
    def only_superusers(self, request, *args, **kwargs):
        return request.user.is_active and request.user.is_superuser

    methods = ("has_module_permission", "has_view_permission", "has_add_permission",
               "has_change_permission", "has_delete_permission")  # fmt: skip
    return type(
        f"SuperuserOnly{model_admin_class.__name__}",
        (model_admin_class,),
        dict.fromkeys(methods, only_superusers),
    )


for model, model_admin in list(admin.site._registry.items()):
    if model._meta.app_label in SUPERUSER_ONLY_APPS:
        admin.site.unregister(model)
        admin.site.register(model, superuser_only(type(model_admin)))
