"""The drift reference on a stationary simulated marketplace: customers' preferences and rates never change,
so a drift check 30 to 60 days after training must not alert. It did when the reference was a sample of all
the training rows (the marketplace's early days, when every customer had little history, are unlike any
later month); the latest holdout rows are the data the model will meet next."""

from __future__ import annotations

import numpy as np
import pytest

from marketplace.simulation import WorldConfig, build_world, simulate_history
from marketplace.truth.prediction_data import prediction_frames
from predictions.ml import drift
from predictions.ml import features as F
from predictions.ml import training as T
from predictions.services.registry import drift_reference

TRAINED_ON_DAY = 240.0


@pytest.fixture(scope="module")
def trained():
    world = build_world(WorldConfig(n_manufacturers=200, n_customers=700, days=300, seed=21))
    data = prediction_frames(world, simulate_history(world))
    past = data.orders[data.orders["created_day"] < TRAINED_ON_DAY]
    frame = F.success_frame(past, data.customers, cutoff=TRAINED_ON_DAY)
    result = T.train_model("success", frame.features, frame.labels, times=frame.times, groups=frame.groups, seed=3)
    later = F.success_frame(data.orders, data.customers, cutoff=TRAINED_ON_DAY + 60)
    times = later.times.to_numpy()
    current = later.features[(times >= TRAINED_ON_DAY + 30) & (times < TRAINED_ON_DAY + 60)]
    return frame, result, current


def _report(profile: dict, result: T.TrainingResult, current) -> drift.DriftReport:
    """As `services.drift.drift_check` computes it: the profiled features, rows with all of them finite."""
    names = list(profile["features"])
    rows = current[np.isfinite(current[names].to_numpy(dtype=float)).all(axis=1)]
    return drift.drift_report_from_profile(
        profile,
        {name: rows[name].to_numpy(dtype=float) for name in names},
        importances={name: max(result.feature_importance[name], 0.0) for name in names},
        current_scores=T.predict("success", result.estimator, rows[list(result.feature_names)].to_numpy(dtype=float)),
    )


def test_a_stationary_marketplace_shows_no_drift_a_month_after_training(trained):
    _, result, current = trained

    report = _report(drift_reference(result), result, current)

    assert report.n_current >= drift.MINIMUM_SAMPLE
    assert report.band == "stable", report.reason
    assert not report.alert


def test_a_sample_of_all_the_training_rows_would_have_alerted(trained):
    """The contrast that makes the test above mean something: the same month against the old reference."""
    frame, result, current = trained
    labelled = frame.features[frame.labels.notna().to_numpy()]
    names = [name for name in result.feature_names if labelled[name].notna().all()]
    rows = labelled.sample(n=min(len(labelled), 10_000), random_state=0)
    scores = T.predict("success", result.estimator, rows[list(result.feature_names)].to_numpy(dtype=float))
    profile = drift.reference_profile(
        {name: rows[name].to_numpy(dtype=float) for name in names}, reference_scores=scores
    )

    report = _report(profile, result, current)

    assert report.alert, report.reason


def test_the_reference_is_the_latest_holdout_rows(trained):
    frame, result, _ = trained
    holdout = frame.features.loc[result.holdout_index].to_numpy(dtype=float)

    assert np.array_equal(result.reference_features, holdout[-len(result.reference_features) :], equal_nan=True)
