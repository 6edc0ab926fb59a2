"""Proactive interventions on what the models predict: a churn-risk alert for each customer the deployed
churn model puts at or above CHURN_ALERT_THRESHOLD, and satisfaction recovery for those of them whose
ratings fall (or whom the satisfaction model expects to rate below 3.5). The risk is stored on the
customers' profiles, where the personalization pipeline reads it: an at-risk customer's recommendations
shift toward reliable, high-quality manufacturers (personalization.policy's retention focus) while the
intervention is open. An intervention closes after INTERVENTION_HORIZON_DAYS: succeeded when the customer
ordered again since it opened, failed otherwise (earlier, as succeeded, as soon as they order).
"""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from django.conf import settings
from django.db import IntegrityError, transaction
from django.utils import timezone

from marketplace.models import Order
from personalization.services.profiles import profiles_churn_risk_set
from predictions.ml import features as F
from predictions.ml import training as T
from predictions.models import Intervention, InterventionKind, InterventionStatus
from predictions.selectors import day_of, prediction_frames_get
from predictions.services.serving import deployed_models

INTERVENTION_HORIZON_DAYS = 90
RECOVERY_SATISFACTION = 3.5


def _open(customer_id: int, kind: str, risk: float, reason: str, model, satisfaction: float | None) -> bool:
    try:
        with transaction.atomic():
            Intervention.objects.create(
                customer_id=customer_id,
                kind=kind,
                churn_risk=risk,
                predicted_satisfaction=satisfaction,
                reason=reason,
                model=model,
            )
    except IntegrityError:  # one open intervention of a kind per customer
        return False
    return True


def interventions_close(*, now=None) -> dict[str, int]:
    now = now or timezone.now()
    closed = {"succeeded": 0, "failed": 0}
    for intervention in Intervention.objects.filter(status=InterventionStatus.OPEN):
        ordered = Order.objects.filter(customer_id=intervention.customer_id, created_at__gt=intervention.created_at)
        if ordered.exists():
            intervention.status, intervention.outcome = InterventionStatus.SUCCEEDED, "The customer ordered again."
        elif now - intervention.created_at >= timedelta(days=INTERVENTION_HORIZON_DAYS):
            intervention.status = InterventionStatus.FAILED
            intervention.outcome = f"No order within {INTERVENTION_HORIZON_DAYS} days."
        else:
            continue
        intervention.resolved_at = now
        intervention.save(update_fields=["status", "outcome", "resolved_at", "updated_at"])
        closed[intervention.status] += 1
    return closed


def interventions_scan(*, now=None) -> dict[str, Any]:
    """Score every recently active customer with the deployed churn model, store the risks on their profiles,
    open alerts and recovery where due, and close the interventions whose outcome is known."""
    now = now or timezone.now()
    closed = interventions_close(now=now)
    models = deployed_models()
    if "churn" not in models:
        return {"scored": 0, "opened": 0, "closed": closed, "reason": "No churn model deployed."}
    model, estimator = models["churn"]
    orders, customers = prediction_frames_get()
    frame = F.churn_frame(orders, customers, cutoff=day_of(now), bgnbd="next_order" not in models)
    if not len(frame):
        return {"scored": 0, "opened": 0, "closed": closed, "reason": "No active customer."}
    features = frame.features.copy()
    if "next_order" in models:  # the deployed BG/NBD parameters, as serving uses them
        history = F.rfm(orders, day_of(now), frame.groups.to_numpy())
        columns = F.bgnbd_columns(models["next_order"][1], history, horizon=F.CHURN_HORIZON_DAYS)
        features[list(columns)] = columns.to_numpy()
    if not set(model.feature_set) <= set(features.columns):
        return {"scored": 0, "opened": 0, "closed": closed, "reason": "The churn model's features are not available."}
    risks = T.predict("churn", estimator, features[list(model.feature_set)].to_numpy(dtype=float))
    by_customer = {int(c): float(r) for c, r in zip(frame.groups.to_numpy(), risks)}
    profiles_churn_risk_set(risks=by_customer)
    threshold = settings.CHURN_ALERT_THRESHOLD
    opened = 0
    ratings = orders.dropna(subset=["satisfaction"]).groupby("customer_id")["satisfaction"]
    recent_mean = ratings.apply(lambda s: s.tail(3).mean())
    for customer_id, risk in by_customer.items():
        if risk < threshold:
            continue
        reason = f"The churn model (v{model.version}) gives a {risk:.0%} risk of no order in the next 90 days."
        opened += _open(customer_id, InterventionKind.CHURN_ALERT, risk, reason, model, None)
        recent = recent_mean.get(customer_id)
        if recent is not None and recent < RECOVERY_SATISFACTION:
            text = (
                f"{reason} Recent ratings average {recent:.1f}: recommendations shift toward reliable, "
                "high-quality manufacturers."
            )
            opened += _open(customer_id, InterventionKind.SATISFACTION_RECOVERY, risk, text, model, float(recent))
    return {"scored": len(by_customer), "opened": opened, "closed": closed, "reason": None}
