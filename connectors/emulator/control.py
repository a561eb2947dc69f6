"""The emulator's own test-helper endpoints, for tests in other processes. They are not
Stripe's API, so they live under /_emulator/, a prefix Stripe does not have, and take no key:

    POST /_emulator/changes/{name}   JSON body: the change's arguments
                                     -> {"object": "list", "data": [the events it created]}
    GET  /_emulator/clock            -> {"now": the account's clock}

Names are those of AccountChanges.NAMES (new_charge, refund, upgrade_subscription,
cancel_subscription, new_dispute, submit_evidence, close_dispute, advance).
"""

import json

PREFIX = "/_emulator/"


def answer(emulator, method: str, path: str, body: bytes):
    """(status, JSON body) for one request under PREFIX."""
    parts = [p for p in path[len(PREFIX) :].split("/") if p]
    if parts == ["clock"] and method == "GET":
        return 200, {"now": emulator.store.now}
    if len(parts) != 2 or parts[0] != "changes":
        return 404, _error(f"Unrecognized emulator URL: {method} {path}")
    if method != "POST":
        return 405, _error("Changes are made with POST")
    try:
        arguments = json.loads(body or b"{}")
    except ValueError:
        return 400, _error("The body must be a JSON object of the change's arguments")
    if not isinstance(arguments, dict):
        return 400, _error("The body must be a JSON object of the change's arguments")
    try:
        events = emulator.changes.apply(parts[1], arguments)
    except LookupError as error:
        return 404, _error(str(error).strip("'\""))
    except (ValueError, TypeError) as error:
        return 400, _error(str(error))
    return 200, {"object": "list", "data": events, "has_more": False, "url": path}


def _error(message):
    return {"error": {"message": message, "type": "invalid_request_error"}}
