from audit.management.commands.export import Command as RecordedExport
from safety.exports import safe_resource


class Command(RecordedExport):
    """django-import-export's `export`, refusing anything that reaches an encrypted field,
    and recording every export of the audit log (audit's command, which this one extends:
    Django runs only the first app's command of a name, and `safety` comes first)."""

    def handle(self, *args, **options):
        safe_resource(options["resource"])
        return super().handle(*args, **options)
