"""Query strings the way Stripe reads them: bracketed names become hashes and arrays, every
name must be known, and values are checked before anything is looked up.

`created[gte]=1&expand[0]=data.customer&expand[]=data.invoice` reads as
{"created": {"gte": "1"}, "expand": ["data.customer", "data.invoice"]}. The `stripe` library
sends arrays with indexes, other clients with empty brackets; both are accepted.
"""

import re

from .errors import invalid_value, unknown_parameters

_SEGMENT = re.compile(r"\[([^\[\]]*)\]")
RANGE_KEYS = ("gt", "gte", "lt", "lte")


def parse_query(pairs) -> dict:
    params = {}
    for name, value in pairs:
        head, _, rest = name.partition("[")
        segments = [head] + (_SEGMENT.findall("[" + rest) if rest else [])
        node = params
        for depth, segment in enumerate(segments[:-1]):
            child = node.get(segment)
            if child is None:
                child = node[segment] = {}
            elif not isinstance(child, dict):
                label = "[".join(segments[: depth + 1])
                raise invalid_value(label, f"Invalid hash: {label} was given twice.")
            node = child
        last = segments[-1]
        if last == "" or last.isdigit():
            last = len(node) if last == "" else int(last)
        node[last] = value
    return _arrays_from_indexes(params)


def _arrays_from_indexes(node):
    if not isinstance(node, dict):
        return node
    if node and all(isinstance(k, int) for k in node):
        return [_arrays_from_indexes(node[k]) for k in sorted(node)]
    return {k: _arrays_from_indexes(v) for k, v in node.items()}


# What a parameter may hold. A dict maps the names a hash parameter accepts to their kinds.
STRING, BOOLEAN, INTEGER, RANGE, STRINGS = "string", "boolean", "integer", "range", "strings"


def check(params: dict, allowed: dict) -> dict:
    """Validate `params` against `allowed` (name -> kind); return the typed values."""
    unknown = [name for name in params if name not in allowed]
    if unknown:
        raise unknown_parameters(unknown)
    return {name: _typed(name, value, allowed[name]) for name, value in params.items()}


def _typed(name, value, kind):
    if isinstance(kind, dict):
        if not isinstance(value, dict):
            raise invalid_value(name, f"Invalid hash: {name}")
        unknown = [f"{name}[{k}]" for k in value if k not in kind]
        if unknown:
            raise unknown_parameters(unknown)
        return {k: _typed(f"{name}[{k}]", v, kind[k]) for k, v in value.items()}
    if kind == RANGE:
        if isinstance(value, dict):
            return _typed(name, value, dict.fromkeys(RANGE_KEYS, INTEGER))
        return {"eq": _typed(name, value, INTEGER)}
    if kind == STRINGS:
        if isinstance(value, str):
            raise invalid_value(name, f"Invalid array: {name} must be a list of strings")
        if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
            raise invalid_value(name, f"Invalid array: {name}")
        return value
    if not isinstance(value, str):
        raise invalid_value(name, f"Invalid {kind}: {name} must be a {kind}, not a hash")
    if kind == INTEGER:
        if not re.fullmatch(r"-?\d{1,18}", value):
            raise invalid_value(name, f"Invalid integer: {value}")
        return int(value)
    if kind == BOOLEAN:
        if value not in ("true", "false"):
            raise invalid_value(name, f"Invalid boolean: {value}")
        return value == "true"
    return value


def in_range(value, bounds: dict) -> bool:
    """`bounds` as `_typed` returns it for a RANGE: {"eq": n} or any of gt/gte/lt/lte."""
    if value is None:
        return False
    if "eq" in bounds:
        return value == bounds["eq"]
    return (
        ("gt" not in bounds or value > bounds["gt"])
        and ("gte" not in bounds or value >= bounds["gte"])
        and ("lt" not in bounds or value < bounds["lt"])
        and ("lte" not in bounds or value <= bounds["lte"])
    )


def page_limit(params: dict) -> int:
    limit = params.get("limit", 10)
    if limit < 1:
        raise invalid_value("limit", "This value must be greater than or equal to 1.")
    if limit > 100:
        raise invalid_value("limit", "This value must be less than or equal to 100.")
    return limit
