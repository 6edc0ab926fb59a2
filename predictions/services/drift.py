"""Drift and live accuracy of the deployed versions.

`drift_check` compares the recent rows of a deployed version's frame (the last 30 days, or everything after
its training data if that is more) with the decile profile stored at training time (`ml.drift`), keeps the
report as a `DriftCheck` row and the score on the version, and opens a retraining run when the score passes
the retraining threshold on a large enough sample. `model_accuracy_track` scores the deployed version on
the outcomes that arrived after it was deployed, with the same metrics as its holdout.
"""

from __future__ import annotations

import logging
from datetime import datetime
from typing import Any

import numpy as np
import pandas as pd
from django.db import transaction
from django.utils import timezone

from core.errors import DomainError
from predictions.ml import artifacts, drift
from predictions.ml import features as F
from predictions.ml import training as T
from predictions.models import DriftCheck, ModelStatus, PredictiveModel
from predictions.selectors import day_of, prediction_frames_get
from predictions.services import registry

logger = logging.getLogger(__name__)

RECENT_DAYS = 30.0
PARAMETERS_ONLY_TYPES = ("next_order",)

Frames = tuple[pd.DataFrame, pd.DataFrame]


def _frame(model: PredictiveModel, frames: Frames | None, now: datetime) -> F.LabelledFrame:
    orders, customers = frames if frames is not None else prediction_frames_get()
    return registry.model_frame(model.model_type, orders, customers, now_day=day_of(now))


def _recent_rows(model: PredictiveModel, frame: F.LabelledFrame, now_day: float) -> np.ndarray:
    """The rows of the last 30 days, or those after the training data when that gives more."""
    times = frame.times.to_numpy(dtype=float)
    recent = (times >= now_day - RECENT_DAYS) & (times <= now_day)
    if model.training_data_end is None:
        return recent
    after = (times > model.training_data_end) & (times <= now_day)
    return after if after.sum() > recent.sum() else recent


def _importances(model: PredictiveModel, names: list[str]) -> dict[str, float] | None:
    """The permutation importances of the profiled features, or None (equal weights) when they do not cover
    them all or sum to nothing once negative values count as 0."""
    stored = model.feature_importance or {}
    values = {name: stored.get(name) for name in names}
    if any(not isinstance(v, int | float) or not np.isfinite(v) for v in values.values()):
        return None
    if sum(max(float(v), 0.0) for v in values.values()) <= 0:
        return None
    return {name: float(v) for name, v in values.items()}


def _retrain_open(model: PredictiveModel) -> str:
    """Start a retraining run of the model's type (it runs after commit); what happened, in words."""
    try:
        run = registry.model_train_start(model_type=model.model_type)
    except DomainError as error:
        return f"Retraining not opened: {error.message}"
    return f"Retraining opened: {run.model_type} v{run.version}."


def drift_check(*, model: PredictiveModel, now: datetime | None = None, frames: Frames | None = None) -> DriftCheck:
    """Compare the version's recent live features (and predicted scores) with its training profile; store the
    check and the score, and open a retraining run when the report says so. `frames` (orders, customers)
    may be passed to share one database read across models."""
    if model.model_type in PARAMETERS_ONLY_TYPES:
        raise DomainError(f"{model} is a parameters-only model: it has no features to check.", field="model")
    profile = model.drift_reference or {}
    entries = profile.get("features") or {}
    names = [name for name in model.feature_set if name in entries]
    if not names:
        raise DomainError(f"{model} has no drift reference for its features.", field="model")
    now = now or timezone.now()
    frame = _frame(model, frames, now)
    missing = [name for name in model.feature_set if name not in frame.features.columns]
    if missing:
        raise DomainError(f"{model}: the frame lacks the features {missing[:5]}.", field="model")
    rows = _recent_rows(model, frame, day_of(now))
    X = frame.features.loc[rows, list(model.feature_set)]
    finite = np.isfinite(X[names].to_numpy(dtype=float)).all(axis=1)  # PSI needs finite values
    X = X[finite]
    if not len(X):
        raise DomainError(f"{model}: no recent rows to compare with the training data.", field="model")
    scores = None
    if model.model_type != "segment" and profile.get("scores") is not None:
        scores = T.predict(model.model_type, registry.artifact_estimator(model), X)
    report = drift.drift_report_from_profile(
        {**profile, "features": {name: entries[name] for name in names}},
        {name: X[name].to_numpy(dtype=float) for name in names},
        importances=_importances(model, names),
        current_scores=scores,
    )
    reason = report.reason
    with transaction.atomic():
        if report.retrain:
            reason = f"{reason}. {_retrain_open(model)}"
        check = DriftCheck.objects.create(
            model=model,
            score=report.score,
            feature_psi=registry._json(report.feature_psi),
            prediction_psi=report.prediction_psi,
            band=report.band,
            alert=report.alert,
            retrain=report.retrain,
            rows=report.n_current,
            reason=reason,
        )
        model.drift_score = report.score
        model.save(update_fields=["drift_score", "updated_at"])
    if report.alert:
        logger.warning("drift alert on %s: %s", model, reason)
    return check


def model_accuracy_track(
    *, model: PredictiveModel, now: datetime | None = None, frames: Frames | None = None
) -> dict[str, Any]:
    """The deployed version's accuracy on the outcomes known since it was deployed (its frame's labelled rows
    from the day of deployment on), with the same metrics as its holdout; stored in `prediction_accuracy`."""
    if model.model_type in PARAMETERS_ONLY_TYPES:
        raise DomainError(f"{model} is a parameters-only model: its accuracy is not tracked here.", field="model")
    if model.deployed_at is None:
        raise DomainError(f"{model} has never been deployed.", field="model")
    now = now or timezone.now()
    frame = _frame(model, frames, now)
    since = day_of(model.deployed_at)
    rows = (frame.times.to_numpy(dtype=float) >= since) & frame.labels.notna().to_numpy() if len(frame) else []
    metrics: dict[str, float] = {}
    count = int(np.sum(rows))
    if count:
        X = frame.features.loc[rows, list(model.feature_set)]
        y = frame.labels.to_numpy()[rows]
        output = T.predict(model.model_type, registry.artifact_estimator(model), X)
        if model.model_type in T.BINARY_TYPES:
            metrics = T.classification_metrics(y.astype(int), output)
        elif model.model_type == "satisfaction":
            metrics = T.regression_metrics(y.astype(float), output)
        else:
            metrics = T.segment_metrics(y.astype(str), output.astype(str))
    accuracy = registry._json(
        {"metrics": metrics, "rows": count, "since": model.deployed_at.isoformat(), "measured_at": now.isoformat()}
    )
    model.prediction_accuracy = accuracy
    model.save(update_fields=["prediction_accuracy", "updated_at"])
    return accuracy


def drift_check_deployed(*, now: datetime | None = None) -> list[dict[str, Any]]:
    """Check the drift and track the live accuracy of every deployed version (not the parameters-only ones);
    one summary per model, with the error instead when a check could not run."""
    now = now or timezone.now()
    deployed = list(
        PredictiveModel.objects.filter(status=ModelStatus.DEPLOYED).exclude(model_type__in=PARAMETERS_ONLY_TYPES)
    )
    if not deployed:
        return []
    frames = prediction_frames_get()
    summaries = []
    for model in deployed:
        summary: dict[str, Any] = {"model_id": model.pk, "model_type": model.model_type, "version": model.version}
        try:
            check = drift_check(model=model, now=now, frames=frames)
        except (DomainError, ValueError) as error:  # ArtifactRejected is a ValueError
            logger.warning("drift check of %s failed: %s", model, error)
            summary["error"] = str(error)
        else:
            summary.update(
                score=check.score, band=check.band, alert=check.alert, retrain=check.retrain, rows=check.rows
            )
        try:
            accuracy = model_accuracy_track(model=model, now=now, frames=frames)
        except (DomainError, ValueError, artifacts.ArtifactRejected) as error:
            summary["accuracy_error"] = str(error)
        else:
            summary["accuracy"] = accuracy
        summaries.append(summary)
    return summaries
