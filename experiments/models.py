"""Experiments on the ranking strategies: the experiment, its variants, sticky assignments, the exposure
and conversion events whose unique ids make every customer count once, and the snapshots of the analysis."""

import uuid

from django.conf import settings
from django.core.validators import MaxValueValidator, MinValueValidator
from django.db import models
from django.db.models import Q
from django.utils import timezone

from core.models import TimeStampedModel


class ExperimentStatus(models.TextChoices):
    DRAFT = "draft", "Draft"
    RUNNING = "running", "Running"
    PAUSED = "paused", "Paused"
    STOPPED = "stopped", "Stopped"
    COMPLETED = "completed", "Completed"


class ExperimentType(models.TextChoices):
    AB_TEST = "ab_test", "A/B/n test"
    BANDIT = "bandit", "Multi-armed bandit"


class Metric(models.TextChoices):
    CONVERSION_RATE = "conversion_rate", "Conversion rate"
    SATISFACTION = "satisfaction", "Satisfaction"
    REVENUE_PER_MATCH = "revenue_per_match", "Revenue per match"
    TIME_TO_MATCH = "time_to_match", "Time to match"


class AnalysisMethod(models.TextChoices):
    SEQUENTIAL = "sequential", "Sequential (always valid: look as often as you like)"
    FIXED_HORIZON = "fixed_horizon", "Fixed horizon (look once, at the planned end)"


def new_seed() -> str:
    return uuid.uuid4().hex


class ABTestExperiment(TimeStampedModel):
    name = models.CharField(max_length=200, unique=True)
    description = models.TextField(blank=True)
    experiment_type = models.CharField(max_length=16, choices=ExperimentType.choices, default=ExperimentType.AB_TEST)
    status = models.CharField(
        max_length=16, choices=ExperimentStatus.choices, default=ExperimentStatus.DRAFT, db_index=True
    )
    seed = models.CharField(max_length=64, default=new_seed, help_text="Hash salt of the assignment")
    coverage = models.FloatField(
        default=1.0,
        validators=[MinValueValidator(0.0), MaxValueValidator(1.0)],
        help_text="Share of eligible customers in the experiment; may only grow once running",
    )
    namespace = models.CharField(
        max_length=64,
        blank=True,
        help_text="Experiments of one namespace never share a customer when their ranges do not overlap",
    )
    namespace_start = models.FloatField(default=0.0)
    namespace_end = models.FloatField(default=1.0)
    targeting = models.JSONField(
        default=dict, blank=True, help_text="segments, complexity_levels, regions, min_order_value, max_order_value"
    )
    start_date = models.DateTimeField(null=True, blank=True)
    planned_end_date = models.DateTimeField(null=True, blank=True)
    actual_end_date = models.DateTimeField(null=True, blank=True)
    primary_metric = models.CharField(max_length=32, choices=Metric.choices, default=Metric.CONVERSION_RATE)
    secondary_metrics = models.JSONField(default=list, blank=True)
    guardrail_metrics = models.JSONField(default=list, blank=True)
    minimum_sample_size = models.PositiveIntegerField(default=100, help_text="Per variant, before any decision")
    minimum_runtime_days = models.FloatField(
        default=7.0, validators=[MinValueValidator(0.0)], help_text="Before an automatic stop with a winner"
    )
    minimum_effect_size = models.FloatField(
        default=0.05, validators=[MinValueValidator(0.0)], help_text="Relative lift worth acting on"
    )
    confidence_level = models.FloatField(default=0.95, validators=[MinValueValidator(0.8), MaxValueValidator(0.999)])
    analysis_method = models.CharField(max_length=16, choices=AnalysisMethod.choices, default=AnalysisMethod.SEQUENTIAL)
    cuped = models.BooleanField(
        default=True,
        help_text="Reduce variance with each customer's conversions in the 90 days before the start (CUPED)",
    )
    analysis = models.JSONField(default=dict, blank=True, help_text="The stored analysis: significance, lift, winner")
    status_reason = models.TextField(blank=True, help_text="Why the status last changed")
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.SET_NULL, null=True, blank=True, related_name="+"
    )

    class Meta:
        ordering = ["-created_at"]
        constraints = [
            models.CheckConstraint(condition=Q(coverage__gte=0) & Q(coverage__lte=1), name="experiment_coverage_range"),
            models.CheckConstraint(
                condition=Q(namespace_start__gte=0)
                & Q(namespace_start__lt=models.F("namespace_end"))
                & Q(namespace_end__lte=1),
                name="experiment_namespace_range",
            ),
            models.CheckConstraint(condition=Q(status__in=ExperimentStatus.values), name="experiment_status_valid"),
        ]

    def __str__(self) -> str:
        return self.name


class Variant(models.Model):
    experiment = models.ForeignKey(ABTestExperiment, on_delete=models.CASCADE, related_name="variants")
    key = models.SlugField(max_length=40)
    name = models.CharField(max_length=100)
    position = models.PositiveSmallIntegerField()
    is_control = models.BooleanField(default=False)
    weight = models.FloatField(validators=[MinValueValidator(0.0), MaxValueValidator(1.0)])
    config = models.JSONField(help_text='{"strategy": ..., "parameters": {...}}, validated against the engine')
    participants = models.PositiveIntegerField(default=0, help_text="Customers exposed (each once)")
    conversions = models.PositiveIntegerField(default=0, help_text="Exposed customers who converted (each once)")
    revenue_sum = models.FloatField(default=0.0)
    revenue_sum_squares = models.FloatField(default=0.0)
    ratings = models.PositiveIntegerField(default=0, help_text="Rated sessions (the satisfaction guardrail's units)")
    satisfaction_sum = models.FloatField(default=0.0)
    satisfaction_sum_squares = models.FloatField(default=0.0)
    # CUPED: X = a participant's conversions before the start, Y = converted in the experiment (0/1)
    covariate_sum = models.FloatField(default=0.0, help_text="Sum of X over the participants")
    covariate_sum_squares = models.FloatField(default=0.0, help_text="Sum of X^2 over the participants")
    covariate_cross_sum = models.FloatField(default=0.0, help_text="Sum of X*Y: X over the converters")

    class Meta:
        ordering = ["experiment", "position"]
        constraints = [
            models.UniqueConstraint(fields=["experiment", "key"], name="variant_key_unique"),
            models.UniqueConstraint(fields=["experiment", "position"], name="variant_position_unique"),
            models.UniqueConstraint(fields=["experiment"], condition=Q(is_control=True), name="one_control_variant"),
            models.CheckConstraint(
                condition=Q(conversions__lte=models.F("participants")), name="variant_conversions_within_participants"
            ),
        ]

    def __str__(self) -> str:
        return f"{self.experiment}: {self.name}"


class Assignment(models.Model):
    """The sticky assignment of a customer to a variant, stored at its first exposure."""

    experiment = models.ForeignKey(ABTestExperiment, on_delete=models.CASCADE, related_name="assignments")
    variant = models.ForeignKey(Variant, on_delete=models.CASCADE, related_name="assignments")
    customer = models.ForeignKey("marketplace.CustomerAccount", on_delete=models.CASCADE, related_name="+")
    hash_value = models.FloatField()
    assigned_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        constraints = [models.UniqueConstraint(fields=["experiment", "customer"], name="assignment_unique")]

    def __str__(self) -> str:
        return f"{self.customer_id} -> {self.variant}"


class ExposureEvent(models.Model):
    event_id = models.CharField(max_length=100, unique=True)
    experiment = models.ForeignKey(ABTestExperiment, on_delete=models.CASCADE, related_name="exposures")
    variant = models.ForeignKey(Variant, on_delete=models.CASCADE, related_name="exposures")
    customer = models.ForeignKey("marketplace.CustomerAccount", on_delete=models.CASCADE, related_name="+")
    session = models.ForeignKey(
        "personalization.RecommendationSession", on_delete=models.SET_NULL, null=True, blank=True, related_name="+"
    )
    pre_conversions = models.PositiveIntegerField(
        default=0, help_text="The customer's conversions in the pre-period before the start (CUPED's covariate)"
    )
    period = models.PositiveIntegerField(default=0, help_text="A bandit's weights period at the exposure")
    created_at = models.DateTimeField(auto_now_add=True, db_index=True)

    class Meta:
        constraints = [models.UniqueConstraint(fields=["experiment", "customer"], name="exposure_once_per_customer")]

    def __str__(self) -> str:
        return f"Exposure {self.event_id}"


class ConversionEvent(models.Model):
    event_id = models.CharField(max_length=100, unique=True)
    experiment = models.ForeignKey(ABTestExperiment, on_delete=models.CASCADE, related_name="conversions")
    variant = models.ForeignKey(Variant, on_delete=models.CASCADE, related_name="conversion_events")
    customer = models.ForeignKey("marketplace.CustomerAccount", on_delete=models.CASCADE, related_name="+")
    session = models.ForeignKey(
        "personalization.RecommendationSession", on_delete=models.SET_NULL, null=True, blank=True, related_name="+"
    )
    value = models.FloatField(default=0.0)
    created_at = models.DateTimeField(auto_now_add=True, db_index=True)

    class Meta:
        constraints = [models.UniqueConstraint(fields=["experiment", "customer"], name="conversion_once_per_customer")]

    def __str__(self) -> str:
        return f"Conversion {self.event_id}"


class ExperimentSnapshot(models.Model):
    """One run of the analysis, as it was computed: the history that the results charts draw."""

    experiment = models.ForeignKey(ABTestExperiment, on_delete=models.CASCADE, related_name="snapshots")
    created_at = models.DateTimeField(default=timezone.now, editable=False)
    analysis = models.JSONField(default=dict)

    class Meta:
        ordering = ["experiment", "created_at"]
        indexes = [models.Index(fields=["experiment", "created_at"], name="snapshot_experiment_time")]

    def __str__(self) -> str:
        return f"{self.experiment} at {self.created_at:%Y-%m-%d %H:%M:%S}"


class BanditWeights(models.Model):
    """The traffic weights a bandit experiment gave its variants, from when (the history of its reweighting)."""

    experiment = models.ForeignKey(ABTestExperiment, on_delete=models.CASCADE, related_name="weights_history")
    weights = models.JSONField(help_text="variant key -> weight")
    is_start = models.BooleanField(default=False, help_text="The weights it started with, not a reweighting")
    created_at = models.DateTimeField(auto_now_add=True, db_index=True)

    class Meta:
        ordering = ["experiment", "created_at"]

    def __str__(self) -> str:
        return f"{self.experiment} weights at {self.created_at:%Y-%m-%d %H:%M}"


class VariantPeriod(models.Model):
    """A bandit variant's counters within one period of constant weights (period 0 until the first
    reweighting, k after the k-th): customers exposed in the period, and those of them who converted, whenever
    they convert. The analysis stratifies by period, so the changing weights do not bias it."""

    variant = models.ForeignKey(Variant, on_delete=models.CASCADE, related_name="periods")
    period = models.PositiveIntegerField()
    participants = models.PositiveIntegerField(default=0)
    conversions = models.PositiveIntegerField(default=0)

    class Meta:
        ordering = ["variant", "period"]
        constraints = [
            models.UniqueConstraint(fields=["variant", "period"], name="variant_period_unique"),
            models.CheckConstraint(
                condition=Q(conversions__lte=models.F("participants")), name="variant_period_conversions_within"
            ),
        ]

    def __str__(self) -> str:
        return f"{self.variant} period {self.period}"
