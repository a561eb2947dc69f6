"""An AI assistant's side of Lumen's MCP server, for the tests: the official SDK's client,
over the transports an assistant uses (a `manage.py mcp` child process on stdio, the live
HTTP server at /mcp/), or in this process.

    secret = token_for(analyst)
    [tools, answer] = talk(in_process(secret), "list", ("search_charges", {"limit": 5}))
"""

import sys
import threading
import time
from contextlib import asynccontextmanager, contextmanager
from datetime import timedelta

import anyio
import anyio.to_thread
import httpx2
import uvicorn
from django.utils import timezone
from mcp import Client, StdioServerParameters
from mcp.client.streamable_http import streamable_http_client

from assistant import tokens
from assistant.models import AccessToken
from assistant.server import build
from tests.worker import ROOT, child_env


def token_for(user, name="tests", days=30):
    """A new assistant token of `user`: its secret."""
    return tokens.issue(
        AccessToken(user=user, name=name, expires_at=timezone.now() + timedelta(days=days))
    )


def in_process(secret):
    """The server as `manage.py mcp` builds it, served in this process."""
    return build(stdio_secret=secret)


def stdio(secret, **extra_env):
    """`manage.py mcp` as an assistant starts it: a child process on the test database."""
    env = child_env(LUMEN_MCP_TOKEN=secret, **extra_env)
    return StdioServerParameters(
        command=sys.executable, args=["manage.py", "mcp"], env=env, cwd=str(ROOT)
    )


@asynccontextmanager
async def over_http(url, secret):
    """The streamable HTTP transport with the token as its bearer token (None: no header)."""
    headers = {"Authorization": f"Bearer {secret}"} if secret is not None else {}
    async with (
        httpx2.AsyncClient(headers=headers) as http,
        streamable_http_client(url, http_client=http) as streams,
    ):
        yield streams


def talk(server, *requests, mode="auto"):
    """One conversation with `server` (what Client takes, or a function returning a fresh
    transport): "list" lists the tools, (name, arguments) calls one, a function is called
    in between (in a thread: it may use the database). Returns the answers. `mode`: the
    client's ("legacy": the initialize handshake of protocol 2025-11-25 and before, as the
    desktop assistants of 2026 open a connection)."""

    async def conversation():
        async with Client(server() if callable(server) else server, mode=mode) as client:
            answers = []
            for request in requests:
                if request == "list":
                    answers.append(await client.list_tools())
                elif callable(request):  # something done meanwhile, on the database
                    answers.append(await anyio.to_thread.run_sync(request))
                else:
                    name, arguments = request
                    answers.append(await client.call_tool(name, arguments))
            return answers

    try:
        return anyio.run(conversation)
    except BaseExceptionGroup as group:
        # The client's task groups wrap what the conversation raised: the one error, for
        # pytest.raises.
        leaves = list(leaves_of(group))
        if len(leaves) == 1:
            raise leaves[0] from None
        raise


def leaves_of(group):
    for error in group.exceptions:
        if isinstance(error, BaseExceptionGroup):
            yield from leaves_of(error)
        else:
            yield error


def ask(server, name, **arguments):
    """One tool call's structured answer; fails the test on an error result."""
    [answer] = talk(server, (name, arguments))
    assert not answer.is_error, answer.content
    return answer.structured_content


def refusal(server, name, **arguments):
    """The text of a tool call's error result; fails the test if it was answered."""
    [answer] = talk(server, (name, arguments))
    assert answer.is_error, answer.structured_content
    return answer.content[0].text


@contextmanager
def live_server():
    """lumen.asgi (the admin and /mcp/) served by uvicorn on a free port, in a thread of
    this process (so it sees this test's database and clock). Yields its base address."""
    from lumen.asgi import make_application

    server = uvicorn.Server(
        uvicorn.Config(make_application(), host="127.0.0.1", port=0, log_level="warning")
    )
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 30
    while not server.started:
        assert thread.is_alive() and time.monotonic() < deadline, "uvicorn did not start"
        time.sleep(0.05)
    port = server.servers[0].sockets[0].getsockname()[1]
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        server.should_exit = True
        thread.join(timeout=30)
