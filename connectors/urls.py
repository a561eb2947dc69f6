"""Addresses outside the admin: where Stripe delivers webhooks (mounted at /webhooks/)."""

from django.urls import path

from connectors import webhooks

urlpatterns = [
    path("stripe/<str:token>/", webhooks.stripe_webhook, name="stripe_webhook"),
]
