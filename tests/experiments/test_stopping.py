"""The stopping rules beat applies to running experiments: each decision with its reason, idempotently."""

from datetime import timedelta

import pytest
from django.core.management import call_command
from django.utils import timezone
from django_celery_beat.models import PeriodicTask

from core.errors import DomainError
from experiments.models import ABTestExperiment, BanditWeights, Variant
from experiments.services import experiment_create, experiment_start
from experiments.stopping import experiment_check, experiments_check
from experiments.tasks import experiments_check_task

BALANCED = {"strategy": "balanced"}
QUALITY = {"strategy": "quality_focused"}


def started(*, weights=(0.5, 0.5), days_ago: float = 10.0, **options) -> ABTestExperiment:
    variants = [
        {"key": f"v{i}", "weight": w, "is_control": i == 0, "config": (BALANCED, QUALITY)[i % 2]}
        for i, w in enumerate(weights)
    ]
    experiment = experiment_start(
        experiment=experiment_create(name=options.pop("name", "rules"), variants=variants, **options)
    )
    ABTestExperiment.objects.filter(pk=experiment.pk).update(start_date=timezone.now() - timedelta(days=days_ago))
    return ABTestExperiment.objects.get(pk=experiment.pk)


def counters(experiment, *rows) -> None:
    for variant, (participants, conversions) in zip(experiment.variants.order_by("position"), rows):
        Variant.objects.filter(pk=variant.pk).update(
            participants=participants,
            conversions=conversions,
            revenue_sum=conversions * 100.0,
            revenue_sum_squares=conversions * 10_000.0,
        )


@pytest.mark.django_db
def test_a_clear_winner_after_the_minimum_sample_and_runtime_completes_the_experiment():
    experiment = started(minimum_sample_size=1000, minimum_effect_size=0.05)
    counters(experiment, (20_000, 2_000), (20_000, 2_600))

    result = experiment_check(experiment=experiment)

    experiment.refresh_from_db()
    assert result.action == "completed"
    assert experiment.status == "completed"
    assert experiment.status_reason.startswith("Completed automatically with a winner, v1:")
    assert experiment.actual_end_date is not None


@pytest.mark.django_db
def test_a_winner_before_the_minimum_runtime_waits():
    experiment = started(days_ago=2.0, minimum_runtime_days=7.0)
    counters(experiment, (20_000, 2_000), (20_000, 2_600))

    result = experiment_check(experiment=experiment)

    assert result.action == "none"
    assert ABTestExperiment.objects.get().status == "running"


@pytest.mark.django_db
def test_no_difference_keeps_the_experiment_running():
    experiment = started()
    counters(experiment, (5_000, 500), (5_000, 505))

    assert experiment_check(experiment=experiment).action == "none"
    assert ABTestExperiment.objects.get().status == "running"


@pytest.mark.django_db
def test_a_sample_ratio_mismatch_pauses_the_experiment_with_its_reason():
    experiment = started()
    counters(experiment, (1_000, 100), (1_200, 120))

    result = experiment_check(experiment=experiment)

    experiment.refresh_from_db()
    assert result.action == "paused"
    assert experiment.status == "paused"
    assert "sample ratio mismatch" in experiment.status_reason


@pytest.mark.django_db
def test_the_planned_end_date_completes_the_experiment():
    experiment = started(planned_end_date=timezone.now() + timedelta(days=1))
    ABTestExperiment.objects.filter(pk=experiment.pk).update(planned_end_date=timezone.now() - timedelta(minutes=1))
    counters(experiment, (50, 5), (50, 6))

    result = experiment_check(experiment=experiment)

    assert result.action == "completed"
    assert "planned end date" in ABTestExperiment.objects.get().status_reason


@pytest.mark.django_db
def test_the_check_is_idempotent():
    experiment = started()
    counters(experiment, (20_000, 2_000), (20_000, 2_600))

    first = experiments_check()
    second = experiments_check()

    assert [r.action for r in first] == ["completed"]
    assert second == []  # nothing is running any more
    assert experiment_check(experiment=experiment).action == "none"


@pytest.mark.django_db
def test_a_bandit_reweights_toward_the_better_arm_with_a_floor_and_keeps_the_history(settings):
    settings.BANDIT_REWEIGHT_SECONDS = 3600
    experiment = started(weights=(0.34, 0.33, 0.33), experiment_type="bandit", minimum_sample_size=100_000)
    counters(experiment, (1_000, 100), (1_000, 150), (1_000, 90))

    result = experiment_check(experiment=experiment)
    again = experiment_check(experiment=experiment)  # within the cadence: nothing new

    weights = dict(experiment.variants.values_list("key", "weight"))
    assert result.action == "reweighted"
    assert again.action == "none"
    assert weights["v1"] > 0.9
    assert min(weights.values()) >= 0.01
    assert sum(weights.values()) == pytest.approx(1.0)
    history = list(BanditWeights.objects.order_by("created_at").values_list("is_start", "weights"))
    assert history == [(True, {"v0": 0.34, "v1": 0.33, "v2": 0.33}), (False, weights)]


@pytest.mark.django_db
def test_a_bandit_below_the_minimum_units_keeps_its_weights():
    experiment = started(weights=(0.5, 0.5), experiment_type="bandit", minimum_sample_size=100_000)
    counters(experiment, (50, 5), (1_000, 150))

    assert experiment_check(experiment=experiment).action == "none"
    assert not BanditWeights.objects.filter(is_start=False).exists()


@pytest.mark.django_db
def test_the_stopping_rules_are_declared_for_beat_and_run_as_a_task():
    started()
    call_command("setup_periodic_tasks")

    assert PeriodicTask.objects.filter(task="experiments.tasks.experiments_check_task").exists()
    assert experiments_check_task.delay().get() == [
        {
            "experiment_id": ABTestExperiment.objects.get().pk,
            "action": "none",
            "reason": ABTestExperiment.objects.get().analysis["winner_reason"],
        }
    ]


def ratings(experiment, *rows) -> None:
    """(ratings, mean, sd) per variant, as counters."""
    for variant, (n, mean, sd) in zip(experiment.variants.order_by("position"), rows):
        total = n * mean
        squares = (n - 1) * sd * sd + total * total / n
        Variant.objects.filter(pk=variant.pk).update(
            ratings=n, satisfaction_sum=total, satisfaction_sum_squares=squares
        )


@pytest.mark.django_db
def test_a_guardrail_crossing_its_bound_stops_the_experiment_for_harm():
    experiment = started(guardrail_metrics=["satisfaction"])
    counters(experiment, (3_000, 300), (3_000, 310))
    ratings(experiment, (2_000, 4.2, 0.8), (2_000, 3.6, 0.9))

    result = experiment_check(experiment=experiment)

    experiment.refresh_from_db()
    assert result.action == "stopped"
    assert experiment.status == "stopped"
    assert experiment.status_reason.startswith("Stopped automatically for harm: satisfaction of v1")


@pytest.mark.django_db
def test_a_guardrail_within_its_margin_or_not_watched_does_nothing():
    watched = started(name="watched", guardrail_metrics=["satisfaction"])
    unwatched = started(name="unwatched")
    for experiment in (watched, unwatched):
        counters(experiment, (3_000, 300), (3_000, 310))
    ratings(watched, (2_000, 4.2, 0.8), (2_000, 4.18, 0.8))
    ratings(unwatched, (2_000, 4.2, 0.8), (2_000, 3.0, 0.8))

    assert experiment_check(experiment=watched).action == "none"
    assert experiment_check(experiment=unwatched).action == "none"


@pytest.mark.django_db
def test_an_unknown_guardrail_metric_is_refused():
    with pytest.raises(DomainError) as error:
        started(guardrail_metrics=["happiness"])

    assert "guardrail_metrics" in error.value.extra["fields"]
