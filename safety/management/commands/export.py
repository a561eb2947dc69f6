from import_export.management.commands import export

from safety.exports import safe_resource


class Command(export.Command):
    """django-import-export's `export`, refusing anything that reaches an encrypted field."""

    def handle(self, *args, **options):
        safe_resource(options["resource"])
        return super().handle(*args, **options)
