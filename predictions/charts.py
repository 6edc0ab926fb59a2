"""The model status page's charts: plain data in, inline SVG out (core.charts).

- the primary holdout metric of each version of a model type against its baseline's, over the versions;
- the drift score of the deployed versions over their drift checks, against the alert and retrain lines.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from datetime import datetime

from core.charts import line_chart
from predictions.ml.drift import ALERT_THRESHOLD, RETRAIN_THRESHOLD


def _finite(value) -> bool:
    return isinstance(value, int | float) and math.isfinite(value)


def metric_over_versions(
    versions: Sequence[tuple[datetime, int, float | None, float | None]], *, model_type: str, metric: str
) -> str:
    """`versions`: (created_at, version, holdout metric, baseline metric) of each version, oldest first."""
    model_points = [(at.timestamp(), value) for at, _, value, _ in versions if _finite(value)]
    baseline_points = [(at.timestamp(), value) for at, _, _, value in versions if _finite(value)]
    series = {}
    if model_points:
        series[f"{metric} (holdout)"] = model_points
    if baseline_points:
        series[f"{metric} (baseline)"] = baseline_points
    return line_chart(
        series,
        title=f"{model_type}: holdout {metric} of each version against its baseline",
        unit="",
        empty_note="No version has holdout metrics yet: use the action “Train now”.",
    )


def drift_over_checks(checks: Sequence[tuple[datetime, float]], *, model_type: str) -> str:
    """`checks`: (checked_at, drift score) of the type's drift checks, oldest first; the alert and retrain
    thresholds are drawn as flat lines over the same period."""
    points = [(at.timestamp(), score) for at, score in checks if _finite(score)]
    series: dict[str, list[tuple[float, float]]] = {}
    if points:
        first, last = points[0][0], points[-1][0]
        series = {
            "drift score": points,
            f"alert {ALERT_THRESHOLD:g}": [(first, ALERT_THRESHOLD), (last, ALERT_THRESHOLD)],
            f"retrain {RETRAIN_THRESHOLD:g}": [(first, RETRAIN_THRESHOLD), (last, RETRAIN_THRESHOLD)],
        }
    return line_chart(
        series,
        title=f"{model_type}: drift score (PSI) of the deployed version at each check",
        unit="",
        empty_note="No drift check yet: beat runs one every day.",
    )
