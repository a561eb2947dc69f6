from django.apps import AppConfig


class ConnectorsConfig(AppConfig):
    name = "connectors"
    verbose_name = "Stripe account"

    def ready(self):
        from connectors import checks  # noqa: F401  (registers them)
