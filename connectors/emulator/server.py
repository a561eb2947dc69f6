"""The emulator over HTTP: a ThreadingHTTPServer on 127.0.0.1 that answers like Stripe.

Every answered request is appended to `request_log` (a dropped connection is not an answer;
it goes to `dropped`), so a test can count exactly what a client sent. Keys never reach a
log: only the masked form is ever written anywhere (a canned answer that echoes the key
sends it back to its client, on purpose, and nowhere else). The test-helper endpoints
under /_emulator/ (control.py) are not Stripe's API: they are neither logged nor faulted.
"""

import contextlib
import itertools
import json
import signal
import socket
import threading
import time
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qsl, urlsplit

from . import control
from .api import StripeAPI, key_of
from .changes import AccountChanges
from .errors import StripeError, api_error, rate_limited
from .faults import DROP, RATE_LIMIT, SERVER_ERROR, Faults
from .ids import ALPHABET
from .keys import KeyGrant, KeyTable
from .shapes_account import API_VERSION
from .webhooks import WebhookSender


@dataclass(frozen=True)
class LoggedRequest:
    method: str
    path: str
    query: dict = field(hash=False)  # name -> value; a name sent twice maps to a list
    status: int | None  # None for a dropped connection
    request_id: str | None


def _query_dict(pairs):
    query = {}
    for name, value in pairs:
        if name in query:
            previous = query[name]
            query[name] = (previous if isinstance(previous, list) else [previous]) + [value]
        else:
            query[name] = value
    return query


class StripeEmulator:
    def __init__(self, store, keys=None, faults=None, host="127.0.0.1", port=0):
        self.store = store
        if isinstance(keys, KeyTable):
            self.keys = keys
        else:
            grants = keys.values() if isinstance(keys, dict) else (keys or ())
            self.keys = KeyTable(KeyGrant(g) if isinstance(g, str) else g for g in grants)
        self.faults = faults or Faults()
        self.api = StripeAPI(store, self.keys)
        self.host, self.port = host, port
        self.request_log = []
        self.dropped = []
        self._log_lock = threading.Lock()
        self._ids = itertools.count(1)
        self._server = None
        self._thread = None
        self._changes = None
        self._changes_lock = threading.Lock()

    # The account changing over time, and webhooks of its changes

    @property
    def changes(self) -> AccountChanges:
        with self._changes_lock:
            if self._changes is None:
                self._changes = AccountChanges(self.store)
            return self._changes

    def post_webhooks(self, url: str, secret: str) -> WebhookSender:
        """POST every event that changes create, signed with `secret`, to `url`."""
        sender = WebhookSender(url, secret)
        self.changes.listeners.append(sender.deliver)
        return sender

    # Keys at run time

    def grant(self, key, permissions=None, account=None) -> KeyGrant:
        return self.keys.grant(key, permissions, account)

    def revoke(self, key):
        self.keys.revoke(key)

    # Life cycle

    @property
    def url(self) -> str:
        if self._server is None:
            raise RuntimeError("The emulator is not running; call start() first")
        return f"http://{self.host}:{self._server.server_address[1]}"

    def start(self):
        if self._server is not None:
            return self
        self._server = _Server((self.host, self.port), _Handler)
        self._server.emulator = self
        self._thread = threading.Thread(
            target=self._server.serve_forever,
            kwargs={"poll_interval": 0.05},
            name="stripe-emulator",
            daemon=True,
        )
        self._thread.start()
        return self

    def stop(self):
        if self._server is None:
            return
        self._server.shutdown()
        self._server.close_connections()
        self._server.server_close()
        self._thread.join(timeout=5)
        self._server = self._thread = None

    def __enter__(self):
        return self.start()

    def __exit__(self, *exc_info):
        self.stop()

    def clear_log(self):
        with self._log_lock:
            self.request_log.clear()
            self.dropped.clear()

    # One request

    def next_request_id(self) -> str:
        n = next(self._ids)
        digits = []
        for _ in range(14):
            n, digit = divmod(n, len(ALPHABET))
            digits.append(ALPHABET[digit])
        return "req_" + "".join(reversed(digits))

    def record(self, entry: LoggedRequest):
        with self._log_lock:
            (self.dropped if entry.status is None else self.request_log).append(entry)


class _Server(ThreadingHTTPServer):
    daemon_threads = True
    allow_reuse_address = True
    request_queue_size = 64

    def __init__(self, *args, **kwargs):
        self.connections = set()
        self.connections_lock = threading.Lock()
        super().__init__(*args, **kwargs)

    def process_request(self, request, client_address):
        with self.connections_lock:
            self.connections.add(request)
        super().process_request(request, client_address)

    def shutdown_request(self, request):
        with self.connections_lock:
            self.connections.discard(request)
        super().shutdown_request(request)

    def close_connections(self):
        """End kept-alive connections too: a stopped emulator must not go on answering
        through a client's connection pool."""
        with self.connections_lock:
            connections = list(self.connections)
        for connection in connections:
            with contextlib.suppress(OSError):
                connection.shutdown(socket.SHUT_RDWR)


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"  # keep-alive, as clients pool connections to Stripe
    server_version = "nginx"
    sys_version = ""
    disable_nagle_algorithm = True
    timeout = 120  # seconds an idle kept-alive connection may hold a thread

    def do_GET(self):
        self._serve()

    do_POST = do_PUT = do_PATCH = do_DELETE = do_HEAD = do_OPTIONS = do_GET

    def log_message(self, format, *args):
        # The request log is the record; stderr lines would only repeat it.
        pass

    def date_time_string(self, timestamp=None):
        # The Date of every answer is the account's clock, as Stripe's is its own: what is
        # pending or due is judged by it (a sync reads again the funds due by then).
        now = self.server.emulator.store.now
        return super().date_time_string(now if timestamp is None else timestamp)

    def _serve(self):
        emulator = self.server.emulator
        length = self.headers.get("Content-Length") or "0"
        body = b""
        if length.isdigit() and int(length):
            body = self.rfile.read(int(length))  # read, if only so it leaves the socket
        parts = urlsplit(self.path)
        if parts.path.startswith(control.PREFIX):
            status, answer = control.answer(emulator, self.command, parts.path, body)
            self._send(status, json.dumps(answer).encode(), {})
            return
        pairs = parse_qsl(parts.query, keep_blank_values=True)
        query = _query_dict(pairs)

        draw = emulator.faults.draw()
        if draw.delay:
            time.sleep(draw.delay)
        if draw.kind == DROP:
            emulator.record(LoggedRequest(self.command, parts.path, query, None, None))
            self.close_connection = True
            return
        canned = emulator.faults.answer
        if draw.kind is None and canned is not None and canned.applies_to(parts.path):
            request_id = emulator.next_request_id()
            emulator.record(
                LoggedRequest(self.command, parts.path, query, canned.status, request_id)
            )
            payload = canned.payload(key_of(self.headers.get("Authorization")))
            headers = {"Request-Id": request_id, **canned.headers}
            self._send(canned.status, payload, headers, canned.content_type)
            return
        if draw.kind in (RATE_LIMIT, SERVER_ERROR):
            error: StripeError = rate_limited() if draw.kind == RATE_LIMIT else api_error()
            status, body, livemode = error.status, error.body(), None
            headers = emulator.faults.error_headers(error.headers)
        else:
            answer = emulator.api.answer(
                self.command, parts.path, pairs, self.headers.get("Authorization")
            )
            status, body, headers, livemode = (
                answer.status,
                answer.body,
                answer.headers,
                answer.livemode,
            )
        request_id = emulator.next_request_id()
        payload = _encode(body, livemode)
        # Logged before the answer leaves, so a client that has its answer finds it logged.
        emulator.record(LoggedRequest(self.command, parts.path, query, status, request_id))
        headers = {
            "Request-Id": request_id,
            "Stripe-Version": self.headers.get("Stripe-Version") or API_VERSION,
            **headers,
        }
        self._send(status, payload, headers)

    def _send(self, status, payload, headers, content_type="application/json"):
        self.send_response(status)
        self.send_header("Content-Type", content_type)
        self.send_header("Content-Length", str(len(payload)))
        self.send_header("Cache-Control", "no-cache, no-store")
        for name, value in headers.items():
            self.send_header(name, value)
        self.end_headers()
        if self.command != "HEAD":
            self.wfile.write(payload)


def _encode(body, livemode) -> bytes:
    text = json.dumps(body, ensure_ascii=False)
    # Objects are stored once; the key's mode decides what `livemode` says. The pattern
    # cannot occur inside a JSON string, whose quotes would be escaped.
    if livemode is True:
        text = text.replace('"livemode": false', '"livemode": true')
    elif livemode is False:
        text = text.replace('"livemode": true', '"livemode": false')
    return text.encode()


def serve_until_stopped(emulator):
    """Keep the started emulator serving until SIGINT (Ctrl-C) or SIGTERM, then stop it.

    Both handlers are set here rather than left to Python's KeyboardInterrupt: a process that
    a shell starts in the background inherits SIGINT ignored, and Python then leaves it
    ignored, so Ctrl-C's signal sent to such an emulator would never stop it."""
    stopping = threading.Event()
    previous = {
        number: signal.signal(number, lambda *_: stopping.set())
        for number in (signal.SIGINT, signal.SIGTERM)
    }
    try:
        stopping.wait()
    finally:
        for number, handler in previous.items():
            signal.signal(number, handler)
        emulator.stop()
