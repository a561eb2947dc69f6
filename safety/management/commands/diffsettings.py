from django.core.management.commands import diffsettings
from django.views.debug import get_default_exception_reporter_filter


def cleansed(values):
    # The same filter as the error pages: FIELD_ENCRYPTION_KEY, SECRET_KEY, passwords and
    # broker URLs print as ********************.
    cleanse = get_default_exception_reporter_filter().cleanse_setting
    return {name: cleanse(name, value) for name, value in values.items()}


class Command(diffsettings.Command):
    """Django's `diffsettings`, with secrets masked: its output ends up in terminals, tickets
    and CI logs, and FIELD_ENCRYPTION_KEY opens every stored Stripe key."""

    def output_hash(self, user_settings, default_settings, **options):
        return super().output_hash(cleansed(user_settings), cleansed(default_settings), **options)

    def output_unified(self, user_settings, default_settings, **options):
        return super().output_unified(
            cleansed(user_settings), cleansed(default_settings), **options
        )
