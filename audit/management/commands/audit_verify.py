"""Check the audit log's hash chain: is every event as it was written, and still there?"""

import json
import sys

from django.core.management.base import BaseCommand, CommandError

from audit.anchors import AnchorFileError, anchor_path, write_anchor
from audit.verification import verify


class Command(BaseCommand):
    help = (
        "Walk the audit log's hash chain from the first event and check it against every "
        "anchor in LUMEN_AUDIT_ANCHOR_PATH. Exits with status 1 and names the first event "
        "whose content, or whose predecessor, changed after it was written, or the anchored "
        "event that is missing."
    )

    def add_arguments(self, parser):
        parser.add_argument(
            "--anchor",
            action="store_true",
            help="when the chain is intact, append an anchor of its head to the anchor file",
        )
        parser.add_argument(
            "--json", dest="as_json", action="store_true", help="print the result as JSON"
        )

    def handle(self, *args, anchor=False, as_json=False, **options):
        if anchor and not anchor_path().parent.is_dir():
            raise CommandError(
                f"The folder of {anchor_path()} does not exist: nothing was checked or anchored."
            )
        result = verify()
        anchored = None
        if anchor and result.intact:
            try:
                anchored = write_anchor()
            except AnchorFileError as e:
                raise CommandError(str(e)) from None

        if as_json:
            document = result.as_document()
            if anchor:
                document["anchored"] = anchored and anchored.as_document()
            self.stdout.write(json.dumps(document))
        else:
            self.stdout.write(self.summary(result))
            if anchored:
                self.stdout.write(
                    f"anchored event #{anchored.id} ({anchored.events} events) in "
                    f"{result.anchor_file}"
                )
            elif anchor and result.intact:
                self.stdout.write("nothing to anchor: the log is empty")
        if not result.intact:
            sys.exit(1)

    def summary(self, result):
        if not result.intact:
            where = f" at event #{result.first_broken}" if result.first_broken else ""
            return f"audit chain BROKEN{where}: {result.reason}"
        text = f"audit chain intact: {result.events} events"
        if result.anchors_checked:
            anchors = result.anchors_checked
            return f"{text}, checked against {anchors} anchor{'' if anchors == 1 else 's'}"
        if result.events:
            # Not a failure: a new install has no anchor until the first is written.
            return (
                f"{text}; no anchors in {result.anchor_file}, so the removal of the newest "
                f"events cannot be found (audit_verify --anchor writes one)"
            )
        return text
