"""The decision log: every recommendation response is one append-only row."""

import uuid

from django.db import models
from django.db.models import Q
from django.utils import timezone

from marketplace.models import CustomerAccount, Order, text_choices
from marketplace.vocabulary import OPTIMIZATION_GOALS

OptimizationGoal = text_choices("OptimizationGoal", [(g, g.capitalize()) for g in OPTIMIZATION_GOALS])


class RecommendationSession(models.Model):
    """What was shown to whom, with which strategy, weights and features: what feedback joins later.

    Append-only: services create rows and never update them; the admin shows them read-only.
    """

    class Source(models.TextChoices):
        API = "api", "API"
        SIMULATION = "simulation", "Simulated history"

    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    customer = models.ForeignKey(
        CustomerAccount,
        on_delete=models.CASCADE,
        related_name="recommendation_sessions",
        db_index=False,  # the index on (customer, -created_at) serves every lookup by customer
    )
    order = models.ForeignKey(
        Order, on_delete=models.SET_NULL, null=True, blank=True, related_name="recommendation_sessions"
    )
    order_context = models.JSONField(help_text="The order as it was scored")
    customer_preferences = models.JSONField(default=dict, blank=True)
    optimization_goal = models.CharField(max_length=16, choices=OptimizationGoal.choices)
    algorithm_used = models.CharField(max_length=40, help_text="The ranking strategy")
    optimization_reasoning = models.TextField(blank=True)
    personalization_level = models.FloatField(default=0.0)
    personal_confidence = models.FloatField(default=0.0)
    ab_test_active = models.BooleanField(default=False)
    variant = models.ForeignKey(
        "experiments.Variant",
        on_delete=models.SET_NULL,
        null=True,
        blank=True,
        related_name="sessions",
        help_text="The experiment variant that ranked this session",
    )
    weights = models.JSONField(help_text="Factor weights the ranking used")
    weights_version = models.CharField(max_length=40)
    propensity = models.FloatField(default=1.0, help_text="Probability with which this strategy was picked")
    candidates = models.JSONField(help_text="The shown items: manufacturer, rank, score, features, contributions")
    eligible_count = models.PositiveIntegerField(default=0)
    customer_class = models.CharField(max_length=16, blank=True, help_text="new, established or at_risk")
    exploration_temperature = models.FloatField(default=0.0)
    exploration_seed = models.BigIntegerField(default=0, help_text="Seed of the exploration: the list can be replayed")
    log_propensity = models.FloatField(default=0.0, help_text="ln P(this list) under the exploration policy")
    catalog_version = models.CharField(max_length=64, blank=True)
    source = models.CharField(max_length=16, choices=Source.choices, default=Source.API)
    created_at = models.DateTimeField(default=timezone.now, db_index=True, editable=False)

    class Meta:
        ordering = ["-created_at"]
        indexes = [models.Index(fields=["customer", "-created_at"])]
        constraints = [
            models.CheckConstraint(
                condition=Q(propensity__gt=0) & Q(propensity__lte=1), name="session_propensity_range"
            ),
            models.CheckConstraint(
                condition=Q(personal_confidence__gte=0) & Q(personal_confidence__lte=1), name="session_confidence_range"
            ),
        ]

    def __str__(self) -> str:
        return f"Session {self.id} ({self.algorithm_used})"


class ExplanationPreference(models.TextChoices):
    SUMMARY = "summary", "Summary"
    DETAILED = "detailed", "Detailed"


class CustomerPersonalizationProfile(models.Model):
    """What the engine has learnt about one customer, updated by every choice and outcome.

    Personal data sits in JSON and float fields whose meaning does not depend on their storage, so that
    a later change can encrypt them at rest.
    """

    customer = models.OneToOneField(CustomerAccount, on_delete=models.CASCADE, related_name="personalization_profile")
    personal_weights = models.JSONField(help_text="factor -> effective ranking weight (sums to 1)")
    preference_state = models.JSONField(
        help_text="The Gaussian belief over z (log factor weights, then region effects): mean, precision"
    )
    prior_state = models.JSONField(help_text="The segment prior the belief started from")
    weights_version = models.PositiveIntegerField(default=0)
    behavior_patterns = models.JSONField(default=dict, blank=True)
    preference_evolution = models.JSONField(default=list, blank=True, help_text="Snapshots of the weights")
    total_interactions = models.PositiveIntegerField(default=0)
    total_choices = models.PositiveIntegerField(default=0)
    successful_matches = models.PositiveIntegerField(default=0)
    personal_confidence = models.FloatField(default=0.0)
    learning_velocity = models.FloatField(default=1.0)
    decision_speed_profile = models.JSONField(default=dict, blank=True)
    explanation_preference = models.CharField(
        max_length=16, choices=ExplanationPreference.choices, default=ExplanationPreference.SUMMARY
    )
    complexity_comfort_level = models.FloatField(default=0.5)
    risk_tolerance = models.FloatField(default=0.5)
    churn_risk = models.FloatField(
        null=True, blank=True, help_text="P(no order in 90 days) from the deployed churn model, at its last scan"
    )
    average_satisfaction = models.FloatField(null=True, blank=True)
    recent_satisfaction = models.JSONField(default=list, blank=True, help_text="The last ratings, oldest first")
    ratings_count = models.PositiveIntegerField(default=0)
    average_choice_rank = models.FloatField(null=True, blank=True)
    outcomes_count = models.PositiveIntegerField(default=0, help_text="Chosen sessions with a known conversion")
    conversions_count = models.PositiveIntegerField(default=0)
    conversion_rate = models.FloatField(default=0.0)
    recommendation_acceptance_rate = models.FloatField(
        default=0.0, help_text="Sessions with a choice over all sessions, as of beat's last refresh (hourly by default)"
    )
    strategy_performance = models.JSONField(default=dict, blank=True, help_text="strategy -> sessions, conversions")
    created_at = models.DateTimeField(default=timezone.now, editable=False)
    updated_at = models.DateTimeField(auto_now=True)
    last_interaction_at = models.DateTimeField(null=True, blank=True)
    revision = models.PositiveBigIntegerField(
        default=0, editable=False, help_text="Counts the writes of the row; feedback writes only if it is unchanged"
    )

    class Meta:
        constraints = [
            models.CheckConstraint(
                condition=Q(personal_confidence__gte=0) & Q(personal_confidence__lte=1), name="profile_confidence_range"
            ),
            models.CheckConstraint(
                condition=Q(risk_tolerance__gte=0) & Q(risk_tolerance__lte=1), name="profile_risk_tolerance_range"
            ),
            models.CheckConstraint(
                condition=Q(complexity_comfort_level__gte=0) & Q(complexity_comfort_level__lte=1),
                name="profile_complexity_comfort_range",
            ),
            models.CheckConstraint(
                condition=Q(average_satisfaction__isnull=True)
                | (Q(average_satisfaction__gte=1) & Q(average_satisfaction__lte=5)),
                name="profile_average_satisfaction_range",
            ),
            models.CheckConstraint(
                condition=Q(conversion_rate__gte=0) & Q(conversion_rate__lte=1), name="profile_conversion_rate_range"
            ),
            models.CheckConstraint(
                condition=Q(recommendation_acceptance_rate__gte=0) & Q(recommendation_acceptance_rate__lte=1),
                name="profile_acceptance_rate_range",
            ),
            models.CheckConstraint(condition=Q(learning_velocity__gte=0), name="profile_learning_velocity_positive"),
        ]

    def __str__(self) -> str:
        return f"Profile of {self.customer}"

    def save(self, *args, **kwargs) -> None:
        """Every write through the ORM counts in `revision`, so that a feedback event learnt from an earlier
        read of the row is not written over it (see personalization.services.profiles)."""
        self.revision += 1
        if kwargs.get("update_fields") is not None:
            kwargs["update_fields"] = {*kwargs["update_fields"], "revision"}
        super().save(*args, **kwargs)


class SegmentPreference(models.Model):
    """What the customers of a segment prefer: the prior of every new customer, recomputed by beat."""

    segment = models.CharField(max_length=32, unique=True)
    prior_mean = models.JSONField(help_text="z: the log factor weights (utility units), then the region effects")
    prior_sd = models.JSONField(help_text="Between-customer standard deviation of each component of z")
    position_bias = models.FloatField(help_text="Utility lost per e-fold of list position")
    customers = models.PositiveIntegerField(default=0)
    choices = models.PositiveIntegerField(default=0)
    log_likelihood = models.FloatField(null=True, blank=True)
    computed_at = models.DateTimeField(default=timezone.now)

    def __str__(self) -> str:
        return f"Segment preference of {self.segment}"


class Interaction(models.Model):
    """A feedback event of a customer on a session: what it viewed, and what it chose. Idempotent by the
    client's event id."""

    customer = models.ForeignKey(
        CustomerAccount,
        on_delete=models.CASCADE,
        related_name="interactions",
        db_index=False,  # the unique index on (customer, event_id) serves every lookup by customer
    )
    session = models.ForeignKey(RecommendationSession, on_delete=models.CASCADE, related_name="interactions")
    event_id = models.CharField(max_length=100)
    interaction_data = models.JSONField(default=dict, blank=True)
    choice_data = models.JSONField(null=True, blank=True)
    chosen_manufacturer_id = models.BigIntegerField(null=True, blank=True)
    chosen_rank = models.PositiveSmallIntegerField(null=True, blank=True)
    time_to_decision_seconds = models.FloatField(null=True, blank=True)
    update_summary = models.JSONField(default=dict, blank=True, help_text="What the event changed in the profile")
    source = models.CharField(max_length=16, choices=RecommendationSession.Source.choices, default="api")
    created_at = models.DateTimeField(default=timezone.now, db_index=True)

    class Meta:
        ordering = ["-created_at"]
        constraints = [
            models.UniqueConstraint(fields=["customer", "event_id"], name="interaction_event_unique"),
            models.UniqueConstraint(
                fields=["session"], condition=Q(chosen_manufacturer_id__isnull=False), name="one_choice_per_session"
            ),
            models.CheckConstraint(
                condition=Q(time_to_decision_seconds__isnull=True) | Q(time_to_decision_seconds__gte=0),
                name="interaction_time_to_decision_positive",
            ),
        ]

    def __str__(self) -> str:
        return f"Interaction {self.event_id} on {self.session_id}"


class SessionOutcome(models.Model):
    """What came of a session's recommendation, accumulated from the platform's outcome events."""

    session = models.OneToOneField(RecommendationSession, on_delete=models.CASCADE, related_name="outcome")
    manufacturer_id = models.BigIntegerField()
    converted = models.BooleanField(null=True, blank=True)
    contract_value = models.DecimalField(max_digits=14, decimal_places=2, null=True, blank=True)
    satisfaction = models.PositiveSmallIntegerField(null=True, blank=True)
    delivered_on_time = models.BooleanField(null=True, blank=True)
    converted_at = models.DateTimeField(null=True, blank=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        constraints = [
            models.CheckConstraint(
                condition=Q(satisfaction__isnull=True) | (Q(satisfaction__gte=1) & Q(satisfaction__lte=5)),
                name="session_outcome_satisfaction_range",
            ),
            models.CheckConstraint(
                condition=Q(contract_value__isnull=True) | Q(contract_value__gt=0),
                name="session_outcome_contract_value_positive",
            ),
        ]

    def __str__(self) -> str:
        return f"Outcome of {self.session_id}"


class OutcomeEvent(models.Model):
    """One outcome report of the platform (conversion, delivery, rating), idempotent by its event id."""

    event_id = models.CharField(max_length=100, unique=True)
    session = models.ForeignKey(RecommendationSession, on_delete=models.CASCADE, related_name="outcome_events")
    payload = models.JSONField()
    update_summary = models.JSONField(default=dict, blank=True)
    created_at = models.DateTimeField(default=timezone.now, db_index=True)

    def __str__(self) -> str:
        return f"Outcome event {self.event_id}"
