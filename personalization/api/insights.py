"""The read endpoints of personalization: the caller's own profile, and the insights into its performance."""

from drf_spectacular.utils import extend_schema
from rest_framework import serializers
from rest_framework.exceptions import PermissionDenied
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from core.api.serializers import ErrorSerializer, StrictSerializer
from marketplace.selectors import customer_account_get
from personalization.api.serializers import FactorMapSerializer
from personalization.insights import FUNNEL_STEPS
from personalization.models import ExplanationPreference
from personalization.selectors import insights_get, profile_personal_get
from personalization.services import profile_get_or_create

CUSTOMER_CLASSES = ["new", "established", "at_risk"]

# --- GET profile/personal ----------------------------------------------------------------------------------


class FactorWeightSerializer(serializers.Serializer):
    factor = serializers.CharField()
    label = serializers.CharField()
    weight = serializers.FloatField(help_text="Effective ranking weight; the six sum to 1")


class PatternCountsSerializer(serializers.Serializer):
    chosen = serializers.IntegerField()
    rejected = serializers.IntegerField()
    successes = serializers.IntegerField(help_text="Chosen sessions that converted")
    failures = serializers.IntegerField(help_text="Chosen sessions that did not convert, or were rated 1-2")


class ChosenManufacturerSerializer(PatternCountsSerializer):
    id = serializers.IntegerField()
    name = serializers.CharField(allow_null=True, help_text="null when the manufacturer no longer exists")


class ChosenCodeSerializer(PatternCountsSerializer):
    code = serializers.CharField()
    label = serializers.CharField()


class DecisionSpeedSerializer(serializers.Serializer):
    decisions = serializers.IntegerField(help_text="Feedback events that reported a time to decision")
    typical_seconds = serializers.FloatField(allow_null=True, help_text="Geometric mean time to decision")
    category = serializers.ChoiceField(choices=["fast", "deliberate"], allow_null=True)


class BehaviorPatternsSerializer(serializers.Serializer):
    top_manufacturers = ChosenManufacturerSerializer(many=True, help_text="Most chosen first, at most 5")
    top_regions = ChosenCodeSerializer(many=True)
    top_processes = ChosenCodeSerializer(many=True)
    views = serializers.IntegerField(help_text="Manufacturers viewed, over all sessions")
    explanations_opened = serializers.IntegerField()
    explanation_sessions = serializers.IntegerField(help_text="Sessions that reported whether explanations were opened")
    decision_speed = DecisionSpeedSerializer()


class ProfilePerformanceSerializer(serializers.Serializer):
    conversion_rate = serializers.FloatField(help_text="Converted share of the chosen sessions with a known outcome")
    recommendation_acceptance_rate = serializers.FloatField(help_text="Sessions with a choice over all sessions")
    average_satisfaction = serializers.FloatField(allow_null=True)
    average_choice_rank = serializers.FloatField(allow_null=True)
    successful_matches = serializers.IntegerField()
    total_interactions = serializers.IntegerField()
    total_choices = serializers.IntegerField()
    outcomes = serializers.IntegerField(help_text="Chosen sessions with a known conversion")
    ratings = serializers.IntegerField()


class PreferenceSnapshotSerializer(serializers.Serializer):
    at = serializers.DateTimeField()
    version = serializers.IntegerField()
    weights = FactorMapSerializer()
    confidence = serializers.FloatField()


class PersonalProfileSerializer(serializers.Serializer):
    customer_id = serializers.IntegerField()
    segment = serializers.CharField()
    weights_version = serializers.IntegerField()
    top_factors = FactorWeightSerializer(many=True, help_text="All six factors, largest weight first")
    personal_confidence = serializers.FloatField()
    personalization_level = serializers.FloatField(help_text="How much of the ranking is the customer's own")
    customer_class = serializers.ChoiceField(choices=CUSTOMER_CLASSES, help_text="personalization.policy.classify")
    customer_class_reason = serializers.CharField()
    behavior_patterns = BehaviorPatternsSerializer()
    performance = ProfilePerformanceSerializer()
    learning_velocity = serializers.FloatField()
    explanation_preference = serializers.ChoiceField(choices=ExplanationPreference.choices)
    risk_tolerance = serializers.FloatField(help_text="0 = always the most reliable option, 1 = indifferent")
    complexity_comfort_level = serializers.FloatField()
    preference_evolution = PreferenceSnapshotSerializer(many=True, help_text="The last 5 snapshots, oldest first")
    created_at = serializers.DateTimeField()
    updated_at = serializers.DateTimeField()
    last_interaction_at = serializers.DateTimeField(allow_null=True)


class ProfilePersonalApi(APIView):
    """The caller's own profile in readable form: what the engine has learnt and how well it serves.

    A customer without a profile yet gets one created from its segment's prior."""

    @extend_schema(responses={200: PersonalProfileSerializer, 401: ErrorSerializer, 403: ErrorSerializer})
    def get(self, request: Request) -> Response:
        customer = customer_account_get(user=request.user)
        if customer is None:
            raise PermissionDenied("Only customer accounts have a profile.")
        profile = profile_get_or_create(customer=customer)
        return Response(PersonalProfileSerializer(profile_personal_get(customer=customer, profile=profile)).data)


# --- GET insights ------------------------------------------------------------------------------------------


class InsightsQuerySerializer(StrictSerializer):
    days = serializers.IntegerField(
        min_value=1, max_value=365, default=90, help_text="The period: sessions created in the last `days` days"
    )


class IntervalSerializer(serializers.Serializer):
    low = serializers.FloatField()
    high = serializers.FloatField()


class ArmSerializer(serializers.Serializer):
    algorithms = serializers.ListField(child=serializers.CharField(), help_text="The strategies of these sessions")
    sessions = serializers.IntegerField()
    conversions = serializers.IntegerField()
    conversion_rate = serializers.FloatField(allow_null=True, help_text="Converted sessions over sessions")
    conversion_rate_ci = IntervalSerializer(
        allow_null=True, help_text="95% interval; null with fewer than 2 sessions or no variation"
    )
    rated_sessions = serializers.IntegerField()
    mean_satisfaction = serializers.FloatField(allow_null=True)
    mean_satisfaction_ci = IntervalSerializer(allow_null=True)


class ComparisonSerializer(serializers.Serializer):
    effect = serializers.FloatField()
    ci_low = serializers.FloatField()
    ci_high = serializers.FloatField()
    p_value = serializers.FloatField()
    significant = serializers.BooleanField(help_text="The 95% interval excludes 0")


class PerformanceSerializer(serializers.Serializer):
    personalized = ArmSerializer(help_text="Sessions ranked by personal weights: personalized, retention_focus")
    non_personalized = ArmSerializer(help_text="Everything else: segment_prior and the base strategies")
    conversion_lift = ComparisonSerializer(
        allow_null=True,
        help_text="Relative lift of the conversion rate, personalized over non-personalized (Welch, delta method); "
        "null when undefined (an arm with fewer than 2 sessions, no conversions among the others)",
    )
    satisfaction_difference = ComparisonSerializer(
        allow_null=True, help_text="Mean rating, personalized minus non-personalized (Welch); null when undefined"
    )


class StrategySerializer(serializers.Serializer):
    algorithm = serializers.CharField()
    personalized = serializers.BooleanField()
    sessions = serializers.IntegerField()
    conversions = serializers.IntegerField()
    conversion_rate = serializers.FloatField()
    rated_sessions = serializers.IntegerField()
    mean_satisfaction = serializers.FloatField(allow_null=True)


class FunnelStepSerializer(serializers.Serializer):
    step = serializers.ChoiceField(choices=list(FUNNEL_STEPS))
    sessions = serializers.IntegerField(help_text="Sessions that reached this step or a later one")
    share_of_recommended = serializers.FloatField(allow_null=True)
    drop_off = serializers.FloatField(allow_null=True, help_text="Share of the previous step's sessions lost here")


class FunnelSerializer(serializers.Serializer):
    steps = FunnelStepSerializer(many=True)
    rated_conversions = serializers.IntegerField(help_text="Converted sessions with a rating (the rest await one)")


class TimeToMatchSerializer(serializers.Serializer):
    matches = serializers.IntegerField(help_text="Converted sessions with a known time")
    median_hours = serializers.FloatField(allow_null=True)
    p90_hours = serializers.FloatField(allow_null=True)
    source = serializers.ChoiceField(
        choices=["conversion_time", "decision_time", "mixed"],
        allow_null=True,
        help_text="conversion_time: the outcome's conversion time minus the session's; decision_time: the "
        "customer's reported time to decision, where no conversion time is known",
    )
    from_conversion_time = serializers.IntegerField()
    from_decision_time = serializers.IntegerField()


class InsightSerializer(serializers.Serializer):
    kind = serializers.ChoiceField(
        choices=[
            "personalization_conversion",
            "personalization_satisfaction",
            "funnel_drop_off",
            "best_strategy",
            "satisfaction_trend",
        ]
    )
    message = serializers.CharField()
    evidence = serializers.DictField(help_text="The counts and test behind the sentence")


class PeriodSerializer(serializers.Serializer):
    days = serializers.IntegerField()
    start = serializers.DateTimeField()
    end = serializers.DateTimeField()


class InsightsSerializer(serializers.Serializer):
    scope = serializers.ChoiceField(choices=["platform", "customer"], help_text="platform for staff")
    customer_id = serializers.IntegerField(allow_null=True)
    period = PeriodSerializer()
    performance = PerformanceSerializer()
    strategies = StrategySerializer(many=True, help_text="Per ranking strategy, most sessions first")
    funnel = FunnelSerializer()
    time_to_match = TimeToMatchSerializer()
    insights = InsightSerializer(many=True, help_text="Each only when its evidence holds")


class InsightsApi(APIView):
    """How personalization performs: conversion and satisfaction against non-personalized sessions, the
    journey funnel, time to a successful match, and actionable sentences. Staff see the platform, a customer
    its own sessions."""

    @extend_schema(
        parameters=[InsightsQuerySerializer],
        responses={200: InsightsSerializer, 400: ErrorSerializer, 401: ErrorSerializer, 403: ErrorSerializer},
    )
    def get(self, request: Request) -> Response:
        customer = None if request.user.is_staff else customer_account_get(user=request.user)
        if customer is None and not request.user.is_staff:
            raise PermissionDenied("Only staff and customer accounts have insights to read.")
        query = InsightsQuerySerializer(data=request.query_params)
        query.is_valid(raise_exception=True)
        body = insights_get(customer=customer, days=query.validated_data["days"])
        return Response(InsightsSerializer(body).data)
