"""What Lumen's admin pages share: the stylesheet, badges, and the rule that a page over
records Lumen only keeps (mirrored objects, runs, the audit log) never adds, changes or
deletes them.

A page's look lives in lumen/static/lumen/admin.css, loaded through each page's Media, so
Python writes class names and never inline styles."""

from django.contrib import admin
from django.forms import MediaDefiningClass
from django.utils.html import format_html

NONE = "–"

# A badge's tone says how a reader should take a value, not which value it is: several
# statuses share a tone, and the colours are the stylesheet's.
TONES = ("good", "warn", "bad", "info", "quiet")


class Styled(metaclass=MediaDefiningClass):
    """A model admin mixin: Lumen's stylesheet on its pages, on top of the admin's own."""

    class Media:
        css = {"all": ["lumen/admin.css"]}


class ReadOnly(Styled):
    """Pages over records that something else writes: staff with the view permission look;
    nobody adds, changes or deletes here, superusers included."""

    def has_add_permission(self, request):
        return False

    def has_change_permission(self, request, obj=None):
        return False

    def has_delete_permission(self, request, obj=None):
        return False


def badge(text, tone="quiet"):
    if not text:
        return NONE
    if tone not in TONES:
        raise ValueError(f"unknown badge tone {tone!r}")
    return format_html('<span class="lumen-badge lumen-{}">{}</span>', tone, text)


def readable(value):
    """A Stripe enum value as staff read it: "credit_not_processed" -> "Credit not processed"."""
    if not value:
        return NONE
    text = str(value).replace("_", " ")
    return text[:1].upper() + text[1:]


def flag_column(field, description, true_text, false_text=NONE):
    """A yes/no field as words: Django's icons put a red cross beside "not delinquent"."""

    @admin.display(description=description, ordering=field)
    def column(self, obj):
        return true_text if getattr(obj, field) else false_text

    return column


def readable_column(field, description):
    """A Stripe enum value as staff read it ("credit_not_processed" -> "Credit not processed")."""

    @admin.display(description=description, ordering=field)
    def column(self, obj):
        return readable(getattr(obj, field))

    return column
