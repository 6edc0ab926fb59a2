"""Data and prediction drift by the Population Stability Index (PSI), and the model drift score.

Framework-free (standard library and numpy). The formulas are those of
`shared/reference/predictive-models.md`:

- Numeric feature: 10 bins at the reference's deciles. The interior edges are the 10%, ..., 90% quantiles of
  the reference (numpy's default, linear interpolation); duplicate edges are collapsed, so a discrete
  feature gets fewer, wider bins; the outer bins are open to -inf and +inf. Bins are right-closed
  (`edges[i-1] < x <= edges[i]`), so each value of a discrete feature that is an edge falls in one bin.
- Categorical feature: one bin per category over the union of the reference and current categories.
  Categories are compared by their string form (`1` and `"1"` are the same category).
- Proportions are floored at `epsilon` (no renormalisation), so an empty bin gives a large but finite term;
  `PSI = sum((c - r) * ln(c / r))`. Identical distributions give exactly 0.
- Bands: < 0.10 stable, 0.10-0.25 moderate, > 0.25 significant.

The model drift score is `max(importance-weighted mean of the feature PSI, PSI of the predicted scores)`:
the weighted mean says how much of what the model relies on has moved, the prediction PSI says how much
the model's output has moved, and either one alone is reason to look. Alert at 0.10, retrain at 0.25,
and act only on a current sample of at least `minimum_sample` rows (default 500): PSI is biased upwards
and noisy on small samples (0.128 for a tiny shift at n = 200).

Production path: at training time `reference_profile(...)` keeps the decile edges and reference bin
proportions per feature (a small JSON-serialisable dict, stored with the model version);
`drift_report_from_profile(profile, current, ...)` computes the report later without the training data.
`drift_report(reference, current, ...)` is the same computation in one call and gives exactly the same
numbers (it builds the profile and uses it).

Numeric inputs must be finite: NaN or inf raise `ValueError` (impute or drop missing values first, or
track missing rates separately). Every `ValueError` names the argument at fault.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from numbers import Integral, Real
from typing import Any

import numpy as np

STABLE_BELOW = 0.10
SIGNIFICANT_ABOVE = 0.25
ALERT_THRESHOLD = 0.10
RETRAIN_THRESHOLD = 0.25
MINIMUM_SAMPLE = 500
DEFAULT_BINS = 10
DEFAULT_EPSILON = 1e-4
PROFILE_VERSION = 1

Features = Mapping[str, Any] | np.ndarray

_NUMERIC = "numeric"
_CATEGORICAL = "categorical"


# Validation ------------------------------------------------------------------------------------------


def _check_bins(bins: object) -> int:
    if isinstance(bins, bool) or not isinstance(bins, Integral) or bins < 2:
        raise ValueError(f"bins must be an integer >= 2, got {bins!r}")
    return int(bins)


def _check_epsilon(epsilon: object) -> float:
    if isinstance(epsilon, bool) or not isinstance(epsilon, Real) or not 0 < epsilon < 1:
        raise ValueError(f"epsilon must be a number in (0, 1), got {epsilon!r}")
    return float(epsilon)


def _check_minimum_sample(minimum_sample: object) -> int:
    if isinstance(minimum_sample, bool) or not isinstance(minimum_sample, Integral) or minimum_sample < 1:
        raise ValueError(f"minimum_sample must be a positive integer, got {minimum_sample!r}")
    return int(minimum_sample)


def _numeric_array(name: str, values: object) -> np.ndarray:
    """A non-empty 1-D float array of finite values, or a ValueError naming `name`."""
    try:
        array = np.asarray(values, dtype=float)
    except (TypeError, ValueError) as exc:
        raise ValueError(f"{name} must be numeric: {exc}") from exc
    if array.ndim != 1:
        raise ValueError(f"{name} must be one-dimensional, got shape {array.shape}")
    if array.size == 0:
        raise ValueError(f"{name} must not be empty")
    if not np.all(np.isfinite(array)):
        bad = int(np.count_nonzero(~np.isfinite(array)))
        raise ValueError(f"{name} must be finite, got {bad} NaN or infinite value(s)")
    return array


def _category_array(name: str, values: object) -> np.ndarray:
    """A non-empty 1-D array of category labels as strings, or a ValueError naming `name`."""
    raw = np.asarray(values, dtype=object)
    if raw.ndim != 1:
        raise ValueError(f"{name} must be one-dimensional, got shape {raw.shape}")
    if raw.size == 0:
        raise ValueError(f"{name} must not be empty")
    for value in raw:
        if value is None or (isinstance(value, Real) and not isinstance(value, Integral) and math.isnan(value)):
            raise ValueError(f"{name} must not contain missing values (None or NaN); map them to a category")
    return np.array([str(value) for value in raw], dtype=object)


def _feature_columns(name: str, data: Features, feature_names: Sequence[str] | None) -> dict[str, np.ndarray]:
    """Columns by feature name, from a mapping or from a 2-D array and `feature_names`."""
    if isinstance(data, Mapping):
        if feature_names is not None and list(feature_names) != list(data):
            raise ValueError(f"feature_names must match the keys of {name} (or be omitted for a mapping)")
        columns = {str(key): np.asarray(value) for key, value in data.items()}
        if len(columns) != len(data):
            raise ValueError(f"{name} has feature names that collide as strings")
    else:
        array = np.asarray(data)
        if array.ndim != 2:
            raise ValueError(f"{name} must be a mapping of feature name to values or a 2-D array, got {array.shape}")
        if feature_names is None:
            raise ValueError(f"feature_names is required when {name} is a 2-D array")
        names = [str(feature) for feature in feature_names]
        if len(names) != array.shape[1]:
            raise ValueError(f"feature_names has {len(names)} names but {name} has {array.shape[1]} columns")
        if len(set(names)) != len(names):
            raise ValueError("feature_names must be unique")
        columns = {feature: array[:, index] for index, feature in enumerate(names)}
    if not columns:
        raise ValueError(f"{name} must have at least one feature")
    lengths = {feature: len(column) if column.ndim == 1 else -1 for feature, column in columns.items()}
    if any(length == -1 for length in lengths.values()):
        raise ValueError(f"{name}: every feature must be one-dimensional")
    if len(set(lengths.values())) != 1:
        raise ValueError(f"{name}: all features must have the same number of rows, got {lengths}")
    return columns


def _check_same_features(name: str, expected: Iterable[str], actual: Iterable[str]) -> None:
    expected_set, actual_set = set(expected), set(actual)
    if expected_set != actual_set:
        missing = sorted(expected_set - actual_set)
        extra = sorted(actual_set - expected_set)
        raise ValueError(f"{name} features do not match the reference: missing {missing}, unexpected {extra}")


def _weights(importances: Mapping[str, float] | None, features: Sequence[str]) -> dict[str, float]:
    """Normalised weights per feature; negative importances (a permutation artefact) count as 0."""
    if importances is None:
        return {feature: 1.0 / len(features) for feature in features}
    _check_same_features("importances", features, importances)
    clipped: dict[str, float] = {}
    for feature in features:
        value = importances[feature]
        if isinstance(value, bool) or not isinstance(value, Real) or not math.isfinite(value):
            raise ValueError(f"importances[{feature!r}] must be a finite number, got {value!r}")
        clipped[feature] = max(float(value), 0.0)
    total = sum(clipped.values())
    if total <= 0:
        raise ValueError("importances must have a positive sum (after clipping negative values to 0)")
    return {feature: value / total for feature, value in clipped.items()}


# Profiles of one variable ----------------------------------------------------------------------------


def _numeric_profile(reference: np.ndarray, bins: int) -> dict[str, Any]:
    interior = np.quantile(reference, np.linspace(0.0, 1.0, bins + 1)[1:-1])
    edges = np.unique(interior)
    counts = np.bincount(np.searchsorted(edges, reference, side="left"), minlength=len(edges) + 1)
    return {
        "kind": _NUMERIC,
        "edges": [float(edge) for edge in edges],
        "proportions": [float(count) / reference.size for count in counts],
    }


def _categorical_profile(reference: np.ndarray) -> dict[str, Any]:
    categories, counts = np.unique(reference, return_counts=True)
    return {
        "kind": _CATEGORICAL,
        "categories": [str(category) for category in categories],
        "proportions": [float(count) / reference.size for count in counts],
    }


def _psi(reference_proportions: np.ndarray, current_proportions: np.ndarray, epsilon: float) -> float:
    r = np.maximum(reference_proportions, epsilon)
    c = np.maximum(current_proportions, epsilon)
    return float(np.sum((c - r) * np.log(c / r)))


def _psi_numeric_from_profile(entry: Mapping[str, Any], current: np.ndarray, epsilon: float) -> float:
    edges = np.asarray(entry["edges"], dtype=float)
    reference_proportions = np.asarray(entry["proportions"], dtype=float)
    counts = np.bincount(np.searchsorted(edges, current, side="left"), minlength=len(edges) + 1)
    return _psi(reference_proportions, counts / current.size, epsilon)


def _psi_categorical_from_profile(entry: Mapping[str, Any], current: np.ndarray, epsilon: float) -> float:
    reference_share = dict(zip(entry["categories"], entry["proportions"], strict=True))
    categories, counts = np.unique(current, return_counts=True)
    current_share = {str(category): int(count) / current.size for category, count in zip(categories, counts)}
    union = sorted(set(reference_share) | set(current_share))
    reference_proportions = np.array([reference_share.get(category, 0.0) for category in union])
    current_proportions = np.array([current_share.get(category, 0.0) for category in union])
    return _psi(reference_proportions, current_proportions, epsilon)


def _psi_from_profile(name: str, entry: Mapping[str, Any], current: object, epsilon: float) -> float:
    if entry["kind"] == _NUMERIC:
        return _psi_numeric_from_profile(entry, _numeric_array(name, current), epsilon)
    return _psi_categorical_from_profile(entry, _category_array(name, current), epsilon)


# Public API: one variable ----------------------------------------------------------------------------


def psi_score(
    reference: Sequence[float] | np.ndarray,
    current: Sequence[float] | np.ndarray,
    *,
    bins: int = DEFAULT_BINS,
    epsilon: float = DEFAULT_EPSILON,
) -> float:
    """PSI of one numeric variable, binned at the reference's quantiles (deciles for `bins=10`)."""
    bins = _check_bins(bins)
    epsilon = _check_epsilon(epsilon)
    entry = _numeric_profile(_numeric_array("reference", reference), bins)
    return _psi_numeric_from_profile(entry, _numeric_array("current", current), epsilon)


def psi_categorical(
    reference: Sequence[object] | np.ndarray,
    current: Sequence[object] | np.ndarray,
    *,
    epsilon: float = DEFAULT_EPSILON,
) -> float:
    """PSI of one categorical variable over the union of the reference and current categories."""
    epsilon = _check_epsilon(epsilon)
    entry = _categorical_profile(_category_array("reference", reference))
    return _psi_categorical_from_profile(entry, _category_array("current", current), epsilon)


def psi_band(value: float) -> str:
    """The band of a PSI value: "stable" below 0.10, "moderate" from 0.10 to 0.25, "significant" above 0.25."""
    if isinstance(value, bool) or not isinstance(value, Real) or math.isnan(value) or value < 0:
        raise ValueError(f"value must be a non-negative number, got {value!r}")
    if value < STABLE_BELOW:
        return "stable"
    if value <= SIGNIFICANT_ABOVE:
        return "moderate"
    return "significant"


# Public API: a model ---------------------------------------------------------------------------------


@dataclass(frozen=True)
class DriftReport:
    """The drift of one model's inputs and outputs between its reference (training) data and a current sample.

    `feature_score` is the importance-weighted mean of `feature_psi`; `score` is
    `max(feature_score, prediction_psi)` (just `feature_score` without scores). `alert` (score >= 0.10) and
    `retrain` (score >= 0.25) are False whenever `sufficient` is False (fewer than `minimum_sample` current
    rows). `reason` says in one sentence what the numbers mean.
    """

    feature_psi: dict[str, float]
    prediction_psi: float | None
    feature_score: float
    score: float
    band: str
    alert: bool
    retrain: bool
    sufficient: bool
    n_reference: int
    n_current: int
    minimum_sample: int
    reason: str


def reference_profile(
    reference: Features,
    *,
    feature_names: Sequence[str] | None = None,
    reference_scores: Sequence[float] | np.ndarray | None = None,
    categorical: Iterable[str] = frozenset(),
    bins: int = DEFAULT_BINS,
) -> dict[str, Any]:
    """What PSI needs later, without the data: per-feature bin edges and reference proportions.

    `reference` is a mapping of feature name to values or a 2-D array with `feature_names`. Features named
    in `categorical` are profiled by category, the others by quantile bins. The result contains only dicts,
    lists, strings, ints and finite floats (no inf/NaN, so it fits a PostgreSQL `jsonb` column) and
    survives a JSON round trip exactly.
    """
    bins = _check_bins(bins)
    columns = _feature_columns("reference", reference, feature_names)
    categorical_set = {str(feature) for feature in categorical}
    unknown = sorted(categorical_set - set(columns))
    if unknown:
        raise ValueError(f"categorical names features that reference does not have: {unknown}")
    features: dict[str, dict[str, Any]] = {}
    for feature, column in columns.items():
        if feature in categorical_set:
            features[feature] = _categorical_profile(_category_array(f"reference[{feature!r}]", column))
        else:
            features[feature] = _numeric_profile(_numeric_array(f"reference[{feature!r}]", column), bins)
    scores = None
    if reference_scores is not None:
        scores = _numeric_profile(_numeric_array("reference_scores", reference_scores), bins)
    n_reference = len(next(iter(columns.values())))
    if scores is not None and len(np.asarray(reference_scores)) != n_reference:
        raise ValueError(f"reference_scores must have one score per reference row ({n_reference})")
    return {
        "version": PROFILE_VERSION,
        "bins": bins,
        "n_reference": n_reference,
        "features": features,
        "scores": scores,
    }


def _check_profile(profile: object) -> Mapping[str, Any]:
    if not isinstance(profile, Mapping):
        raise ValueError(f"profile must be a mapping made by reference_profile, got {type(profile).__name__}")
    if profile.get("version") != PROFILE_VERSION:
        raise ValueError(f"profile version must be {PROFILE_VERSION}, got {profile.get('version')!r}")
    features = profile.get("features")
    if not isinstance(features, Mapping) or not features:
        raise ValueError("profile must have at least one feature")
    for feature, entry in [*features.items(), ("scores", profile.get("scores"))]:
        if entry is None and feature == "scores":
            continue
        if not isinstance(entry, Mapping) or entry.get("kind") not in (_NUMERIC, _CATEGORICAL):
            raise ValueError(f"profile entry {feature!r} is malformed")
        proportions = entry.get("proportions")
        expected = len(entry.get("edges", [])) + 1 if entry["kind"] == _NUMERIC else len(entry.get("categories", []))
        if not isinstance(proportions, list) or len(proportions) != expected:
            raise ValueError(f"profile entry {feature!r} has {expected} bins but not as many proportions")
    return profile


def drift_report_from_profile(
    profile: Mapping[str, Any],
    current: Features,
    *,
    feature_names: Sequence[str] | None = None,
    importances: Mapping[str, float] | None = None,
    current_scores: Sequence[float] | np.ndarray | None = None,
    minimum_sample: int = MINIMUM_SAMPLE,
    epsilon: float = DEFAULT_EPSILON,
) -> DriftReport:
    """The drift report of `current` against a stored `reference_profile` (the production path).

    `current` must have exactly the profile's features. `importances` (feature name -> importance, all
    features, negative values counted as 0) weight the mean; without them every feature weighs the same.
    `current_scores` are the model's predicted scores on `current` (1-D: a probability, a regression
    output); they need a profile made with `reference_scores`, and without them `prediction_psi` is None.
    """
    profile = _check_profile(profile)
    minimum_sample = _check_minimum_sample(minimum_sample)
    epsilon = _check_epsilon(epsilon)
    columns = _feature_columns("current", current, feature_names)
    entries: Mapping[str, Mapping[str, Any]] = profile["features"]
    _check_same_features("current", entries, columns)
    names = list(entries)
    weights = _weights(importances, names)
    feature_psi = {
        feature: _psi_from_profile(f"current[{feature!r}]", entries[feature], columns[feature], epsilon)
        for feature in names
    }
    n_current = len(next(iter(columns.values())))

    prediction_psi = None
    if current_scores is not None:
        if profile.get("scores") is None:
            raise ValueError("current_scores needs a profile made with reference_scores")
        scores = _numeric_array("current_scores", current_scores)
        if scores.size != n_current:
            raise ValueError(f"current_scores must have one score per current row ({n_current})")
        prediction_psi = _psi_numeric_from_profile(profile["scores"], scores, epsilon)

    feature_score = float(sum(weights[feature] * feature_psi[feature] for feature in names))
    score = feature_score if prediction_psi is None else max(feature_score, prediction_psi)
    sufficient = n_current >= minimum_sample
    alert = sufficient and score >= ALERT_THRESHOLD
    retrain = sufficient and score >= RETRAIN_THRESHOLD
    band = psi_band(score)
    return DriftReport(
        feature_psi=feature_psi,
        prediction_psi=prediction_psi,
        feature_score=feature_score,
        score=score,
        band=band,
        alert=alert,
        retrain=retrain,
        sufficient=sufficient,
        n_reference=int(profile.get("n_reference", 0)),
        n_current=n_current,
        minimum_sample=minimum_sample,
        reason=_reason(feature_psi, prediction_psi, feature_score, score, band, sufficient, n_current, minimum_sample),
    )


def drift_report(
    reference: Features,
    current: Features,
    *,
    feature_names: Sequence[str] | None = None,
    importances: Mapping[str, float] | None = None,
    reference_scores: Sequence[float] | np.ndarray | None = None,
    current_scores: Sequence[float] | np.ndarray | None = None,
    minimum_sample: int = MINIMUM_SAMPLE,
    categorical: Iterable[str] = frozenset(),
    bins: int = DEFAULT_BINS,
    epsilon: float = DEFAULT_EPSILON,
) -> DriftReport:
    """The drift report of `current` against `reference` data; the same numbers as the profile path.

    `reference` and `current` are mappings of feature name to values, or 2-D arrays whose columns are
    `feature_names`. Scores come in pairs: `reference_scores` and `current_scores`, or neither.
    """
    if (reference_scores is None) != (current_scores is None):
        missing = "current_scores" if current_scores is None else "reference_scores"
        raise ValueError(f"{missing} is required when the other scores are given")
    profile = reference_profile(
        reference, feature_names=feature_names, reference_scores=reference_scores, categorical=categorical, bins=bins
    )
    return drift_report_from_profile(
        profile,
        current,
        feature_names=feature_names,
        importances=importances,
        current_scores=current_scores,
        minimum_sample=minimum_sample,
        epsilon=epsilon,
    )


def _reason(
    feature_psi: Mapping[str, float],
    prediction_psi: float | None,
    feature_score: float,
    score: float,
    band: str,
    sufficient: bool,
    n_current: int,
    minimum_sample: int,
) -> str:
    top = sorted(feature_psi.items(), key=lambda item: (-item[1], item[0]))[:3]
    top_text = ", ".join(f"{feature} {value:.3f}" for feature, value in top)
    prediction_text = "" if prediction_psi is None else f", prediction PSI {prediction_psi:.3f}"
    numbers = f"score {score:.3f} ({band}; weighted feature PSI {feature_score:.3f}{prediction_text}; top: {top_text})"
    if not sufficient:
        return (
            f"insufficient sample: {n_current} current rows < {minimum_sample}; PSI is noisy at a few hundred "
            f"rows, so no alert or retraining: {numbers}"
        )
    if score >= RETRAIN_THRESHOLD:
        return f"retrain: {numbers} >= {RETRAIN_THRESHOLD}"
    if score >= ALERT_THRESHOLD:
        return f"alert: {numbers} >= {ALERT_THRESHOLD}"
    return f"stable: {numbers} < {ALERT_THRESHOLD}"
