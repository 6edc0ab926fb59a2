"""Input and output of the experiments API. Inputs check shapes and types; the rules of the domain (weights
summing to 1, one control, configs the engine accepts, an end date ahead) are the service's."""

from rest_framework import serializers

from core.api.fields import StrictBooleanField, StrictFloatField, StrictIntegerField
from core.api.serializers import StrictSerializer
from experiments.analysis import METHODS
from experiments.models import AnalysisMethod, ExperimentStatus, ExperimentType, Metric
from experiments.services import ENGINE_STRATEGIES, GUARDRAILS, PARAMETER_BOUNDS
from marketplace.models import ComplexityLevel, Region, Segment

MAX_VARIANTS = 20
STATUS_HELP = f"One of {', '.join(ExperimentStatus.values)}"

# --- input ---------------------------------------------------------------------------------------------------


class VariantConfigInputSerializer(StrictSerializer):
    """What a variant serves: a strategy the engine ranks with, and parameters within their bounds."""

    strategy = serializers.ChoiceField(choices=list(ENGINE_STRATEGIES), help_text="The ranking strategy it serves")
    parameters = serializers.DictField(
        child=StrictFloatField(),
        required=False,
        help_text="Within bounds: "
        + ", ".join(f"{name} in [{lo}, {hi}]" for name, (lo, hi) in PARAMETER_BOUNDS.items()),
    )


class VariantInputSerializer(StrictSerializer):
    """One arm of the experiment."""

    key = serializers.SlugField(max_length=40, help_text="Unique within the experiment")
    name = serializers.CharField(max_length=100, required=False, allow_blank=True, help_text="Defaults to the key")
    weight = StrictFloatField(min_value=0, max_value=1, help_text="Traffic share; the weights sum to 1")
    is_control = serializers.BooleanField(default=False, help_text="Exactly one variant is the control")
    config = VariantConfigInputSerializer()


class TargetingInputSerializer(StrictSerializer):
    """Who is in the experiment; an empty list or an absent bound means everyone."""

    segments = serializers.ListField(
        child=serializers.ChoiceField(choices=Segment.choices), required=False, max_length=len(Segment.values)
    )
    complexity_levels = serializers.ListField(  # checked by the service (an enum here would rename ComplexityLevelEnum)
        child=serializers.CharField(max_length=32),
        required=False,
        max_length=len(ComplexityLevel.values),
        help_text=f"Any of {', '.join(ComplexityLevel.values)}",
    )
    regions = serializers.ListField(
        child=serializers.ChoiceField(choices=Region.choices), required=False, max_length=len(Region.values)
    )
    min_order_value = StrictFloatField(min_value=0, max_value=1e12, required=False)
    max_order_value = StrictFloatField(min_value=0, max_value=1e12, required=False)


class ExperimentCreateInputSerializer(StrictSerializer):
    """A draft experiment and its variants; unknown fields are refused."""

    name = serializers.CharField(max_length=200)
    description = serializers.CharField(max_length=5000, required=False, allow_blank=True, default="")
    experiment_type = serializers.ChoiceField(choices=ExperimentType.choices, default=ExperimentType.AB_TEST)
    variants = VariantInputSerializer(many=True, help_text=f"2 to {MAX_VARIANTS}, one of them the control")
    coverage = StrictFloatField(min_value=0, max_value=1, default=1.0, help_text="Share of eligible customers")
    targeting = TargetingInputSerializer(required=False, help_text="Empty: every customer and order")
    namespace = serializers.CharField(max_length=64, required=False, allow_blank=True, default="")
    namespace_start = StrictFloatField(min_value=0, max_value=1, default=0.0)
    namespace_end = StrictFloatField(min_value=0, max_value=1, default=1.0)
    planned_end_date = serializers.DateTimeField(required=False, allow_null=True, default=None)
    minimum_sample_size = StrictIntegerField(
        min_value=2, max_value=100_000_000, default=100, help_text="Per variant, before any decision"
    )
    minimum_effect_size = StrictFloatField(
        min_value=0, max_value=10, default=0.05, help_text="Relative lift worth acting on (0.05 = 5%)"
    )
    confidence_level = StrictFloatField(min_value=0.8, max_value=0.999, default=0.95)
    minimum_runtime_days = StrictFloatField(
        min_value=0, max_value=365, default=7.0, help_text="Before an automatic stop with a winner"
    )
    guardrail_metrics = serializers.ListField(
        child=serializers.ChoiceField(choices=list(GUARDRAILS)), required=False, default=list, max_length=5
    )
    analysis_method = serializers.ChoiceField(choices=AnalysisMethod.choices, default=AnalysisMethod.SEQUENTIAL)
    cuped = StrictBooleanField(default=True, help_text="CUPED with the pre-period conversions")

    def validate_variants(self, value: list) -> list:
        if not 2 <= len(value) <= MAX_VARIANTS:
            raise serializers.ValidationError(f"An experiment has 2 to {MAX_VARIANTS} variants, got {len(value)}.")
        return value


class LifecycleInputSerializer(StrictSerializer):
    """An optional body."""

    reason = serializers.CharField(max_length=500, required=False, help_text="Kept as the status reason")


class ResultsQuerySerializer(StrictSerializer):
    """How to analyse."""

    method = serializers.ChoiceField(
        choices=list(METHODS),
        required=False,
        help_text="Overrides the experiment's analysis_method. sequential: always-valid intervals, safe to look "
        "at any time; fixed_horizon: the Welch t interval, valid when looked at once, at the planned end",
    )


# --- output --------------------------------------------------------------------------------------------------


class VariantOutputSerializer(serializers.Serializer):
    id = serializers.IntegerField()
    key = serializers.CharField()
    name = serializers.CharField()
    position = serializers.IntegerField()
    is_control = serializers.BooleanField()
    weight = serializers.FloatField()
    config = serializers.DictField(help_text='{"strategy": ..., "parameters": {...}}')
    participants = serializers.IntegerField(help_text="Live counter: customers exposed, each once")
    conversions = serializers.IntegerField(help_text="Live counter: exposed customers who converted, each once")
    revenue_sum = serializers.FloatField(help_text="Live counter: contract value of the conversions")
    conversion_rate = serializers.SerializerMethodField()

    def get_conversion_rate(self, variant) -> float | None:
        return variant.conversions / variant.participants if variant.participants else None


class ExperimentOutputSerializer(serializers.Serializer):
    id = serializers.IntegerField()
    name = serializers.CharField()
    description = serializers.CharField()
    experiment_type = serializers.ChoiceField(choices=ExperimentType.choices)
    status = serializers.CharField(help_text=STATUS_HELP)  # not an enum: the name StatusEnum is taken
    status_reason = serializers.CharField(help_text="Why the status last changed")
    coverage = serializers.FloatField()
    targeting = serializers.DictField()
    namespace = serializers.CharField()
    namespace_start = serializers.FloatField()
    namespace_end = serializers.FloatField()
    start_date = serializers.DateTimeField(allow_null=True)
    planned_end_date = serializers.DateTimeField(allow_null=True)
    actual_end_date = serializers.DateTimeField(allow_null=True)
    primary_metric = serializers.ChoiceField(choices=Metric.choices)
    minimum_sample_size = serializers.IntegerField()
    minimum_effect_size = serializers.FloatField()
    confidence_level = serializers.FloatField()
    minimum_runtime_days = serializers.FloatField()
    guardrail_metrics = serializers.ListField(child=serializers.CharField())
    analysis_method = serializers.ChoiceField(choices=AnalysisMethod.choices)
    cuped = serializers.BooleanField()
    created_by = serializers.IntegerField(source="created_by_id", allow_null=True, help_text="The user's id")
    created_at = serializers.DateTimeField()
    updated_at = serializers.DateTimeField()
    variants = VariantOutputSerializer(many=True, help_text="In position order, with their live counters")


# --- output: the analysis ------------------------------------------------------------------------------------


class VariantRevenueSerializer(serializers.Serializer):
    mean = serializers.FloatField(allow_null=True)
    variance = serializers.FloatField(allow_null=True, help_text="Unbiased sample variance per participant")
    reason = serializers.CharField(allow_null=True, help_text="Why a value is null")


class VariantSummarySerializer(serializers.Serializer):
    key = serializers.CharField()
    name = serializers.CharField()
    is_control = serializers.BooleanField()
    weight = serializers.FloatField()
    participants = serializers.IntegerField()
    conversions = serializers.IntegerField()
    conversion_rate = serializers.FloatField(allow_null=True, help_text="null with no participants")
    revenue_per_participant = VariantRevenueSerializer(help_text="Non-converting participants count 0")


class ExperimentLiftSerializer(serializers.Serializer):
    effect = serializers.FloatField(allow_null=True, help_text="Relative lift (mT - mC) / mC")
    ci_low = serializers.FloatField(allow_null=True)
    ci_high = serializers.FloatField(allow_null=True)
    p_value = serializers.FloatField(allow_null=True)
    p_value_adjusted = serializers.FloatField(allow_null=True, help_text="Holm-adjusted across the treatments")
    standard_error = serializers.FloatField(allow_null=True, help_text="Delta method")
    significant = serializers.BooleanField(allow_null=True, help_text="The interval shown excludes 0")
    chance_to_win = serializers.FloatField(allow_null=True, help_text="P(lift > 0), flat prior")
    risk_control = serializers.FloatField(allow_null=True, help_text="Expected loss of keeping the control")
    risk_treatment = serializers.FloatField(allow_null=True, help_text="Expected loss of shipping the treatment")
    power_at_minimum_effect = serializers.FloatField(
        allow_null=True,
        help_text="Chance that this interval excludes 0 if the true lift were the minimum effect, at this precision",
    )
    reason = serializers.CharField(allow_null=True, help_text="Why the values are null (an undefined statistic)")


class TreatmentComparisonSerializer(serializers.Serializer):
    variant = serializers.CharField(help_text="The treatment's key; each is compared with the control")
    conversion_rate = ExperimentLiftSerializer(help_text="Pooled, or stratified by period for a bandit")
    revenue_per_participant = ExperimentLiftSerializer()
    conversion_rate_cuped = ExperimentLiftSerializer(
        required=False, help_text="CUPED-adjusted conversion rate; present when CUPED applies"
    )


class CupedSerializer(serializers.Serializer):
    applied = serializers.BooleanField()
    theta = serializers.FloatField(allow_null=True, help_text="Pooled within-variant slope of Y on X")
    variance_reduction = serializers.FloatField(
        allow_null=True, help_text="corr(X, Y)^2: the share of variance removed"
    )
    reason = serializers.CharField(allow_null=True)


class EstimationSerializer(serializers.Serializer):
    conversion_rate = serializers.ChoiceField(
        choices=["pooled", "period_weighted"], help_text="period_weighted: a bandit's rates stratified by period"
    )
    reason = serializers.CharField(allow_null=True)
    cuped = CupedSerializer(allow_null=True, help_text="null when CUPED is off or for a bandit")


class ExperimentSrmSerializer(serializers.Serializer):
    p_value = serializers.FloatField(allow_null=True, help_text="Chi-square of the participants against the weights")
    checked = serializers.BooleanField(help_text="Every variant has at least 8 participants (GrowthBook's rule)")
    mismatch = serializers.BooleanField(help_text="Checked and p < 0.001")
    reason = serializers.CharField(allow_null=True)


class ExperimentTimingSerializer(serializers.Serializer):
    days_of_data = serializers.FloatField(allow_null=True, help_text="Since the start, to the actual end if ended")
    minimum_sample_reached = serializers.BooleanField()
    days_to_minimum_sample = serializers.FloatField(
        allow_null=True, help_text="At each variant's rate so far; 0 once reached; null while not running"
    )
    reason = serializers.CharField(allow_null=True)


class ExperimentAnalysisSerializer(serializers.Serializer):
    experiment_id = serializers.IntegerField()
    status = serializers.CharField(help_text=STATUS_HELP)  # not an enum: the name StatusEnum is taken
    analyzed_at = serializers.DateTimeField()
    method = serializers.ChoiceField(choices=list(METHODS))
    confidence_level = serializers.FloatField()
    sequential_tuning = serializers.IntegerField(
        allow_null=True, help_text="N* of the confidence sequence: max(2 x minimum_sample_size, 5000); null if fixed"
    )
    decision_metric = serializers.CharField(
        help_text="The metric the winner is decided on: conversion_rate_cuped when CUPED applies"
    )
    estimation = EstimationSerializer()
    minimum_sample_size = serializers.IntegerField()
    minimum_effect_size = serializers.FloatField()
    participants = serializers.IntegerField()
    variants = VariantSummarySerializer(many=True)
    comparisons = TreatmentComparisonSerializer(many=True, help_text="One per treatment, against the control")
    srm = ExperimentSrmSerializer(allow_null=True, help_text="null without a control")
    timing = ExperimentTimingSerializer()
    winner = serializers.CharField(
        allow_null=True,
        help_text="The key of the variant whose interval clears the minimum effect after the minimum sample",
    )
    winner_reason = serializers.CharField(allow_null=True)
    reason = serializers.CharField(allow_null=True, help_text="Why the whole analysis is empty, if it is")
