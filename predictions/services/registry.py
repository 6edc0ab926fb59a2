"""The model registry's lifecycle, MLflow-style: every training run is a new version row (training ->
validated -> deployed -> retired, or failed); a new version is deployed only when it beats the deployed one
on the same out-of-time holdout by a margin, and its baseline; exactly one version per type is deployed
(a partial unique constraint), and rollback is one call.

Training is idempotent: one training row per type may exist at a time (a second partial unique constraint),
so a second concurrent run finds it and does nothing. A run whose task cannot be queued (the broker is down)
fails at once; one whose task was lost later (a broker that kept nothing, a worker gone past its retries) is
failed once it is older than `training_abandoned_after()`, so that neither blocks its type for good.
"""

from __future__ import annotations

import logging
import time
from datetime import datetime, timedelta
from typing import Any

import numpy as np
import pandas as pd
from django.conf import settings
from django.db import IntegrityError, transaction
from django.db.models import Max
from django.utils import timezone
from kombu.exceptions import OperationalError as BrokerUnreachable

from core.errors import DomainError, ServiceUnavailable
from predictions.ml import artifacts, clv, drift
from predictions.ml import features as F
from predictions.ml import training as T
from predictions.models import ModelStatus, ModelType, PredictiveModel
from predictions.selectors import day_of, model_deployed_get, prediction_frames_get, training_samples_count

logger = logging.getLogger(__name__)

MODEL_TYPES = tuple(ModelType.values)
CADENCE_DAYS = {"success": 7, "satisfaction": 14, "churn": 30, "segment": 21, "next_order": 30}
MINIMUM_SAMPLES = {**T.MINIMUM_SAMPLES, "next_order": 50}
GAP_DAYS = {"success": 0.0, "satisfaction": 0.0, "churn": F.CHURN_HORIZON_DAYS, "segment": 120.0}
SEGMENT_WINDOW_DAYS = 120.0
CUTOFF_EVERY_DAYS = 30.0
# The metric a challenger must improve, whether higher is better, and the margin it must win by.
CHAMPION_METRIC = {
    "success": ("roc_auc", True, 0.002),
    "churn": ("roc_auc", True, 0.002),
    "satisfaction": ("mae", False, 0.002),
    "segment": ("macro_f1", True, 0.005),
    "next_order": ("mae", False, 0.001),
}
BASELINE_METRIC = {"success": "brier", "churn": "brier", "satisfaction": "mae", "segment": "macro_f1"}
HIGHER_IS_BETTER = {"brier": False, "mae": False, "macro_f1": True}
NEXT_ORDER_HOLDOUT_DAYS = 90.0
TRAINING_TIME_LIMIT_SECONDS = 1800  # the training task's hard time limit


def model_frame(model_type: str, orders: pd.DataFrame, customers: pd.DataFrame, *, now_day: float) -> F.LabelledFrame:
    """The labelled rows of a model type as of `now_day`: what training and the challenger comparison use."""
    if model_type == "success":
        return F.success_frame(orders, customers, cutoff=now_day)
    if model_type == "satisfaction":
        return F.satisfaction_frame(orders, customers, cutoff=now_day)
    first = float(orders["created_day"].min()) if len(orders) else now_day
    if model_type == "churn":
        cutoffs = F.rolling_cutoffs(first + 60.0, now_day - F.CHURN_HORIZON_DAYS, every=CUTOFF_EVERY_DAYS)
        return F.rolling_frames("churn", orders, customers, cutoffs) if cutoffs else _empty()
    cutoffs = F.rolling_cutoffs(first + 90.0, now_day - SEGMENT_WINDOW_DAYS, every=CUTOFF_EVERY_DAYS)
    if not cutoffs:
        return _empty()
    return F.rolling_frames("segment", orders, customers, cutoffs, label_window=SEGMENT_WINDOW_DAYS)


def _empty() -> F.LabelledFrame:
    empty = pd.Series(dtype=float)
    return F.LabelledFrame(pd.DataFrame(), empty, empty, empty)


def _labelled_count(frame: F.LabelledFrame) -> int:
    return int(frame.labels.notna().sum()) if len(frame) else 0


def _json(value: Any) -> Any:
    """numpy scalars and arrays, and NaN, made JSON-safe."""
    if isinstance(value, dict):
        return {str(k): _json(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_json(v) for v in value]
    if isinstance(value, np.ndarray):
        return _json(value.tolist())
    if isinstance(value, (np.floating, float)):
        return float(value) if np.isfinite(value) else None
    if isinstance(value, np.integer):
        return int(value)
    return value


# --- requesting a training run -------------------------------------------------------------------------------


def model_train_request(*, model_type: str, requested_by=None) -> PredictiveModel:
    """Open a training run (a version row in status training) for a worker to carry out; refuses an unknown
    type and a type already training. The caller enqueues the task with the row's id."""
    _known_type(model_type)
    try:
        with transaction.atomic():
            version = (PredictiveModel.objects.filter(model_type=model_type).aggregate(v=Max("version"))["v"] or 0) + 1
            return PredictiveModel.objects.create(
                name=f"{model_type}-v{version}",
                model_type=model_type,
                version=version,
                status=ModelStatus.TRAINING,
                status_reason="Queued for training.",
                requested_by=requested_by,
            )
    except IntegrityError as error:
        raise _already_training(model_type) from error


def _known_type(model_type: str) -> None:
    if model_type not in MODEL_TYPES:
        raise DomainError(f"Unknown model type {model_type!r}; one of {', '.join(MODEL_TYPES)}.", field="model_type")


def _already_training(model_type: str) -> DomainError:
    running = PredictiveModel.objects.filter(model_type=model_type, status=ModelStatus.TRAINING).first()
    return DomainError(
        f"A {model_type} model is already training (version {running.version if running else '?'}).",
        field="model_type",
    )


def training_abandoned_after() -> timedelta:
    """How long after it was queued a run still in training has surely lost its task: a worker that died
    mid-run has its message redelivered after the broker's visibility timeout, and each run is cut at the
    time limit; this allows the redelivery and two runs."""
    visibility = settings.CELERY_BROKER_TRANSPORT_OPTIONS.get("visibility_timeout", 3600)
    return timedelta(seconds=visibility + 2 * TRAINING_TIME_LIMIT_SECONDS)


def training_runs_abandon(*, now: datetime | None = None) -> int:
    """Fail the runs still in training longer than `training_abandoned_after()`: their task was lost, and a
    run in training blocks its type. A lost task that turns up later finds its run failed and does nothing.
    Returns how many were failed."""
    limit = training_abandoned_after()
    stale = PredictiveModel.objects.filter(status=ModelStatus.TRAINING, created_at__lt=(now or timezone.now()) - limit)
    for run in stale:
        logger.warning("training %s: abandoned, still in training since %s", run, run.created_at)
    return stale.update(
        status=ModelStatus.FAILED,
        status_reason=f"Abandoned: still in training {limit.total_seconds() / 3600:g} h after it was queued, so "
        "its task was lost (the broker or its worker went away). Train again.",
        updated_at=timezone.now(),
    )


def model_train_start(*, model_type: str, requested_by=None) -> PredictiveModel:
    """Start training a type, the one way the API, the admin, beat and drift all do it: fail abandoned runs,
    refuse a type already training and too few labelled samples (saying how many are needed), open the run
    (`model_train_request`) and hand it to a worker once the transaction commits, recording the task id on the
    row. When the broker cannot take the task, the run is failed, and outside a transaction that is a 503."""
    _known_type(model_type)
    training_runs_abandon()
    if PredictiveModel.objects.filter(model_type=model_type, status=ModelStatus.TRAINING).exists():
        raise _already_training(model_type)
    available, needed = training_samples_count(model_type=model_type), MINIMUM_SAMPLES[model_type]
    if available < needed:
        raise DomainError(
            f"{model_type} needs at least {needed} labelled samples to train; there are {available}.",
            field="model_type",
            extra={"needed": needed, "available": available},
        )
    run = model_train_request(model_type=model_type, requested_by=requested_by)
    transaction.on_commit(lambda: _train_enqueue(run.pk))
    run.refresh_from_db()  # the task id, when the commit (and so the enqueueing) has happened already
    if run.status == ModelStatus.FAILED and not run.task_id:  # never queued (a run that failed training was)
        raise ServiceUnavailable(run.status_reason, field="model_type")
    return run


def _train_enqueue(model_id: int) -> None:
    """Queue the run's task; a broker that cannot take it fails the run (nothing would ever train it)."""
    from predictions.tasks import model_train_task  # tasks import the services

    try:
        result = model_train_task.delay(model_id)
    except BrokerUnreachable as error:
        logger.error("training run %s not queued: the task broker is unreachable (%s)", model_id, error)
        PredictiveModel.objects.filter(pk=model_id, status=ModelStatus.TRAINING).update(
            status=ModelStatus.FAILED,
            status_reason=f"Not queued: the task broker is unreachable ({error}). Train again once it is back.",
            updated_at=timezone.now(),
        )
        return
    PredictiveModel.objects.filter(pk=model_id, task_id="").update(task_id=result.id or "")


# --- training ------------------------------------------------------------------------------------------------


def model_train(*, model: PredictiveModel, seed: int = 0, now: datetime | None = None) -> PredictiveModel:
    """Carry out a training run: build the frame from the database, train, store the version and decide
    whether it replaces the deployed one. Idempotent: a run that is no longer in status training is left
    alone. Failures (too few samples included) mark the version failed with the reason."""
    model = PredictiveModel.objects.get(pk=model.pk)
    if model.status != ModelStatus.TRAINING:
        return model
    now = now or timezone.now()
    started = time.perf_counter()
    try:
        logger.info("training %s: reading the data", model)
        orders, customers = prediction_frames_get()
        if model.model_type == "next_order":
            fields = _train_next_order(orders, now_day=day_of(now))
        else:
            fields = _train_classifier_or_regressor(model.model_type, orders, customers, now_day=day_of(now), seed=seed)
    except (ValueError, artifacts.ArtifactRejected) as error:
        logger.warning("training %s failed: %s", model, error)
        model.status, model.status_reason = ModelStatus.FAILED, f"Training failed: {error}"
        model.training_seconds = time.perf_counter() - started
        return _save_if_still_training(model, ["status", "status_reason", "training_seconds", "updated_at"])
    for name, value in fields.items():
        setattr(model, name, value)
    model.training_seconds = time.perf_counter() - started
    model.last_retrained = now
    model.next_retrain_due = now + timedelta(days=CADENCE_DAYS[model.model_type])
    model.status, model.status_reason = ModelStatus.VALIDATED, "Validated on the out-of-time holdout."
    saved = _save_if_still_training(model)
    if saved is not model:  # abandoned meanwhile
        return saved
    logger.info("training %s: validated in %.1f s", model, model.training_seconds)
    return _champion_decide(model, orders=orders, customers=customers, now_day=day_of(now))


def _save_if_still_training(model: PredictiveModel, update_fields: list[str] | None = None) -> PredictiveModel:
    """Store the run's result, unless the run stopped being in training meanwhile (it was abandoned): then the
    result is dropped and the row is returned as it is."""
    with transaction.atomic():
        current = PredictiveModel.objects.select_for_update().defer("artifact").get(pk=model.pk)
        if current.status != ModelStatus.TRAINING:
            logger.warning(
                "training %s: finished, but the run is %s by now; its result is dropped", model, current.status
            )
            return current
        model.save(update_fields=update_fields)
        return model


def drift_reference(result: T.TrainingResult) -> dict[str, Any]:
    """The decile profile drift checks compare live rows with: the features with no missing value among the
    result's reference rows, and the model's output on those rows (no scores for the segment classes)."""
    reference = pd.DataFrame(result.reference_features, columns=list(result.feature_names))
    complete = [name for name in reference.columns if reference[name].notna().all()]
    scores = (  # the distribution live scores are held against
        None
        if result.model_type == "segment"
        else np.asarray(T.predict(result.model_type, result.estimator, result.reference_features), dtype=float)
    )
    return drift.reference_profile(
        {name: reference[name].to_numpy(dtype=float) for name in complete}, reference_scores=scores
    )


def _train_classifier_or_regressor(
    model_type: str, orders: pd.DataFrame, customers: pd.DataFrame, *, now_day: float, seed: int
) -> dict[str, Any]:
    frame = model_frame(model_type, orders, customers, now_day=now_day) if len(orders) else _empty()
    labelled = _labelled_count(frame)
    if labelled < MINIMUM_SAMPLES[model_type]:
        raise ValueError(
            f"{model_type} needs at least {MINIMUM_SAMPLES[model_type]} labelled rows; there are {labelled}."
        )
    result = T.train_model(
        model_type,
        frame.features,
        frame.labels,
        times=frame.times,
        groups=frame.groups,
        seed=seed,
        gap=GAP_DAYS[model_type],
    )
    artifact = artifacts.artifact_dump(result.estimator)
    return {
        "feature_set": list(result.feature_names),
        "hyperparameters": _json(result.hyperparameters),
        "training_data_start": _json(result.training_period[0]),
        "training_data_end": _json(result.training_period[1]),
        "training_rows": _json(result.n_rows),
        "accuracy_metrics": _json(
            {"holdout": result.metrics, "baseline": result.baseline_metrics, "holdout_period": result.holdout_period}
        ),
        "validation_results": _json({**result.validation, "notes": list(result.notes)}),
        "feature_importance": _json(result.feature_importance),
        "drift_reference": _json(drift_reference(result)),
        "artifact": artifact.data,
        "artifact_sha256": artifact.sha256,
        "library_versions": artifact.versions,
    }


def _rfm(orders: pd.DataFrame, cutoff: float) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """The ids, frequency, recency and age of every customer with an order before `cutoff` (features.rfm)."""
    history = F.rfm(orders, cutoff)
    return history.index.to_numpy(), *(history[name].to_numpy() for name in ("frequency", "recency", "age"))


def _train_next_order(orders: pd.DataFrame, *, now_day: float) -> dict[str, Any]:
    """BG/NBD: calibrated on the data before the last 90 days and checked on them (orders per customer in the
    holdout against the calibration's mean rate), then refitted on everything for serving."""
    calibration_end = now_day - NEXT_ORDER_HOLDOUT_DAYS
    if not len(orders):
        raise ValueError(f"next_order needs at least {MINIMUM_SAMPLES['next_order']} customers; there are 0.")
    ids, frequency, recency, age = _rfm(orders, calibration_end)
    if len(ids) < MINIMUM_SAMPLES["next_order"]:
        raise ValueError(f"next_order needs at least {MINIMUM_SAMPLES['next_order']} customers; there are {len(ids)}.")
    params = clv.fit_bgnbd(frequency, recency, age)
    later = orders[(orders["created_day"] >= calibration_end) & (orders["created_day"] < now_day)]
    actual = later.groupby("customer_id").size().reindex(ids, fill_value=0).to_numpy(dtype=float)
    predicted = np.asarray(clv.expected_purchases(params, NEXT_ORDER_HOLDOUT_DAYS, frequency, recency, age))
    rate = (frequency + 1) / np.maximum(age, 1.0)
    baseline = np.full(len(ids), rate.mean() * NEXT_ORDER_HOLDOUT_DAYS)
    all_ids, f_all, r_all, t_all = _rfm(orders, now_day)
    final = clv.fit_bgnbd(f_all, r_all, t_all)
    return {
        "feature_set": ["frequency", "recency", "T"],
        "hyperparameters": {"holdout_days": NEXT_ORDER_HOLDOUT_DAYS},
        "training_data_start": _json(float(orders["created_day"].min())),
        "training_data_end": _json(now_day),
        "training_rows": {"customers": len(all_ids), "calibration_customers": len(ids)},
        "accuracy_metrics": _json(
            {
                "holdout": {"mae": np.mean(np.abs(predicted - actual)), "mean_predicted": predicted.mean()},
                "baseline": {"mae": np.mean(np.abs(baseline - actual)), "mean_predicted": baseline.mean()},
                "holdout_period": (calibration_end, now_day),
                "actual_mean": actual.mean(),
            }
        ),
        "validation_results": {"scheme": f"calibration until {NEXT_ORDER_HOLDOUT_DAYS:g} days ago, holdout after"},
        "parameters": _json(final.to_dict()),
        "library_versions": artifacts.library_versions(),
    }


# --- champion / challenger -----------------------------------------------------------------------------------


def _holdout(model: PredictiveModel) -> dict[str, float]:
    return (model.accuracy_metrics or {}).get("holdout", {})


def _beats_baseline(model: PredictiveModel) -> tuple[bool, str]:
    if model.model_type == "next_order":
        metric, higher = "mae", False
    else:
        metric = BASELINE_METRIC[model.model_type]
        higher = HIGHER_IS_BETTER[metric]
    mine, base = _holdout(model).get(metric), (model.accuracy_metrics or {}).get("baseline", {}).get(metric)
    if mine is None or base is None:
        return False, f"No {metric} to compare with the baseline."
    better = mine > base if higher else mine < base
    return better, f"{metric} {mine:.4f} against the baseline's {base:.4f}"


def _deployed_on_holdout(
    challenger: PredictiveModel, champion: PredictiveModel, *, orders, customers, now_day: float
) -> float | None:
    """The champion's metric on the challenger's holdout rows (None when it cannot be evaluated there)."""
    metric = CHAMPION_METRIC[challenger.model_type][0]
    if challenger.model_type == "next_order" or champion.feature_set != challenger.feature_set:
        return None
    try:
        estimator = artifact_estimator(champion)
    except artifacts.ArtifactRejected:
        return None
    frame = model_frame(challenger.model_type, orders, customers, now_day=now_day)
    start, end = challenger.accuracy_metrics.get("holdout_period", [None, None])
    times = frame.times.to_numpy(dtype=float)
    rows = (times >= start) & (times <= end) & frame.labels.notna().to_numpy()
    if not rows.any():
        return None
    X = frame.features[list(champion.feature_set)].to_numpy(dtype=float)[rows]
    y = frame.labels.to_numpy()[rows]
    output = T.predict(challenger.model_type, estimator, X)
    if challenger.model_type in T.BINARY_TYPES:
        return T.classification_metrics(y.astype(int), output).get(metric)
    if challenger.model_type == "satisfaction":
        return T.regression_metrics(y.astype(float), output).get(metric)
    return T.segment_metrics(y.astype(str), output).get(metric)


def _champion_decide(model: PredictiveModel, *, orders, customers, now_day: float) -> PredictiveModel:
    beats_baseline, baseline_text = _beats_baseline(model)
    if not beats_baseline:
        model.status_reason = f"Validated, not deployed: it does not beat its baseline ({baseline_text})."
        model.save(update_fields=["status_reason", "updated_at"])
        return model
    champion = model_deployed_get(model_type=model.model_type)
    if champion is None:
        return model_deploy(
            model=model, reason=f"Deployed: the first version that beats its baseline ({baseline_text})."
        )
    metric, higher, margin = CHAMPION_METRIC[model.model_type]
    mine = _holdout(model).get(metric)
    theirs = _deployed_on_holdout(model, champion, orders=orders, customers=customers, now_day=now_day)
    if theirs is None:
        theirs = _holdout(champion).get(metric)  # its own holdout: the best comparison left
    if mine is None or theirs is None:
        model.status_reason = f"Validated, not deployed: no {metric} to compare with v{champion.version}."
        model.save(update_fields=["status_reason", "updated_at"])
        return model
    wins = mine >= theirs + margin if higher else mine <= theirs - margin
    text = f"{metric} {mine:.4f} against v{champion.version}'s {theirs:.4f} on the same holdout (margin {margin})"
    if not wins:
        model.status_reason = f"Validated, not deployed: it does not beat the deployed version ({text})."
        model.save(update_fields=["status_reason", "updated_at"])
        return model
    return model_deploy(model=model, reason=f"Deployed: it beats the deployed version ({text}) and its baseline.")


@transaction.atomic
def model_deploy(*, model: PredictiveModel, reason: str = "Deployed by hand.") -> PredictiveModel:
    """Make this version the deployed one of its type; the previous one is retired."""
    model = PredictiveModel.objects.select_for_update().get(pk=model.pk)
    if model.status not in (ModelStatus.VALIDATED, ModelStatus.RETIRED):
        raise DomainError(f"A {model.status} version cannot be deployed.", field="status")
    if model.model_type != "next_order":
        try:
            artifact_estimator(model)  # refuse a tampered or mismatched artifact before it serves anything
        except artifacts.ArtifactRejected as error:
            raise DomainError(f"v{model.version}'s artifact is refused: {error}", field="artifact") from error
    now = timezone.now()
    PredictiveModel.objects.filter(model_type=model.model_type, status=ModelStatus.DEPLOYED).update(
        status=ModelStatus.RETIRED, status_reason=f"Retired: v{model.version} deployed.", updated_at=now
    )
    model.status, model.status_reason, model.deployed_at = ModelStatus.DEPLOYED, reason, now
    model.save(update_fields=["status", "status_reason", "deployed_at", "updated_at"])
    return model


@transaction.atomic
def model_rollback(*, model_type: str) -> PredictiveModel:
    """Put back the version deployed before the current one (the latest retired one that was deployed)."""
    current = model_deployed_get(model_type=model_type)
    if current is None:
        raise DomainError(f"No {model_type} version is deployed.", field="model_type")
    previous = (
        PredictiveModel.objects.filter(model_type=model_type, status=ModelStatus.RETIRED, deployed_at__isnull=False)
        .order_by("-deployed_at")
        .first()
    )
    if previous is None:
        raise DomainError(f"No earlier deployed {model_type} version to roll back to.", field="model_type")
    return model_deploy(model=previous, reason=f"Rolled back from v{current.version}.")


# --- artifacts and the schedule ------------------------------------------------------------------------------


def artifact_estimator(model: PredictiveModel):
    """The version's estimator, loaded only if its digest and library versions match (ArtifactRejected)."""
    data = model.artifact if model.artifact is not None else PredictiveModel.objects.get(pk=model.pk).artifact
    if data is None:
        raise artifacts.ArtifactRejected(f"{model} has no artifact.")
    return artifacts.artifact_load(bytes(data), sha256=model.artifact_sha256, versions=model.library_versions)


def version_data_end(model: PredictiveModel) -> float | None:
    """The feature time (day) of the last labelled row a version was trained or measured on: its holdout's
    end (its training rows end before the holdout)."""
    holdout = (model.accuracy_metrics or {}).get("holdout_period") or [None, None]
    ends = [day for day in (holdout[1], model.training_data_end) if day is not None]
    return max(ends) if ends else None


def new_labelled_count(
    model_type: str, orders: pd.DataFrame, customers: pd.DataFrame, *, since_day: float, now_day: float
) -> int:
    """The labelled rows of a type's frame as of `now_day` with a feature time after `since_day` (for next_order,
    the customers with an order after it): the new data a scheduled retraining waits for."""
    if not len(orders):
        return 0
    if model_type == "next_order":
        created = orders["created_day"].to_numpy(dtype=float)
        return int(orders.loc[(created > since_day) & (created < now_day), "customer_id"].nunique())
    frame = model_frame(model_type, orders, customers, now_day=now_day)
    if not len(frame):
        return 0
    return int((frame.labels.notna().to_numpy() & (frame.times.to_numpy(dtype=float) > since_day)).sum())


def models_retrain_due(*, now: datetime | None = None) -> list[str]:
    """The model types beat retrains now: none training, and either none trained yet, or the latest version's
    cadence has come and at least MINIMUM_SAMPLES new labelled rows exist since the data it was trained on
    (otherwise a run would learn from the same rows again). A type left out for want of new rows is logged
    and looked at again at the next check. The count is kept on the latest version (`retrain_check`), for the
    status page."""
    now = now or timezone.now()
    due: list[str] = []
    frames: tuple[pd.DataFrame, pd.DataFrame] | None = None
    for model_type in MODEL_TYPES:
        if PredictiveModel.objects.filter(model_type=model_type, status=ModelStatus.TRAINING).exists():
            continue
        latest = PredictiveModel.objects.filter(model_type=model_type).exclude(status=ModelStatus.FAILED).first()
        if latest is not None and latest.next_retrain_due is not None and latest.next_retrain_due > now:
            continue
        since = None if latest is None else version_data_end(latest)
        if since is not None:
            frames = frames or prediction_frames_get()  # read once for all the types due
            new = new_labelled_count(model_type, *frames, since_day=since, now_day=day_of(now))
            check = {"checked_at": now.isoformat(), "new_labelled_rows": new, "needed": MINIMUM_SAMPLES[model_type]}
            PredictiveModel.objects.filter(pk=latest.pk).update(retrain_check=check)  # for the status page
            if new < MINIMUM_SAMPLES[model_type]:
                logger.info(
                    "not retraining %s: %d new labelled rows since v%d's data (needs %d)",
                    model_type,
                    new,
                    latest.version,
                    MINIMUM_SAMPLES[model_type],
                )
                continue
        due.append(model_type)
    return due
