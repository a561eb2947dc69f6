"""Stripe's read API without the HTTP: auth, routing, permissions, parameters, expand.

`StripeAPI.answer()` turns one request into an Answer; the server only moves bytes. Keeping
the two apart lets the order of checks (method, key, route, permission, parameters) be read
in one place, in the order Stripe applies them.
"""

import base64
import binascii
from dataclasses import dataclass, field

from connectors.resources import BY_NAME

from . import errors
from .errors import StripeError
from .filters import allowed_parameters
from .keys import KeyTable, is_publishable, mask_key
from .params import STRINGS, check, parse_query
from .shapes_account import account_object, empty_balance

RETRIEVE_PARAMETERS = {"expand": STRINGS}
LINES_PARAMETERS = {
    "limit": "integer",
    "starting_after": "string",
    "ending_before": "string",
    "expand": STRINGS,
}
MAX_EXPAND_DEPTH = 4


@dataclass
class Answer:
    status: int
    body: dict
    headers: dict = field(default_factory=dict)
    livemode: bool | None = None  # the key's mode, which the objects' `livemode` must follow


def key_of(authorization: str | None) -> str:
    """The key from `Authorization: Bearer KEY` or HTTP basic auth with the key as user."""
    scheme, _, credentials = (authorization or "").strip().partition(" ")
    credentials = credentials.strip()
    if scheme.lower() == "bearer":
        return credentials
    if scheme.lower() == "basic":
        try:
            decoded = base64.b64decode(credentials, validate=True).decode()
        except (binascii.Error, UnicodeDecodeError):
            return credentials
        return decoded.partition(":")[0]
    return ""


class StripeAPI:
    def __init__(self, store, keys: KeyTable):
        self.store = store
        self.keys = keys

    def answer(self, method: str, path: str, query_pairs, authorization) -> Answer:
        try:
            return self._answer(method, path, query_pairs, authorization)
        except StripeError as error:
            return Answer(error.status, error.body(), dict(error.headers))

    def _answer(self, method, path, query_pairs, authorization):
        if method != "GET":
            raise errors.read_only(method, path)
        grant = self._authenticate(key_of(authorization))
        parts = [p for p in path.split("/") if p]
        if len(parts) < 2 or parts[0] != "v1":
            raise errors.unrecognized_url(method, path)
        name, rest = parts[1], parts[2:]
        params = parse_query(query_pairs)

        if name == "account" and not rest:
            if grant.key.startswith(("rk_test_", "rk_live_")):
                raise errors.restricted_key_refused(grant.masked, self._account_id(grant))
            body = self._expanded(self._account(), check(params, RETRIEVE_PARAMETERS), grant)
        elif name == "balance" and not rest:
            self._permit(grant, BY_NAME["balance"].permission)
            balance = self.store.balance or empty_balance()
            body = self._expanded(balance, check(params, RETRIEVE_PARAMETERS), grant)
        elif name == "invoices" and len(rest) == 2 and rest[1] == "lines":
            self._permit(grant, BY_NAME["invoices"].permission)
            typed = check(params, LINES_PARAMETERS)
            if self.store.get("invoices", rest[0]) is None:
                raise errors.resource_missing("invoice", rest[0])
            page = self.store.invoice_lines(rest[0], typed)
            body = self._expanded(page, typed, grant, listing=True)
        elif name in BY_NAME and BY_NAME[name].is_list and len(rest) <= 1:
            resource = BY_NAME[name]
            self._permit(grant, resource.permission)
            if rest:
                typed = check(params, RETRIEVE_PARAMETERS)
                obj = self.store.get(name, rest[0])
                if obj is None:
                    raise errors.resource_missing(resource.object, rest[0])
                body = self._expanded(obj, typed, grant)
            else:
                typed = check(params, allowed_parameters(name))
                body = self._expanded(self.store.page(name, typed), typed, grant, listing=True)
        else:
            raise errors.unrecognized_url(method, path)
        return Answer(200, body, livemode=grant.livemode)

    def _authenticate(self, key):
        if not key:
            raise errors.missing_key()
        if is_publishable(key):
            raise errors.publishable_key(mask_key(key))
        grant = self.keys.get(key)
        if grant is None or grant.revoked:
            raise errors.invalid_key(mask_key(key))
        return grant

    def _permit(self, grant, permission):
        if not grant.allows(permission):
            raise errors.permission_denied(grant.masked, self._account_id(grant), permission)

    def _account_id(self, grant):
        return grant.account or self._account()["id"]

    def _account(self):
        return self.store.account or account_object("acct_1EmulatorDefault0", created=0)

    # expand[]: replace ids with the objects they name, as deep as Stripe allows

    def _expanded(self, body, typed, grant, listing=False):
        for dotted in typed.get("expand", []):
            segments = dotted.split(".")
            if len(segments) - int(listing) > MAX_EXPAND_DEPTH:
                raise errors.invalid_value(
                    "expand",
                    f"You cannot expand more than {MAX_EXPAND_DEPTH} levels of a property. "
                    f"Property: {dotted}",
                )
            if listing:
                if segments[0] != "data" or len(segments) < 2:
                    raise errors.invalid_value(
                        "expand",
                        f"This property cannot be expanded ({dotted}). You may want to try "
                        f"expanding 'data.{dotted}' instead.",
                    )
                segments = segments[1:]
                body = {
                    **body,
                    "data": [self._expand(o, segments, dotted, grant) for o in body["data"]],
                }
            else:
                body = self._expand(body, segments, dotted, grant)
        return body

    def _expand(self, value, segments, dotted, grant):
        if isinstance(value, list):
            return [self._expand(v, segments, dotted, grant) for v in value]
        if isinstance(value, str):
            value = self._lookup(value, dotted, grant)
        if not isinstance(value, dict):
            return value
        head, rest = segments[0], segments[1:]
        if head not in value:
            raise errors.invalid_value("expand", f"This property cannot be expanded ({dotted}).")
        target = value[head]
        if rest:
            target = self._expand(target, rest, dotted, grant)
        elif isinstance(target, str):
            target = self._lookup(target, dotted, grant)
        elif isinstance(target, list):
            target = [self._lookup(t, dotted, grant) if isinstance(t, str) else t for t in target]
        return {**value, head: target}

    def _lookup(self, object_id, dotted, grant):
        obj = self.store.find(object_id)
        if obj is None:
            raise errors.invalid_value("expand", f"This property cannot be expanded ({dotted}).")
        resource = BY_NAME.get(self.store.resource_of(object_id))
        if resource is not None:
            self._permit(grant, resource.permission)
        return obj
