from importlib import import_module

from safety.exports import safe_resource

# "import" is a keyword, so the module is reached by name.
library_command = import_module("import_export.management.commands.import")


class Command(library_command.Command):
    """django-import-export's `import`, refusing anything that reaches an encrypted field."""

    def handle(self, *args, **options):
        safe_resource(options["resource"])
        return super().handle(*args, **options)
