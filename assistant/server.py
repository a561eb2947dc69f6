"""Lumen's MCP server: the SDK's MCPServer with the tools of assistant.tools, each call
signed in and recorded by assistant.calls.Gate. One server object per process and transport:
`manage.py mcp` (stdio) and assistant.http (streamable HTTP, mounted by lumen.asgi)."""

from mcp.server.mcpserver import MCPServer
from mcp_types import ToolAnnotations

from assistant import calls

INSTRUCTIONS = """\
Lumen mirrors a company's Stripe accounts (each one a "connection") and computes
reconciliation reports from the mirror. Everything here is read-only, as of each
connection's last sync (list_connections shows when). Amounts are integers in the
currency's minor unit with a formatted string beside them; never add amounts of different
currencies. For totals (revenue, refunds, MRR, churn, payouts) call `report`, whose figures
are exact and cite their records, rather than adding up lists. Cite what you answer from:
every record has its Stripe id and links to Lumen's admin and Stripe's dashboard."""


def build(*, stdio_secret=None, **options):
    """The server, with every tool of assistant.tools. `stdio_secret`: the assistant token
    a stdio server acts with; `options`: the SDK's (auth and token_verifier for HTTP)."""
    import assistant.tools  # noqa: F401  (registers the tools)

    server = MCPServer(
        "lumen",
        title="Lumen",
        instructions=INSTRUCTIONS,
        middleware=[calls.Gate(stdio_secret)],
        **options,
    )
    for spec in calls.TOOLS:
        server.add_tool(
            spec.fn,
            name=spec.name,
            title=spec.title,
            annotations=ToolAnnotations(
                title=spec.title,
                # `sync` reads Stripe into the mirror: it changes Lumen, never Stripe.
                read_only_hint=not spec.reaches_stripe,
                destructive_hint=False,
                idempotent_hint=True,
                open_world_hint=spec.reaches_stripe,
            ),
            structured_output=True,
        )
    return server
