"""Which data import-export may move: never an encrypted field.

django-import-export's `export` and `import` commands accept any model ("connectors.
StripeConnection") and build a resource of all its fields on the spot, and a field's value
is read from the model instance, where an encrypted field holds its plaintext. So a resource
is refused, whoever wrote it, when any of its fields reaches an encrypted column, directly or
through a relation ("connection__secret_key").
"""

from django.core.management.base import CommandError
from encrypted_model_fields.fields import EncryptedMixin
from import_export.command_utils import get_resource_class


def encrypted_field_reached(model, attribute):
    """The encrypted field that `attribute` (a resource field's attribute, such as
    "connection__secret_key") reads, or None."""
    for name in attribute.split("__"):
        try:
            field = model._meta.get_field(name)
        except Exception:  # a property or a method: import-export reads it, not a column
            return None
        if isinstance(field, EncryptedMixin):
            return field
        if not field.is_relation:
            return None
        model = field.related_model
    return None


def safe_resource(model_or_resource_class):
    """The resource the import-export commands would use for their argument, or a
    CommandError (exit status 2) if it would read or write an encrypted field."""
    resource = get_resource_class(model_or_resource_class)()
    model = resource._meta.model
    for field in resource.get_fields():
        secret = field.attribute and encrypted_field_reached(model, field.attribute)
        if secret:
            raise CommandError(
                f"{model_or_resource_class} reaches {secret.model._meta.label}.{secret.name}, "
                "an encrypted secret: Lumen neither exports nor imports it. Connections and "
                "their keys are managed in the admin or with `manage.py connect`.",
                returncode=2,
            )
    return resource
