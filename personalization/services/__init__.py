"""Writes of the personalization engine, one module per concern."""

from personalization.services.outcomes import session_outcome_record
from personalization.services.profiles import (
    profile_apply_feedback,
    profile_apply_user_feedback,
    profile_get_or_create,
    profiles_acceptance_rate_refresh,
)
from personalization.services.rebuild import profile_rebuild, profiles_rebuild
from personalization.services.recommendations import (
    Preferences,
    RecommendationItem,
    RecommendationResult,
    customer_order_get,
    experiment_assignment_for,
    order_context_from_order,
    recommendation_create,
)
from personalization.services.segments import segment_preference_recompute, segment_preferences_recompute

__all__ = [
    "Preferences",
    "RecommendationItem",
    "RecommendationResult",
    "customer_order_get",
    "experiment_assignment_for",
    "order_context_from_order",
    "profile_apply_feedback",
    "profile_apply_user_feedback",
    "profile_get_or_create",
    "profile_rebuild",
    "profiles_acceptance_rate_refresh",
    "profiles_rebuild",
    "recommendation_create",
    "segment_preference_recompute",
    "segment_preferences_recompute",
    "session_outcome_record",
]
