"""The audit trail in admin: a read-only list (filter by action, actor, object type, date;
search by object id), and Django's "Delete selected" replaced site-wide by an audited one."""

from __future__ import annotations

from django.contrib import admin

from .admin_actions import audited_delete_selected
from .models import AuditEntry

admin.site.add_action(audited_delete_selected, "delete_selected")


class ActorFilter(admin.SimpleListFilter):
    """Ops who took decisions (a list of every user would be every shopper)."""

    title = "actor"
    parameter_name = "actor"

    def lookups(self, request, model_admin):
        people = (
            AuditEntry.objects.exclude(actor_name="")
            .values_list("actor_name", flat=True)
            .distinct()
            .order_by("actor_name")[:100]
        )
        return [("-", "System"), *((name, name) for name in people)]

    def queryset(self, request, queryset):
        value = self.value()
        if value == "-":
            return queryset.filter(actor_name="")
        if value:
            return queryset.filter(actor_name=value)
        return queryset


@admin.register(AuditEntry)
class AuditEntryAdmin(admin.ModelAdmin):
    """Who decided what, on which object, when and why. Nobody adds, changes or deletes rows
    here: services write them in the decisions' own transactions."""

    list_display = ("at", "who", "action", "on", "reason")
    list_filter = ("action", ActorFilter, "object_type", ("at", admin.DateFieldListFilter))
    search_fields = ("=object_id", "=actor_name", "object_repr")
    date_hierarchy = "at"
    readonly_fields = [f.name for f in AuditEntry._meta.fields]
    list_per_page = 50
    actions = None

    @admin.display(description="Who", ordering="actor_name")
    def who(self, obj):
        return obj.actor_name or "system"

    @admin.display(description="On")
    def on(self, obj):
        if not obj.object_id:
            return obj.object_type or "—"
        return f"{obj.object_type} #{obj.object_id} — {obj.object_repr}"

    def has_add_permission(self, request):
        return False

    def has_change_permission(self, request, obj=None):
        return False

    def has_delete_permission(self, request, obj=None):
        return False
