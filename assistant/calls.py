"""One tool call: who makes it, what it may do, and the audit row that records it.

Every `tools/call` passes through `Gate`, a middleware of the SDK's server, which opens a
`Call` with the caller's assistant token (the stdio process's, or the HTTP request's bearer
token) and lets the SDK validate the arguments and run the tool. The tool runs in a worker
thread of the SDK (Django's ORM is synchronous) and does all of a call's database work in
that one thread, as a Django request would: it signs the token in, checks the permission the
tool needs (`require()`, the codenames the admin checks), answers, and writes the call's one
audit row (actor the token's user, origin "assistant", operation "assistant.<tool>", the
arguments, the outcome, the duration, the number of records returned). A call the SDK
refuses before the tool runs (an unknown tool, arguments that do not fit its schema) is
recorded by the Gate instead.
"""

import functools
import re
import time
from contextlib import suppress
from contextvars import ContextVar
from dataclasses import dataclass, field

import anyio.to_thread
from django.db import close_old_connections
from mcp.server.auth.middleware.bearer_auth import AuthenticatedUser
from mcp.server.mcpserver.exceptions import ToolError
from mcp.shared.exceptions import MCPError

from assistant import tokens
from audit.models import AuditEvent
from audit.recorder import Actor, record
from roles.definitions import ROLES

ORIGIN = "assistant"  # the audit log's origin of every tool call, whatever the transport
# An implementation-defined JSON-RPC error (-32000..-32019): the token cannot be used.
TOKEN_REFUSED = -32010
ARGUMENT_TEXT_LIMIT = 200  # characters of one argument the audit log keeps
# What must never reach the audit log, even pasted into an argument by mistake.
SECRETS = re.compile(r"\b(?:sk|rk|pk)_(?:test|live)_[A-Za-z0-9]{8,}|\blumen_[A-Za-z0-9_-]{20,}")


@dataclass
class Call:
    secret: str | None  # the assistant token's, as given
    transport: str  # "stdio" or "http"
    tool: str
    arguments: dict
    started: float = field(default_factory=time.monotonic)
    token: object = None  # assistant.models.AccessToken, once signed in
    outcome: str = AuditEvent.Outcome.OK
    message: str = ""
    count: int | None = None
    connection: object = None  # the StripeConnection it read, when it read one
    signed_in: bool = False  # whether sign_in() was tried
    recorded: bool = False

    @property
    def user(self):
        return self.token.user

    def sign_in(self):
        """The token's user, or MCPError saying why the token cannot be used (a protocol
        error: no tool of this server answers a refused token)."""
        self.signed_in = True
        try:
            self.token = tokens.authenticate(self.secret)
        except tokens.TokenRefused as e:
            self.token = e.token  # for the audit row, when it is a token Lumen issued
            self.outcome, self.message = AuditEvent.Outcome.REFUSED, str(e)
            raise MCPError(code=TOKEN_REFUSED, message=str(e)) from None

    def finish(self):
        """Write the call's audit row, once; a token Lumen never issued names nobody."""
        if self.recorded:
            return
        self.recorded = True
        if self.token is None and not self.signed_in:
            with suppress(MCPError):  # refused: recorded below if the token is Lumen's
                self.sign_in()
        if self.token is not None:
            recorded(self)


_current = ContextVar("assistant_call")


def current():
    return _current.get()


class Refused(ToolError):
    """The call cannot be answered as asked (not permitted, bad arguments); the message
    says what to do instead. The model reads it in the tool's result."""


def refuse(message):
    call = current()
    call.outcome, call.message = AuditEvent.Outcome.REFUSED, message
    return Refused(message)


def fail(message):
    """The tool could not answer (a report run that failed): said to the model, recorded as
    failed."""
    call = current()
    call.outcome, call.message = AuditEvent.Outcome.FAILED, message
    return ToolError(message)


def require(permission):
    """Refuse unless the caller holds `permission` ("app.codename"), as the admin would."""
    user = current().user
    if user.has_perm(permission):
        return
    granting = [name for name, codes in ROLES.items() if permission in codes]
    hint = f" The {' or '.join(granting)} role grants it." if granting else ""
    raise refuse(
        f"{user.get_username()} may not do this: it needs the permission {permission!r}, "
        f"which their roles in Lumen do not give.{hint} Ask a Lumen administrator."
    )


# The tools, as registered with @tool (assistant.server adds them to the SDK's server).
TOOLS = []


@dataclass(frozen=True)
class ToolSpec:
    fn: object
    name: str
    title: str
    permission: str
    reaches_stripe: bool


def tool(*, title, permission, reaches_stripe=False):
    """Register a tool. Its signature and docstring are what the model sees (the SDK turns
    them into the input schema and description); its return annotation, an Answer, the
    output schema. It runs only for a user holding `permission`."""

    def register(fn):
        @functools.wraps(fn)
        def run(**arguments):
            call = current()
            close_old_connections()  # as Django does around a request
            try:
                call.sign_in()
                require(permission)
                answer = fn(**arguments)
                call.count = answer.record_count()
                return answer
            except (ToolError, MCPError):
                raise  # refused or failed, and said so by sign_in(), refuse() or fail()
            except Exception as e:
                call.outcome = AuditEvent.Outcome.FAILED
                call.message = SECRETS.sub("[secret removed]", f"{type(e).__name__}: {e}")
                raise
            finally:
                call.finish()
                close_old_connections()

        TOOLS.append(ToolSpec(run, fn.__name__, title, permission, reaches_stripe))
        return run

    return register


def safe_arguments(value):
    """The arguments as the audit log may keep them: no key or token, no long text."""
    if isinstance(value, dict):
        return {str(k)[:64]: safe_arguments(v) for k, v in list(value.items())[:20]}
    if isinstance(value, list):
        return [safe_arguments(v) for v in value[:20]]
    if isinstance(value, str):
        value = SECRETS.sub("[secret removed]", value)
        return value if len(value) <= ARGUMENT_TEXT_LIMIT else value[:ARGUMENT_TEXT_LIMIT] + "…"
    return value


def in_thread(fn, *args):
    """Run ORM code from the SDK's event loop, in a worker thread, as a request would."""

    def run():
        close_old_connections()
        try:
            return fn(*args)
        finally:
            close_old_connections()

    return anyio.to_thread.run_sync(run)


class Gate:
    """The SDK server's middleware (MCPServer(middleware=[...])) over tools/list and
    tools/call. `stdio_secret`: the token of a stdio server, given once when it starts; an
    HTTP request brings its own, checked by the SDK's bearer middleware before it gets here."""

    def __init__(self, stdio_secret=None):
        self.stdio_secret = stdio_secret

    def secret_of(self, ctx):
        if ctx.request is None:
            return self.stdio_secret
        user = ctx.request.scope.get("user")
        return user.access_token.token if isinstance(user, AuthenticatedUser) else None

    async def __call__(self, ctx, call_next):
        if ctx.method not in ("tools/list", "tools/call"):
            return await call_next(ctx)
        transport = "stdio" if ctx.request is None else "http"
        if ctx.method == "tools/list":
            # A tool the user may not use is not offered: the model chooses among what works.
            allowed = await in_thread(permitted_tools, Call(self.secret_of(ctx), transport, "", {}))
            result = await call_next(ctx)
            result["tools"] = [t for t in result["tools"] if t["name"] in allowed]
            return result
        params = ctx.params or {}
        call = Call(
            self.secret_of(ctx),
            transport,
            str(params.get("name", ""))[:48],
            safe_arguments(params.get("arguments") or {}),
        )
        reset = _current.set(call)
        try:
            result = await call_next(ctx)
            if result.get("isError") and call.outcome == AuditEvent.Outcome.OK:
                # Refused by the SDK before the tool ran: an unknown tool, or arguments that
                # do not fit its input schema.
                call.outcome = AuditEvent.Outcome.REFUSED
                text = " ".join(c.get("text", "") for c in result.get("content", []))
                call.message = SECRETS.sub("[secret removed]", text)
            return result
        except BaseException as e:
            if call.outcome == AuditEvent.Outcome.OK:
                call.outcome = AuditEvent.Outcome.FAILED
                call.message = SECRETS.sub("[secret removed]", repr(e))
            raise
        finally:
            _current.reset(reset)
            if not call.recorded:
                await in_thread(call.finish)


def permitted_tools(call):
    """The names of the tools the caller's user may use (MCPError for a refused token)."""
    call.sign_in()
    return {spec.name for spec in TOOLS if call.user.has_perm(spec.permission)}


def recorded(call):
    connection = call.connection
    record(
        actor=Actor.user(call.user),
        operation=f"assistant.{call.tool or 'unnamed'}",
        origin=ORIGIN,
        connection_id=connection.pk if connection else None,
        connection_name=connection.name if connection else "",
        resource_type="assistant_tool",
        object_id=call.tool,
        params={
            "arguments": call.arguments,
            "transport": call.transport,
            "token": {"id": call.token.pk, "name": call.token.name},
        },
        outcome=call.outcome,
        duration_ms=round((time.monotonic() - call.started) * 1000),
        object_count=call.count,
        message=call.message,
    )
