"""The analysis of an experiment from its variants' counters, stored on the experiment and as a snapshot.

A service: `experiment_analyze` reads the variants' counters (participants, conversions, revenue sum and sum
of squares), never the exposure or conversion events, so it costs a constant number of queries and
O(variants) arithmetic whatever the traffic. The statistics are those of `experiments.stats`.

What it reports, and the choices made:
- Per variant: participants, conversions, conversion rate, revenue per participant (mean and unbiased
  variance from `SampleStats`, non-converting participants counting 0).
- Per treatment against the control, for the conversion rate and the revenue per participant: the relative
  lift with its interval and p-value (Welch, delta method), the Holm-adjusted p-value across the treatments
  (per metric, over the treatments whose p-value is defined), the chance to win and the risks (flat-prior
  Bayesian test, credible level = the experiment's confidence level), and the power at the minimum effect.
- Method: "sequential" by default, because the results endpoint, the admin and the stopping rules look at a
  running experiment again and again; an always-valid confidence sequence keeps its error rate under such
  peeking, a fixed-horizon interval does not. "fixed_horizon" is the Welch t interval at the experiment's
  confidence level, valid when looked at once, at the planned end. The sequential tuning N* (the total
  sample of the two arms compared at which the bound is tightest) is `max(2 * minimum_sample_size, 5000)`:
  `frequentist_test` counts the N of a comparison over its two arms, and a decision is first allowed when
  each arm has `minimum_sample_size`; 5000 is GrowthBook's default and keeps the bound sensible for the
  small minimum samples that product managers often type.
- Power at the minimum effect: the chance that the interval shown would exclude zero if the true lift were
  `minimum_effect_size`, at the precision reached (`Phi(m/SE - k) + Phi(-m/SE - k)`, k the interval's
  half-width in standard errors). Not the "observed power" of the observed effect, which says nothing new.
- SRM: Pearson's chi-square of the participants against the weights, checked once every variant with a
  positive weight has 8 participants (GrowthBook); p < 0.001 is a mismatch. Not checked for bandits, whose
  weights change as they learn (the counts follow the weights' history, not the current weights).
- Timing: days of data since the start (to the actual end once stopped); the expected days until every
  variant has `minimum_sample_size` at each variant's own rate so far (only while running).
- The winner, on the conversion rate, from the same interval that is shown: none before every variant has
  `minimum_sample_size` participants or when the sample ratio mismatches; then the treatment whose interval
  excludes zero and lies at or above `minimum_effect_size` (the one with the highest lower bound when
  several do), or the control when every treatment's interval lies at or below `-minimum_effect_size`.
- Undefined statistics (an arm with fewer than 2 participants, no variance, a control at 0) give nulls and
  the reason, never an error.
"""

from __future__ import annotations

import math
from datetime import datetime
from statistics import NormalDist
from typing import Any

from django.db import transaction
from django.utils import timezone

from core.errors import DomainError
from experiments import allocation, stats
from experiments.models import (
    ABTestExperiment,
    ExperimentSnapshot,
    ExperimentStatus,
    ExperimentType,
    Variant,
    VariantPeriod,
)

METHODS = ("sequential", "fixed_horizon")
SEQUENTIAL_TUNING_FLOOR = 5000  # GrowthBook's default N*
SRM_MINIMUM_PARTICIPANTS = 8  # per variant, before the check (GrowthBook)
SRM_THRESHOLD = 0.001
METRICS = ("conversion_rate", "revenue_per_participant")
CUPED_METRIC = "conversion_rate_cuped"
Periods = dict[int, dict[int, tuple[int, int]]]  # variant id -> period -> (participants, conversions)
SECONDS_PER_DAY = 86400.0

_NORMAL = NormalDist()


def sequential_tuning_for(experiment: ABTestExperiment) -> int:
    """N* of the confidence sequence: the total of the two arms compared when each has the minimum sample."""
    return max(2 * experiment.minimum_sample_size, SEQUENTIAL_TUNING_FLOOR)


def _finite(value: float | None) -> float | None:
    """JSON (and PostgreSQL's jsonb) hold no NaN or infinity: such a value is reported as null."""
    return float(value) if value is not None and math.isfinite(value) else None


# --- per variant ---------------------------------------------------------------------------------------------


def _conversion_stats(variant: Variant) -> stats.ProportionStats:
    return stats.ProportionStats(n=variant.participants, conversions=variant.conversions)


def _revenue_stats(variant: Variant) -> stats.SampleStats:
    """Revenue per participant: the sums run over the converters, the others count 0 in n."""
    return stats.SampleStats(n=variant.participants, sum=variant.revenue_sum, sum_squares=variant.revenue_sum_squares)


def _variant_summary(variant: Variant) -> dict[str, Any]:
    n = variant.participants
    revenue: dict[str, Any] = {"mean": None, "variance": None, "reason": None}
    try:
        sample = _revenue_stats(variant)
    except ValueError as error:  # counters that no set of customers could produce
        revenue["reason"] = f"Inconsistent revenue counters: {error}."
    else:
        if n == 0:
            revenue["reason"] = "No participants yet."
        else:
            revenue["mean"] = _finite(sample.mean)
            if n >= 2:
                revenue["variance"] = _finite(sample.variance)
            else:
                revenue["reason"] = "A variance needs at least 2 participants."
    return {
        "key": variant.key,
        "name": variant.name,
        "is_control": variant.is_control,
        "weight": variant.weight,
        "participants": n,
        "conversions": variant.conversions,
        "conversion_rate": variant.conversions / n if n else None,
        "revenue_per_participant": revenue,
    }


# --- treatment against control -------------------------------------------------------------------------------


def _undefined(reason: str) -> dict[str, Any]:
    return {
        "effect": None,
        "ci_low": None,
        "ci_high": None,
        "p_value": None,
        "p_value_adjusted": None,
        "standard_error": None,
        "significant": None,
        "chance_to_win": None,
        "risk_control": None,
        "risk_treatment": None,
        "power_at_minimum_effect": None,
        "reason": reason,
    }


def _power(test: stats.TestResult, minimum_effect: float) -> float | None:
    """The chance that the interval shown excludes zero if the true lift were `minimum_effect`."""
    se = test.standard_error
    if not se > 0 or minimum_effect <= 0:
        return None
    half_width = (test.ci_high - test.ci_low) / 2.0 / se  # in standard errors: t quantile or the sequence's
    z = minimum_effect / se
    return _finite(_NORMAL.cdf(z - half_width) + _NORMAL.cdf(-z - half_width))


def _compare(
    control: stats.ArmStats, treatment: stats.ArmStats, *, alpha: float, tuning: int | None, minimum_effect: float
) -> dict[str, Any]:
    try:
        test = stats.frequentist_test(control, treatment, alpha=alpha, relative=True, sequential_tuning=tuning)
        bayes = stats.bayesian_test(control, treatment, relative=True, ci_level=1.0 - alpha)
    except stats.UndefinedStatisticError as error:
        return _undefined(f"Undefined: {error}.")
    return {
        "effect": _finite(test.effect),
        "ci_low": _finite(test.ci_low),
        "ci_high": _finite(test.ci_high),
        "p_value": _finite(test.p_value),
        "p_value_adjusted": None,  # filled in across the treatments
        "standard_error": _finite(test.standard_error),
        "significant": test.significant,
        "chance_to_win": _finite(bayes.chance_to_win),
        "risk_control": _finite(bayes.risk_control),
        "risk_treatment": _finite(bayes.risk_treatment),
        "power_at_minimum_effect": _power(test, minimum_effect),
        "reason": None,
    }


def _pseudo_sample(rate: allocation.ArmRate) -> stats.SampleStats:
    """A SampleStats with the estimate's mean and the variance that gives its standard error at its units, so
    a period-weighted rate goes through the same tests as any mean metric."""
    n = rate.units
    variance = rate.standard_error**2 * n
    return stats.SampleStats(n=n, sum=rate.rate * n, sum_squares=variance * (n - 1) + n * rate.rate**2)


def _period_weighted(variants: list[Variant], periods: Periods) -> tuple[dict[int, stats.ArmStats] | None, str]:
    """A bandit's conversion rates stratified by the periods of constant weights (see
    `allocation.period_weighted_conversion`), so the changing weights bias nothing."""
    numbers = sorted({p for by_period in periods.values() for p in by_period})
    table = [
        allocation.Period(tuple(allocation.ArmState(*periods.get(v.pk, {}).get(p, (0, 0))) for v in variants))
        for p in numbers
    ]
    table = allocation.periods_merge_sparse(table)
    if len(table) < 2:
        return None, "One period of weights so far: the pooled rates are unbiased."
    try:
        rates = allocation.period_weighted_conversion(table)
    except stats.UndefinedStatisticError as error:
        return None, f"Pooled rates: the period-weighted ones are undefined ({error})."
    return (
        {v.pk: _pseudo_sample(rate) for v, rate in zip(variants, rates)},
        f"Stratified by {len(table)} periods of constant weights, each weighted by its traffic.",
    )


def _cuped(variants: list[Variant]) -> tuple[dict[int, stats.ArmStats] | None, dict[str, Any]]:
    """CUPED on the conversion rate with each participant's pre-period conversions as the covariate."""
    try:
        inputs = [
            stats.CupedStats(
                n=v.participants,
                sum_y=v.conversions,
                sum_y2=v.conversions,  # Y is 0/1
                sum_x=v.covariate_sum,
                sum_x2=v.covariate_sum_squares,
                sum_xy=v.covariate_cross_sum,
            )
            for v in variants
        ]
    except ValueError as error:
        return None, {"applied": False, "theta": None, "variance_reduction": None, "reason": f"Inconsistent: {error}"}
    s_xx = sum(i.centered()[0] for i in inputs)
    if s_xx <= 0:
        return None, {
            "applied": False,
            "theta": None,
            "variance_reduction": None,
            "reason": "No participant converted in the pre-period (or all equally): nothing to adjust with.",
        }
    s_yy = sum(i.centered()[1] for i in inputs)
    s_xy = sum(i.centered()[2] for i in inputs)
    reduction = s_xy * s_xy / (s_xx * s_yy) if s_yy > 0 else 0.0
    adjusted = stats.cuped_adjust(inputs)
    return {v.pk: a for v, a in zip(variants, adjusted)}, {
        "applied": True,
        "theta": _finite(stats.cuped_theta(inputs)),
        "variance_reduction": _finite(reduction),
        "reason": None,
    }


def _comparisons(
    control: Variant,
    treatments: list[Variant],
    arms: dict[str, dict[int, stats.ArmStats] | str],
    *,
    alpha: float,
    tuning: int | None,
    minimum_effect: float,
) -> list[dict[str, Any]]:
    """Each treatment against the control on each metric of `arms` (metric -> variant id -> stats, or the
    reason the metric is undefined), with Holm across the treatments per metric."""
    comparisons = []
    for treatment in treatments:
        row: dict[str, Any] = {"variant": treatment.key}
        for metric, by_variant in arms.items():
            if isinstance(by_variant, str):
                row[metric] = _undefined(by_variant)
                continue
            row[metric] = _compare(
                by_variant[control.pk],
                by_variant[treatment.pk],
                alpha=alpha,
                tuning=tuning,
                minimum_effect=minimum_effect,
            )
        comparisons.append(row)
    for metric in arms:
        defined = [row[metric] for row in comparisons if row[metric]["p_value"] is not None]
        adjusted = stats.adjust_p_values([result["p_value"] for result in defined], "holm")
        for result, p_value in zip(defined, adjusted):
            result["p_value_adjusted"] = p_value
    return comparisons


def _metric_arms(
    experiment: ABTestExperiment, variants: list[Variant], periods: Periods | None
) -> tuple[dict[str, dict[int, stats.ArmStats] | str], str, dict[str, Any]]:
    """The statistics of each variant per metric, the decision metric, and how they were estimated."""
    arms: dict[str, dict[int, stats.ArmStats] | str] = {}
    estimation: dict[str, Any] = {"conversion_rate": "pooled", "reason": None, "cuped": None}
    try:
        arms["conversion_rate"] = {v.pk: _conversion_stats(v) for v in variants}
    except ValueError as error:
        arms["conversion_rate"] = f"Inconsistent counters: {error}."
    try:
        arms["revenue_per_participant"] = {v.pk: _revenue_stats(v) for v in variants}
    except ValueError as error:
        arms["revenue_per_participant"] = f"Inconsistent counters: {error}."
    decision = "conversion_rate"
    if experiment.experiment_type == ExperimentType.BANDIT:
        weighted, estimation["reason"] = _period_weighted(variants, periods or {})
        if weighted is not None:
            arms["conversion_rate"] = weighted
            estimation["conversion_rate"] = "period_weighted"
    elif experiment.cuped:
        adjusted, estimation["cuped"] = _cuped(variants)
        if adjusted is not None:
            arms[CUPED_METRIC] = adjusted
            decision = CUPED_METRIC
    return arms, decision, estimation


# --- health, timing, decision --------------------------------------------------------------------------------


def _srm(experiment: ABTestExperiment, variants: list[Variant]) -> dict[str, Any]:
    if experiment.experiment_type == ExperimentType.BANDIT:
        return {
            "p_value": None,
            "checked": False,
            "mismatch": False,
            "reason": "Not checked for a bandit: its weights change as it learns.",
        }
    weighted = [v for v in variants if v.weight > 0]
    stray = [v.key for v in variants if v.weight <= 0 and v.participants > 0]
    p_value = (
        stats.srm_p_value([v.participants for v in weighted], [v.weight for v in weighted])
        if len(weighted) >= 2
        else None
    )
    fewest = min((v.participants for v in weighted), default=0)
    checked = p_value is not None and fewest >= SRM_MINIMUM_PARTICIPANTS
    if stray:
        return {
            "p_value": p_value,
            "checked": True,
            "mismatch": True,
            "reason": f"Variants with no traffic share have participants: {', '.join(stray)}.",
        }
    if not checked:
        reason = f"Checked once every variant has {SRM_MINIMUM_PARTICIPANTS} participants; the fewest has {fewest}."
        return {"p_value": p_value, "checked": False, "mismatch": False, "reason": reason}
    mismatch = p_value < SRM_THRESHOLD
    reason = (
        f"The participants do not follow the weights (p = {p_value:.2g} < {SRM_THRESHOLD}): check the assignment "
        "and the exposure logging before trusting any result."
        if mismatch
        else None
    )
    return {"p_value": p_value, "checked": True, "mismatch": mismatch, "reason": reason}


def _timing(experiment: ABTestExperiment, variants: list[Variant], now: datetime) -> dict[str, Any]:
    minimum = experiment.minimum_sample_size
    reached = all(v.participants >= minimum for v in variants)
    timing: dict[str, Any] = {
        "days_of_data": None,
        "minimum_sample_reached": reached,
        "days_to_minimum_sample": 0.0 if reached else None,
        "reason": None,
    }
    if experiment.start_date is None:
        timing["reason"] = "Not started yet."
        return timing
    end = experiment.actual_end_date or now
    days = max(0.0, (end - experiment.start_date).total_seconds() / SECONDS_PER_DAY)
    timing["days_of_data"] = days
    if reached:
        return timing
    if experiment.status != ExperimentStatus.RUNNING:
        timing["reason"] = f"The experiment is {experiment.status}: no participants are coming in."
        return timing
    waits = []
    for variant in variants:
        missing = minimum - variant.participants
        if missing <= 0:
            continue
        if variant.participants == 0 or days == 0:
            timing["reason"] = f"No rate yet: variant {variant.key} has no participants."
            return timing
        waits.append(missing / (variant.participants / days))
    timing["days_to_minimum_sample"] = _finite(max(waits))
    return timing


def _winner(
    experiment: ABTestExperiment,
    control: Variant,
    variants: list[Variant],
    comparisons: list[dict[str, Any]],
    srm: dict[str, Any],
    decision_metric: str,
) -> tuple[str | None, str]:
    minimum, effect = experiment.minimum_sample_size, experiment.minimum_effect_size
    fewest = min(v.participants for v in variants)
    if fewest < minimum:
        return None, f"Every variant needs {minimum} participants before a decision; the fewest has {fewest}."
    if srm["mismatch"]:
        return None, "No decision while the sample ratio mismatches."
    results = [(row["variant"], row[decision_metric]) for row in comparisons]
    clearing = [(key, r) for key, r in results if r["significant"] and r["ci_low"] >= effect]
    if clearing:
        key, result = max(clearing, key=lambda item: item[1]["ci_low"])
        return key, (
            f"The interval of its lift, [{result['ci_low']:.2%}, {result['ci_high']:.2%}], clears the minimum "
            f"effect of {effect:.2%}."
        )
    if results and all(r["significant"] and r["ci_high"] <= -effect for _, r in results):
        return control.key, f"Every treatment's interval lies below -{effect:.2%}: the control is better."
    return None, f"No interval of the lift clears the minimum effect of {effect:.2%} yet."


# --- the service ---------------------------------------------------------------------------------------------


def analysis_compute(
    *,
    experiment: ABTestExperiment,
    variants: list[Variant],
    method: str | None = None,
    periods: Periods | None = None,
    now: datetime,
) -> dict[str, Any]:
    """The analysis of `experiment` from these variants' counters (no query, no write). `method` defaults to
    the experiment's; `periods` are a bandit's counters per period of constant weights."""
    method = method or experiment.analysis_method
    alpha = 1.0 - experiment.confidence_level
    tuning = sequential_tuning_for(experiment) if method == "sequential" else None
    variants = sorted(variants, key=lambda v: v.position)
    controls = [v for v in variants if v.is_control]
    total = sum(v.participants for v in variants)
    analysis: dict[str, Any] = {
        "experiment_id": experiment.pk,
        "status": experiment.status,
        "analyzed_at": now.isoformat(),
        "method": method,
        "confidence_level": experiment.confidence_level,
        "sequential_tuning": tuning,
        "decision_metric": "conversion_rate",
        "estimation": {"conversion_rate": "pooled", "reason": None, "cuped": None},
        "minimum_sample_size": experiment.minimum_sample_size,
        "minimum_effect_size": experiment.minimum_effect_size,
        "participants": total,
        "variants": [_variant_summary(v) for v in variants],
        "comparisons": [],
        "srm": None,
        "timing": _timing(experiment, variants, now),
        "winner": None,
        "winner_reason": None,
        "reason": None if total else "No participants yet.",
    }
    if len(variants) < 2 or len(controls) != 1:
        analysis["reason"] = "An analysis needs at least two variants, one of them the control."
        analysis["winner_reason"] = analysis["reason"]
        return analysis
    control = controls[0]
    treatments = [v for v in variants if not v.is_control]
    arms, analysis["decision_metric"], analysis["estimation"] = _metric_arms(experiment, variants, periods)
    analysis["comparisons"] = _comparisons(
        control, treatments, arms, alpha=alpha, tuning=tuning, minimum_effect=experiment.minimum_effect_size
    )
    analysis["srm"] = _srm(experiment, variants)
    analysis["winner"], analysis["winner_reason"] = _winner(
        experiment, control, variants, analysis["comparisons"], analysis["srm"], analysis["decision_metric"]
    )
    return analysis


def _inputs(experiment: ABTestExperiment) -> tuple[list[Variant], Periods | None]:
    """The variants' counters and, for a bandit, their period counters: two queries whatever the traffic."""
    variants = list(Variant.objects.filter(experiment=experiment).order_by("position"))
    if experiment.experiment_type != ExperimentType.BANDIT:
        return variants, None
    periods: Periods = {}
    for variant_id, period, participants, conversions in VariantPeriod.objects.filter(
        variant__experiment=experiment
    ).values_list("variant_id", "period", "participants", "conversions"):
        periods.setdefault(variant_id, {})[period] = (participants, conversions)
    return variants, periods


def analysis_current(*, experiment: ABTestExperiment, method: str | None = None) -> dict[str, Any]:
    """The analysis as of now, computed without writing anything (what the results endpoint and page show)."""
    if method is not None and method not in METHODS:
        raise DomainError(f"Unknown method {method!r}; use {' or '.join(METHODS)}.", field="method")
    variants, periods = _inputs(experiment)
    return analysis_compute(
        experiment=experiment, variants=variants, method=method, periods=periods, now=timezone.now()
    )


@transaction.atomic
def experiment_analyze(*, experiment: ABTestExperiment, method: str | None = None) -> dict[str, Any]:
    """A run of the analysis (beat's check, the admin's "analyze now"): computed now, stored in
    `experiment.analysis` and appended as a snapshot for the charts. A constant number of queries."""
    analysis = analysis_current(experiment=experiment, method=method)
    experiment.analysis = analysis
    experiment.save(update_fields=["analysis", "updated_at"])
    ExperimentSnapshot.objects.create(
        experiment=experiment, created_at=datetime.fromisoformat(analysis["analyzed_at"]), analysis=analysis
    )
    return analysis
