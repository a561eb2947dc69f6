"""Writing Stripe objects into the mirror: upserts keyed by Stripe id, newest version wins.

Call inside `transaction.atomic()`, together with the checkpoint that says the objects were
read: a page and its checkpoint are committed together or not at all.

A page of one kind is one upsert statement (connectors.sync.statements), whatever the number
of objects on it, and so are the children that come inside them.
"""

import zlib
from dataclasses import dataclass, field

from django.db import connection as db

from connectors.models import MIRROR_MODELS
from connectors.resources import CHILDREN
from connectors.sync.links import LINKED, link_charges_to_invoices, with_invoices
from connectors.sync.statements import page_cursor, rows_where_in, upsert_of


@dataclass
class Counts:
    fetched: int = 0
    created: int = 0
    updated: int = 0

    def add(self, other):
        self.fetched += other.fetched
        self.created += other.created
        self.updated += other.updated

    def as_dict(self):
        return {"fetched": self.fetched, "created": self.created, "updated": self.updated}


@dataclass
class PageResult:
    counts: dict = field(default_factory=dict)  # resource -> Counts
    errors: list = field(default_factory=list)

    def counts_of(self, resource):
        return self.counts.setdefault(resource, Counts())


# Any constant works; it names the events' lock among a connection's (lock_mirror).
EVENTS_LOCK = 0


def lock_mirror(connection, resource=None):
    """Serialize the writers of one kind of one connection's mirror (pages of the sync, an
    event) for the rest of the transaction, so that what a write reads (the stored versions,
    the highest id before an upsert) is what it changes. Kinds whose writes read each other
    (LINKED: a charge and the invoice payment that links it to its invoice) share one lock,
    and a kind's children are written under their parent's. Without `resource`, the lock of
    the connection's applied events (apply_event), taken before any kind's.

    On PostgreSQL an advisory lock per connection and kind: the sync's readers of several
    kinds at once (LUMEN_SYNC_WORKERS) then write them at once, one kind's page waiting on
    the server while another's is prepared. SQLite's IMMEDIATE transactions already
    serialize every writer."""
    if db.vendor != "postgresql":
        return
    group = "linked" if resource in LINKED else resource
    key = zlib.crc32(group.encode()) & 0x7FFFFFFF if group else EVENTS_LOCK
    with db.cursor() as cursor:
        # The two-number kind of advisory lock, apart from audit.recorder's one-number one.
        cursor.execute("SELECT pg_advisory_xact_lock(%s, %s)", [connection.pk, key])


def store_objects(connection, resource, objects, observed_at, result=None, filled=None):
    """Upsert `objects` (Stripe dicts of one resource) as seen at `observed_at`, and set
    `filled` ({one of the kind's `filled_by_sync` columns: value}) on each of them.

    A malformed object is recorded in `result.errors` and skipped; the rest are stored.
    Returns the PageResult with counts per resource (children counted under their own).
    """
    result = result or PageResult()
    lock_mirror(connection, resource)
    _store(connection, resource, objects, observed_at, result, filled)
    return result


def _store(connection, resource, objects, observed_at, result, filled=None):
    model = MIRROR_MODELS[resource]
    rows = {}
    for obj in objects:
        try:
            rows[obj["id"]] = (model.values_from(obj), obj)
        except (KeyError, TypeError, ValueError, AttributeError) as e:
            object_id = obj.get("id", "?") if isinstance(obj, dict) else "?"
            result.errors.append(f"{resource} {object_id}: not in the shape Stripe sends ({e!r})")
    counts = result.counts_of(resource)
    counts.fetched += len(objects)
    if not rows:
        return
    if resource == "charges":
        with_invoices(connection, rows)
    applied = _upsert(connection, model, rows, observed_at, counts, filled)
    if applied and resource == "invoice_payments":
        link_charges_to_invoices(connection, applied)

    if applied:
        parents = {stripe_id: rows[stripe_id][1] for stripe_id in applied}
        for kind in CHILDREN.get(resource, ()):
            _store_children(connection, kind, parents, observed_at, result)


def _store_children(connection, kind, parents, observed_at, result):
    """Store the children of `parents` ({Stripe id: object}) that `kind` (a Child in the
    table of resources) describes, and delete those the new versions no longer list (an
    item removed by a downgrade, a line dropped from a draft): they are gone from Stripe."""
    children = []
    for parent_id, obj in parents.items():
        for child in (obj.get(kind.field) or {}).get("data") or []:
            children.append({**child, kind.parent: child.get(kind.parent) or parent_id})
    _store(connection, kind.name, children, observed_at, result)
    # Looked up by parent alone and the connection checked here: given the connection too,
    # SQLite without statistics walks the (connection, created) index, the whole table, for
    # every page.
    kept = {c["id"] for c in children if isinstance(c, dict) and "id" in c}
    model = MIRROR_MODELS[kind.name]
    stored = rows_where_in(
        model._meta.db_table, ("id", "connection_id", "stripe_id"), kind.parent, parents
    )
    gone = [
        pk for pk, owner, stripe_id in stored if owner == connection.pk and stripe_id not in kept
    ]
    if gone:
        model.objects.filter(pk__in=gone).delete()


def _upsert(connection, model, rows, observed_at, counts, filled=None):
    """Create new rows, update changed ones whose stored version is not newer than this one,
    and note that unchanged ones still held at `observed_at`. Returns the ids whose stored
    version is now this one (created or updated)."""
    upsert = upsert_of(model)
    if filled:
        if not set(filled) <= set(model.filled_by_sync):
            raise ValueError(f"{model.__name__} has no column filled by the sync in {filled}")
        filled = {model._meta.get_field(name).column: value for name, value in filled.items()}
    with page_cursor() as cursor:
        applied, created = upsert.write(cursor, connection.pk, observed_at, rows.values())
        # Not an update of the object, but the stored version is known to hold at this
        # later time; and what the sync fills, set on every row at once.
        unchanged = [stripe_id for stripe_id in rows if stripe_id not in applied]
        if filled:
            upsert.note_held(cursor, connection.pk, observed_at, rows, filled)
        elif unchanged:
            upsert.note_held(cursor, connection.pk, observed_at, unchanged)
    counts.created += created
    counts.updated += len(applied) - created
    return list(applied)
