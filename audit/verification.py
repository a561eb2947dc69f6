"""Is every event of the log as it was written, and is every event ever anchored still there?

One walk of the chain in insertion order: each event's link is recomputed with
AUDIT_CHAIN_KEY from what the database holds, and each anchor is compared with the event it
names when the walk reaches it. An anchor whose event the walk never reached names events
that were removed (the newest rows, or all of them).
"""

from dataclasses import dataclass

from audit.anchors import AnchorFileError, anchor_path, read_anchors
from audit.models import GENESIS_HASH, AuditEvent


@dataclass
class Verification:
    events: int
    anchor_file: str
    anchors_checked: int = 0
    # No anchor file: the chain is checked, the removal of its newest events cannot be.
    anchor_file_missing: bool = False
    first_broken: int | None = None  # the first event whose link or anchor does not fit
    reason: str = ""  # why the log is not intact; empty when it is

    @property
    def intact(self):
        return not self.reason

    def as_document(self):
        return {
            "intact": self.intact,
            "events": self.events,
            "first_broken": self.first_broken,
            "reason": self.reason or None,
            "anchors_checked": self.anchors_checked,
            "anchor_file": self.anchor_file,
            "anchor_file_missing": self.anchor_file_missing,
        }


def verify():
    path = anchor_path()
    result = Verification(events=AuditEvent.objects.count(), anchor_file=str(path))
    try:
        anchors = read_anchors(path)
    except AnchorFileError as e:
        result.reason = str(e)
        return result
    if anchors is None:
        anchors, result.anchor_file_missing = [], True
    result.anchors_checked = len(anchors)

    waiting = {}  # anchors by the id of their event, until the walk reaches it
    for anchor in anchors:
        waiting.setdefault(anchor.id, []).append(anchor)
    previous = GENESIS_HASH
    events = AuditEvent.objects.order_by("id").iterator(chunk_size=5000)
    for position, event in enumerate(events, start=1):
        if event.compute_hash(previous) != event.chain_hash:
            result.first_broken = event.id
            result.reason = "its content or its predecessor changed after it was written"
            return result
        for anchor in waiting.pop(event.id, ()):
            if (anchor.hash, anchor.events) != (event.chain_hash, position):
                result.first_broken = event.id
                result.reason = (
                    f"it differs from the anchor on line {anchor.line} of {path}, written "
                    f"{anchor.at}: {anchor.events} events up to it, ending in hash "
                    f"{anchor.hash[:12]}…; now {position}, ending in {event.chain_hash[:12]}…"
                )
                return result
        previous = event.chain_hash
    if waiting:
        anchor = min((a for group in waiting.values() for a in group), key=lambda a: a.line)
        result.reason = (
            f"event #{anchor.id} is missing: the anchor on line {anchor.line} of {path}, "
            f"written {anchor.at}, counted {anchor.events} events up to it; the newest events "
            f"were removed"
        )
    return result
