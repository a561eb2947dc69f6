"""Lists of mirrored records chosen elsewhere: `?selection=<kind>:<value>` on any mirror page
shows exactly the records that a resolver registered for <kind> names (a report run's
citations register "cited"). The mirror knows nothing of who chooses: other apps register a
resolver, and the filter shows what it returns.

A resolver is called as resolver(request, value) and returns a Selection, or raises
PermissionDenied or ValueError (a value that names nothing).
"""

from dataclasses import dataclass

from django.contrib import admin

RESOLVERS = {}


@dataclass(frozen=True)
class Selection:
    label: str  # how the sidebar names it: "cited by revenue run #12: gross, usd"
    connection_id: int
    stripe_ids: list
    total: int  # how many records the selection holds (more than stripe_ids when capped)


def register(kind, resolver):
    RESOLVERS[kind] = resolver


def resolve(request, value):
    kind, _, rest = (value or "").partition(":")
    resolver = RESOLVERS.get(kind)
    if resolver is None:
        raise ValueError(f"Unknown selection {kind!r}.")
    return resolver(request, rest)


class SelectionFilter(admin.SimpleListFilter):
    """Shown in the sidebar only while a selection is applied."""

    title = "selection"
    parameter_name = "selection"

    def __init__(self, request, params, model, model_admin):
        # Resolved before the base class asks for lookups().
        asked = params.get(self.parameter_name)
        asked = asked[-1] if isinstance(asked, list) else asked
        self.selection = None
        if asked:
            try:
                self.selection = resolve(request, asked)
            except ValueError:
                self.selection = Selection("named by a link that names nothing", 0, [], 0)
        request.mirror_selection = self.selection
        super().__init__(request, params, model, model_admin)

    def lookups(self, request, model_admin):
        if not self.value():
            return []
        return [(self.value(), self.selection.label)]

    def queryset(self, request, queryset):
        if self.selection is None:
            return queryset
        return queryset.filter(
            connection_id=self.selection.connection_id, stripe_id__in=self.selection.stripe_ids
        )
