"""Input and output of the predictions API."""

from rest_framework import serializers

from core.api.fields import StrictIntegerField
from core.api.serializers import StrictSerializer
from personalization.api.serializers import OrderContextSerializer
from predictions.models import ModelType


class PredictionInputSerializer(StrictSerializer):
    customer_id = StrictIntegerField(
        min_value=1, max_value=2**63 - 1, required=False, help_text="Staff only; a customer asks about itself"
    )
    order_context = OrderContextSerializer(required=False, help_text="For the success probability")


class NextOrderSerializer(serializers.Serializer):
    probability_active = serializers.FloatField(help_text="BG/NBD P(alive)")
    expected_orders_30_days = serializers.FloatField()
    expected_orders_90_days = serializers.FloatField()
    expected_days_to_next_order = serializers.FloatField(allow_null=True, help_text="null: not within a year")


class PredictionOutputSerializer(serializers.Serializer):
    customer_id = serializers.IntegerField()
    success_probability = serializers.FloatField(allow_null=True)
    predicted_satisfaction = serializers.FloatField(allow_null=True)
    churn_risk = serializers.FloatField(allow_null=True, help_text="P(no order in the next 90 days)")
    next_order = NextOrderSerializer(allow_null=True)
    preferred_factors = serializers.ListField(child=serializers.CharField())
    risk_factors = serializers.ListField(child=serializers.CharField())
    model_versions = serializers.DictField(child=serializers.IntegerField(), help_text="type -> deployed version")
    reasons = serializers.DictField(child=serializers.CharField(), help_text="Why a prediction is null")


class TrainInputSerializer(StrictSerializer):
    model_type = serializers.ChoiceField(choices=ModelType.choices)


class ModelVersionSerializer(serializers.Serializer):
    id = serializers.IntegerField()
    model_type = serializers.CharField()
    version = serializers.IntegerField()
    status = serializers.CharField()
    status_reason = serializers.CharField()
    accuracy_metrics = serializers.DictField(help_text="holdout and baseline metrics, holdout period")
    validation_results = serializers.DictField()
    feature_importance = serializers.DictField()
    prediction_accuracy = serializers.DictField(help_text="Live accuracy of a deployed version")
    drift_score = serializers.FloatField(allow_null=True)
    training_rows = serializers.DictField()
    training_seconds = serializers.FloatField(allow_null=True)
    deployed_at = serializers.DateTimeField(allow_null=True)
    last_retrained = serializers.DateTimeField(allow_null=True)
    next_retrain_due = serializers.DateTimeField(allow_null=True)
    task_id = serializers.CharField()
    created_at = serializers.DateTimeField()
