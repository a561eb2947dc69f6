"""A second factor for staff: a TOTP authenticator app, through django-otp.

Any staff user may enrol (the admin's "Two-factor login" link); once enrolled, a login counts
only after a code from the app. With LUMEN_REQUIRE_2FA=true, superusers and connection
admins (whoever may change a Stripe connection, and so its key) must enrol, and pass the
second factor, before any admin page.
"""

from base64 import b32encode
from io import BytesIO

import django_otp
from django import forms
from django.conf import settings
from django.contrib import messages
from django.contrib.auth.views import redirect_to_login
from django.db import transaction
from django.shortcuts import redirect
from django.template.response import TemplateResponse
from django.urls import reverse
from django.utils.http import url_has_allowed_host_and_scheme
from django.utils.safestring import mark_safe
from django_otp.plugins.otp_totp.models import TOTPDevice
from django_otp.qr import write_qrcode_image

CONNECTION_ADMIN_PERMISSION = "connectors.change_stripeconnection"


def second_factor_required(user):
    if TOTPDevice.objects.filter(user=user, confirmed=True).exists():
        return True
    return settings.LUMEN_REQUIRE_2FA and user.has_perm(CONNECTION_ADMIN_PERMISSION)


def second_factor_missing(request):
    """Whether this session has passed the password but still owes the second factor."""
    user = request.user
    return user.is_authenticated and not user.is_verified() and second_factor_required(user)


class CodeForm(forms.Form):
    code = forms.CharField(
        label="Code from your authenticator app",
        max_length=8,
        widget=forms.TextInput(
            attrs={"autocomplete": "one-time-code", "inputmode": "numeric", "autofocus": True}
        ),
    )


def next_url(request):
    target = request.POST.get("next") or request.GET.get("next") or ""
    if url_has_allowed_host_and_scheme(target, {request.get_host()}, request.is_secure()):
        return target
    return reverse("admin:index")


def qr_svg(data):
    out = BytesIO()
    write_qrcode_image(data, out)
    svg = out.getvalue().decode()
    return mark_safe(svg[svg.index("<svg") :])  # noqa: S308 (generated here, no user text)


def two_factor_view(site, request):
    """Verify a code (enrolled), or enrol an authenticator app and verify its first code."""
    user = request.user
    if not (user.is_active and user.is_staff):
        return redirect_to_login(request.get_full_path(), reverse("admin:login"))
    device = TOTPDevice.objects.filter(user=user, confirmed=True).first()
    enrolling = device is None
    if enrolling:
        device = TOTPDevice.objects.filter(user=user, confirmed=False).first()
        device = device or TOTPDevice.objects.create(
            user=user, name="Authenticator app", confirmed=False
        )
    elif user.is_verified():
        return TemplateResponse(
            request,
            "admin/two_factor.html",
            {**site.each_context(request), "title": "Two-factor login", "done": True},
        )

    form = CodeForm(request.POST or None)
    if form.is_valid():
        with transaction.atomic():
            device = TOTPDevice.objects.select_for_update().get(pk=device.pk)
            allowed, _ = device.verify_is_allowed()
            if allowed and device.verify_token(form.cleaned_data["code"].strip()):
                if enrolling:
                    device.confirmed = True
                    device.save(update_fields=["confirmed"])
                    messages.success(request, "Two-factor login is on for your account.")
                django_otp.login(request, device)
                return redirect(next_url(request))
        form.add_error(
            "code",
            "That code is not right (or too many wrong codes were tried: wait a minute). "
            "Check the time on your phone.",
        )

    context = {
        **site.each_context(request),
        "title": "Set up two-factor login" if enrolling else "Two-factor login",
        "form": form,
        "enrolling": enrolling,
        "next": next_url(request),
        "required": settings.LUMEN_REQUIRE_2FA and user.has_perm(CONNECTION_ADMIN_PERMISSION),
    }
    if enrolling:
        context["secret"] = b32encode(device.bin_key).decode()
        context["qr"] = qr_svg(device.config_url)
    return TemplateResponse(request, "admin/two_factor.html", context)
