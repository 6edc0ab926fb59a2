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
    customer = models.ForeignKey(CustomerAccount, on_delete=models.CASCADE, related_name="recommendation_sessions")
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
    weights = models.JSONField(help_text="Factor weights the ranking used")
    weights_version = models.CharField(max_length=40)
    propensity = models.FloatField(default=1.0, help_text="Probability with which this strategy was picked")
    candidates = models.JSONField(help_text="The shown items: manufacturer, rank, score, features, contributions")
    eligible_count = models.PositiveIntegerField(default=0)
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
