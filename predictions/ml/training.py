"""Training and validation of the four predictive models: out-of-time holdout, time-ordered CV, baselines.

Pure: numpy, pandas and scikit-learn, never Django. `train_model` takes a numeric feature frame (from
`predictions.ml.features`), its labels and each row's feature time, and returns a frozen `TrainingResult`:
the fitted estimator, its holdout metrics next to the baseline's (base rate, mean predictor or majority class),
the time-ordered cross-validation, the permutation importance on the holdout and the reference data that
drift monitoring compares live features with (the latest holdout rows: the most recent data the model was
measured on).

How rows are split. The latest `holdout_fraction` of the rows by time is the out-of-time holdout; the model is
trained on the rows at least `gap` days before its start (a churn row's label runs 90 days past its cut-off,
so churn uses gap=90 and its training labels all end before the holdout begins). Cross-validation runs on
the training rows: `TimeSeriesSplit` over the time-sorted rows, each fold's training rows also cut `gap` days
(and strictly) before its validation rows.
When all rows share one time (one cut-off), the holdout is a seeded group split by customer and the CV a
`GroupKFold` by customer, so no customer is on both sides.

The estimators are built only from Pipeline, SimpleImputer, StandardScaler, LogisticRegression,
RandomForestClassifier, RandomForestRegressor, CalibratedClassifierCV and FrozenEstimator, so that
`predictions.ml.artifacts` can store them with a fixed list of trusted types:
- success: a random forest, calibrated by isotonic regression (`CalibratedClassifierCV(FrozenEstimator(rf))`)
  on the latest `calibration_fraction` of the training rows, which the forest does not see;
- satisfaction: a random forest regressor (predictions clipped to 1..5);
- churn: Pipeline(SimpleImputer(median), StandardScaler, LogisticRegression);
- segment: a multi-class random forest with balanced class weights.
The forests handle missing values natively; the logistic regression imputes the training medians.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import pandas as pd
from sklearn.calibration import CalibratedClassifierCV
from sklearn.ensemble import RandomForestClassifier, RandomForestRegressor
from sklearn.frozen import FrozenEstimator
from sklearn.impute import SimpleImputer
from sklearn.linear_model import LogisticRegression
from sklearn.metrics import (
    accuracy_score,
    average_precision_score,
    balanced_accuracy_score,
    brier_score_loss,
    f1_score,
    log_loss,
    mean_absolute_error,
    mean_squared_error,
    r2_score,
    roc_auc_score,
)
from sklearn.model_selection import GroupKFold, GroupShuffleSplit, TimeSeriesSplit
from sklearn.pipeline import Pipeline
from sklearn.preprocessing import StandardScaler

MINIMUM_SAMPLES: dict[str, int] = {"success": 100, "satisfaction": 50, "churn": 80, "segment": 60}
MODEL_TYPES: tuple[str, ...] = tuple(MINIMUM_SAMPLES)
BINARY_TYPES = ("success", "churn")

DEFAULT_HYPERPARAMETERS: dict[str, dict] = {
    "success": {
        "n_estimators": 200,
        "min_samples_leaf": 50,
        "max_features": "sqrt",
        "max_samples": 0.5,
        "calibration_fraction": 0.25,
    },
    "satisfaction": {"n_estimators": 200, "min_samples_leaf": 10, "max_features": 0.4, "max_samples": 0.7},
    "churn": {"C": 0.5, "max_iter": 5000},
    "segment": {"n_estimators": 200, "min_samples_leaf": 3, "max_features": "sqrt", "class_weight": "balanced"},
}
SATISFACTION_RANGE = (1.0, 5.0)
CV_TREES = 100  # the cross-validation folds fit smaller forests: they estimate the spread, not the final model


@dataclass(frozen=True, eq=False)
class TrainingResult:
    model_type: str
    estimator: object
    feature_names: tuple[str, ...]
    hyperparameters: dict
    metrics: dict[str, float]  # on the out-of-time holdout
    baseline_metrics: dict[str, float]  # the same metrics of the base rate / mean / majority-class predictor
    validation: dict  # {"scheme": ..., "folds": [metrics per fold], "mean": {...}, "baseline_mean": {...}}
    feature_importance: dict[str, float]  # permutation importance on the holdout, largest first
    feature_importance_std: dict[str, float]
    training_period: tuple[float, float]  # first and last feature time of the training rows
    holdout_period: tuple[float, float]
    n_rows: dict[str, int]  # labelled, train, calibration, holdout
    holdout_index: pd.Index  # the holdout rows of the input frame
    holdout_labels: np.ndarray
    holdout_predictions: np.ndarray  # P(positive), the predicted score, or the predicted class
    reference_features: np.ndarray  # the latest `reference_rows` holdout rows (drift's reference)
    classes: tuple = ()
    seed: int = 0
    notes: tuple[str, ...] = field(default=())


def _forest_classifier(params: dict, seed: int, **extra) -> RandomForestClassifier:
    keys = ("n_estimators", "min_samples_leaf", "max_features", "max_samples", "class_weight", "max_depth")
    return RandomForestClassifier(**{k: params[k] for k in keys if k in params}, **extra, n_jobs=1, random_state=seed)


def _fit(model_type: str, params: dict, X: np.ndarray, y: np.ndarray, seed: int):
    """Fit the model of a type on time-sorted rows (the success model calibrates on the latest slice)."""
    if model_type == "success":
        n_calibration = round(len(y) * params["calibration_fraction"])
        fit_rows, calibration_rows = slice(0, len(y) - n_calibration), slice(len(y) - n_calibration, None)
        if len(np.unique(y[fit_rows])) < 2 or len(np.unique(y[calibration_rows])) < 2:
            raise ValueError("the success model needs both outcomes before and within the calibration slice")
        forest = _forest_classifier(params, seed).fit(X[fit_rows], y[fit_rows])
        calibrated = CalibratedClassifierCV(FrozenEstimator(forest), method="isotonic")
        return calibrated.fit(X[calibration_rows], y[calibration_rows])
    if model_type == "satisfaction":
        keys = ("n_estimators", "min_samples_leaf", "max_features", "max_samples", "max_depth")
        forest = RandomForestRegressor(**{k: params[k] for k in keys if k in params}, n_jobs=1, random_state=seed)
        return forest.fit(X, y)
    if model_type == "churn":
        pipeline = Pipeline(
            [
                ("impute", SimpleImputer(strategy="median", keep_empty_features=True)),
                ("scale", StandardScaler()),
                ("model", LogisticRegression(C=params["C"], max_iter=params["max_iter"])),
            ]
        )
        return pipeline.fit(X, y)
    return _forest_classifier(params, seed).fit(X, y)


def predict(model_type: str, estimator, X) -> np.ndarray:
    """P(positive) for success and churn, the clipped 1-5 score for satisfaction, the class for segment."""
    X = X.to_numpy(dtype=float) if isinstance(X, pd.DataFrame) else np.asarray(X, dtype=float)
    if model_type in BINARY_TYPES:
        return estimator.predict_proba(X)[:, 1]
    if model_type == "satisfaction":
        return np.clip(estimator.predict(X), *SATISFACTION_RANGE)
    if model_type == "segment":
        return estimator.predict(X)
    raise ValueError(f"unknown model type {model_type!r}; expected one of {', '.join(MODEL_TYPES)}")


def predict_segment_probabilities(estimator, X) -> pd.DataFrame:
    X = X.to_numpy(dtype=float) if isinstance(X, pd.DataFrame) else np.asarray(X, dtype=float)
    return pd.DataFrame(estimator.predict_proba(X), columns=list(estimator.classes_))


def classification_metrics(y: np.ndarray, p: np.ndarray) -> dict[str, float]:
    y = np.asarray(y, dtype=int)
    p = np.clip(np.asarray(p, dtype=float), 1e-6, 1 - 1e-6)
    both = len(np.unique(y)) == 2
    return {
        "roc_auc": float(roc_auc_score(y, p)) if both else float("nan"),
        "pr_auc": float(average_precision_score(y, p)) if both else float("nan"),
        "brier": float(brier_score_loss(y, p)),
        "log_loss": float(log_loss(y, p, labels=[0, 1])),
        "accuracy": float(accuracy_score(y, p >= 0.5)),
        "prevalence": float(y.mean()),
        "mean_prediction": float(p.mean()),
    }


def regression_metrics(y: np.ndarray, predicted: np.ndarray) -> dict[str, float]:
    y, predicted = np.asarray(y, dtype=float), np.asarray(predicted, dtype=float)
    return {
        "mae": float(mean_absolute_error(y, predicted)),
        "rmse": float(np.sqrt(mean_squared_error(y, predicted))),
        "r2": float(r2_score(y, predicted)) if len(y) > 1 else float("nan"),
        "mean_label": float(y.mean()),
    }


def segment_metrics(y: np.ndarray, predicted: np.ndarray) -> dict[str, float]:
    return {
        "macro_f1": float(f1_score(y, predicted, average="macro", zero_division=0)),
        "balanced_accuracy": float(balanced_accuracy_score(y, predicted)),
        "accuracy": float(accuracy_score(y, predicted)),
    }


def _metrics(model_type: str, y: np.ndarray, output: np.ndarray) -> dict[str, float]:
    if model_type in BINARY_TYPES:
        return classification_metrics(y, output)
    if model_type == "satisfaction":
        return regression_metrics(y, output)
    return segment_metrics(y, output)


def _baseline_output(model_type: str, y_train: np.ndarray, n: int) -> np.ndarray:
    """The baseline's output: the training base rate, the training mean, or the training majority class."""
    if model_type in BINARY_TYPES:
        return np.full(n, float(np.mean(y_train)))
    if model_type == "satisfaction":
        return np.full(n, float(np.mean(y_train)))
    values, counts = np.unique(y_train, return_counts=True)
    return np.full(n, values[np.argmax(counts)], dtype=object)


def _labels(model_type: str, labels: pd.Series) -> tuple[np.ndarray, np.ndarray]:
    """The labelled rows and their labels as the estimator wants them."""
    if model_type == "segment":
        known = labels.notna().to_numpy()
        return known, labels.to_numpy(dtype=object)[known].astype(str)
    values = pd.to_numeric(labels, errors="coerce").to_numpy(dtype=float)
    known = np.isfinite(values)
    y = values[known]
    return known, (y.astype(int) if model_type in BINARY_TYPES else y)


def _as_series(values, index: pd.Index, name: str) -> pd.Series:
    if isinstance(values, pd.Series):
        if len(values) != len(index):
            raise ValueError(f"{name} must have one value per row of the frame")
        return pd.Series(values.to_numpy(), index=index)
    array = np.asarray(values)
    if array.shape != (len(index),):
        raise ValueError(f"{name} must have one value per row of the frame")
    return pd.Series(array, index=index)


def _cv_folds(times: np.ndarray, groups: np.ndarray | None, n_splits: int, gap: float):
    """(scheme, [(train_rows, validation_rows)]) over time-sorted rows."""
    if len(np.unique(times)) == 1:
        if groups is None:
            groups = np.arange(len(times))
        n = min(n_splits, len(np.unique(groups)))
        return "GroupKFold by customer", list(GroupKFold(n_splits=n).split(times, groups=groups)) if n >= 2 else []
    folds = []
    for train, validation in TimeSeriesSplit(n_splits=n_splits).split(times):
        train = train[times[train] <= times[validation].min() - gap] if gap > 0 else train
        train = train[times[train] < times[validation].min()]
        if len(train):
            folds.append((train, validation))
    return f"TimeSeriesSplit({n_splits}) with a {gap:g}-day gap", folds


def train_model(
    model_type: str,
    frame: pd.DataFrame,
    labels,
    *,
    times,
    seed: int,
    groups=None,
    holdout_fraction: float = 0.2,
    gap: float = 0.0,
    n_splits: int = 3,
    hyperparameters: dict | None = None,
    importance_rows: int = 1000,
    importance_repeats: int = 3,
    reference_rows: int = 10_000,
) -> TrainingResult:
    """Train one model on the labelled rows of `frame` (numeric features), validate it out of time, and
    measure it against its baseline. Raises ValueError below MINIMUM_SAMPLES[model_type] labelled rows."""
    if model_type not in MINIMUM_SAMPLES:
        raise ValueError(f"unknown model type {model_type!r}; expected one of {', '.join(MODEL_TYPES)}")
    if not 0 < holdout_fraction < 1:
        raise ValueError("holdout_fraction must be within (0, 1)")
    params = {**DEFAULT_HYPERPARAMETERS[model_type], **(hyperparameters or {})}
    labels = _as_series(labels, frame.index, "labels")
    times = _as_series(times, frame.index, "times")
    known, y_all = _labels(model_type, labels)
    needed = MINIMUM_SAMPLES[model_type]
    if known.sum() < needed:
        raise ValueError(f"the {model_type} model needs at least {needed} labelled rows, got {int(known.sum())}")

    features = frame.loc[known]
    order = np.argsort(times.to_numpy(dtype=float)[known], kind="stable")
    features = features.iloc[order]
    X = features.to_numpy(dtype=float)
    y = y_all[order]
    t = times.to_numpy(dtype=float)[known][order]
    g = None if groups is None else _as_series(groups, frame.index, "groups").to_numpy()[known][order]

    if len(np.unique(t)) > 1:
        holdout_start = t[min(int(len(t) * (1 - holdout_fraction)), len(t) - 1)]
        holdout = t >= holdout_start
        if holdout.all():
            holdout = t > t.min()
            holdout_start = t[holdout].min()
        train = (t <= holdout_start - gap) & ~holdout if gap > 0 else ~holdout
    else:
        splitter = GroupShuffleSplit(n_splits=1, test_size=holdout_fraction, random_state=seed)
        _, holdout_rows = next(splitter.split(X, groups=np.arange(len(y)) if g is None else g))
        holdout = np.zeros(len(y), dtype=bool)
        holdout[holdout_rows] = True
        train = ~holdout
    if train.sum() < needed // 2 or holdout.sum() < 10:
        raise ValueError(
            f"the {model_type} model needs more rows over time: {int(train.sum())} to train on and "
            f"{int(holdout.sum())} to hold out after the gap"
        )
    if model_type != "satisfaction" and len(np.unique(y[train])) < 2:
        raise ValueError(f"the {model_type} model needs at least two classes among its training rows")

    estimator = _fit(model_type, params, X[train], y[train], seed)
    output = predict(model_type, estimator, X[holdout])
    metrics = _metrics(model_type, y[holdout], output)
    baseline = _metrics(model_type, y[holdout], _baseline_output(model_type, y[train], int(holdout.sum())))

    scheme, folds = _cv_folds(t[train], None if g is None else g[train], n_splits, gap)
    X_train, y_train = X[train], y[train]
    fold_params = {**params, "n_estimators": min(params.get("n_estimators", 100), CV_TREES)}
    fold_metrics, fold_baselines = [], []
    for fold_train, fold_validation in folds:
        if model_type != "satisfaction" and len(np.unique(y_train[fold_train])) < 2:
            continue
        try:
            fold_model = _fit(model_type, fold_params, X_train[fold_train], y_train[fold_train], seed)
        except ValueError:
            continue
        fold_output = predict(model_type, fold_model, X_train[fold_validation])
        fold_metrics.append(_metrics(model_type, y_train[fold_validation], fold_output))
        fold_baselines.append(
            _metrics(
                model_type,
                y_train[fold_validation],
                _baseline_output(model_type, y_train[fold_train], len(fold_validation)),
            )
        )

    rng = np.random.default_rng(seed)
    holdout_rows = np.flatnonzero(holdout)
    sample = holdout_rows if len(holdout_rows) <= importance_rows else rng.choice(holdout_rows, importance_rows, False)
    sample = np.sort(sample)
    importance_mean, importance_std = _permutation_importance(
        model_type, estimator, X[sample], y[sample], repeats=importance_repeats, rng=rng
    )
    names = tuple(str(c) for c in features.columns)
    ranked = np.argsort(-importance_mean, kind="stable")
    # The drift reference is the latest data the model was measured on: the holdout's latest rows. A sample of
    # all the training rows would hold the marketplace's early days, when every customer had little history:
    # on a stationary simulated marketplace that alone scored 0.15-0.19 (an alert) 30 to 60 days after
    # training, against 0.01-0.04 with the holdout (tests/predictions/test_drift_reference.py).
    reference = holdout_rows[-reference_rows:]

    return TrainingResult(
        model_type=model_type,
        estimator=estimator,
        feature_names=names,
        hyperparameters={**params, "seed": seed, "holdout_fraction": holdout_fraction, "gap": gap},
        metrics=metrics,
        baseline_metrics=baseline,
        validation={
            "scheme": scheme,
            "folds": fold_metrics,
            "mean": _mean_metrics(fold_metrics),
            "baseline_mean": _mean_metrics(fold_baselines),
        },
        feature_importance={names[i]: float(importance_mean[i]) for i in ranked},
        feature_importance_std={names[i]: float(importance_std[i]) for i in ranked},
        training_period=(float(t[train].min()), float(t[train].max())),
        holdout_period=(float(t[holdout].min()), float(t[holdout].max())),
        n_rows={
            "labelled": len(y),
            "train": int(train.sum()),
            "calibration": round(int(train.sum()) * params["calibration_fraction"]) if model_type == "success" else 0,
            "holdout": int(holdout.sum()),
        },
        holdout_index=features.index[holdout],
        holdout_labels=y[holdout],
        holdout_predictions=np.asarray(output),
        reference_features=X[reference],
        classes=tuple(str(c) for c in getattr(estimator, "classes_", ())),
        seed=seed,
        notes=(scheme,),
    )


def _importance_score(model_type: str, y: np.ndarray, output: np.ndarray) -> float:
    """Higher is better: ROC AUC (or -Brier with one class), -MAE, macro-F1."""
    if model_type in BINARY_TYPES:
        if len(np.unique(y)) < 2:
            return -float(np.mean((output - y) ** 2))
        return float(roc_auc_score(y, output))
    if model_type == "satisfaction":
        return -float(np.mean(np.abs(output - y)))
    return float(f1_score(y, output, average="macro", zero_division=0))


def _permutation_importance(
    model_type: str, estimator, X: np.ndarray, y: np.ndarray, *, repeats: int, rng: np.random.Generator
) -> tuple[np.ndarray, np.ndarray]:
    """The drop in the holdout score when one feature's column is shuffled (Breiman's permutation importance),
    `repeats` shuffles per feature; all permuted copies of a block of features are predicted in one call."""
    n, m = X.shape
    reference = _importance_score(model_type, y, predict(model_type, estimator, X))
    drops = np.zeros((m, repeats))
    block = max(1, 150_000 // max(n * repeats, 1))
    for first in range(0, m, block):
        columns = range(first, min(first + block, m))
        copies = []
        for j in columns:
            for _ in range(repeats):
                permuted = X.copy()
                permuted[:, j] = X[rng.permutation(n), j]
                copies.append(permuted)
        output = predict(model_type, estimator, np.vstack(copies)).reshape(len(columns), repeats, n)
        for offset, j in enumerate(columns):
            for r in range(repeats):
                drops[j, r] = reference - _importance_score(model_type, y, output[offset, r])
    return drops.mean(axis=1), drops.std(axis=1)


def _mean_metrics(folds: list[dict[str, float]]) -> dict[str, float]:
    if not folds:
        return {}
    return {key: float(np.nanmean([f[key] for f in folds])) for key in folds[0]}
