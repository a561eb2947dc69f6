"""The failed-login throttle (django-axes): where a login comes from, and what a locked-out
user is told."""

from django.conf import settings
from django.shortcuts import render


def client_ip(request):
    """The address a login comes from. Behind a proxy (LUMEN_BEHIND_PROXY) it is the last
    entry of X-Forwarded-For, the one the proxy appended; earlier entries are whatever the
    client sent, so counting by them would let anyone pick a fresh address per guess."""
    if settings.LUMEN_BEHIND_PROXY:
        forwarded = request.META.get("HTTP_X_FORWARDED_FOR", "").split(",")[-1].strip()
        if forwarded:
            return forwarded
    return request.META.get("REMOTE_ADDR", "")


def locked_out(request, original_response, credentials):
    minutes = int(settings.AXES_COOLOFF_TIME.total_seconds() // 60)
    context = {
        "username": (credentials or {}).get("username", ""),
        "failure_limit": settings.AXES_FAILURE_LIMIT,
        "minutes": minutes,
        "site_header": "Lumen",
        "site_title": "Lumen",
    }
    return render(request, "admin/locked_out.html", context, status=429)
