"""Predictions for a few rows at serving speed, equal to the estimators' own (a test checks it).

scikit-learn's forests predict through joblib, one task per tree, which costs about 15 ms for one row of a
200-tree forest; the trees' own arrays answer the same question in a fraction of that. Only the structures
our training builds are taken apart (a random forest, alone or calibrated by `CalibratedClassifierCV` over a
`FrozenEstimator`); anything else goes through the estimator's own `predict`.
"""

from __future__ import annotations

import numpy as np
from sklearn.calibration import CalibratedClassifierCV
from sklearn.ensemble import RandomForestClassifier, RandomForestRegressor
from sklearn.frozen import FrozenEstimator

from predictions.ml import training as T


def _forest_proba(forest: RandomForestClassifier, X: np.ndarray) -> np.ndarray:
    rows = np.ascontiguousarray(X, dtype=np.float32)
    total = np.zeros((len(rows), len(forest.classes_)))
    for tree in forest.estimators_:
        values = tree.tree_.predict(rows)  # (rows, classes) for one output
        total += values / values.sum(axis=1, keepdims=True)
    return total / len(forest.estimators_)


def _forest_mean(forest: RandomForestRegressor, X: np.ndarray) -> np.ndarray:
    rows = np.ascontiguousarray(X, dtype=np.float32)
    return np.mean([tree.tree_.predict(rows)[:, 0] for tree in forest.estimators_], axis=0)


def _calibrated_positive(model: CalibratedClassifierCV, X: np.ndarray) -> np.ndarray | None:
    """P(positive) of a binary calibrated forest, as CalibratedClassifierCV.predict_proba computes it."""
    outputs = []
    for calibrated in model.calibrated_classifiers_:
        inner = calibrated.estimator
        inner = inner.estimator if isinstance(inner, FrozenEstimator) else inner
        if (
            not isinstance(inner, RandomForestClassifier)
            or len(inner.classes_) != 2
            or len(calibrated.calibrators) != 1
        ):
            return None
        outputs.append(np.clip(calibrated.calibrators[0].predict(_forest_proba(inner, X)[:, 1]), 0.0, 1.0))
    return np.mean(outputs, axis=0)


def predict_fast(model_type: str, estimator, X) -> np.ndarray:
    """What `training.predict(model_type, estimator, X)` returns, faster for our forests."""
    X = np.asarray(X, dtype=float)
    if model_type == "success" and isinstance(estimator, CalibratedClassifierCV):
        positive = _calibrated_positive(estimator, X)
        if positive is not None:
            return positive
    if model_type == "satisfaction" and isinstance(estimator, RandomForestRegressor):
        return np.clip(_forest_mean(estimator, X), *T.SATISFACTION_RANGE)
    if model_type == "segment" and isinstance(estimator, RandomForestClassifier):
        return estimator.classes_[np.argmax(_forest_proba(estimator, X), axis=1)]
    return T.predict(model_type, estimator, X)
