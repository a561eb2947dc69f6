"""Deploy checks (`manage.py check --deploy`) beyond Django's own."""

from django.conf import settings
from django.core.checks import Tags, Warning, register

# Django's own check (security.W009) accepts a key of 50 characters drawn from as few as 5
# different ones, such as a word repeated. A generated key of 50 characters has about 40.
MIN_DISTINCT_CHARACTERS = 20


@register(Tags.security, deploy=True)
def check_secret_key_strength(app_configs, **kwargs):
    key = settings.SECRET_KEY
    if len(set(key)) >= MIN_DISTINCT_CHARACTERS:
        return []
    return [
        Warning(
            f"DJANGO_SECRET_KEY uses fewer than {MIN_DISTINCT_CHARACTERS} different characters: "
            "it looks typed or repeated rather than generated. It signs sessions and password "
            "reset links.",
            hint="Generate one: python -c 'import secrets; print(secrets.token_urlsafe(50))'",
            id="lumen.W001",
        )
    ]
