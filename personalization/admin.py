from django.contrib import admin, messages

from marketplace.vocabulary import FACTORS
from personalization import learning
from personalization.models import (
    CustomerPersonalizationProfile,
    Interaction,
    RecommendationSession,
    SegmentPreference,
    SessionOutcome,
)
from personalization.services import segment_preference_recompute


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


@admin.register(CustomerPersonalizationProfile)
class CustomerPersonalizationProfileAdmin(admin.ModelAdmin):
    """What the engine learnt about each customer. Written only by the learning services: read-only here."""

    list_display = (
        "customer",
        "personal_confidence",
        "total_choices",
        "conversion_rate",
        "average_satisfaction",
        "risk_tolerance",
        "weights_version",
        "last_interaction_at",
    )
    list_filter = ("explanation_preference", "customer__segment")
    search_fields = ("customer__company_name",)
    list_select_related = ("customer",)
    readonly_fields = [field.name for field in CustomerPersonalizationProfile._meta.fields]

    def has_add_permission(self, request) -> bool:
        return False

    def has_change_permission(self, request, obj=None) -> bool:
        return False


@admin.register(SegmentPreference)
class SegmentPreferenceAdmin(admin.ModelAdmin):
    list_display = ("segment", "customers", "choices", "position_bias", "computed_at")
    readonly_fields = (
        "segment",
        "median_weights",
        "prior_mean",
        "prior_sd",
        "position_bias",
        "customers",
        "choices",
        "log_likelihood",
        "computed_at",
    )
    actions = ["recompute"]

    def has_add_permission(self, request) -> bool:
        return False

    @admin.display(description="Median customer's ranking weights")
    def median_weights(self, row: SegmentPreference) -> str:
        """The prior's factor weights as the ranking uses them (prior_mean holds their logarithms)."""
        weights = learning.effective_weights(learning.prior_state(row.prior_mean, row.prior_sd))
        return ", ".join(f"{factor} {weight:.2f}" for factor, weight in zip(FACTORS, weights))

    @admin.action(description="Refit the selected segments from the decision log now")
    def recompute(self, request, queryset):
        for row in queryset:
            result = segment_preference_recompute(segment=row.segment)
            if not result.fitted:
                self.message_user(
                    request, f"{row.segment}: only {result.choices} choices, not refitted", level=messages.WARNING
                )


@admin.register(Interaction)
class InteractionAdmin(admin.ModelAdmin):
    list_display = ("event_id", "customer", "session", "chosen_manufacturer_id", "chosen_rank", "source", "created_at")
    list_filter = ("source",)
    search_fields = ("=event_id", "customer__company_name", "=session__id")
    list_select_related = ("customer", "session")
    raw_id_fields = ("customer", "session")

    def has_add_permission(self, request) -> bool:
        return False

    def has_change_permission(self, request, obj=None) -> bool:
        return False


@admin.register(SessionOutcome)
class SessionOutcomeAdmin(admin.ModelAdmin):
    list_display = (
        "session",
        "manufacturer_id",
        "converted",
        "contract_value",
        "satisfaction",
        "delivered_on_time",
        "updated_at",
    )
    list_filter = ("converted", "satisfaction", "delivered_on_time")
    raw_id_fields = ("session",)

    def has_add_permission(self, request) -> bool:
        return False

    def has_change_permission(self, request, obj=None) -> bool:
        return False
