"""The serving path's predictions equal the estimators' own."""

import numpy as np
import pytest
from sklearn.calibration import CalibratedClassifierCV
from sklearn.ensemble import RandomForestClassifier, RandomForestRegressor
from sklearn.frozen import FrozenEstimator
from sklearn.linear_model import LogisticRegression
from sklearn.pipeline import Pipeline
from sklearn.preprocessing import StandardScaler

from predictions.ml import training as T
from predictions.ml.inference import predict_fast


@pytest.fixture(scope="module")
def data():
    rng = np.random.default_rng(3)
    X = rng.normal(size=(3000, 12))
    X[rng.random(X.shape) < 0.05] = np.nan  # our features have gaps (no history yet)
    signal = np.nan_to_num(X[:, 0]) + 0.5 * np.nan_to_num(X[:, 1])
    binary = (signal + rng.normal(size=3000) > 0.3).astype(int)
    score = np.clip(np.round(3 + signal + rng.normal(scale=0.5, size=3000)), 1, 5)
    classes = np.array(["a", "b", "c"])[np.digitize(signal, [-0.5, 0.5])]
    return X, binary, score, classes


def test_a_calibrated_forest_gives_the_same_probabilities(data):
    X, y, _, _ = data
    forest = RandomForestClassifier(n_estimators=60, min_samples_leaf=20, random_state=0).fit(X[:2000], y[:2000])
    model = CalibratedClassifierCV(FrozenEstimator(forest), method="isotonic").fit(X[2000:2500], y[2000:2500])

    np.testing.assert_allclose(predict_fast("success", model, X[2500:]), T.predict("success", model, X[2500:]))
    np.testing.assert_allclose(predict_fast("success", model, X[:1]), T.predict("success", model, X[:1]))


def test_a_regression_forest_and_a_segment_forest_give_the_same_predictions(data):
    X, _, score, classes = data
    regressor = RandomForestRegressor(n_estimators=40, min_samples_leaf=10, random_state=0).fit(X[:2000], score[:2000])
    segments = RandomForestClassifier(n_estimators=40, class_weight="balanced", random_state=0).fit(
        X[:2000], classes[:2000]
    )

    np.testing.assert_allclose(
        predict_fast("satisfaction", regressor, X[2000:]), T.predict("satisfaction", regressor, X[2000:])
    )
    assert (predict_fast("segment", segments, X[2000:]) == T.predict("segment", segments, X[2000:])).all()


def test_anything_else_goes_through_the_estimators_own_predict(data):
    X, y, _, _ = data
    complete = np.nan_to_num(X)
    model = Pipeline([("scale", StandardScaler()), ("model", LogisticRegression())]).fit(complete, y)

    np.testing.assert_array_equal(predict_fast("churn", model, complete), T.predict("churn", model, complete))
