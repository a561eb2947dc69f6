"""The MCP server over streamable HTTP, at /mcp/ beside the admin (lumen.asgi serves both).

Each request brings an assistant token as a bearer token, checked by the SDK's bearer
middleware with `AssistantTokens` (a missing, unknown, revoked or expired one is answered
401 before anything runs) and again by assistant.calls.Gate for every tool call, which acts
as the token's user.

Stateless and answered as plain JSON: no session lives in one process's memory, so any
number of server processes behind a load balancer answer any request, and nothing streams
(no tool sends progress).
"""

from django.conf import settings
from mcp.server.auth.provider import AccessToken
from mcp.server.auth.settings import AuthSettings
from mcp.server.transport_security import TransportSecuritySettings

from assistant import tokens
from assistant.calls import in_thread
from assistant.server import build

PATH = "/mcp/"


class AssistantTokens:
    """The SDK's TokenVerifier over Lumen's assistant tokens."""

    async def verify_token(self, token):
        try:
            found = await in_thread(tokens.authenticate, token, None, False)
        except tokens.TokenRefused:
            return None
        return AccessToken(
            token=token,
            client_id=f"lumen-assistant-token-{found.pk}",
            scopes=[],
            expires_at=int(found.expires_at.timestamp()),
            subject=str(found.user_id),
        )


def transport_security():
    """The SDK's DNS-rebinding check, on the hosts Django serves (ALLOWED_HOSTS). Django's
    wildcards (".example.com", "*") have no equivalent there: with one of them the check is
    Django's alone, and the bearer token, which a rebound page cannot send, still guards."""
    hosts = settings.ALLOWED_HOSTS
    if any(host == "*" or host.startswith(".") for host in hosts):
        return TransportSecuritySettings(enable_dns_rebinding_protection=False)
    return TransportSecuritySettings(
        allowed_hosts=[h for host in hosts for h in (host, f"{host}:*")],
        # A browser page may call only from Lumen's own origins (desktop assistants send none).
        allowed_origins=[settings.LUMEN_BASE_URL, *settings.CSRF_TRUSTED_ORIGINS],
    )


def application():
    """The SDK's Starlette app (an ASGI app whose lifespan runs its session manager)."""
    server = build(
        auth=AuthSettings(issuer_url=settings.LUMEN_BASE_URL, resource_server_url=None),
        token_verifier=AssistantTokens(),
    )
    return server.streamable_http_app(
        streamable_http_path=PATH,
        stateless_http=True,
        json_response=True,
        transport_security=transport_security(),
    )
