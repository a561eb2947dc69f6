import os
import sys

import anyio
from django.core.management.base import BaseCommand, CommandError
from django.db import connections

from assistant import tokens
from assistant.server import build

TOKEN_VARIABLE = "LUMEN_MCP_TOKEN"  # noqa: S105 (the name of a variable, not a token)
REFUSED = 2


class Command(BaseCommand):
    help = (
        "Serve Lumen's MCP server on stdin and stdout, for an AI assistant that starts it as a "
        f"local process, acting as the staff user whose assistant token is in {TOKEN_VARIABLE} "
        "(create one in the admin: Setup → Assistant tokens). Never on the command line: "
        "argv is visible to every user of the machine."
    )

    def handle(self, *args, **options):
        secret = os.environ.get(TOKEN_VARIABLE, "")
        try:
            token = tokens.authenticate(secret, touch=False)
        except tokens.TokenRefused as e:
            raise CommandError(str(e), returncode=REFUSED) from None
        # Only the protocol may go to stdout: what people read goes to stderr.
        sys.stderr.write(
            f"Lumen's MCP server on stdio, acting as {token.user.get_username()} "
            f"(token {token.name!r}, {token.masked}).\n"
        )
        keep_connections_open()
        server = build(stdio_secret=secret)
        anyio.run(server.run_stdio_async)


def keep_connections_open():
    """One assistant's process, one call at a time: its database connections stay open
    between tool calls (and are checked before they are used again), where Django's default
    opens one for each call. On PostgreSQL that was 6-8 ms of every call, a third of a
    lookup's time."""
    for alias in connections:
        connections.settings[alias].update(CONN_MAX_AGE=None, CONN_HEALTH_CHECKS=True)
