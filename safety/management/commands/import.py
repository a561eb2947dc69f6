from importlib import import_module

from django.core.management.base import CommandError
from import_export.command_utils import get_resource_class

from audit.models import AuditEvent
from safety.exports import safe_resource

# "import" is a keyword, so the module is reached by name.
library_command = import_module("import_export.management.commands.import")


class Command(library_command.Command):
    """django-import-export's `import`, refusing anything that reaches an encrypted field,
    and refusing the audit log, which only audit.recorder writes (rows imported around it
    would carry no valid link of the chain)."""

    def handle(self, *args, **options):
        if get_resource_class(options["resource"])._meta.model is AuditEvent:
            raise CommandError(
                "The audit log is append-only and written by Lumen alone: nothing is imported "
                "into it. Nothing was changed.",
                returncode=2,
            )
        safe_resource(options["resource"])
        return super().handle(*args, **options)
