"""What Django's error pages and error reports (the debug page, mail to ADMINS) may show."""

import re

from django.views.debug import SafeExceptionReporterFilter


class AlwaysSafeExceptionReporterFilter(SafeExceptionReporterFilter):
    """Django's filter, active with DEBUG on too.

    Django hides `sensitive_post_parameters` and `sensitive_variables` only with DEBUG off,
    but a developer's DEBUG page is where a pasted Stripe key would show, on a machine that
    may hold a real one. Broker and Redis URLs are hidden too: they carry passwords.
    """

    hidden_settings = re.compile(
        "API|AUTH|TOKEN|KEY|SECRET|PASS|SIGNATURE|HTTP_COOKIE|BROKER_URL|REDIS_URL", flags=re.I
    )

    def is_active(self, request):
        return True
