"""Predictions for one customer (and optionally one order) from the deployed versions.

The estimators are cached in the process and reloaded when the deployed version of a type changes. A
customer's own part (its history as of now, churn risk, predicted satisfaction, next-order timeline,
preferred and risk factors) is computed by the training code from its rows and kept per process until its
rows change (one aggregate query tells), a deployed version changes, or the hour turns (the features depend
on the time since the last order). Which versions are deployed, and whether a customer's rows changed, are
re-checked at most every PREDICTION_CACHE_CHECK_SECONDS. What depends on the order (the success probability
of the list the engine's base ranking would show: balanced strategy, top 5) is computed for each request
from the kept history.
"""

from __future__ import annotations

import math
import threading
import time
from collections import OrderedDict
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd
from django.conf import settings
from django.db.models import Count, Max
from django.utils import timezone

from marketplace import scoring
from marketplace.models import CustomerAccount, Order
from marketplace.selectors import catalog_get
from marketplace.vocabulary import FACTORS, REGIONS
from predictions.ml import artifacts, clv
from predictions.ml import features as F
from predictions.ml.inference import predict_fast
from predictions.models import ModelStatus, PredictiveModel
from predictions.selectors import day_of, moment_of, order_row, prediction_frames_get
from predictions.services.registry import artifact_estimator

REGION_CODES = tuple(REGIONS)
CUSTOMER_CACHE_SIZE = 10_000
RISK_FEATURES = {  # what a high value of a churn feature says, for the risk factors
    "days_since_last_order": ("a long time since the last order", 60.0),
    "hist_walk_share": ("often walks away from the lists shown", 0.5),
    "hist_late_share": ("late deliveries", 0.2),
    "hist_bad_ratings_90d": ("poor ratings lately", 1.0),
    "hist_bad_experience_decayed": ("recent bad experiences", 1.0),
}
FALLING_SATISFACTION = -0.5  # recent ratings this far below the earlier ones: a risk factor

_lock = threading.Lock()
_models: dict[str, tuple[tuple[int, str], PredictiveModel, Any]] = {}  # type -> ((version, sha), row, loaded)
_deployed: dict[str, Any] = {"at": -math.inf, "models": {}}  # the last check of what is deployed
_customers: OrderedDict[int, tuple[tuple, float, CustomerPart]] = OrderedDict()  # id -> (stamp, checked, part)


@dataclass(frozen=True, eq=False)
class CustomerPart:
    """What a customer's predictions share whatever the order: computed once per change of its rows."""

    customers: pd.DataFrame
    state: F.CustomerState  # its history as of `state.time`, which new orders are scored from
    predictions: dict[str, Any]


def deployed_models() -> dict[str, tuple[PredictiveModel, Any]]:
    """The deployed version of each type with its estimator (parameters for next_order), loaded once per
    version and re-checked at most every PREDICTION_CACHE_CHECK_SECONDS. A version whose artifact is refused
    is skipped: serving stays on what last loaded."""
    if time.monotonic() - _deployed["at"] < settings.PREDICTION_CACHE_CHECK_SECONDS:
        return _deployed["models"]
    models = _deployed_load()
    with _lock:
        _deployed.update(at=time.monotonic(), models=models)
    return models


def _deployed_load() -> dict[str, tuple[PredictiveModel, Any]]:
    current = PredictiveModel.objects.filter(status=ModelStatus.DEPLOYED).values_list(
        "pk", "model_type", "version", "artifact_sha256"
    )
    models = {}
    for pk, model_type, version, sha in current:
        key = (version, sha)
        cached = _models.get(model_type)
        if cached is None or cached[0] != key:
            row = PredictiveModel.objects.get(pk=pk)
            try:
                loaded = (
                    clv.BGNBDParams.from_dict(row.parameters) if model_type == "next_order" else artifact_estimator(row)
                )
            except (artifacts.ArtifactRejected, ValueError, KeyError):
                if cached is not None:
                    models[model_type] = (cached[1], cached[2])  # stays on the last good version
                continue
            row.artifact = None  # the bytes are not needed once loaded
            with _lock:
                _models[model_type] = (key, row, loaded)
            cached = _models[model_type]
        models[model_type] = (cached[1], cached[2])
    return models


def serving_cache_clear() -> None:
    with _lock:
        _models.clear()
        _customers.clear()
        _deployed.update(at=-math.inf, models={})


def _customer_stamp(customer: CustomerAccount, models: dict, now_day: float) -> tuple:
    rows = Order.objects.filter(customer=customer).aggregate(
        orders=Count("pk"), changed=Max("updated_at"), outcome=Max("outcome__updated_at")
    )
    versions = tuple(sorted((t, m.version) for t, (m, _) in models.items()))
    return (rows["orders"], rows["changed"], rows["outcome"], versions, math.floor(now_day * 24))


def _vector(frame: pd.DataFrame, model: PredictiveModel, index) -> np.ndarray:
    row = frame.index.get_loc(index)
    return frame[list(model.feature_set)].to_numpy(dtype=float)[row : row + 1]


def _reason_missing(model_type: str, models: dict, age: float, otherwise: str) -> str:
    """Why a customer-level prediction is null: no deployed model, no order yet, or `otherwise`."""
    if model_type not in models:
        return f"No {model_type} model deployed."
    return "No order history yet." if age <= 0 else otherwise


def _customer_part(customer: CustomerAccount, models: dict, now_day: float) -> CustomerPart:
    cached = _customers.get(customer.pk)
    versions = tuple(sorted((t, m.version) for t, (m, _) in models.items()))
    if (
        cached is not None
        and time.monotonic() - cached[1] < settings.PREDICTION_CACHE_CHECK_SECONDS
        and cached[0][3:] == (versions, math.floor(now_day * 24))
    ):
        return cached[2]  # checked a moment ago
    stamp = _customer_stamp(customer, models, now_day)
    if cached is not None and cached[0] == stamp:
        with _lock:
            _customers[customer.pk] = (stamp, time.monotonic(), cached[2])
        return cached[2]
    orders, customers = prediction_frames_get(customer_ids=[customer.pk])
    predictions: dict[str, Any] = {"reasons": {}, "risk_factors": []}
    history = F.rfm(orders, now_day)  # one row, or none without an order
    frequency, recency, age = history.iloc[0].tolist() if len(history) else (0.0, 0.0, 0.0)

    predictions["next_order"] = None
    if "next_order" in models and age > 0:
        params = models["next_order"][1]
        days = float(clv.expected_days_to_next_order(params, frequency, recency, age))
        predictions["next_order"] = {
            "probability_active": float(clv.probability_alive(params, frequency, recency, age)),
            "expected_orders_30_days": float(clv.expected_purchases(params, 30.0, frequency, recency, age)),
            "expected_orders_90_days": float(clv.expected_purchases(params, 90.0, frequency, recency, age)),
            "expected_days_to_next_order": days if math.isfinite(days) else None,
        }
    else:
        predictions["reasons"]["next_order"] = "No order history yet." if age <= 0 else "No next-order model deployed."

    predictions["churn_risk"] = None
    if "churn" in models and age > 0:
        model, estimator = models["churn"]
        frame = F.churn_frame(orders, customers, cutoff=now_day, active_within=None, bgnbd=False)
        features = frame.features.copy()
        if "next_order" in models:  # the deployed BG/NBD parameters, as the interventions scan uses them
            columns = F.bgnbd_columns(models["next_order"][1], history, horizon=F.CHURN_HORIZON_DAYS)
            features[list(columns)] = columns.to_numpy()
        if len(features) and set(model.feature_set) <= set(features.columns):
            row = features.iloc[0]
            predictions["churn_risk"] = float(
                predict_fast("churn", estimator, _vector(features, model, features.index[0]))[0]
            )
            for name, (text, bound) in RISK_FEATURES.items():
                if name in row and np.isfinite(row[name]) and row[name] >= bound:
                    predictions["risk_factors"].append(text)
            trend = row.get("hist_satisfaction_trend", np.nan)
            if np.isfinite(trend) and trend <= FALLING_SATISFACTION:
                predictions["risk_factors"].append("falling satisfaction")
    if predictions["churn_risk"] is None:
        predictions["reasons"]["churn_risk"] = _reason_missing(
            "churn", models, age, "The churn features cannot be computed for this customer yet."
        )

    predictions["predicted_satisfaction"] = None
    if "satisfaction" in models and age > 0:
        model, estimator = models["satisfaction"]
        frame = F.satisfaction_frame(orders, customers, cutoff=now_day)
        if len(frame):
            latest = frame.features.index[-1]  # on its latest match: the customer's own pattern as of now
            predictions["predicted_satisfaction"] = float(
                predict_fast("satisfaction", estimator, _vector(frame.features, model, latest))[0]
            )
    if predictions["predicted_satisfaction"] is None:
        predictions["reasons"]["predicted_satisfaction"] = _reason_missing(
            "satisfaction", models, age, "No match yet: satisfaction is predicted from the customer's matches."
        )

    chosen = orders[orders["chosen"].astype(bool)]
    preferred: list[str] = []
    if len(chosen):  # what the customer picked above the lists it was shown, most first
        lift = np.nanmean(F.chosen_lift(chosen), axis=0)
        preferred = [FACTORS[i] for i in np.argsort(-lift) if np.isfinite(lift[i]) and lift[i] > 0]
    predictions["preferred_factors"] = preferred

    state = F.customer_state(orders, customers, customer_id=customer.pk, time=now_day)
    part = CustomerPart(customers=customers, state=state, predictions=predictions)
    with _lock:
        _customers[customer.pk] = (stamp, time.monotonic(), part)
        _customers.move_to_end(customer.pk)
        while len(_customers) > CUSTOMER_CACHE_SIZE:
            _customers.popitem(last=False)
    return part


def _order_row(customer: CustomerAccount, order: scoring.OrderContext, now_day: float) -> dict[str, Any]:
    """The frame row of a new order created now, shown the top 5 of the engine's base ranking."""
    catalog = catalog_get()
    ranking = scoring.rank(catalog, order, scoring.STRATEGIES["balanced"], limit=F.TOP_K)
    candidates = [
        {
            "manufacturer_id": int(catalog.ids[row]),
            "rank": rank + 1,
            "score": float(ranking.scores[rank]),
            "region": REGION_CODES[int(catalog.region[row])],
            "features": dict(zip(FACTORS, (float(v) for v in ranking.features[rank]))),
        }
        for rank, row in enumerate(ranking.rows)
    ]
    fields = {
        "id": -1,
        "customer_id": customer.pk,
        "created_at": moment_of(now_day),
        "process_id": order.process,
        "complexity_level": order.complexity_level,
        "quantity": order.quantity,
        "estimated_value": order.estimated_value,
        "quality_requirements": order.quality_requirements,
        "timeline_urgency": order.timeline_urgency,
        "delivery_region": order.delivery_region,
        "cancelled_at": None,
        "delivered_at": None,
    }
    return order_row(fields, {"candidates": candidates, "eligible_count": ranking.eligible_count}, None, {})


def prediction_make(*, customer: CustomerAccount, order: scoring.OrderContext | None = None) -> dict[str, Any]:
    """Success probability (with an order), predicted satisfaction, churn risk, next-order timeline,
    preferred and risk factors, and the versions used; a null with its reason where a model is missing."""
    now_day = day_of(timezone.now())
    models = deployed_models()
    part = _customer_part(customer, models, now_day)
    result: dict[str, Any] = {
        "customer_id": customer.pk,
        "model_versions": {t: m.version for t, (m, _) in models.items()},
        **{k: v for k, v in part.predictions.items() if k != "reasons"},
        "reasons": dict(part.predictions["reasons"]),
        "success_probability": None,
    }
    if order is None:
        result["reasons"]["success_probability"] = "Give an order context to predict its success."
    elif "success" not in models:
        result["reasons"]["success_probability"] = "No success model deployed."
    else:
        model, estimator = models["success"]
        # as of the state's time (at most an hour ago): the features of an order created then
        row = _order_row(customer, order, part.state.time)
        columns = F.success_columns_for(part.state, {name: [row[name]] for name in F.ORDER_COLUMNS})
        vector = np.array([[columns[name][0] for name in model.feature_set]], dtype=float)
        result["success_probability"] = float(predict_fast("success", estimator, vector)[0])
    return result
