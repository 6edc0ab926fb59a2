"""The results page's charts, from an analysis and its history: plain data in, inline SVG out (core.charts).

- the interval of each treatment's lift on the decision metric, against 0 and the minimum effect;
- each variant's cumulative conversion rate over the runs of the analysis (its snapshots);
- a bandit's traffic weights over time.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from core.charts import IntervalRow, interval_chart, line_chart


def lift_intervals(analysis: dict[str, Any]) -> str:
    metric = analysis.get("decision_metric", "conversion_rate")
    rows = []
    for comparison in analysis.get("comparisons", []):
        result = comparison.get(metric) or {}
        rows.append(
            IntervalRow(
                label=comparison["variant"],
                estimate=result.get("effect"),
                low=result.get("ci_low"),
                high=result.get("ci_high"),
                note=result.get("reason") or "",
            )
        )
    effect = analysis.get("minimum_effect_size") or 0.0
    level = analysis.get("confidence_level", 0.95)
    title = f"Lift of each treatment on {metric.replace('_', ' ')} ({level:.0%} {analysis.get('method', '')} interval)"
    return interval_chart(rows, title=title, bounds=(-effect, effect) if effect else ())


def cumulative_conversion(snapshots: list[tuple[datetime, dict[str, Any]]]) -> str:
    series: dict[str, list[tuple[float, float]]] = {}
    for at, analysis in snapshots:
        for variant in analysis.get("variants", []):
            if variant.get("conversion_rate") is not None:
                series.setdefault(variant["key"], []).append((at.timestamp(), variant["conversion_rate"]))
    return line_chart(
        series,
        title="Cumulative conversion rate per variant, at each run of the analysis",
        empty_note="No analysis has run yet: beat runs it every few minutes, or use the action “Analyze now”.",
    )


def bandit_weights(history: list[tuple[datetime, dict[str, float]]]) -> str:
    series: dict[str, list[tuple[float, float]]] = {}
    for index, (at, weights) in enumerate(history):
        for key, weight in weights.items():
            points = series.setdefault(key, [])
            if index:  # a step: the previous weight holds until this reweighting
                points.append((at.timestamp(), points[-1][1] if points else weight))
            points.append((at.timestamp(), weight))
    return line_chart(series, title="Traffic weights of the bandit over time", empty_note="Not started yet.")
