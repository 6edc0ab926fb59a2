from django.contrib import admin

from marketplace.truth.models import SimulatedWorld


@admin.register(SimulatedWorld)
class SimulatedWorldAdmin(admin.ModelAdmin):
    """Which simulated world is loaded (its hidden per-customer truth stays out of the admin)."""

    list_display = ("seed", "created_at", "start")
    readonly_fields = ("seed", "config", "start", "summary", "created_at")

    def has_add_permission(self, request) -> bool:
        return False
