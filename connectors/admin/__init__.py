"""The connectors app's admin pages, a module each: the connections, their sync runs and
schedules, the webhook endpoints and deliveries, and the mirror's browsing pages. Admin
autodiscovery imports this package, which registers them all."""

from connectors.admin import connections, mirror, sync, webhooks

__all__ = ["connections", "mirror", "sync", "webhooks"]
