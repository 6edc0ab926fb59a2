from django.contrib import admin

from personalization.models import RecommendationSession


@admin.register(RecommendationSession)
class RecommendationSessionAdmin(admin.ModelAdmin):
    """The decision log, read-only: sessions are append-only."""

    list_display = (
        "id",
        "customer",
        "algorithm_used",
        "optimization_goal",
        "personal_confidence",
        "ab_test_active",
        "eligible_count",
        "source",
        "created_at",
    )
    list_filter = ("algorithm_used", "optimization_goal", "source", "ab_test_active")
    search_fields = ("=id", "customer__company_name")
    list_select_related = ("customer",)
    date_hierarchy = "created_at"

    def has_add_permission(self, request) -> bool:
        return False

    def has_change_permission(self, request, obj=None) -> bool:
        return False

    def has_delete_permission(self, request, obj=None) -> bool:
        return False
