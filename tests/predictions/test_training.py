"""The four predictive models on a simulated marketplace, measured against its oracle and their baselines."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from sklearn.metrics import brier_score_loss, mean_absolute_error, roc_auc_score

from marketplace.simulation import WorldConfig, build_world, simulate_history
from marketplace.truth.prediction_data import oracle_churn_rolling, prediction_frames
from predictions.ml import features as F
from predictions.ml import training as T

CHURN_CUTOFFS = F.rolling_cutoffs(60, 270, every=30)
SEGMENT_CUTOFFS = F.rolling_cutoffs(90, 240, every=30)


@pytest.fixture(scope="module")
def market():
    world = build_world(WorldConfig(n_manufacturers=300, n_customers=1500, days=365, seed=11))
    history = simulate_history(world)
    return world, history, prediction_frames(world, history)


@pytest.fixture(scope="module")
def success(market):
    _, _, data = market
    frame = F.success_frame(data.orders, data.customers, cutoff=data.end_day)
    return T.train_model("success", frame.features, frame.labels, times=frame.times, seed=3, groups=frame.groups)


@pytest.fixture(scope="module")
def churn(market):
    _, _, data = market
    frame = F.rolling_frames("churn", data.orders, data.customers, CHURN_CUTOFFS)
    return T.train_model("churn", frame.features, frame.labels, times=frame.times, seed=3, gap=90.0)


# The bar for success is not met yet (measured on this world: AUC 0.907 against the oracle's 0.962,
# Brier 0.090 against 0.060): the gap is each customer's hidden weights and threshold, estimated from about
# 20 past orders (even the true parameters as extra features give the forest only 0.947 / 0.070). The Bayes
# ceiling (marketplace/truth/success_ceiling.py, which knows the simulator's model and population but not the
# customer) reaches AUC 0.939 / Brier 0.074 against the oracle's 0.962 / 0.059 on 200 sampled customers'
# holdout orders of this world: the AUC bar is reachable, the Brier bar (1.1 x) is not. The
# bar stays a strict xfail, so that the day it is met the run says so and the mark must go.
KNOWN_GAP = "issue 5's bar is not met yet (see the comment above and the issue's notes)"


def test_the_success_and_churn_models_beat_their_baselines(success, churn):
    for result in (success, churn):
        assert result.metrics["roc_auc"] > result.baseline_metrics["roc_auc"] + 0.3
        assert result.metrics["brier"] < 0.7 * result.baseline_metrics["brier"]


@pytest.mark.xfail(strict=True, reason=KNOWN_GAP)
def test_the_success_model_is_within_reach_of_the_oracle(market, success):
    _, _, data = market
    oracle = data.order_oracle.set_index("order_id").loc[success.holdout_index, "p_convert_true"].to_numpy()
    oracle_auc = roc_auc_score(success.holdout_labels, oracle)
    oracle_brier = brier_score_loss(success.holdout_labels, oracle)
    assert success.metrics["roc_auc"] > success.baseline_metrics["roc_auc"]
    assert success.metrics["brier"] < success.baseline_metrics["brier"]
    assert success.metrics["roc_auc"] >= oracle_auc - 0.03, (success.metrics, oracle_auc)
    assert success.metrics["brier"] <= 1.1 * oracle_brier, (success.metrics, oracle_brier)


def test_the_churn_model_is_within_reach_of_the_oracle(market, churn):
    """The oracle is the Bayes rule with every customer's true rates (prediction_data's docstring); the
    simulator's hidden state, which also knows who has already left unseen, is reported by `make bench`."""
    world, history, _ = market
    oracle = oracle_churn_rolling(world, history, CHURN_CUTOFFS).loc[churn.holdout_index].to_numpy()
    oracle_auc = roc_auc_score(churn.holdout_labels, oracle)
    assert churn.metrics["roc_auc"] > churn.baseline_metrics["roc_auc"]
    assert churn.metrics["roc_auc"] >= oracle_auc - 0.05, (churn.metrics, oracle_auc)


def test_the_satisfaction_model_errs_at_most_a_tenth_more_than_the_oracle(market):
    _, _, data = market
    frame = F.satisfaction_frame(data.orders, data.customers, cutoff=data.end_day)
    result = T.train_model("satisfaction", frame.features, frame.labels, times=frame.times, seed=3)
    oracle = data.order_oracle.set_index("order_id").loc[result.holdout_index, "expected_satisfaction_true"]
    oracle_mae = mean_absolute_error(result.holdout_labels, oracle.to_numpy())
    assert result.metrics["mae"] < result.baseline_metrics["mae"]
    assert result.metrics["mae"] <= 1.1 * oracle_mae, (result.metrics, oracle_mae)


def test_the_segment_model_beats_the_majority_class_by_far(market):
    _, _, data = market
    frame = F.rolling_frames("segment", data.orders, data.customers, SEGMENT_CUTOFFS, label_window=120.0)
    result = T.train_model(
        "segment", frame.features, frame.labels, times=frame.times, seed=3, groups=frame.groups, gap=120.0
    )
    assert result.metrics["macro_f1"] >= 3 * result.baseline_metrics["macro_f1"]
    assert result.metrics["macro_f1"] >= result.baseline_metrics["macro_f1"] + 0.25
    assert result.metrics["balanced_accuracy"] > result.baseline_metrics["balanced_accuracy"] + 0.15
    assert set(result.classes) <= set(F.SEGMENT_LABELS)


def test_every_metric_is_reported_next_to_its_baseline(success, churn):
    for result in (success, churn):
        assert set(result.metrics) == set(result.baseline_metrics)
        assert {"roc_auc", "pr_auc", "brier", "log_loss", "accuracy"} <= set(result.metrics)
        assert result.validation["folds"]
        assert set(result.validation["baseline_mean"]) == set(result.metrics)
        assert set(result.feature_importance) == set(result.feature_names)
        assert result.reference_features.shape[1] == len(result.feature_names)


def test_the_holdout_comes_after_the_training_period_and_the_gap(success, churn):
    assert success.training_period[1] < success.holdout_period[0]
    assert churn.training_period[1] <= churn.holdout_period[0] - 90.0
    assert success.n_rows["calibration"] > 0
    assert success.n_rows["train"] + success.n_rows["holdout"] == success.n_rows["labelled"]


def test_cross_validation_folds_are_time_ordered_with_the_gap():
    times = np.repeat(np.arange(10) * 30.0, 20)
    scheme, folds = T._cv_folds(times, None, 3, gap=90.0)
    assert "TimeSeriesSplit" in scheme
    for train, validation in folds:
        assert times[train].max() <= times[validation].min() - 90.0


def test_only_storable_estimator_classes_are_used(success, churn):
    allowed = {
        "CalibratedClassifierCV",
        "FrozenEstimator",
        "RandomForestClassifier",
        "RandomForestRegressor",
        "Pipeline",
        "SimpleImputer",
        "StandardScaler",
        "LogisticRegression",
    }
    assert type(success.estimator).__name__ in allowed
    assert type(success.estimator.estimator).__name__ == "FrozenEstimator"
    assert {type(step).__name__ for _, step in churn.estimator.steps} <= allowed


@pytest.mark.parametrize(("model_type", "needed"), sorted(T.MINIMUM_SAMPLES.items()))
def test_too_few_labelled_rows_are_refused_with_the_count_needed(model_type, needed):
    rng = np.random.default_rng(0)
    n = needed - 1
    frame = pd.DataFrame({"x": rng.normal(size=n + 30)})
    labels = pd.Series(rng.integers(0, 2, n + 30).astype(float))
    if model_type == "segment":
        labels = pd.Series(np.where(labels > 0, "decisive", "selective"), dtype=object)
    labels.iloc[n:] = None if model_type == "segment" else np.nan
    with pytest.raises(ValueError, match=f"at least {needed} labelled rows, got {n}"):
        T.train_model(model_type, frame, labels, times=np.arange(n + 30, dtype=float), seed=0)


def test_an_unknown_model_type_is_refused():
    with pytest.raises(ValueError, match="unknown model type"):
        T.train_model("next_order", pd.DataFrame({"x": [1.0]}), [1.0], times=[0.0], seed=0)
