from django.apps import AppConfig


class SafetyConfig(AppConfig):
    """What keeps secrets in: the commands that would otherwise print them, and the deploy
    checks that production's secrets are strong."""

    name = "safety"
    verbose_name = "Safety"

    def ready(self):
        from safety import checks  # noqa: F401  (registers the checks)
