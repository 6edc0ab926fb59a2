"""The analysis service: its numbers are those of experiments.stats on the same counters, it flags SRM and
names a winner only when the rules allow, and undefined statistics are nulls with a reason."""

from datetime import timedelta
from statistics import NormalDist

import pytest
from django.utils import timezone
from statsmodels.stats.multitest import multipletests

from core.errors import DomainError
from experiments import stats
from experiments.analysis import experiment_analyze, sequential_tuning_for
from experiments.models import ABTestExperiment, ExperimentSnapshot, Variant
from experiments.services import experiment_create, experiment_pause, experiment_start, experiment_stop

BALANCED = {"strategy": "balanced"}
QUALITY = {"strategy": "quality_focused"}
COST = {"strategy": "cost_focused"}


def create(*configs, weights=None, **options) -> ABTestExperiment:
    configs = configs or (BALANCED, QUALITY)
    weights = weights or [1 / len(configs)] * len(configs)
    variants = [
        {"key": f"v{i}", "weight": w, "is_control": i == 0, "config": config}
        for i, (config, w) in enumerate(zip(configs, weights))
    ]
    return experiment_create(name=options.pop("name", "analysed"), variants=variants, **options)


def counters(experiment: ABTestExperiment, *rows) -> None:
    """Set the variants' counters directly, as a million exposures would have left them: (n, conversions) or
    (n, conversions, revenue_sum, revenue_sum_squares) per variant, in position order."""
    for variant, row in zip(experiment.variants.order_by("position"), rows):
        n, conversions, *revenue = row
        revenue_sum, revenue_squares = revenue or (0.0, 0.0)
        Variant.objects.filter(pk=variant.pk).update(
            participants=n, conversions=conversions, revenue_sum=revenue_sum, revenue_sum_squares=revenue_squares
        )


def frequentist_fields(result) -> dict:
    return {
        "effect": result.effect,
        "ci_low": result.ci_low,
        "ci_high": result.ci_high,
        "p_value": result.p_value,
        "standard_error": result.standard_error,
    }


@pytest.mark.django_db
def test_fixed_horizon_numbers_are_those_of_the_stats_module_on_the_same_counters():
    experiment = create(confidence_level=0.9)
    counters(experiment, (1000, 100, 50_000.0, 30_000_000.0), (1000, 130, 70_000.0, 45_000_000.0))

    analysis = experiment_analyze(experiment=experiment, method="fixed_horizon")

    control, treatment = stats.ProportionStats(1000, 100), stats.ProportionStats(1000, 130)
    expected = stats.frequentist_test(control, treatment, alpha=0.1)
    bayes = stats.bayesian_test(control, treatment, ci_level=0.9)
    lift = analysis["comparisons"][0]["conversion_rate"]
    assert analysis["method"] == "fixed_horizon"
    assert analysis["sequential_tuning"] is None
    assert analysis["comparisons"][0]["variant"] == "v1"
    assert {k: lift[k] for k in frequentist_fields(expected)} == pytest.approx(frequentist_fields(expected), rel=1e-12)
    assert lift["significant"] == expected.significant
    assert lift["p_value_adjusted"] == pytest.approx(expected.p_value)  # one treatment: Holm changes nothing
    assert lift["chance_to_win"] == pytest.approx(bayes.chance_to_win)
    assert lift["risk_control"] == pytest.approx(bayes.risk_control)
    assert lift["risk_treatment"] == pytest.approx(bayes.risk_treatment)
    assert lift["reason"] is None

    revenue_c = stats.SampleStats(1000, 50_000.0, 30_000_000.0)
    revenue_t = stats.SampleStats(1000, 70_000.0, 45_000_000.0)
    assert analysis["variants"][0] == {
        "key": "v0",
        "name": "v0",
        "is_control": True,
        "weight": 0.5,
        "participants": 1000,
        "conversions": 100,
        "conversion_rate": 0.1,
        "revenue_per_participant": {"mean": 50.0, "variance": pytest.approx(revenue_c.variance), "reason": None},
    }
    assert analysis["variants"][1]["revenue_per_participant"]["variance"] == pytest.approx(revenue_t.variance)
    revenue_test = stats.frequentist_test(revenue_c, revenue_t, alpha=0.1)
    revenue_lift = analysis["comparisons"][0]["revenue_per_participant"]
    assert {k: revenue_lift[k] for k in frequentist_fields(revenue_test)} == pytest.approx(
        frequentist_fields(revenue_test)
    )


@pytest.mark.django_db
def test_sequential_is_the_default_and_tuned_at_twice_the_minimum_sample_or_5000():
    small = create(name="small", minimum_sample_size=100)
    large = create(name="large", minimum_sample_size=4000)
    counters(small, (3000, 300), (3000, 360))
    counters(large, (3000, 300), (3000, 360))

    analysis = experiment_analyze(experiment=small)
    analysis_large = experiment_analyze(experiment=large)

    assert (sequential_tuning_for(small), sequential_tuning_for(large)) == (5000, 8000)
    assert (analysis["method"], analysis["sequential_tuning"]) == ("sequential", 5000)
    control, treatment = stats.ProportionStats(3000, 300), stats.ProportionStats(3000, 360)
    for result, tuning in ((analysis, 5000), (analysis_large, 8000)):
        expected = stats.frequentist_test(control, treatment, alpha=0.05, sequential_tuning=tuning)
        lift = result["comparisons"][0]["conversion_rate"]
        assert {k: lift[k] for k in frequentist_fields(expected)} == pytest.approx(
            frequentist_fields(expected), rel=1e-12
        )
    fixed = stats.frequentist_test(control, treatment, alpha=0.05)
    lift = analysis["comparisons"][0]["conversion_rate"]
    assert lift["ci_high"] - lift["ci_low"] > fixed.ci_high - fixed.ci_low  # the price of peeking


@pytest.mark.django_db
def test_power_at_the_minimum_effect_follows_from_the_interval_shown():
    experiment = create(minimum_effect_size=0.1)
    counters(experiment, (5000, 500), (5000, 540))

    lift = experiment_analyze(experiment=experiment, method="fixed_horizon")["comparisons"][0]["conversion_rate"]

    se, k = lift["standard_error"], (lift["ci_high"] - lift["ci_low"]) / 2 / lift["standard_error"]
    normal = NormalDist()
    assert lift["power_at_minimum_effect"] == pytest.approx(normal.cdf(0.1 / se - k) + normal.cdf(-0.1 / se - k))
    assert 0.3 < lift["power_at_minimum_effect"] < 0.9


@pytest.mark.django_db
def test_holm_adjusts_the_p_values_across_the_treatments():
    experiment = create(BALANCED, QUALITY, COST, weights=[0.4, 0.3, 0.3])
    counters(experiment, (2000, 200), (1500, 190), (1500, 170))

    analysis = experiment_analyze(experiment=experiment, method="fixed_horizon")

    raw = [row["conversion_rate"]["p_value"] for row in analysis["comparisons"]]
    adjusted = [row["conversion_rate"]["p_value_adjusted"] for row in analysis["comparisons"]]
    assert [row["variant"] for row in analysis["comparisons"]] == ["v1", "v2"]
    assert adjusted == pytest.approx(list(stats.adjust_p_values(raw, "holm")))
    assert adjusted == pytest.approx(list(multipletests(raw, method="holm")[1]))
    assert min(adjusted) == pytest.approx(2 * min(raw))
    assert all(a >= r for a, r in zip(adjusted, raw))
    revenue = [row["revenue_per_participant"] for row in analysis["comparisons"]]
    assert all(r["p_value"] is None and r["p_value_adjusted"] is None for r in revenue)  # no revenue recorded


@pytest.mark.django_db
def test_srm_is_flagged_for_1000_against_1200_at_50_50():
    experiment = create()
    counters(experiment, (1000, 100), (1200, 120))

    srm = experiment_analyze(experiment=experiment)["srm"]

    assert srm["p_value"] == pytest.approx(stats.srm_p_value([1000, 1200], [0.5, 0.5]))
    assert 1e-5 < srm["p_value"] < 3e-5
    assert (srm["checked"], srm["mismatch"]) == (True, True)
    assert "do not follow the weights" in srm["reason"]


@pytest.mark.django_db
def test_srm_is_not_flagged_before_every_variant_has_8_participants():
    experiment = create()
    counters(experiment, (7, 0), (30, 0))

    before = experiment_analyze(experiment=experiment)["srm"]
    counters(experiment, (8, 0), (40, 0))
    after = experiment_analyze(experiment=experiment)["srm"]

    assert before["p_value"] < 0.001  # as lopsided as it gets, but too few to tell
    assert (before["checked"], before["mismatch"]) == (False, False)
    assert before["reason"] == "Checked once every variant has 8 participants; the fewest has 7."
    assert (after["checked"], after["mismatch"]) == (True, True)


@pytest.mark.django_db
def test_srm_passes_when_the_participants_follow_the_weights():
    experiment = create(weights=[0.2, 0.8])
    counters(experiment, (200, 20), (810, 80))

    srm = experiment_analyze(experiment=experiment)["srm"]

    assert srm == {
        "p_value": pytest.approx(stats.srm_p_value([200, 810], [0.2, 0.8])),
        "checked": True,
        "mismatch": False,
        "reason": None,
    }


@pytest.mark.django_db
def test_srm_is_not_checked_for_a_bandit_whose_weights_move():
    experiment = create(experiment_type="bandit")
    counters(experiment, (1000, 100), (1200, 120))

    srm = experiment_analyze(experiment=experiment)["srm"]

    assert (srm["p_value"], srm["checked"], srm["mismatch"]) == (None, False, False)


@pytest.mark.django_db
def test_no_winner_before_the_minimum_sample_even_with_a_clear_lift():
    experiment = create(minimum_sample_size=1500, minimum_effect_size=0.05)
    counters(experiment, (1000, 100), (1000, 200))

    analysis = experiment_analyze(experiment=experiment)

    lift = analysis["comparisons"][0]["conversion_rate"]
    assert lift["significant"]
    assert lift["ci_low"] > 0.05
    assert analysis["winner"] is None
    assert analysis["winner_reason"] == (
        "Every variant needs 1500 participants before a decision; the fewest has 1000."
    )


@pytest.mark.django_db
def test_the_winner_is_the_treatment_whose_interval_clears_the_minimum_effect():
    experiment = create(minimum_sample_size=1000, minimum_effect_size=0.05)
    counters(experiment, (1000, 100), (1000, 200))

    analysis = experiment_analyze(experiment=experiment)

    lift = analysis["comparisons"][0]["conversion_rate"]
    assert lift["ci_low"] >= 0.05
    assert analysis["winner"] == "v1"
    assert analysis["winner_reason"] == (
        f"The interval of its lift, [{lift['ci_low']:.2%}, {lift['ci_high']:.2%}], clears the minimum effect of 5.00%."
    )
    assert ABTestExperiment.objects.get().analysis["winner"] == "v1"


@pytest.mark.django_db
def test_no_winner_when_the_interval_excludes_zero_but_not_the_minimum_effect():
    experiment = create(minimum_sample_size=1000, minimum_effect_size=0.5)
    counters(experiment, (1000, 100), (1000, 200))

    analysis = experiment_analyze(experiment=experiment)

    lift = analysis["comparisons"][0]["conversion_rate"]
    assert lift["significant"]
    assert 0 < lift["ci_low"] < 0.5
    assert analysis["winner"] is None
    assert analysis["winner_reason"] == "No interval of the lift clears the minimum effect of 50.00% yet."


@pytest.mark.django_db
def test_the_winner_follows_the_interval_shown_in_either_method():
    experiment = create(minimum_sample_size=1000, minimum_effect_size=0.05)
    counters(experiment, (3000, 300), (3000, 390))  # a 30% lift: clears 5% at a fixed horizon, not sequentially

    fixed = experiment_analyze(experiment=experiment, method="fixed_horizon")
    sequential = experiment_analyze(experiment=experiment, method="sequential")

    for analysis in (fixed, sequential):
        lift = analysis["comparisons"][0]["conversion_rate"]
        assert (analysis["winner"] == "v1") == (lift["ci_low"] > 0 and lift["ci_low"] >= 0.05)
    assert fixed["winner"] == "v1"
    assert sequential["winner"] is None


@pytest.mark.django_db
def test_the_control_wins_when_every_treatment_is_worse_by_the_minimum_effect():
    experiment = create(BALANCED, QUALITY, COST, minimum_sample_size=1000, minimum_effect_size=0.05)
    counters(experiment, (1000, 200), (1000, 100), (1000, 90))

    analysis = experiment_analyze(experiment=experiment)

    assert all(row["conversion_rate"]["ci_high"] <= -0.05 for row in analysis["comparisons"])
    assert analysis["winner"] == "v0"


@pytest.mark.django_db
def test_of_several_clearing_treatments_the_one_with_the_highest_lower_bound_wins():
    experiment = create(BALANCED, QUALITY, COST, minimum_sample_size=1000, minimum_effect_size=0.05)
    counters(experiment, (1000, 100), (1000, 200), (1000, 260))

    analysis = experiment_analyze(experiment=experiment)

    assert all(row["conversion_rate"]["ci_low"] >= 0.05 for row in analysis["comparisons"])
    assert analysis["winner"] == "v2"


@pytest.mark.django_db
def test_no_winner_while_the_sample_ratio_mismatches():
    experiment = create(minimum_sample_size=100)
    counters(experiment, (1000, 100), (1400, 300))

    analysis = experiment_analyze(experiment=experiment)

    assert analysis["comparisons"][0]["conversion_rate"]["ci_low"] > 0.05
    assert analysis["srm"]["mismatch"]
    assert analysis["winner"] is None
    assert analysis["winner_reason"] == "No decision while the sample ratio mismatches."


@pytest.mark.django_db
def test_an_experiment_without_participants_gives_nulls_with_reasons():
    experiment = create()

    analysis = experiment_analyze(experiment=experiment)

    assert analysis["participants"] == 0
    assert analysis["reason"] == "No participants yet."
    assert analysis["variants"][1] == {
        "key": "v1",
        "name": "v1",
        "is_control": False,
        "weight": 0.5,
        "participants": 0,
        "conversions": 0,
        "conversion_rate": None,
        "revenue_per_participant": {"mean": None, "variance": None, "reason": "No participants yet."},
    }
    lift = analysis["comparisons"][0]["conversion_rate"]
    assert {k: v for k, v in lift.items() if k != "reason"} == dict.fromkeys(
        [
            "effect",
            "ci_low",
            "ci_high",
            "p_value",
            "p_value_adjusted",
            "standard_error",
            "significant",
            "chance_to_win",
            "risk_control",
            "risk_treatment",
            "power_at_minimum_effect",
        ]
    )
    assert lift["reason"] == "Undefined: the control arm needs at least 2 units, got 0."
    assert analysis["srm"] == {
        "p_value": 1.0,
        "checked": False,
        "mismatch": False,
        "reason": "Checked once every variant has 8 participants; the fewest has 0.",
    }
    assert analysis["timing"] == {
        "days_of_data": None,
        "minimum_sample_reached": False,
        "days_to_minimum_sample": None,
        "reason": "Not started yet.",
    }
    assert analysis["winner"] is None


@pytest.mark.django_db
def test_a_control_without_conversions_leaves_the_relative_lift_undefined():
    experiment = create()
    counters(experiment, (500, 0), (500, 10, 1000.0, 200_000.0))

    analysis = experiment_analyze(experiment=experiment)

    lift = analysis["comparisons"][0]["conversion_rate"]
    assert lift["effect"] is None
    assert "control mean is 0" in lift["reason"]
    assert analysis["variants"][1]["conversion_rate"] == 0.02
    assert analysis["comparisons"][0]["revenue_per_participant"]["effect"] is None


@pytest.mark.django_db
def test_inconsistent_revenue_counters_are_reported_not_raised():
    experiment = create()
    counters(experiment, (0, 0, 100.0, 10_000.0), (10, 1, 100.0, 10_000.0))

    analysis = experiment_analyze(experiment=experiment)

    revenue = analysis["variants"][0]["revenue_per_participant"]
    assert revenue["mean"] is None
    assert revenue["reason"].startswith("Inconsistent revenue counters")
    assert analysis["comparisons"][0]["revenue_per_participant"]["reason"].startswith("Inconsistent counters")


@pytest.mark.django_db
def test_days_of_data_and_days_to_the_minimum_sample_at_the_current_rate():
    experiment = experiment_start(experiment=create(minimum_sample_size=200))
    ABTestExperiment.objects.filter(pk=experiment.pk).update(start_date=timezone.now() - timedelta(days=10))
    experiment.refresh_from_db()
    counters(experiment, (100, 10), (50, 5))  # 10 a day and 5 a day

    timing = experiment_analyze(experiment=experiment)["timing"]

    assert timing["days_of_data"] == pytest.approx(10, abs=1e-3)
    assert timing["minimum_sample_reached"] is False
    assert timing["days_to_minimum_sample"] == pytest.approx(30, rel=1e-3)  # the slower variant needs 150 more
    counters(experiment, (200, 10), (250, 5))
    assert experiment_analyze(experiment=experiment)["timing"]["days_to_minimum_sample"] == 0.0


@pytest.mark.django_db
def test_a_paused_or_stopped_experiment_has_no_expected_days():
    experiment = experiment_pause(experiment=experiment_start(experiment=create(minimum_sample_size=200)))
    counters(experiment, (100, 10), (50, 5))

    paused = experiment_analyze(experiment=experiment)["timing"]
    stopped = experiment_analyze(experiment=experiment_stop(experiment=experiment))["timing"]

    assert paused["days_to_minimum_sample"] is None
    assert paused["reason"] == "The experiment is paused: no participants are coming in."
    assert stopped["days_of_data"] is not None
    assert stopped["reason"] == "The experiment is stopped: no participants are coming in."


@pytest.mark.django_db
def test_each_run_is_stored_on_the_experiment_and_appended_as_a_snapshot():
    experiment = create()
    counters(experiment, (100, 10), (100, 12))
    first = experiment_analyze(experiment=experiment)
    counters(experiment, (200, 20), (200, 30))

    second = experiment_analyze(experiment=experiment)

    snapshots = list(ExperimentSnapshot.objects.filter(experiment=experiment).order_by("created_at", "pk"))
    assert [s.analysis for s in snapshots] == [first, second]
    assert [s.analysis["participants"] for s in snapshots] == [200, 400]
    assert ABTestExperiment.objects.get().analysis == second
    assert snapshots[1].created_at.isoformat() == second["analyzed_at"]


@pytest.mark.django_db
def test_an_unknown_method_is_a_domain_error():
    with pytest.raises(DomainError) as error:
        experiment_analyze(experiment=create(), method="bayesian")

    assert "method" in error.value.extra["fields"]
    assert not ExperimentSnapshot.objects.exists()
