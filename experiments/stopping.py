"""The automatic decisions Celery beat takes on running experiments, each with its reason, idempotently:

- stop for harm when a guardrail (satisfaction) is worse than the control's by more than its margin;
- pause on a sample ratio mismatch (p < 0.001 once every variant has its minimum count): the assignment or
  the exposure logging is broken, and no result can be trusted until someone looks;
- complete at the planned end date;
- complete with a winner once the sequential interval of its lift clears the minimum effect, after the
  minimum sample and the minimum runtime;
- reweight a bandit's traffic by Thompson sampling at a fixed cadence, once every arm has its minimum of
  units, with a floor so that no arm starves; every reweighting is kept.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from django.conf import settings
from django.db import transaction
from django.utils import timezone

from experiments import allocation, stats
from experiments.analysis import experiment_analyze, sequential_tuning_for
from experiments.models import ABTestExperiment, BanditWeights, ExperimentStatus, ExperimentType, Variant
from experiments.selectors import running_experiments_invalidate

BANDIT_FLOOR = 0.01
GUARDRAIL_MARGIN = 0.1  # rating points of satisfaction a treatment may lose before it is stopped for harm
GUARDRAIL_MINIMUM_RATINGS = 30
BANDIT_MINIMUM_UNITS = 100


@dataclass(frozen=True)
class CheckResult:
    experiment_id: int
    action: str  # "none", "paused", "stopped", "completed", "reweighted"
    reason: str


def _set_status(experiment: ABTestExperiment, status: str, reason: str) -> None:
    experiment.status = status
    experiment.status_reason = reason
    fields = ["status", "status_reason", "updated_at"]
    if status == ExperimentStatus.COMPLETED:
        experiment.actual_end_date = timezone.now()
        fields.append("actual_end_date")
    experiment.save(update_fields=fields)
    transaction.on_commit(running_experiments_invalidate)


def _guardrail_harm(experiment: ABTestExperiment) -> str | None:
    """Stop for harm when a treatment's satisfaction is worse than the control's by more than the margin,
    by the always-valid one-sided bound (so the guardrail may be watched at every check)."""
    if "satisfaction" not in experiment.guardrail_metrics:
        return None
    variants = list(experiment.variants.order_by("position"))
    control = next((v for v in variants if v.is_control), None)
    if control is None or control.ratings < GUARDRAIL_MINIMUM_RATINGS:
        return None
    alpha = 1.0 - experiment.confidence_level
    for variant in variants:
        if variant.is_control or variant.ratings < GUARDRAIL_MINIMUM_RATINGS:
            continue
        try:
            result = stats.frequentist_test(
                _ratings(control),
                _ratings(variant),
                alpha=alpha,
                relative=False,
                alternative="less",
                sequential_tuning=sequential_tuning_for(experiment),
            )
        except stats.UndefinedStatisticError:
            continue
        if result.ci_high < -GUARDRAIL_MARGIN:
            return (
                f"Stopped automatically for harm: satisfaction of {variant.key} is below the control's by more "
                f"than {GUARDRAIL_MARGIN} (upper bound {result.ci_high:.2f}, {variant.ratings} ratings)."
            )
    return None


def _ratings(variant: Variant) -> stats.SampleStats:
    return stats.SampleStats(variant.ratings, variant.satisfaction_sum, variant.satisfaction_sum_squares)


def _reweight(experiment: ABTestExperiment, variants: list[Variant], now) -> str | None:
    last = experiment.weights_history.filter(is_start=False).order_by("-created_at").first()
    arms = [allocation.ArmState(v.participants, v.conversions) for v in variants]
    due = allocation.reweight_due(
        arms,
        minimum_units=BANDIT_MINIMUM_UNITS,
        last_reweight_at=None if last is None else last.created_at.timestamp(),
        now_seconds=now.timestamp(),
        cadence_seconds=settings.BANDIT_REWEIGHT_SECONDS,
    )
    if not due:
        return None
    rng = np.random.default_rng([experiment.pk, int(now.timestamp())])  # seeded: a rerun gives the same weights
    weights = allocation.thompson_weights(arms, rng=rng, floor=BANDIT_FLOOR)
    for variant, weight in zip(variants, weights):
        variant.weight = weight
    Variant.objects.bulk_update(variants, ["weight"])
    BanditWeights.objects.create(experiment=experiment, weights={v.key: v.weight for v in variants})
    transaction.on_commit(running_experiments_invalidate)
    return ", ".join(f"{v.key} {v.weight:.1%}" for v in variants)


@transaction.atomic
def experiment_check(*, experiment: ABTestExperiment) -> CheckResult:
    """Apply the stopping rules (and a bandit's reweighting) to a running experiment. Anything else is left
    as it is, so the check can run any number of times."""
    experiment = ABTestExperiment.objects.select_for_update().get(pk=experiment.pk)
    if experiment.status != ExperimentStatus.RUNNING:
        return CheckResult(experiment.pk, "none", f"The experiment is {experiment.status}.")
    now = timezone.now()
    analysis = experiment_analyze(experiment=experiment)
    if analysis["srm"] and analysis["srm"]["mismatch"]:
        reason = f"Paused automatically: sample ratio mismatch. {analysis['srm']['reason']}"
        _set_status(experiment, ExperimentStatus.PAUSED, reason)
        return CheckResult(experiment.pk, "paused", reason)
    harm = _guardrail_harm(experiment)
    if harm is not None:
        _set_status(experiment, ExperimentStatus.STOPPED, harm)
        return CheckResult(experiment.pk, "stopped", harm)
    if experiment.planned_end_date is not None and now >= experiment.planned_end_date:
        reason = f"Completed automatically at the planned end date; winner: {analysis['winner'] or 'none'}."
        _set_status(experiment, ExperimentStatus.COMPLETED, reason)
        return CheckResult(experiment.pk, "completed", reason)
    days = analysis["timing"]["days_of_data"] or 0.0
    if analysis["winner"] is not None and days >= experiment.minimum_runtime_days:
        reason = f"Completed automatically with a winner, {analysis['winner']}: {analysis['winner_reason']}"
        _set_status(experiment, ExperimentStatus.COMPLETED, reason)
        return CheckResult(experiment.pk, "completed", reason)
    if experiment.experiment_type == ExperimentType.BANDIT:
        variants = list(experiment.variants.order_by("position"))
        weights = _reweight(experiment, variants, now)
        if weights is not None:
            return CheckResult(experiment.pk, "reweighted", f"Traffic reweighted by Thompson sampling: {weights}.")
    return CheckResult(experiment.pk, "none", analysis["winner_reason"] or "Nothing to decide yet.")


def experiments_check() -> list[CheckResult]:
    return [experiment_check(experiment=e) for e in ABTestExperiment.objects.filter(status=ExperimentStatus.RUNNING)]
