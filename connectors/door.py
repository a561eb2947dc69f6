"""The door: the one module through which every request to Stripe passes.

Read-only by construction: any method but GET is refused (and recorded) before anything
leaves the process. Every attempt is paced by the per-connection rate limit, retried when
Stripe says it is worth retrying, and written to the audit log, whatever the answer: a
redirect or a body that is not a JSON object is recorded and refused, never followed or
used. The key is read from the encrypted column here and nowhere else (a key not stored yet
is handed to try_key); it never appears in what this module raises, logs or records, nor in
the local variables an error report shows.

Responses are used as plain parsed JSON: building the stripe library's objects costs more
than the network on a large account (see the design's measured facts).
"""

import contextlib
import json
import logging
import random
import re
import threading
import time
from email.utils import parsedate_to_datetime
from urllib.parse import urlsplit

import orjson
import requests
import stripe
import stripe._api_requestor
import stripe._stripe_response
import stripe._util
from django.conf import settings
from django.utils import timezone
from django.views.decorators.debug import sensitive_variables

from audit.models import AuditEvent
from audit.recorder import record, record_many
from connectors.keys import mask
from connectors.ratelimit import wait_for_slot
from connectors.resources import ACCOUNT, BY_NAME, BY_PERMISSION, resource_of_path

log = logging.getLogger(__name__)

Outcome = AuditEvent.Outcome
# Why a connection fails when Stripe answers 401, by whether its key ever worked: a key that
# was verified has since been revoked or rolled in Stripe's dashboard; a key never verified
# may never have been one Stripe knew (mistyped, cut short, from another account).
KEY_REJECTED = "Stripe refused the key (revoked or rotated): paste a new key."
KEY_NEVER_WORKED = (
    "Stripe refused the key; it has never worked (check that it was copied whole): paste a new key."
)
# A key tried before it is stored (try_key) is asked once, while a person waits for the page.
TRIAL_TIMEOUT = 10


class DoorError(Exception):
    """A request that did not succeed. The message is safe to show staff."""

    http_status = None


class ReadOnlyViolation(DoorError):
    pass


class KeyRejected(DoorError):
    http_status = 401


class PermissionMissing(DoorError):
    http_status = 403

    def __init__(self, message, resource="", permission="", account=""):
        super().__init__(message)
        self.resource, self.permission, self.account = resource, permission, account


class StripeRequestFailed(DoorError):
    def __init__(self, message, http_status=None, code=""):
        super().__init__(message)
        self.http_status, self.code = http_status, code


class StripeUnavailable(DoorError):
    """Stripe kept failing (429, 5xx, network) after every retry."""


class Door:
    """Requests to Stripe on behalf of one connection, one actor and one origin.

    `actor` is an audit.recorder.Actor; `origin` says what the calls are part of
    ("admin:verify", "sync_run:12"). Make calls outside database transactions: the audit row
    of a call that happened must not be rolled back with the caller's work. The one
    exception is the sync's reading thread, whose rows are held (holding_records) and written
    by the thread writing the pages, with a page, or on their own should that page fail.
    """

    def __init__(self, connection, *, actor, origin="", trial=False):
        self.connection = connection
        self.actor = actor
        self.origin = origin
        # Trying a key not stored yet (try_key): one attempt, and what Stripe answers says
        # nothing about the health of the connection, whose key is another one.
        self.trial = trial
        self.calls = 0  # attempts sent, for whoever counts API calls (a sync run)
        self._calls_lock = threading.Lock()  # a sync's readers share one door
        # A client per thread: RequestsClient shares the session it is given between threads.
        self._local = threading.local()
        self._held = []  # audit rows of calls made while holding_records, not written yet
        # Stripe's clock: the latest Date its answers carried (None before the first).
        self.stripe_clock = None

    # The public reads -------------------------------------------------------------------

    def retrieve(self, resource, object_id=None):
        path = f"/v1/{resource}/{object_id}" if object_id else f"/v1/{resource}"
        return self.get(path)

    def list_page(self, resource, **params):
        # Stripe's maximum (100) by default; its own default of 10 costs ten times the calls.
        params.setdefault("limit", settings.STRIPE_PAGE_SIZE)
        return self.get(f"/v1/{resource}", params)

    def iter_list(self, resource, **params):
        """Every object of a list, newest first, reading pages of 100."""
        while True:
            page = self.list_page(resource, **params)
            yield from page["data"]
            if not page.get("has_more") or not page["data"]:
                return
            params["starting_after"] = page["data"][-1]["id"]

    def get(self, path, params=None):
        return self.request("GET", path, params)

    # Everything under this call (the stripe library, requests, urllib3) holds the key in
    # its locals or headers: an error report (DEBUG off) shows none of them.
    @sensitive_variables()
    def request(self, method, path, params=None):
        params = dict(params or {})
        if method.upper() != "GET":
            self._record(
                method.upper(),
                path,
                params,
                Outcome.BLOCKED,
                attempt=1,
                message="Lumen is read-only: the request was not sent.",
            )
            raise ReadOnlyViolation(
                f"Lumen is read-only: {method.upper()} {path} was refused before it was sent."
            )
        attempt = 1
        while True:
            try:
                return self._attempt(path, params, attempt)
            except _Retryable as e:
                if self.trial or attempt > settings.STRIPE_MAX_RETRIES:
                    tries = f"{attempt} attempts" if attempt > 1 else "1 attempt"
                    raise StripeUnavailable(
                        f"Stripe did not answer {path} after {tries}: {e}"
                    ) from None
                time.sleep(backoff_delay(attempt, e.retry_after))
                attempt += 1

    # One attempt ------------------------------------------------------------------------

    def _attempt(self, path, params, attempt):
        wait_for_slot(self.connection.pk, self.connection.mode)
        with self._calls_lock:
            self.calls += 1
        started = time.monotonic()
        try:
            response = self._stripe().raw_request("get", path, **params)
        except stripe.StripeError as e:
            raise self._failure(path, params, attempt, e, elapsed_ms(started)) from None
        data = response.data
        if not isinstance(data, dict):
            raise self._unusable(path, params, attempt, response.code, elapsed_ms(started))
        self._note_clock(response.headers)
        count = len(data.get("data", ())) if data.get("object") == "list" else 1
        self._record(
            "GET",
            path,
            params,
            Outcome.OK,
            attempt=attempt,
            http_status=response.code,
            request_id=response.request_id or "",
            duration_ms=elapsed_ms(started),
            object_count=count,
        )
        if not self.trial and self.connection.health == self.connection.Health.FAILING:
            self.connection.mark_ok()
        return data

    def _note_clock(self, headers):
        try:
            said = parsedate_to_datetime(headers.get("Date"))
        except (TypeError, ValueError):
            return  # no Date, or not one: the clock stays as it was
        with self._calls_lock:
            if self.stripe_clock is None or said > self.stripe_clock:
                self.stripe_clock = said

    def _failure(self, path, params, attempt, error, duration_ms):
        """Record a failed attempt; return what to raise (_Retryable, or a DoorError)."""
        status = error.http_status
        if status is not None and status < 400:  # a redirect, or a 2xx that is not JSON
            return self._unusable(path, params, attempt, status, duration_ms)
        headers = error.headers or {}
        message = self._safe(stripe_message(error))
        request_id = error.request_id or ""
        should_retry = (headers.get("Stripe-Should-Retry") or "").lower()
        if isinstance(error, stripe.APIConnectionError) or status is None:
            outcome = Outcome.NETWORK_ERROR
        elif status == 429:
            outcome = Outcome.RATE_LIMITED
        elif status >= 500:
            outcome = Outcome.SERVER_ERROR
        elif status == 403 and resource_of_path(path) == (ACCOUNT.name, ""):
            outcome = Outcome.NOT_PERMITTED
            message = (
                "Expected: Stripe lets no restricted key read the account; its id is read "
                f"from this answer. Stripe said: {message}"
            )
        else:
            outcome = Outcome.CLIENT_ERROR
        self._record(
            "GET",
            path,
            params,
            outcome,
            attempt=attempt,
            http_status=status,
            request_id=request_id,
            duration_ms=duration_ms,
            message=message,
        )

        refused = outcome in (Outcome.CLIENT_ERROR, Outcome.NOT_PERMITTED)
        retryable = not refused or (status == 409 and should_retry == "true")
        if should_retry == "false":
            retryable = False
        if retryable:
            return _Retryable(message, retry_after(headers))
        if status == 401:
            if self.trial:
                return KeyRejected("Stripe refused the key (401).")
            reason = KEY_REJECTED if self.connection.last_verified_at else KEY_NEVER_WORKED
            self.connection.mark_failing(reason)
            return KeyRejected(reason)
        if status == 403:
            return permission_missing(path, message)
        return StripeRequestFailed(
            f"Stripe refused {path} ({status}): {message}", status, getattr(error, "code", "") or ""
        )

    def _unusable(self, path, params, attempt, status, duration_ms):
        """Record an answer that cannot be Stripe's and return the error to raise.

        Stripe's API never redirects and always answers a JSON object. Anything else came
        from something in between (a proxy, a captive portal, a hijacked name): a redirect
        is not followed, since it would carry the key wherever it points, and nothing is
        retried, since whatever answered once will answer the same again.
        """
        if 300 <= status < 400:
            message = f"Stripe answered with a redirect ({status}); Lumen does not follow one."
        else:
            message = f"Stripe's answer ({status}) is not a JSON object; nothing was read."
        self._record(
            "GET",
            path,
            params,
            Outcome.SERVER_ERROR,
            attempt=attempt,
            http_status=status,
            duration_ms=duration_ms,
            message=message,
        )
        return StripeRequestFailed(f"{path}: {message}", status)

    def _record(self, method, path, params, outcome, **fields):
        resource, object_id = resource_of_path(path)
        parts = [p for p in path.split("/") if p][1:]
        if len(parts) >= 3:  # /v1/invoices/in_1/lines
            resource = f"{resource}.{parts[2]}"
        created = params.get("created") if isinstance(params.get("created"), dict) else {}
        row = dict(
            actor=self.actor,
            origin=self.origin,
            connection_id=self.connection.pk,
            connection_name=self.connection.name,
            operation=operation_of(path),
            method=method,
            path=path,
            host=urlsplit(settings.STRIPE_API_BASE).netloc,
            resource_type=resource,
            object_id=object_id,
            date_from=created.get("gte", created.get("gt")),
            date_to=created.get("lte", created.get("lt")),
            params=self._safe_params(params),
            outcome=outcome,
            **fields,
        )
        if getattr(self._local, "holding", False):
            with self._calls_lock:
                self._held.append({**row, "occurred_at": timezone.now()})
        else:
            record(**row)

    # The audit rows of a sync's reading thread --------------------------------------------

    @contextlib.contextmanager
    def holding_records(self):
        """Hold the audit rows of this thread's calls for take_held, rather than writing
        each in a transaction of its own. On SQLite a transaction holds the whole file, so
        the sync's reading thread, recording each page it had read, waited for the page
        being written to commit: 6.8 s of a 19 s sync of 20,000 charges, the writer in turn
        waiting 2.7 s for the next page (bench/sync.py). Its rows are written instead with
        the pages, by the thread that writes them (connectors.sync.runner)."""
        self._local.holding = True
        try:
            yield
        finally:
            self._local.holding = False

    def take_held(self):
        """The held audit rows, in the order of the calls, for write_records."""
        with self._calls_lock:
            held, self._held = self._held, []
        return held

    @staticmethod
    def write_records(rows):
        record_many(rows)

    # The key: read here and only here ----------------------------------------------------

    @sensitive_variables()
    def _stripe(self):
        client = getattr(self._local, "client", None)
        if client is None:
            key = self.connection.secret_key
            timeout = settings.STRIPE_TIMEOUT
            if self.trial:
                timeout = min(timeout, TRIAL_TIMEOUT)
            client = self._local.client = stripe.StripeClient(
                key,
                base_addresses={"api": settings.STRIPE_API_BASE},
                max_network_retries=0,  # the door retries, so that each attempt is audited
                http_client=stripe.RequestsClient(timeout=timeout, session=_NoRedirects()),
            )
        return client

    @sensitive_variables()
    def _safe(self, text):
        """Whatever Stripe or the network said, with the key masked should it be echoed."""
        key = self.connection.secret_key
        text = str(text or "")
        return text.replace(key, mask(key)) if key else text

    def _safe_params(self, params):
        return {k: self._safe(v) if isinstance(v, str) else v for k, v in params.items()}


@sensitive_variables("key", "candidate")
def try_key(connection, key, mode, *, actor, origin=""):
    """Ask Stripe once whether it accepts `key`, before the key is stored in `connection`.

    One GET /v1/account, the cheapest read the verification makes (a restricted key's 403
    there still proves Stripe knows the key), recorded on the audit log under the
    connection's id and name. Returns when Stripe accepted the key; raises KeyRejected when
    it refused it (401), or another DoorError when it could not tell (5xx, timeout,
    network). Neither the connection nor its health changes.
    """
    candidate = type(connection)(pk=connection.pk, name=connection.name, mode=mode)
    candidate.secret_key = key
    door = Door(candidate, actor=actor, origin=origin, trial=True)
    with contextlib.suppress(PermissionMissing):  # a restricted key's answer: Stripe knew it
        door.retrieve(ACCOUNT.name)


def _key_header_only(request):
    """The door's sessions' auth: the request as the stripe library made it, the key in its own
    Authorization header. With none, requests reads ~/.netrc (or $NETRC) before every request
    (a file-system lookup a request, about 2% of a sync's CPU) and, should it hold an entry for
    Stripe's host, sends that entry's credentials in place of the connection's key: a netrc
    file overrides the headers a request was given."""
    return request


class _NoRedirects(requests.Session):
    """A session that hands a 3xx back as it came (the stripe library's RequestsClient lets
    requests follow redirects, keeping the Authorization header on the same host)."""

    def __init__(self):
        super().__init__()
        self._environment = {}
        self.auth = _key_header_only

    def request(self, method, url, **kwargs):
        kwargs["allow_redirects"] = False
        return super().request(method, url, **kwargs)

    def merge_environment_settings(self, url, proxies, stream, verify, cert):
        """What the environment says of requests to `url` (its proxy variables, a CA bundle),
        read once per host and settings rather than for every request: requests walks every
        environment variable twice a request to find the proxies, 1.5 ms of CPU, as much as
        parsing a page of 100 charges. A session is the door's for one sync at most."""
        parts = urlsplit(url)
        key = (parts.scheme, parts.netloc, frozenset((proxies or {}).items()), stream, verify, cert)
        if key not in self._environment:
            self._environment[key] = super().merge_environment_settings(
                url, dict(proxies or {}), stream, verify, cert
            )
        merged = self._environment[key]
        return {**merged, "proxies": dict(merged["proxies"])}


class _StripeJSON:
    """What the stripe library parses Stripe's answers with, in place of the standard
    library's decoder building OrderedDicts: that took a sixth of a sync's CPU (2.7 ms a
    page of 100 charges, 4.2 ms of invoices), orjson 0.7 and 1.1 ms. Stripe's answers are
    plain JSON objects, whose key order nothing here reads. What orjson refuses and the
    standard library takes (NaN, a lone surrogate) is parsed as before, so no answer parses
    differently but for speed; integers beyond 64 bits, which Stripe does not send, would
    come back as floats and be refused by the mirror's integer columns."""

    @staticmethod
    def loads(body, **_hooks):
        try:
            return orjson.loads(body)
        except orjson.JSONDecodeError:
            return json.loads(body)


# The library's one parse of an answer's body (StripeResponse.__init__). The door's tests
# check that the answers still come back parsed by this.
stripe._stripe_response.json = _StripeJSON


def _formatted_only_if_logged(log, level, console_levels):
    """The stripe library formats each answer's whole body into a log line (logfmt: a
    regular expression over it, then its repr) before its logger decides whether to keep
    it: 2% of a sync's CPU for lines that nothing logs. The same lines, formatted when
    the library's logger or its console setting (stripe.log, STRIPE_LOG) would show them."""

    def emit(message, **params):
        if stripe._util.logger.isEnabledFor(level) or (
            stripe._util._console_log_level() in console_levels
        ):
            log(message, **params)

    return emit


stripe._api_requestor.log_debug = _formatted_only_if_logged(
    stripe._util.log_debug, logging.DEBUG, ("debug",)
)
stripe._api_requestor.log_info = _formatted_only_if_logged(
    stripe._util.log_info, logging.INFO, ("debug", "info")
)


class _Retryable(Exception):
    def __init__(self, message, retry_after):
        super().__init__(message)
        self.retry_after = retry_after


def operation_of(path):
    parts = [p for p in path.split("/") if p][1:]
    if len(parts) == 1 and BY_NAME.get(parts[0]) and BY_NAME[parts[0]].is_list:
        return "list"
    if len(parts) >= 3:
        return "list"
    return "retrieve"


def stripe_message(error):
    body = error.json_body if isinstance(error.json_body, dict) else {}
    message = (body.get("error") or {}).get("message")
    if message:
        return message
    if isinstance(error, stripe.APIConnectionError):
        return "could not reach Stripe (network error or timeout)"
    return error.user_message or type(error).__name__


def permission_missing(path, message):
    resource_name, _ = resource_of_path(path)
    permission = next((p for p in BY_PERMISSION if p in message), "")
    resource = BY_PERMISSION.get(permission) or BY_NAME.get(resource_name)
    what = resource_name.replace("_", " ") or "this resource"
    grant = (
        f" Grant “{resource.grant}” to the restricted key in Stripe's dashboard."
        if resource
        else ""
    )
    detail = f" (missing permission {permission})" if permission else ""
    account = re.search(r"on account '(acct_\w+)'", message)
    return PermissionMissing(
        f"The key cannot read {what}{detail}.{grant}",
        resource_name,
        permission,
        account.group(1) if account else "",
    )


def retry_after(headers):
    try:
        return float(headers.get("Retry-After"))
    except (TypeError, ValueError):
        return None


def backoff_delay(attempt, retry_after=None):
    """Exponential backoff with full jitter, or what Stripe asked for, within the cap."""
    cap = settings.STRIPE_RETRY_MAX_DELAY
    if retry_after is not None:
        return min(max(retry_after, 0.0), cap)
    return random.uniform(0, min(cap, settings.STRIPE_RETRY_BASE_DELAY * 2 ** (attempt - 1)))


def elapsed_ms(started):
    return int((time.monotonic() - started) * 1000)
