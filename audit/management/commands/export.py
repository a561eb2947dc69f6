"""django-import-export's `export` command, except that an export of the audit log is recorded.

Unchanged, `manage.py export CSV audit.AuditEvent` copies the whole log out unseen: it builds
a plain resource of the model, writes no audit row and leaves formulas live. Here an export
of the log, named by its model or by any resource of it, goes through
audit.export.AuditEventResource (oldest first, the same cells as the admin's CSV) and is
recorded as "audit.exported" before the first byte leaves. Any other export is
django-import-export's own. This is also where the log is taken away as XLSX: the admin
offers CSV only (see audit/admin.py).

Django runs only the first app's command of a name: `safety` comes first in INSTALLED_APPS,
and its `export` extends this one (it also refuses encrypted fields).
"""

from django.core.management.base import CommandError
from import_export.command_utils import get_format_class, get_resource_class
from import_export.management.commands.export import Command as ImportExportCommand

from audit.export import AuditEventResource
from audit.models import AuditEvent
from audit.recorder import Actor, record


class Command(ImportExportCommand):
    help = ImportExportCommand.help + " An export of the audit log is recorded on the log."

    def handle(self, *args, **options):
        resource_class = get_resource_class(options["resource"])
        if getattr(resource_class._meta, "model", None) is not AuditEvent:
            return super().handle(*args, **options)
        format_class = get_format_class(options["format"], None, options.get("encoding"))
        if format_class.is_binary() and self.stdout.isatty():
            raise CommandError(
                "This is a binary format and your terminal does not support binary data. "
                "Redirect the output to a file. Nothing was exported."
            )
        data = AuditEventResource().export(AuditEvent.objects.order_by("id"))
        record(
            actor=Actor.command("export"),
            operation="audit.exported",
            origin="command:export",
            params={
                "format": format_class.get_title(),
                "resource": options["resource"],
                "rows": len(data),
            },
        )
        exported = format_class.export_data(data)
        if not format_class.is_binary():
            exported = exported.encode(options.get("encoding") or "utf-8")
        self.stdout.buffer.write(exported)
