"""CUPED and a bandit's periods in the analysis, from the counters the engine keeps for them; editing and
duplicating experiments."""

from datetime import timedelta
from decimal import Decimal

import numpy as np
import pytest
from django.utils import timezone

from core.errors import DomainError
from experiments import allocation, stats
from experiments.analysis import analysis_compute, analysis_current
from experiments.models import (
    ABTestExperiment,
    BanditWeights,
    ExperimentStatus,
    ExposureEvent,
    Variant,
    VariantPeriod,
)
from experiments.selectors import running_experiments_invalidate
from experiments.services import (
    experiment_counters_reconcile,
    experiment_create,
    experiment_duplicate,
    experiment_start,
    experiment_update,
    experiment_variant_for,
    exposure_record,
)
from marketplace.models import MatchOutcome
from personalization.services import recommendation_create, session_outcome_record
from tests.experiments.test_experiment_engine import BALANCED, ORDER, QUALITY, variants
from tests.factories import CustomerAccountFactory, ManufacturerFactory, OrderFactory

NOW = timezone.now()


def arms(*pairs: tuple[int, int]) -> allocation.Period:
    return allocation.Period(tuple(allocation.ArmState(n, c) for n, c in pairs))


# --- pure: merging sparse periods ----------------------------------------------------------------------------


def test_a_period_where_an_arm_had_no_units_is_merged_into_its_neighbour():
    merged = allocation.periods_merge_sparse([arms((10, 1), (0, 0)), arms((5, 1), (5, 2)), arms((0, 0), (0, 0))])

    assert merged == (arms((15, 2), (5, 2)),)


def test_periods_where_every_arm_had_units_are_kept_as_they_are():
    periods = [arms((10, 1), (10, 2)), arms((5, 1), (50, 9))]

    assert allocation.periods_merge_sparse(periods) == tuple(periods)


# --- CUPED in the analysis -----------------------------------------------------------------------------------


def unsaved_variant(pk: int, key: str, *, control: bool, weight: float, **counters) -> Variant:
    variant = Variant(pk=pk, key=key, name=key, position=pk, is_control=control, weight=weight, config=BALANCED)
    for name, value in counters.items():
        setattr(variant, name, value)
    return variant


def cuped_population(rng: np.random.Generator, n: int, lift: float) -> tuple[np.ndarray, np.ndarray]:
    """Customers whose pre-period conversions X predict their conversion Y: what CUPED exploits."""
    x = rng.poisson(0.8, size=n)
    p = np.clip((0.03 + 0.2 * x) * (1 + lift), 0, 1)
    return x.astype(float), (rng.random(n) < p).astype(float)


def variant_from_population(pk: int, key: str, x: np.ndarray, y: np.ndarray, *, control: bool) -> Variant:
    return unsaved_variant(
        pk,
        key,
        control=control,
        weight=0.5,
        participants=len(x),
        conversions=int(y.sum()),
        covariate_sum=float(x.sum()),
        covariate_sum_squares=float((x * x).sum()),
        covariate_cross_sum=float((x * y).sum()),
    )


def test_cuped_decides_on_the_adjusted_rate_with_a_smaller_standard_error():
    rng = np.random.default_rng(7)
    xc, yc = cuped_population(rng, 3000, 0.0)
    xt, yt = cuped_population(rng, 3000, 0.10)
    experiment = ABTestExperiment(pk=1, name="cuped", status=ExperimentStatus.RUNNING, minimum_sample_size=100)
    control = variant_from_population(1, "c", xc, yc, control=True)
    treatment = variant_from_population(2, "t", xt, yt, control=False)

    analysis = analysis_compute(experiment=experiment, variants=[control, treatment], now=NOW)

    row = analysis["comparisons"][0]
    adjusted = stats.cuped_adjust(
        [
            stats.CupedStats(len(x), y.sum(), y.sum(), x.sum(), (x * x).sum(), (x * y).sum())
            for x, y in ((xc, yc), (xt, yt))
        ]
    )
    expected = stats.frequentist_test(*adjusted, alpha=0.05, sequential_tuning=5000)
    assert analysis["decision_metric"] == "conversion_rate_cuped"
    assert row["conversion_rate_cuped"]["effect"] == pytest.approx(expected.effect)
    assert row["conversion_rate_cuped"]["ci_low"] == pytest.approx(expected.ci_low)
    assert row["conversion_rate_cuped"]["standard_error"] < 0.95 * row["conversion_rate"]["standard_error"]
    x, y = np.concatenate([xc, xt]), np.concatenate([yc, yt])
    assert analysis["estimation"]["cuped"]["applied"] is True
    # the pooled within-variant correlation, close to the overall one
    assert analysis["estimation"]["cuped"]["variance_reduction"] == pytest.approx(
        np.corrcoef(x, y)[0, 1] ** 2, rel=0.05
    )


def test_cuped_off_or_without_a_pre_period_decides_on_the_plain_rate():
    control = unsaved_variant(1, "c", control=True, weight=0.5, participants=500, conversions=50)
    treatment = unsaved_variant(2, "t", control=False, weight=0.5, participants=500, conversions=60)
    for cuped in (True, False):
        experiment = ABTestExperiment(pk=1, name="plain", status=ExperimentStatus.RUNNING, cuped=cuped)

        analysis = analysis_compute(experiment=experiment, variants=[control, treatment], now=NOW)

        assert analysis["decision_metric"] == "conversion_rate"
        assert "conversion_rate_cuped" not in analysis["comparisons"][0]


# --- a bandit's changing weights -----------------------------------------------------------------------------


def test_a_bandits_lift_is_stratified_by_period_so_moving_weights_and_base_rates_bias_nothing():
    """Both arms convert at 10% in period 0 (even weights) and 30% in period 1 (weights 10/90): no lift at
    all, yet the pooled rates favour the arm that got its traffic when everyone converted more."""
    experiment = ABTestExperiment(pk=1, name="bandit", experiment_type="bandit", status=ExperimentStatus.RUNNING)
    control = unsaved_variant(1, "a", control=True, weight=0.1, participants=1000 + 200, conversions=100 + 60)
    treatment = unsaved_variant(2, "b", control=False, weight=0.9, participants=1000 + 1800, conversions=100 + 540)
    periods = {1: {0: (1000, 100), 1: (200, 60)}, 2: {0: (1000, 100), 1: (1800, 540)}}

    analysis = analysis_compute(experiment=experiment, variants=[control, treatment], periods=periods, now=NOW)
    pooled = stats.frequentist_test(stats.ProportionStats(1200, 160), stats.ProportionStats(2800, 640))

    lift = analysis["comparisons"][0]["conversion_rate"]
    assert analysis["estimation"]["conversion_rate"] == "period_weighted"
    assert pooled.effect > 0.6  # the naive estimate: a 70% "lift"
    assert pooled.significant
    assert lift["effect"] == pytest.approx(0.0, abs=1e-9)
    assert not lift["significant"]


def test_a_bandit_with_one_period_so_far_uses_the_pooled_rates():
    experiment = ABTestExperiment(pk=1, name="bandit", experiment_type="bandit", status=ExperimentStatus.RUNNING)
    control = unsaved_variant(1, "a", control=True, weight=0.5, participants=100, conversions=10)
    treatment = unsaved_variant(2, "b", control=False, weight=0.5, participants=100, conversions=20)

    analysis = analysis_compute(
        experiment=experiment, variants=[control, treatment], periods={1: {0: (100, 10)}, 2: {0: (100, 20)}}, now=NOW
    )

    assert analysis["estimation"]["conversion_rate"] == "pooled"
    assert analysis["comparisons"][0]["conversion_rate"]["effect"] == pytest.approx(1.0)


# --- the engine keeps the counters ---------------------------------------------------------------------------


def converted_order(customer, maker, days_ago: float) -> None:
    order = OrderFactory(customer=customer)
    order.created_at = timezone.now() - timedelta(days=days_ago)
    order.save(update_fields=["created_at"])
    MatchOutcome.objects.create(
        order=order, manufacturer=maker, converted=True, contract_value=Decimal("10"), time_to_match=timedelta(hours=2)
    )


@pytest.mark.django_db
def test_an_exposure_carries_the_customers_pre_period_conversions_into_the_cuped_counters():
    maker = ManufacturerFactory()
    customer = CustomerAccountFactory()
    converted_order(customer, maker, days_ago=10)
    converted_order(customer, maker, days_ago=40)
    converted_order(customer, maker, days_ago=200)  # before the pre-period: not counted
    experiment_start(experiment=experiment_create(name="cuped", variants=variants(QUALITY, QUALITY)))

    session = recommendation_create(customer=customer, order_context=ORDER).session
    session_outcome_record(
        session=session, event_id="o1", manufacturer_id=maker.id, converted=True, contract_value=Decimal("5")
    )

    variant = Variant.objects.get(pk=session.variant_id)
    assert ExposureEvent.objects.get().pre_conversions == 2
    assert (variant.covariate_sum, variant.covariate_sum_squares, variant.covariate_cross_sum) == (2.0, 4.0, 2.0)
    Variant.objects.filter(pk=variant.pk).update(covariate_sum=0, covariate_sum_squares=0, covariate_cross_sum=0)
    changed = experiment_counters_reconcile(experiment=variant.experiment)
    variant.refresh_from_db()
    assert (variant.covariate_sum, variant.covariate_sum_squares, variant.covariate_cross_sum) == (2.0, 4.0, 2.0)
    assert set(changed) == {variant.key}


@pytest.mark.django_db
def test_a_bandits_exposures_count_in_the_current_period_and_conversions_in_their_exposures():
    maker = ManufacturerFactory()
    experiment = experiment_start(
        experiment=experiment_create(name="bandit", experiment_type="bandit", variants=variants(QUALITY, QUALITY))
    )
    early, late = CustomerAccountFactory(), CustomerAccountFactory()
    early_session = recommendation_create(customer=early, order_context=ORDER).session
    BanditWeights.objects.create(experiment=experiment, weights={"v0": 0.5, "v1": 0.5})  # a reweighting
    running_experiments_invalidate()
    recommendation_create(customer=late, order_context=ORDER)
    session_outcome_record(
        session=early_session, event_id="o1", manufacturer_id=maker.id, converted=True, contract_value=Decimal("5")
    )

    rows = {(p.variant_id, p.period): (p.participants, p.conversions) for p in VariantPeriod.objects.all()}
    early_variant = early_session.variant_id
    late_variant = ExposureEvent.objects.get(customer=late).variant_id
    assert rows[(early_variant, 1)] == (1, 1)  # converted after the reweighting, counted where it was exposed
    assert rows[(late_variant, 2)] == (1, 0)  # period 1 holds the starting weights, 2 the first reweighting
    VariantPeriod.objects.update(participants=7, conversions=0)
    experiment_counters_reconcile(experiment=experiment)
    assert {(p.variant_id, p.period): (p.participants, p.conversions) for p in VariantPeriod.objects.all()} == rows
    assert analysis_current(experiment=experiment)["estimation"]["conversion_rate"] == "pooled"  # one arm per period


@pytest.mark.django_db
def test_an_ab_tests_exposures_keep_no_period_counters():
    experiment_start(experiment=experiment_create(name="ab", variants=variants(QUALITY, QUALITY)))
    customer = CustomerAccountFactory()
    decision = experiment_variant_for(customer=customer, order=ORDER)

    assert exposure_record(decision=decision, customer=customer, session_id=None)
    assert not VariantPeriod.objects.exists()


# --- editing and duplicating ---------------------------------------------------------------------------------


@pytest.mark.django_db
def test_a_draft_may_change_anything_and_keeps_its_identity():
    experiment = experiment_create(name="draft", variants=variants(BALANCED, QUALITY))

    edited = experiment_update(
        experiment=experiment,
        name="draft, edited",
        variants=variants(BALANCED, QUALITY, {"strategy": "cost_focused"}),
        analysis_method="fixed_horizon",
    )

    assert (edited.pk, edited.seed) == (experiment.pk, experiment.seed)
    assert (edited.name, edited.analysis_method) == ("draft, edited", "fixed_horizon")
    assert list(edited.variants.values_list("key", flat=True)) == ["v0", "v1", "v2"]


@pytest.mark.django_db
def test_a_drafts_edit_is_validated_like_its_creation():
    experiment = experiment_create(name="draft", variants=variants(BALANCED, QUALITY))

    with pytest.raises(DomainError) as error:
        experiment_update(experiment=experiment, variants=variants(BALANCED, {"strategy": "magic"}))

    assert list(error.value.extra["fields"]) == ["variants.1.config.strategy"]
    assert experiment.variants.count() == 2


@pytest.mark.django_db
def test_a_started_experiments_configuration_is_frozen_but_its_coverage_may_grow():
    experiment = experiment_start(
        experiment=experiment_create(name="frozen", coverage=0.5, variants=variants(BALANCED, QUALITY))
    )

    with pytest.raises(DomainError) as frozen:
        experiment_update(experiment=experiment, variants=variants(BALANCED, BALANCED))
    with pytest.raises(DomainError) as shrink:
        experiment_update(experiment=experiment, coverage=0.2)
    grown = experiment_update(experiment=experiment, coverage=0.8, description="ramped up")

    assert list(frozen.value.extra["fields"]) == ["variants"]
    assert list(shrink.value.extra["fields"]) == ["coverage"]
    assert (grown.coverage, grown.description) == (0.8, "ramped up")


@pytest.mark.django_db
def test_a_duplicate_is_a_new_draft_with_the_same_configuration_and_a_new_seed():
    original = experiment_start(experiment=experiment_create(name="original", variants=variants(BALANCED, QUALITY)))

    copy = experiment_duplicate(experiment=original)
    second = experiment_duplicate(experiment=original)

    assert (copy.name, second.name) == ("original (copy)", "original (copy) 2")
    assert copy.status == "draft"
    assert copy.seed != original.seed
    assert [v.config for v in copy.variants.all()] == [v.config for v in original.variants.all()]
