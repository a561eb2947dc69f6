from django.apps import AppConfig, apps
from django.db.models.signals import post_migrate


class RolesConfig(AppConfig):
    name = "roles"
    verbose_name = "Roles"

    def ready(self):
        # The groups are Lumen's code, not data: after every migrate (and every flush, which
        # empties the tables) they are brought back in line with roles/definitions.py, as
        # Django does with permissions. An administrator who wants a variant makes a group of
        # their own. Django signals post_migrate only for apps with models, which this one
        # has not: it listens for the auth app's, which owns groups.
        post_migrate.connect(
            restore_roles, sender=apps.get_app_config("auth"), dispatch_uid="lumen-roles"
        )


def restore_roles(sender, using="default", apps=apps, **kwargs):
    # `apps` is the migrated state after `migrate`; `flush` sends none (the models are current).
    from roles.definitions import apply

    apply(apps, using=using)
