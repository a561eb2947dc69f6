"""The ASGI entry point: the admin (Django) and the MCP server for AI assistants at /mcp/
(the SDK's streamable HTTP app, assistant.http), in one deployment:

    uvicorn lumen.asgi:application --host 127.0.0.1 --port 8000

Django stays a WSGI application too (lumen.wsgi, the admin alone): the SDK's server is an
ASGI application, and this is the one process that serves both.
"""

import os

from django.core.asgi import get_asgi_application

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "lumen.settings")
django_application = get_asgi_application()  # sets Django up: assistant.http needs the apps

from django.conf import settings  # noqa: E402
from django.contrib.staticfiles.handlers import ASGIStaticFilesHandler  # noqa: E402

from assistant import http  # noqa: E402

if settings.DEBUG:
    # As runserver does in development; production serves STATIC_ROOT from the web server.
    django_application = ASGIStaticFilesHandler(django_application)


def make_application():
    """Django and the MCP app side by side. A new MCP app each time: the SDK runs an app's
    session manager (its lifespan) once only, so each server process needs its own."""
    mcp_application = http.application()

    async def application(scope, receive, send):
        # The lifespan is the MCP app's (it starts its session manager); Django's ASGI
        # handler has none.
        if scope["type"] == "lifespan":
            return await mcp_application(scope, receive, send)
        path = scope.get("path", "")
        if path == http.PATH.rstrip("/") or path.startswith(http.PATH):
            return await mcp_application(scope, receive, send)
        return await django_application(scope, receive, send)

    return application


application = make_application()
