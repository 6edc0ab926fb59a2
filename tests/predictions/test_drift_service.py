"""Drift checks of the deployed versions against their training profile, on a small simulated marketplace:
a row per check, the score on the version, a retraining run past the threshold, and no action on a small
sample; and the live accuracy of the deployed version on the outcomes that arrived after its deployment."""

from datetime import timedelta

import pytest
from django.core.management import call_command
from django.utils import timezone
from sklearn.linear_model import LogisticRegression
from sklearn.pipeline import Pipeline
from sklearn.preprocessing import StandardScaler

from predictions.ml import artifacts, drift
from predictions.ml import training as T
from predictions.models import DriftCheck, ModelStatus, PredictiveModel
from predictions.selectors import day_of, moment_of, prediction_frames_get
from predictions.services import registry
from predictions.services.drift import drift_check, drift_check_deployed, model_accuracy_track

FEATURES = ["complexity", "log_estimated_value", "log_quantity", "top1_score", "mean_quality_fit"]


@pytest.fixture
def world(db):
    call_command("simulate_marketplace", "--manufacturers", "40", "--customers", "60", "--days", "200", "--no-progress")
    now = timezone.now()
    orders, customers = prediction_frames_get()
    frame = registry.model_frame("success", orders, customers, now_day=day_of(now))
    return {"now": now, "frame": frame}


def deployed_success_model(world, *, shift: float = 0.0, training_data_end: float | None = None) -> PredictiveModel:
    """A deployed success version: a small logistic regression on the simulated rows, profiled on the same rows
    (moved by `shift` standard deviations, to fake a training set unlike today's data)."""
    frame = world["frame"]
    labelled = frame.labels.notna().to_numpy()
    X = frame.features[FEATURES].to_numpy(dtype=float)
    y = frame.labels.to_numpy()[labelled].astype(int)
    estimator = Pipeline([("scale", StandardScaler()), ("model", LogisticRegression())]).fit(X[labelled], y)
    artifact = artifacts.artifact_dump(estimator)
    reference = X + shift * X.std(axis=0)
    scores = T.predict("success", estimator, reference)
    times = frame.times.to_numpy(dtype=float)
    return PredictiveModel.objects.create(
        name="success-v1",
        model_type="success",
        version=1,
        status=ModelStatus.DEPLOYED,
        feature_set=FEATURES,
        feature_importance={name: 0.01 for name in FEATURES},
        drift_reference=drift.reference_profile(
            {name: reference[:, i] for i, name in enumerate(FEATURES)}, reference_scores=scores
        ),
        training_data_start=float(times.min()),
        training_data_end=float(times.min()) - 1.0 if training_data_end is None else training_data_end,
        accuracy_metrics={"holdout": {"roc_auc": 0.7, "brier": 0.05}, "baseline": {"roc_auc": 0.5, "brier": 0.06}},
        artifact=artifact.data,
        artifact_sha256=artifact.sha256,
        library_versions=artifact.versions,
        deployed_at=world["now"] - timedelta(days=60),
    )


def test_a_drift_check_stores_a_row_and_the_score_on_the_version(world):
    model = deployed_success_model(world)

    check = drift_check(model=model, now=world["now"])

    model.refresh_from_db()
    assert DriftCheck.objects.get() == check
    assert check.rows == len(world["frame"]) >= drift.MINIMUM_SAMPLE  # everything after the training data
    assert set(check.feature_psi) == set(FEATURES)
    assert check.prediction_psi is not None
    assert check.score == pytest.approx(0.0, abs=1e-9)  # the profile is of the same rows
    assert (check.band, check.alert, check.retrain) == ("stable", False, False)
    assert model.drift_score == check.score
    assert not PredictiveModel.objects.filter(status=ModelStatus.TRAINING).exists()


def test_significant_drift_opens_one_retraining_run_and_says_so(world):
    model = deployed_success_model(world, shift=2.0)

    first = drift_check(model=model, now=world["now"])
    second = drift_check(model=model, now=world["now"])  # a run is already open: no error, no second run

    run = PredictiveModel.objects.get(status=ModelStatus.TRAINING)
    assert first.retrain
    assert first.alert
    assert first.band == "significant"
    assert first.score > drift.RETRAIN_THRESHOLD
    assert (run.model_type, run.version) == ("success", 2)
    assert "Retraining opened: success v2." in first.reason
    assert second.retrain
    assert "Retraining not opened: A success model is already training (version 2)." in second.reason
    assert PredictiveModel.objects.filter(model_type="success").count() == 2


def test_below_the_minimum_sample_a_drift_check_neither_alerts_nor_retrains(world):
    last = float(world["frame"].times.max())
    model = deployed_success_model(world, shift=2.0, training_data_end=last)  # only the last 30 days count

    check = drift_check(model=model, now=world["now"])

    recent = int((world["frame"].times >= day_of(world["now"]) - 30).sum())
    assert check.rows == recent < drift.MINIMUM_SAMPLE
    assert check.score > drift.RETRAIN_THRESHOLD
    assert (check.alert, check.retrain) == (False, False)
    assert check.reason.startswith("insufficient sample")
    assert not PredictiveModel.objects.filter(status=ModelStatus.TRAINING).exists()


def test_live_accuracy_is_measured_on_the_outcomes_after_deployment(world):
    model = deployed_success_model(world)

    accuracy = model_accuracy_track(model=model, now=world["now"])

    frame = world["frame"]
    after = (frame.times >= day_of(model.deployed_at)) & frame.labels.notna()
    model.refresh_from_db()
    assert accuracy["rows"] == int(after.sum()) > 0
    assert set(accuracy["metrics"]) == {
        "roc_auc",
        "pr_auc",
        "brier",
        "log_loss",
        "accuracy",
        "prevalence",
        "mean_prediction",
    }
    assert 0.0 <= accuracy["metrics"]["brier"] <= 1.0
    assert model.prediction_accuracy == accuracy


def test_the_daily_check_covers_every_deployed_version_but_the_parameters_only_one(world):
    model = deployed_success_model(world)
    PredictiveModel.objects.create(
        name="next_order-v1",
        model_type="next_order",
        version=1,
        status=ModelStatus.DEPLOYED,
        parameters={"r": 1.0, "alpha": 1.0, "a": 1.0, "b": 1.0},
        deployed_at=world["now"],
    )

    summaries = drift_check_deployed(now=world["now"])

    model.refresh_from_db()
    assert [(s["model_type"], s["version"], s["band"]) for s in summaries] == [("success", 1, "stable")]
    assert summaries[0]["accuracy"]["rows"] > 0
    assert model.prediction_accuracy["rows"] == summaries[0]["accuracy"]["rows"]
    assert DriftCheck.objects.filter(model=model).count() == 1


def test_a_version_without_recent_rows_is_reported_not_raised(world):
    last = float(world["frame"].times.max())
    deployed_success_model(world, training_data_end=last)
    later = moment_of(last + 400.0)

    summaries = drift_check_deployed(now=later)

    assert "no recent rows" in summaries[0]["error"]
    assert not DriftCheck.objects.exists()
