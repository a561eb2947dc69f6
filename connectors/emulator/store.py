"""The emulated account's objects, and Stripe's list semantics over them.

Each resource keeps its keys sorted by (created, id) as objects arrive, plus an index per
heavily used equality filter, so a page is a bisect and a short walk: no request copies or
sorts a collection. Lists run newest first, ties broken by id (descending).

Objects are stored as given and handed out without copying; change one by add()-ing a new
version (an upsert), never by editing a dict the store already holds.

`now` is the account's clock: the seed sets it, changes move it on. Events older than 30
days by that clock are neither listed nor retrieved, as with Stripe; a store without a clock
(objects loaded from a fixture file) shows every event it holds.
"""

import json
import threading
from bisect import bisect_left, bisect_right, insort
from pathlib import Path

from connectors.resources import RESOURCES

from .errors import StripeError, resource_missing
from .events import EVENT_RETENTION
from .filters import FILTERS, PAGING, allowed_parameters, implicit_filters, indexed_fields
from .params import check, page_limit

RESOURCE_OF_OBJECT = {r.object: r.name for r in RESOURCES if r.is_list}
# The resource an id's prefix names, so that finding any object by id (for expand) needs no
# table of every id; ids without such a prefix (coupons, fixtures' ids) are listed instead.
RESOURCE_OF_PREFIX = {
    "cus": "customers",
    "ch": "charges",
    "py": "charges",
    "re": "refunds",
    "pi": "payment_intents",
    "in": "invoices",
    "inpay": "invoice_payments",
    "sub": "subscriptions",
    "prod": "products",
    "price": "prices",
    "promo": "promotion_codes",
    "dp": "disputes",
    "du": "disputes",
    "txn": "balance_transactions",
    "po": "payouts",
    "evt": "events",
}


def _named_by_prefix(object_id, resource):
    return RESOURCE_OF_PREFIX.get(object_id.partition("_")[0]) == resource


SINGLETONS = ("account", "balance")


def _key(obj):
    return (obj.get("created") or 0, obj["id"])


class Collection:
    def __init__(self, index_fields: dict):
        self.by_id = {}
        self.order = []
        self.indexes = {name: (extract, {}) for name, extract in index_fields.items()}

    def __len__(self):
        return len(self.by_id)

    def put(self, obj):
        old = self.by_id.get(obj["id"])
        if old is not None:
            self._unlink(old)
        self.by_id[obj["id"]] = obj
        key = _key(obj)
        insort(self.order, key)
        for extract, table in self.indexes.values():
            value = extract(obj)
            if value is not None:
                insort(table.setdefault(value, []), key)

    def put_many(self, objects):
        """Many objects at once: appended, then sorted once, which loads a generated
        account in O(n log n) where one insort per object would move the list n times."""
        touched = set()
        for obj in objects:
            if obj["id"] in self.by_id:
                self.put(obj)
                continue
            self.by_id[obj["id"]] = obj
            key = _key(obj)
            self.order.append(key)
            for name, (extract, table) in self.indexes.items():
                value = extract(obj)
                if value is not None:
                    table.setdefault(value, []).append(key)
                    touched.add((name, value))
        self.order.sort()
        for name, value in touched:
            self.indexes[name][1][value].sort()

    def relink(self, object_id, change):
        """Apply `change` (which alters what an index extracts) with the object unindexed."""
        obj = self.by_id.get(object_id)
        if obj is not None:
            self._unlink(obj)
        change()
        if obj is not None:
            self.put(obj)

    def _unlink(self, obj):
        key = _key(obj)
        _remove(self.order, key)
        for extract, table in self.indexes.values():
            value = extract(obj)
            if value in table:
                _remove(table[value], key)

    def newest_first(self):
        return [self.by_id[object_id] for _, object_id in reversed(self.order)]


def _remove(keys, key):
    at = bisect_left(keys, key)
    if at < len(keys) and keys[at] == key:
        del keys[at]


class EmulatorStore:
    def __init__(self):
        self._lock = threading.RLock()
        self.account = None
        self.balance = None
        self.collections = {}
        self.lines = {}  # invoice id -> its line items, in invoice order
        self._resource_of_id = {}
        self._payout_of = {}  # balance transaction id -> automatic payout id
        self.now = None  # the account's clock (Unix time), when it has one

    # Filling the store

    def add(self, obj: dict) -> dict:
        kind = obj.get("object")
        if not kind:
            raise ValueError("A Stripe object needs an 'object' field")
        with self._lock:
            if kind in SINGLETONS:
                setattr(self, kind, obj)
            elif kind == "line_item":
                self._put_line(obj)
            else:
                if not obj.get("id"):
                    raise ValueError(f"A {kind} needs an 'id'")
                resource = RESOURCE_OF_OBJECT.get(kind, kind)
                self._collection(resource).put(obj)
                if not _named_by_prefix(obj["id"], resource):
                    self._resource_of_id[obj["id"]] = resource
                if kind == "invoice":
                    self._lines_of_invoice(obj)
        return obj

    def add_all(self, objects):
        """Add many objects; much faster than add() one by one for large batches."""
        batches = {}
        for obj in objects:
            kind = obj.get("object")
            if kind in SINGLETONS or kind == "line_item" or not obj.get("id"):
                self.add(obj)  # these need more than a sorted insert
            else:
                batches.setdefault(RESOURCE_OF_OBJECT.get(kind, kind), []).append(obj)
        with self._lock:
            for resource, batch in batches.items():
                self._collection(resource).put_many(batch)
                self._resource_of_id.update(
                    (obj["id"], resource)
                    for obj in batch
                    if not _named_by_prefix(obj["id"], resource)
                )
                if resource == "invoices":
                    for invoice in batch:
                        self._lines_of_invoice(invoice)

    def link_payout(self, payout_id: str, transaction_ids):
        """Record which balance transactions an automatic payout paid out; Stripe keeps this
        link internally and answers it through GET /v1/balance_transactions?payout=."""
        with self._lock:
            transactions = self._collection("balance_transactions")
            for transaction_id in transaction_ids:
                transactions.relink(
                    transaction_id,
                    lambda t=transaction_id: self._payout_of.__setitem__(t, payout_id),
                )

    def _collection(self, resource) -> Collection:
        collection = self.collections.get(resource)
        if collection is None:
            indexes = indexed_fields(resource)
            if resource == "balance_transactions":
                indexes["payout"] = lambda obj: self._payout_of.get(obj["id"])
            collection = self.collections[resource] = Collection(indexes)
        return collection

    def _lines_of_invoice(self, invoice):
        embedded = (invoice.get("lines") or {}).get("data") or []
        if (invoice.get("lines") or {}).get("has_more"):
            for line in embedded:
                self._put_line(line)
        else:
            self.lines[invoice["id"]] = list(embedded)

    def _put_line(self, line):
        lines = self.lines.setdefault(line["invoice"], [])
        for at, known in enumerate(lines):
            if known["id"] == line["id"]:
                lines[at] = line
                return
        lines.append(line)

    # Reading

    def get(self, resource: str, object_id: str):
        collection = self.collections.get(resource)
        obj = collection.by_id.get(object_id) if collection else None
        if obj is not None and resource == "events" and obj["created"] < self.events_since():
            return None  # gone from Stripe after 30 days
        return obj

    def events_since(self) -> int:
        """The oldest creation time of an event Stripe still keeps."""
        return self.now - EVENT_RETENTION if self.now is not None else 0

    def find(self, object_id: str):
        """Any stored object by id, whatever its kind (for expand)."""
        resource = self.resource_of(object_id)
        return self.get(resource, object_id) if resource else None

    def resource_of(self, object_id: str):
        resource = RESOURCE_OF_PREFIX.get(object_id.partition("_")[0])
        collection = self.collections.get(resource)
        if collection is not None and object_id in collection.by_id:
            return resource
        return self._resource_of_id.get(object_id)

    def objects(self, resource: str) -> list:
        with self._lock:
            collection = self.collections.get(resource)
            return collection.newest_first() if collection else []

    def count(self, resource: str) -> int:
        collection = self.collections.get(resource)
        return len(collection) if collection else 0

    def payout_of(self, transaction_id: str):
        return self._payout_of.get(transaction_id)

    def dump(self) -> dict:
        """Everything the store holds, in list order: two stores are equal iff their dumps are."""
        with self._lock:
            dump = {"account": self.account, "balance": self.balance, "now": self.now}
            for resource in sorted(self.collections):
                dump[resource] = self.collections[resource].newest_first()
            dump["invoice_lines"] = {k: list(v) for k, v in sorted(self.lines.items())}
            dump["payout_links"] = dict(sorted(self._payout_of.items()))
            return dump

    # Stripe list semantics

    def list(self, resource: str, params: dict | None = None) -> dict:
        """A list page as GET /v1/{resource} answers it, for in-process use: `params` as the
        `stripe` library takes them ({"limit": 3, "created": {"gte": t}}). Raises StripeError
        on what Stripe would refuse. Expansion needs a key's permissions: see StripeAPI."""
        typed = check(_as_query(params or {}), allowed_parameters(resource))
        return self.page(resource, typed)

    def retrieve(self, resource: str, object_id: str) -> dict:
        obj = self.get(resource, object_id)
        if obj is None:
            kind = next((r.object for r in RESOURCES if r.name == resource), resource)
            raise resource_missing(kind, object_id)
        return obj

    def page(self, resource: str, params: dict) -> dict:
        """One page of a list, `params` already typed by params.check()."""
        limit = page_limit(params)
        if "starting_after" in params and "ending_before" in params:
            raise StripeError(
                400,
                "You may only specify one of these parameters: ending_before, starting_after.",
            )
        with self._lock:
            collection = self._collection(resource)
            keys, predicates = self._plan(resource, collection, params)
            low, high = _created_bounds(keys, params.get("created"))
            if resource == "events":
                low = max(low, bisect_left(keys, (self.events_since(),)))
                high = max(low, high)
            if "ending_before" in params:
                cursor = self._cursor(
                    resource, collection, params["ending_before"], "ending_before"
                )
                found = _walk(
                    keys,
                    max(low, bisect_right(keys, cursor)),
                    high,
                    1,
                    limit + 1,
                    collection,
                    predicates,
                )
                data = found[:limit][::-1]
            else:
                if "starting_after" in params:
                    cursor = self._cursor(
                        resource, collection, params["starting_after"], "starting_after"
                    )
                    high = min(high, bisect_left(keys, cursor))
                found = _walk(keys, high - 1, low - 1, -1, limit + 1, collection, predicates)
                data = found[:limit]
        return {
            "object": "list",
            "data": data,
            "has_more": len(found) > limit,
            "url": f"/v1/{resource}",
        }

    def _plan(self, resource, collection, params):
        """Pick the smallest indexed list that the filters allow; the rest become predicates."""
        keys = collection.order
        predicates = implicit_filters(resource, params)
        filters = FILTERS.get(resource, {})
        for name, value in params.items():
            if name in PAGING or name == "created":
                continue
            if resource == "balance_transactions" and name == "payout":
                self._check_payout_filter(value)
                candidate = collection.indexes["payout"][1].get(value, [])
                keys = candidate if len(candidate) < len(keys) else keys
                predicates.append(lambda obj, v=value: self._payout_of.get(obj["id"]) == v)
                continue
            rule = filters[name]
            if rule.validate:
                rule.validate(value)
            if rule.indexed and (index_key := rule.index_key(value)) is not None:
                candidate = collection.indexes[name][1].get(index_key, [])
                keys = candidate if len(candidate) < len(keys) else keys
            predicates.append(lambda obj, rule=rule, v=value: rule.matches(obj, v))
        return keys, predicates

    def _check_payout_filter(self, payout_id):
        payout = self.get("payouts", payout_id)
        if payout is None:
            raise resource_missing("payout", payout_id, param="payout", status=400)
        if not payout.get("automatic"):
            raise StripeError(
                400,
                "Balance transaction history can only be filtered on automatic transfers, "
                "not manual.",
                param="payout",
            )

    def _cursor(self, resource, collection, object_id, param):
        obj = self.get(resource, object_id)
        if obj is None:
            kind = next((r.object for r in RESOURCES if r.name == resource), resource)
            raise resource_missing(kind, object_id, param=param, status=400)
        return _key(obj)

    # Invoice lines: their own order (the invoice's), not newest first

    def invoice_lines(self, invoice_id: str, params: dict) -> dict:
        limit = page_limit(params)
        with self._lock:
            lines = self.lines.get(invoice_id, [])
            ids = [line["id"] for line in lines]
            start, end = 0, len(lines)
            for param in ("starting_after", "ending_before"):
                if param in params and params[param] not in ids:
                    raise resource_missing("line_item", params[param], param=param, status=400)
            if "ending_before" in params:
                end = ids.index(params["ending_before"])
                start = max(0, end - limit)
                data, has_more = lines[start:end], start > 0
            else:
                if "starting_after" in params:
                    start = ids.index(params["starting_after"]) + 1
                data, has_more = lines[start : start + limit], start + limit < end
        return {
            "object": "list",
            "data": data,
            "has_more": has_more,
            "url": f"/v1/invoices/{invoice_id}/lines",
        }


def _as_query(value):
    """Python values as they arrive in a query string: 3 -> "3", True -> "true"."""
    if isinstance(value, dict):
        return {k: _as_query(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_as_query(v) for v in value]
    if isinstance(value, bool):
        return "true" if value else "false"
    return str(value)


def _created_bounds(keys, bounds):
    """Index range [low, high) of `keys` whose created time satisfies `bounds`."""
    low, high = 0, len(keys)
    if not bounds:
        return low, high
    if "eq" in bounds:
        bounds = {"gte": bounds["eq"], "lte": bounds["eq"]}
    if "gt" in bounds:
        low = max(low, bisect_left(keys, (bounds["gt"] + 1,)))
    if "gte" in bounds:
        low = max(low, bisect_left(keys, (bounds["gte"],)))
    if "lt" in bounds:
        high = min(high, bisect_left(keys, (bounds["lt"],)))
    if "lte" in bounds:
        high = min(high, bisect_left(keys, (bounds["lte"] + 1,)))
    return low, max(low, high)


def _walk(keys, start, stop, step, wanted, collection, predicates):
    found = []
    for at in range(start, stop, step):
        obj = collection.by_id[keys[at][1]]
        if all(predicate(obj) for predicate in predicates):
            found.append(obj)
            if len(found) == wanted:
                break
    return found


def load_fixture(store: EmulatorStore, path) -> int:
    """Load a JSON file of Stripe objects: a list, a {"data": [...]} page, or one object."""
    document = json.loads(Path(path).read_text())
    if isinstance(document, dict):
        document = document.get("data", [document])
    if not isinstance(document, list):
        raise ValueError(f"{path}: expected a list of Stripe objects")
    store.add_all(document)
    return len(document)
