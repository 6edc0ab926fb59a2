"""The model registry (every trained version, its metrics and lifecycle), drift checks, and the proactive
interventions taken on what the models predict."""

from django.conf import settings
from django.db import models
from django.db.models import Q

from core.models import TimeStampedModel


class ModelType(models.TextChoices):
    SUCCESS = "success", "Success (conversion with a recommended manufacturer)"
    SATISFACTION = "satisfaction", "Satisfaction (1-5)"
    CHURN = "churn", "Churn risk (no order in 90 days)"
    SEGMENT = "segment", "Behaviour segment"
    NEXT_ORDER = "next_order", "Next order (BG/NBD)"


class ModelStatus(models.TextChoices):
    TRAINING = "training", "Training"
    VALIDATED = "validated", "Validated"
    DEPLOYED = "deployed", "Deployed"
    RETIRED = "retired", "Retired"
    FAILED = "failed", "Failed"


class PredictiveModel(TimeStampedModel):
    """One version of one model type: what it was trained on, how it did on the out-of-time holdout against
    its baseline, and where it is in its lifecycle (training -> validated -> deployed -> retired, or
    failed). Exactly one version per type is deployed."""

    name = models.CharField(max_length=100)
    model_type = models.CharField(max_length=16, choices=ModelType.choices, db_index=True)
    version = models.PositiveIntegerField()
    status = models.CharField(max_length=16, choices=ModelStatus.choices, default=ModelStatus.TRAINING)
    status_reason = models.TextField(blank=True, help_text="Why it is in this status (the champion decision)")
    feature_set = models.JSONField(default=list, help_text="The feature names, in the estimator's order")
    hyperparameters = models.JSONField(default=dict)
    training_data_start = models.FloatField(null=True, blank=True, help_text="Feature time of the first row (day)")
    training_data_end = models.FloatField(null=True, blank=True, help_text="Feature time of the last row (day)")
    training_rows = models.JSONField(default=dict, help_text="Rows: labelled, train, calibration, holdout")
    accuracy_metrics = models.JSONField(default=dict, help_text="On the out-of-time holdout, and the baseline's")
    validation_results = models.JSONField(default=dict, help_text="Time-ordered cross-validation")
    feature_importance = models.JSONField(default=dict, help_text="Permutation importance on the holdout")
    drift_reference = models.JSONField(default=dict, help_text="Decile profile of the training features")
    parameters = models.JSONField(default=dict, blank=True, help_text="A parameters-only model (BG/NBD)")
    artifact = models.BinaryField(null=True, blank=True, help_text="skops bytes; loaded only with trusted types")
    artifact_sha256 = models.CharField(max_length=64, blank=True)
    library_versions = models.JSONField(default=dict)
    training_seconds = models.FloatField(null=True, blank=True)
    deployed_at = models.DateTimeField(null=True, blank=True)
    last_retrained = models.DateTimeField(null=True, blank=True)
    next_retrain_due = models.DateTimeField(null=True, blank=True)
    retrain_check = models.JSONField(
        default=dict,
        blank=True,
        help_text="Beat's last look at retraining this version's type: when, the new labelled rows, the rows needed",
    )
    drift_score = models.FloatField(null=True, blank=True)
    prediction_accuracy = models.JSONField(
        default=dict, blank=True, help_text="Live accuracy of the deployed version against outcomes as they arrive"
    )
    task_id = models.CharField(max_length=64, blank=True, help_text="The Celery task that trains it")
    requested_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.SET_NULL, null=True, blank=True, related_name="+"
    )

    class Meta:
        ordering = ["model_type", "-version"]
        constraints = [
            models.UniqueConstraint(fields=["model_type", "version"], name="model_version_unique"),
            models.UniqueConstraint(
                fields=["model_type"], condition=Q(status="deployed"), name="one_deployed_version_per_type"
            ),
            models.UniqueConstraint(
                fields=["model_type"], condition=Q(status="training"), name="one_training_run_per_type"
            ),
            models.CheckConstraint(condition=Q(status__in=ModelStatus.values), name="model_status_valid"),
        ]

    def __str__(self) -> str:
        return f"{self.model_type} v{self.version} ({self.status})"


class DriftCheck(models.Model):
    """One comparison of the live features of a deployed version with its training data."""

    model = models.ForeignKey(PredictiveModel, on_delete=models.CASCADE, related_name="drift_checks")
    checked_at = models.DateTimeField(auto_now_add=True, db_index=True)
    score = models.FloatField()
    feature_psi = models.JSONField(default=dict)
    prediction_psi = models.FloatField(null=True, blank=True)
    band = models.CharField(max_length=16)
    alert = models.BooleanField(default=False)
    retrain = models.BooleanField(default=False)
    rows = models.PositiveIntegerField(default=0)
    reason = models.TextField(blank=True)

    class Meta:
        ordering = ["-checked_at"]

    def __str__(self) -> str:
        return f"{self.model}: drift {self.score:.3f} ({self.band})"


class InterventionKind(models.TextChoices):
    CHURN_ALERT = "churn_alert", "Churn-risk alert"
    SATISFACTION_RECOVERY = "satisfaction_recovery", "Satisfaction recovery"


class InterventionStatus(models.TextChoices):
    OPEN = "open", "Open"
    SUCCEEDED = "succeeded", "Succeeded (the customer ordered again)"
    FAILED = "failed", "Failed (no order within the horizon)"


class Intervention(TimeStampedModel):
    """A proactive action on a customer the models flag: an alert for the account team, and while open the
    engine shifts the customer's recommendations toward reliable, high-quality manufacturers."""

    customer = models.ForeignKey("marketplace.CustomerAccount", on_delete=models.CASCADE, related_name="+")
    kind = models.CharField(max_length=32, choices=InterventionKind.choices)
    status = models.CharField(max_length=16, choices=InterventionStatus.choices, default=InterventionStatus.OPEN)
    churn_risk = models.FloatField()
    predicted_satisfaction = models.FloatField(null=True, blank=True)
    reason = models.TextField()
    model = models.ForeignKey(PredictiveModel, on_delete=models.SET_NULL, null=True, blank=True, related_name="+")
    resolved_at = models.DateTimeField(null=True, blank=True)
    outcome = models.TextField(blank=True)

    class Meta:
        ordering = ["-created_at"]
        constraints = [
            models.UniqueConstraint(
                fields=["customer", "kind"], condition=Q(status="open"), name="one_open_intervention_per_kind"
            )
        ]

    def __str__(self) -> str:
        return f"{self.get_kind_display()} for {self.customer_id} ({self.status})"
