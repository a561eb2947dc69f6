"""Writing Stripe objects into the mirror: upserts keyed by Stripe id, newest version wins.

Call inside `transaction.atomic()`, together with the checkpoint that says the objects were
read: a page and its checkpoint are committed together or not at all.
"""

from dataclasses import dataclass, field

from django.db import connection as db

from connectors.models import MIRROR_MODELS, StripeConnection
from connectors.sync.links import link_charges_to_invoices

# Objects that arrive inside another: subscription items in their subscription, invoice
# lines in their invoice. (parent resource, child resource, list field, parent field)
CHILDREN = {
    "subscriptions": ("subscription_items", "items", "subscription"),
    "invoices": ("invoice_lines", "lines", "invoice"),
}


# Kinds whose arrival can complete a charge's way to its invoice (connectors.sync.links).
LINKED = {"charges", "invoice_payments"}


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


def lock_mirror(connection):
    """Serialize writers of one connection's mirror (a page of the sync, a webhook) for the
    rest of the transaction, so that "is the stored version newer?" and the write that
    follows see the same row. SQLite's IMMEDIATE transactions already serialize writers."""
    if db.vendor == "postgresql":
        list(StripeConnection.objects.select_for_update().filter(pk=connection.pk).values("pk"))


def store_objects(connection, resource, objects, observed_at, result=None):
    """Upsert `objects` (Stripe dicts of one resource) as seen at `observed_at`.

    A malformed object is recorded in `result.errors` and skipped; the rest are stored.
    Returns the PageResult with counts per resource (children counted under their own).
    """
    result = result or PageResult()
    lock_mirror(connection)
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
    applied = _upsert(connection, model, rows, observed_at, counts)
    if applied and resource in LINKED:
        link_charges_to_invoices(connection, resource, applied)

    if resource in CHILDREN and applied:
        child_resource, list_field, parent_field = CHILDREN[resource]
        children = []
        for parent_id in applied:
            obj = rows[parent_id][1]
            for child in (obj.get(list_field) or {}).get("data") or []:
                children.append({**child, parent_field: child.get(parent_field) or parent_id})
        child_model = MIRROR_MODELS[child_resource]
        store_objects(connection, child_resource, children, observed_at, result)
        # A child the new version no longer lists (an item removed by a downgrade, a line
        # dropped from a draft) is gone from Stripe too.
        kept = {c["id"] for c in children if isinstance(c, dict) and "id" in c}
        gone = [
            pk
            for pk, owner, stripe_id in child_model.objects.filter(
                **{f"{parent_field}__in": list(applied)}
            )
            .order_by()
            .values_list("pk", "connection_id", "stripe_id")
            if owner == connection.pk and stripe_id not in kept
        ]
        if gone:
            child_model.objects.filter(pk__in=gone).delete()
    return result


def _upsert(connection, model, rows, observed_at, counts):
    """Create new rows, update changed ones that are not newer than this version. Returns
    the ids whose stored version is now this one (created or updated)."""
    # Looked up by Stripe id alone, and the connection checked here: given both, SQLite
    # without statistics walks the (connection, created) index, a scan of the whole table
    # per page that made a large backfill quadratic.
    existing = {
        stripe_id: (pk, seen, raw)
        for stripe_id, pk, seen, raw, owner in model.objects.filter(stripe_id__in=list(rows))
        .order_by()
        .values_list("stripe_id", "pk", "observed_at", "raw", "connection_id")
        if owner == connection.pk
    }
    to_create, to_update, unchanged = [], [], []
    for stripe_id, (values, obj) in rows.items():
        if stripe_id not in existing:
            to_create.append(
                model(connection=connection, raw=obj, observed_at=observed_at, **values)
            )
            continue
        pk, seen, raw = existing[stripe_id]
        if seen > observed_at:
            continue  # what is stored was seen later than this version
        if raw == obj:
            unchanged.append(pk)
            continue
        to_update.append(
            model(pk=pk, connection=connection, raw=obj, observed_at=observed_at, **values)
        )

    model.objects.bulk_create(to_create, batch_size=500)
    if to_update:
        fields = ["raw", "observed_at", *rows[to_update[0].stripe_id][0].keys()]
        model.objects.bulk_update(to_update, fields=fields, batch_size=500)
    if unchanged:
        # Not an update of the object, but the stored version is known to hold at this
        # later time: an event older than this must not overwrite it.
        model.objects.filter(pk__in=unchanged, observed_at__lt=observed_at).update(
            observed_at=observed_at
        )
    counts.created += len(to_create)
    counts.updated += len(to_update)
    return [o.stripe_id for o in to_create] + [o.stripe_id for o in to_update]
