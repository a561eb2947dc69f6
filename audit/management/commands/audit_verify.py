"""Check the audit log's hash chain: is every event as it was written, and still there?"""

import json
import sys

from django.core.management.base import BaseCommand

from audit.models import AuditEvent
from audit.recorder import first_broken_link


class Command(BaseCommand):
    help = (
        "Walk the audit log's hash chain from the first event. Exits with status 1 and names "
        "the first event whose content, or whose predecessor, changed after it was written."
    )

    def add_arguments(self, parser):
        parser.add_argument(
            "--json", dest="as_json", action="store_true", help="print the result as JSON"
        )

    def handle(self, *args, as_json=False, **options):
        events = AuditEvent.objects.count()
        broken = first_broken_link()
        if as_json:
            first_broken = broken[0] if broken else None
            document = {"intact": broken is None, "events": events, "first_broken": first_broken}
            self.stdout.write(json.dumps(document))
        elif broken is None:
            self.stdout.write(f"audit chain intact: {events} events")
        else:
            event_id, reason = broken
            self.stdout.write(f"audit chain BROKEN at event #{event_id}: {reason}")
        if broken is not None:
            sys.exit(1)
