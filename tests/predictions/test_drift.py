"""PSI and the model drift report, without a database: hand-computed values and the normal-shift theory."""

import json
import math

import numpy as np
import pytest
from scipy import stats

from predictions.ml.drift import (
    DriftReport,
    drift_report,
    drift_report_from_profile,
    psi_band,
    psi_categorical,
    psi_score,
    reference_profile,
)


def normal_shift_psi(shift: float, bins: int = 10) -> float:
    """PSI of N(shift, 1) against N(0, 1) on the exact deciles of N(0, 1): the large-sample limit."""
    edges = stats.norm.ppf(np.linspace(0.0, 1.0, bins + 1))
    current = np.diff(stats.norm.cdf(edges - shift))
    reference = np.full(bins, 1.0 / bins)
    return float(np.sum((current - reference) * np.log(current / reference)))


# One numeric variable ---------------------------------------------------------------------------------


def test_psi_of_identical_samples_is_zero():
    values = np.random.default_rng(1).normal(size=5_000)
    assert psi_score(values, values.copy()) == 0.0


def test_psi_of_two_samples_of_one_distribution_is_near_zero():
    rng = np.random.default_rng(2)
    # Sampling alone gives about (bins - 1) * (1/n + 1/m) = 9 * 2 / 20000 ~ 0.001.
    assert psi_score(rng.normal(size=20_000), rng.normal(size=20_000)) < 0.005


def test_psi_matches_a_hand_computed_value():
    reference = np.arange(1, 11)  # median 5.5 splits it into two halves: r = (0.5, 0.5)
    current = np.array([1, 2, 3, 8, 9, 10, 11, 12, 13, 14])  # 3 at or below 5.5, 7 above: c = (0.3, 0.7)
    expected = (0.3 - 0.5) * math.log(0.3 / 0.5) + (0.7 - 0.5) * math.log(0.7 / 0.5)
    assert expected == pytest.approx(0.1694596, abs=1e-7)
    assert psi_score(reference, current, bins=2) == pytest.approx(expected, rel=1e-12)


def test_psi_is_roughly_symmetric():
    rng = np.random.default_rng(3)
    a, b = rng.normal(0.0, 1.0, 50_000), rng.normal(0.5, 1.0, 50_000)
    forward, backward = psi_score(a, b), psi_score(b, a)
    # Not exactly symmetric (the bins come from the reference), but the symmetric formula keeps them close.
    assert forward == pytest.approx(backward, rel=0.1)


def test_a_half_sd_mean_shift_is_moderate_drift():
    # Theory: 0.2377 on exact deciles. Over 20 seeds at n = 200,000 per side the estimate had sd 0.0033
    # (the reference deciles are estimated too) and a bias of about +0.0001, so +-0.012 is 3.5 sd; the
    # upper end 0.2497 stays inside the moderate band (<= 0.25).
    expected = normal_shift_psi(0.5)
    assert expected == pytest.approx(0.2377, abs=1e-4)
    rng = np.random.default_rng(4)
    value = psi_score(rng.normal(0.0, 1.0, 200_000), rng.normal(0.5, 1.0, 200_000))
    assert abs(value - expected) < 0.012
    assert psi_band(value) == "moderate"


def test_a_one_sd_mean_shift_is_significant_drift():
    expected = normal_shift_psi(1.0)  # 0.926, far above 0.25
    rng = np.random.default_rng(5)
    value = psi_score(rng.normal(0.0, 1.0, 50_000), rng.normal(1.0, 1.0, 50_000))
    assert value == pytest.approx(expected, abs=0.05)
    assert psi_band(value) == "significant"


def test_discrete_features_collapse_repeated_edges():
    rng = np.random.default_rng(6)
    reference = rng.choice([0, 1, 2, 3], p=[0.6, 0.2, 0.1, 0.1], size=10_000)  # deciles repeat 0 six times
    current = rng.choice([0, 1, 2, 3], p=[0.3, 0.3, 0.2, 0.2], size=10_000)
    profile = reference_profile({"visits": reference})
    entry = profile["features"]["visits"]
    assert entry["edges"] == [0.0, 1.0, 2.0]  # one bin per value: (-inf, 0], (0, 1], (1, 2], (2, inf)
    observed_r = np.bincount(reference, minlength=4) / reference.size
    observed_c = np.bincount(current, minlength=4) / current.size
    expected = float(np.sum((observed_c - observed_r) * np.log(observed_c / observed_r)))
    assert psi_score(reference, current) == pytest.approx(expected, rel=1e-12)


def test_a_constant_reference_still_gives_a_finite_psi():
    assert psi_score(np.zeros(100), np.zeros(100)) == 0.0
    assert math.isfinite(psi_score(np.zeros(100), np.ones(100)))


def test_empty_bins_are_floored_at_epsilon_not_infinite():
    reference = np.arange(1, 11)
    current = np.full(10, 100.0)  # all in the top bin of 10; the other 9 bins are empty
    value = psi_score(reference, current, epsilon=1e-4)
    expected = 9 * (1e-4 - 0.1) * math.log(1e-4 / 0.1) + (1.0 - 0.1) * math.log(1.0 / 0.1)
    assert math.isfinite(value)
    assert value == pytest.approx(expected, rel=1e-12)


# One categorical variable -----------------------------------------------------------------------------


def test_categorical_psi_over_the_union_of_categories():
    reference = ["a", "a", "b", "b"]
    current = ["a", "b", "b", "c"]  # "c" is new: its reference share is floored at epsilon
    expected = (0.25 - 0.5) * math.log(0.25 / 0.5) + 0.0 + (0.25 - 1e-4) * math.log(0.25 / 1e-4)
    assert psi_categorical(reference, current, epsilon=1e-4) == pytest.approx(expected, rel=1e-12)
    assert psi_categorical(reference, list(reference)) == 0.0


# Bands ------------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("value", "band"),
    [(0.0, "stable"), (0.0999, "stable"), (0.10, "moderate"), (0.25, "moderate"), (0.2501, "significant")],
)
def test_psi_band_edges(value, band):
    assert psi_band(value) == band


# The model report -------------------------------------------------------------------------------------


def sample(rng: np.random.Generator, n: int, shift: float = 0.0) -> dict[str, np.ndarray]:
    return {
        "budget": rng.normal(shift, 1.0, n),
        "lead_time": rng.gamma(2.0, 3.0, n),
        "region": rng.choice(["eu", "us", "asia"], p=[0.5, 0.3, 0.2], size=n),
    }


def test_the_report_flags_a_shifted_important_feature_for_retraining():
    rng = np.random.default_rng(10)
    report = drift_report(sample(rng, 5_000), sample(rng, 2_000, shift=1.0), categorical={"region"}, importances=None)
    assert isinstance(report, DriftReport)
    assert report.feature_psi["budget"] > 0.25
    assert report.feature_psi["lead_time"] < 0.05
    assert report.feature_score == pytest.approx(np.mean(list(report.feature_psi.values())))
    assert report.score == report.feature_score
    assert report.prediction_psi is None
    assert (report.band, report.alert, report.retrain, report.sufficient) == ("significant", True, True, True)
    assert report.reason.startswith("retrain")
    assert "budget" in report.reason


def test_importances_weight_the_feature_score():
    rng = np.random.default_rng(11)
    reference, current = sample(rng, 5_000), sample(rng, 2_000, shift=1.0)
    heavy = drift_report(
        reference, current, categorical={"region"}, importances={"budget": 8, "lead_time": 1, "region": 1}
    )
    light = drift_report(
        reference, current, categorical={"region"}, importances={"budget": 0, "lead_time": 1, "region": 1}
    )
    psi = heavy.feature_psi
    assert heavy.feature_score == pytest.approx(0.8 * psi["budget"] + 0.1 * psi["lead_time"] + 0.1 * psi["region"])
    assert light.feature_score == pytest.approx(0.5 * psi["lead_time"] + 0.5 * psi["region"])
    assert heavy.retrain
    assert not light.alert


def test_negative_permutation_importances_count_as_zero():
    rng = np.random.default_rng(12)
    reference, current = sample(rng, 2_000), sample(rng, 1_000, shift=1.0)
    clipped = drift_report(
        reference, current, categorical={"region"}, importances={"budget": -0.2, "lead_time": 1, "region": 1}
    )
    zero = drift_report(
        reference, current, categorical={"region"}, importances={"budget": 0, "lead_time": 1, "region": 1}
    )
    assert clipped.feature_score == zero.feature_score


def test_prediction_psi_raises_the_score_when_the_output_moves():
    rng = np.random.default_rng(13)
    reference, current = sample(rng, 5_000), sample(rng, 2_000)
    report = drift_report(
        reference,
        current,
        categorical={"region"},
        reference_scores=rng.beta(2, 5, 5_000),
        current_scores=rng.beta(5, 2, 2_000),
    )
    assert report.feature_score < 0.1
    assert report.prediction_psi > 0.25
    assert report.score == report.prediction_psi
    assert report.retrain


def test_an_insufficient_sample_never_alerts():
    rng = np.random.default_rng(14)
    report = drift_report(sample(rng, 5_000), sample(rng, 200, shift=1.0), categorical={"region"})
    assert report.score > 0.25
    assert report.band == "significant"
    assert (report.sufficient, report.alert, report.retrain) == (False, False, False)
    assert "insufficient sample" in report.reason
    assert "200" in report.reason
    assert "500" in report.reason


def test_the_minimum_sample_is_configurable():
    rng = np.random.default_rng(15)
    report = drift_report(sample(rng, 5_000), sample(rng, 200, shift=1.0), categorical={"region"}, minimum_sample=200)
    assert report.sufficient
    assert report.retrain


def test_a_2d_array_with_feature_names_equals_the_mapping_form():
    rng = np.random.default_rng(16)
    reference, current = rng.normal(size=(3_000, 2)), rng.normal(0.3, 1.0, size=(1_000, 2))
    from_array = drift_report(reference, current, feature_names=["x", "y"])
    from_mapping = drift_report({"x": reference[:, 0], "y": reference[:, 1]}, {"x": current[:, 0], "y": current[:, 1]})
    assert from_array == from_mapping


# The production path: a stored profile ----------------------------------------------------------------


def test_the_profile_path_equals_the_direct_path_exactly():
    rng = np.random.default_rng(20)
    reference, current = sample(rng, 5_000), sample(rng, 1_500, shift=0.3)
    reference_scores, current_scores = rng.beta(2, 5, 5_000), rng.beta(2.5, 5, 1_500)
    importances = {"budget": 0.5, "lead_time": 0.3, "region": 0.2}
    direct = drift_report(
        reference,
        current,
        importances=importances,
        reference_scores=reference_scores,
        current_scores=current_scores,
        categorical={"region"},
    )
    profile = reference_profile(reference, reference_scores=reference_scores, categorical={"region"})
    stored = json.loads(json.dumps(profile, allow_nan=False))  # what a jsonb column gives back
    from_profile = drift_report_from_profile(stored, current, importances=importances, current_scores=current_scores)
    assert from_profile == direct


def test_the_profile_is_small_and_keeps_no_rows():
    rng = np.random.default_rng(21)
    profile = reference_profile(sample(rng, 50_000), categorical={"region"})
    assert len(json.dumps(profile, allow_nan=False)) < 2_000
    assert profile["n_reference"] == 50_000
    assert len(profile["features"]["budget"]["edges"]) == 9
    assert sum(profile["features"]["budget"]["proportions"]) == pytest.approx(1.0)
    assert profile["features"]["region"]["categories"] == ["asia", "eu", "us"]


def test_current_scores_need_a_profile_with_reference_scores():
    rng = np.random.default_rng(22)
    profile = reference_profile(sample(rng, 1_000), categorical={"region"})
    with pytest.raises(ValueError, match="current_scores"):
        drift_report_from_profile(profile, sample(rng, 1_000), current_scores=rng.random(1_000))


# Bad input --------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("reference", "current", "argument"),
    [
        ([], [1.0, 2.0], "reference"),
        ([1.0, 2.0], [], "current"),
        ([1.0, np.nan], [1.0, 2.0], "reference"),
        ([1.0, 2.0], [1.0, np.inf], "current"),
        ([[1.0, 2.0]], [1.0, 2.0], "reference"),
        (["a", "b"], [1.0, 2.0], "reference"),
    ],
)
def test_psi_score_rejects_bad_input_naming_the_argument(reference, current, argument):
    with pytest.raises(ValueError, match=argument):
        psi_score(reference, current)


def test_psi_score_rejects_bad_parameters():
    with pytest.raises(ValueError, match="bins"):
        psi_score([1.0, 2.0], [1.0, 2.0], bins=1)
    with pytest.raises(ValueError, match="epsilon"):
        psi_score([1.0, 2.0], [1.0, 2.0], epsilon=0)


def test_psi_categorical_rejects_empty_and_missing_values():
    with pytest.raises(ValueError, match="reference"):
        psi_categorical([], ["a"])
    with pytest.raises(ValueError, match="current"):
        psi_categorical(["a"], ["a", None])
    with pytest.raises(ValueError, match="current"):
        psi_categorical(["a"], ["a", float("nan")])


def test_the_report_rejects_mismatched_feature_names():
    rng = np.random.default_rng(30)
    reference = {"x": rng.normal(size=600), "y": rng.normal(size=600)}
    with pytest.raises(ValueError, match=r"current features do not match.*missing \['y'\].*unexpected \['z'\]"):
        drift_report(reference, {"x": rng.normal(size=600), "z": rng.normal(size=600)})
    with pytest.raises(ValueError, match="importances"):
        drift_report(reference, reference, importances={"x": 1.0})
    with pytest.raises(ValueError, match="categorical"):
        drift_report(reference, reference, categorical={"nope"})
    with pytest.raises(ValueError, match="feature_names"):
        drift_report(rng.normal(size=(600, 2)), rng.normal(size=(600, 2)))


def test_the_report_rejects_nan_empty_and_ragged_features():
    rng = np.random.default_rng(31)
    reference = {"x": rng.normal(size=600), "y": rng.normal(size=600)}
    with pytest.raises(ValueError, match=r"current\['x'\]"):
        drift_report(reference, {"x": np.array([np.nan] * 600), "y": rng.normal(size=600)})
    with pytest.raises(ValueError, match=r"current\['x'\]"):
        drift_report(reference, {"x": np.array([]), "y": np.array([])})
    with pytest.raises(ValueError, match="current"):
        drift_report(reference, {"x": rng.normal(size=600), "y": rng.normal(size=500)})
    with pytest.raises(ValueError, match="reference"):
        drift_report({}, reference)


def test_scores_come_in_pairs():
    rng = np.random.default_rng(32)
    data = {"x": rng.normal(size=600)}
    with pytest.raises(ValueError, match="current_scores"):
        drift_report(data, data, reference_scores=rng.random(600))
    with pytest.raises(ValueError, match="reference_scores"):
        drift_report(data, data, current_scores=rng.random(600))
    with pytest.raises(ValueError, match="current_scores"):
        drift_report(data, data, reference_scores=rng.random(600), current_scores=rng.random(10))


def test_a_malformed_profile_is_rejected():
    with pytest.raises(ValueError, match="profile"):
        drift_report_from_profile({"version": 99, "features": {}}, {"x": np.ones(3)})
    with pytest.raises(ValueError, match="profile"):
        drift_report_from_profile(
            {"version": 1, "features": {"x": {"kind": "numeric", "edges": [0.0], "proportions": [1.0]}}},
            {"x": np.ones(3)},
        )
