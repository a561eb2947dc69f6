"""Anchors: the head of the chain, written from time to time outside the database.

A chain that lost its newest rows is still a whole chain, and so is an empty table: the links
alone cannot tell. An anchor records how long the chain was and how it ended (the id, hash
and position of its newest event), in a place the database's superuser does not hold: one
JSON line per anchor, appended to LUMEN_AUDIT_ANCHOR_PATH. `manage.py audit_verify` checks
the chain against every anchor in the file.

The file is only ever opened to append: the line is one write() (atomic for an append on a
local file system) and is fsync'ed before the anchor counts as written.
"""

import json
import os
from dataclasses import asdict, dataclass
from pathlib import Path

from django.conf import settings
from django.utils import timezone

from audit.models import AuditEvent
from audit.recorder import chain_lock


class AnchorFileError(Exception):
    """The anchor file cannot be written, or holds a line that is not an anchor."""


@dataclass(frozen=True)
class Anchor:
    id: int  # of the newest event when it was written
    hash: str  # that event's chain hash
    events: int  # how many events the log held, that one included
    at: str  # when, ISO 8601 UTC
    line: int = 0  # its line in the file, once read back (not written)

    def as_document(self):
        document = asdict(self)
        del document["line"]
        return document


def anchor_path():
    return Path(settings.LUMEN_AUDIT_ANCHOR_PATH)


def write_anchor():
    """Append an anchor of the chain's head to the anchor file and return it.

    Returns None, writing nothing, when the log is empty: there is no head to anchor.
    """
    path = anchor_path()
    if not path.parent.is_dir():
        raise AnchorFileError(f"The folder of {path} does not exist: no anchor was written.")
    # Head and count read under the chain's lock, so no event is appended between the two.
    with chain_lock():
        head = AuditEvent.objects.order_by("-id").values_list("id", "chain_hash").first()
        if head is None:
            return None
        events = AuditEvent.objects.count()
    anchor = Anchor(id=head[0], hash=head[1], events=events, at=timezone.now().isoformat())
    line = json.dumps(anchor.as_document(), sort_keys=True) + "\n"
    created = not path.exists()
    try:
        fd = os.open(path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o600)
        try:
            os.write(fd, line.encode())
            os.fsync(fd)
        finally:
            os.close(fd)
        if created:
            # The new file's name must survive a crash as well as its content.
            directory = os.open(path.parent, os.O_RDONLY)
            try:
                os.fsync(directory)
            finally:
                os.close(directory)
    except OSError as e:
        raise AnchorFileError(f"Cannot append to {path}: {e.strerror}.") from None
    return anchor


def read_anchors(path):
    """Every anchor of the file at `path`, in the order written; None if there is no file."""
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        return None
    except (OSError, UnicodeDecodeError) as e:
        raise AnchorFileError(f"Cannot read the anchor file {path}: {e}.") from None
    anchors = []
    for number, line in enumerate(text.splitlines(), start=1):
        try:
            fields = json.loads(line)
            anchor = Anchor(
                id=fields["id"],
                hash=fields["hash"],
                events=fields["events"],
                at=fields["at"],
                line=number,
            )
            valid = (
                isinstance(anchor.id, int)
                and isinstance(anchor.events, int)
                and isinstance(anchor.hash, str)
            )
        except (ValueError, TypeError, KeyError):
            valid = False
        if not valid:
            raise AnchorFileError(
                f"Line {number} of the anchor file {path} is not an anchor: the file was "
                f"changed by something other than Lumen."
            )
        anchors.append(anchor)
    return anchors
