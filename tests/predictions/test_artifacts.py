"""Model artifacts without a database: round trips of each model we train, and every refusal."""

import dataclasses
import hashlib
import importlib
import io
import zipfile

import numpy as np
import pandas as pd
import pytest
import sklearn
import skops.io
from sklearn.calibration import CalibratedClassifierCV
from sklearn.compose import ColumnTransformer
from sklearn.ensemble import RandomForestClassifier, RandomForestRegressor
from sklearn.frozen import FrozenEstimator
from sklearn.impute import SimpleImputer
from sklearn.linear_model import LogisticRegression
from sklearn.neighbors import KNeighborsClassifier
from sklearn.pipeline import Pipeline
from sklearn.preprocessing import FunctionTransformer, OneHotEncoder, StandardScaler
from sklearn.tree import DecisionTreeClassifier, DecisionTreeRegressor

from predictions.ml.artifacts import (
    ESTIMATOR_TYPES,
    TRUSTED_TYPES,
    Artifact,
    ArtifactRejected,
    artifact_dump,
    artifact_load,
    artifact_type_names,
    library_versions,
)

N = 400


def tabular(rng: np.random.Generator, n: int = N) -> pd.DataFrame:
    frame = pd.DataFrame(
        {
            "budget": rng.normal(50.0, 10.0, n),
            "lead_time": rng.gamma(2.0, 3.0, n),
            "region": rng.choice(["eu", "us", "asia"], size=n),
        }
    )
    frame.loc[::23, "budget"] = np.nan
    return frame


def numeric(rng: np.random.Generator, n: int = N) -> np.ndarray:
    return rng.normal(size=(n, 4))


def success_pipeline(rng: np.random.Generator) -> tuple[Pipeline, pd.DataFrame]:
    X = tabular(rng)
    y = ((X["lead_time"] > 5) ^ (X["region"] == "eu")).astype(int).to_numpy()
    preprocess = ColumnTransformer(
        [
            ("numeric", Pipeline([("impute", SimpleImputer()), ("scale", StandardScaler())]), ["budget", "lead_time"]),
            (
                "categorical",
                Pipeline(
                    [
                        ("impute", SimpleImputer(strategy="most_frequent")),
                        ("onehot", OneHotEncoder(handle_unknown="ignore")),
                    ]
                ),
                ["region"],
            ),
        ]
    )
    model = Pipeline([("preprocess", preprocess), ("forest", RandomForestClassifier(n_estimators=15, random_state=0))])
    return model.fit(X, y), X


def calibrated_forest(rng: np.random.Generator, method: str = "isotonic") -> tuple[CalibratedClassifierCV, np.ndarray]:
    X = numeric(rng)
    y = (X[:, 0] + rng.normal(0.0, 0.5, N) > 0).astype(int)
    forest = RandomForestClassifier(n_estimators=15, class_weight="balanced", random_state=0).fit(X[:250], y[:250])
    calibrated = CalibratedClassifierCV(FrozenEstimator(forest), method=method).fit(X[250:], y[250:])  # the holdout
    return calibrated, X


def satisfaction_forest(rng: np.random.Generator) -> tuple[RandomForestRegressor, np.ndarray]:
    X = numeric(rng)
    y = np.clip(3.0 + X[:, 0] - 0.5 * X[:, 1] + rng.normal(0.0, 0.3, N), 1.0, 5.0)
    return RandomForestRegressor(n_estimators=15, max_depth=6, random_state=0).fit(X, y), X


def churn_pipeline(rng: np.random.Generator) -> tuple[Pipeline, np.ndarray]:
    X = numeric(rng)
    y = (X[:, 1] - X[:, 2] > 0).astype(int)
    return Pipeline([("scale", StandardScaler()), ("logistic", LogisticRegression())]).fit(X, y), X


def segment_forest(rng: np.random.Generator) -> tuple[RandomForestClassifier, np.ndarray]:
    X = numeric(rng)
    y = np.array(["bargain", "loyal", "occasional"])[np.digitize(X[:, 0], [-0.5, 0.5])]
    return RandomForestClassifier(n_estimators=15, max_leaf_nodes=12, random_state=0).fit(X, y), X


def weighted_forest(rng: np.random.Generator) -> tuple[RandomForestClassifier, np.ndarray]:
    X = numeric(rng)
    y = (X[:, 3] > 0.8).astype(int)
    return RandomForestClassifier(n_estimators=5, class_weight={0: 1, 1: 4}, random_state=0).fit(X, y), X


def single_trees(rng: np.random.Generator) -> tuple[list, np.ndarray]:
    X = numeric(rng)
    classifier = Pipeline([("scale", StandardScaler()), ("tree", DecisionTreeClassifier(max_depth=4, random_state=0))])
    regressor = DecisionTreeRegressor(ccp_alpha=0.01, random_state=0)  # a pruned tree
    return [classifier.fit(X, X[:, 0] > 0), regressor.fit(X, X[:, 1])], X


MODELS = {
    "success pipeline": success_pipeline,
    "calibrated forest (isotonic)": calibrated_forest,
    "calibrated forest (sigmoid)": lambda rng: calibrated_forest(rng, method="sigmoid"),
    "satisfaction forest": satisfaction_forest,
    "churn pipeline": churn_pipeline,
    "segment forest": segment_forest,
    "class-weighted forest": weighted_forest,
}


def predictions(model, X) -> np.ndarray:
    return model.predict_proba(X) if hasattr(model, "predict_proba") else model.predict(X)


@pytest.mark.parametrize("name", list(MODELS))
def test_each_model_we_train_round_trips_with_identical_predictions(name):
    model, X = MODELS[name](np.random.default_rng(7))
    artifact = artifact_dump(model)
    loaded = artifact_load(artifact.data, sha256=artifact.sha256, versions=artifact.versions)
    assert type(loaded) is type(model)
    np.testing.assert_array_equal(predictions(loaded, X), predictions(model, X))
    np.testing.assert_array_equal(loaded.predict(X), model.predict(X))


def test_single_decision_trees_round_trip():
    models, X = single_trees(np.random.default_rng(8))
    for model in models:
        artifact = artifact_dump(model)
        loaded = artifact_load(artifact.data, sha256=artifact.sha256, versions=artifact.versions)
        np.testing.assert_array_equal(loaded.predict(X), model.predict(X))


def test_the_artifact_records_digest_and_versions():
    model, _ = churn_pipeline(np.random.default_rng(9))
    artifact = artifact_dump(model)
    assert isinstance(artifact, Artifact)
    assert artifact.sha256 == hashlib.sha256(artifact.data).hexdigest()
    assert artifact.versions == library_versions()
    assert artifact.versions["sklearn"] == sklearn.__version__
    assert set(artifact.versions) == {"sklearn", "skops", "numpy", "scipy"}
    with pytest.raises(dataclasses.FrozenInstanceError):
        artifact.sha256 = "0" * 64


# The allowlist ----------------------------------------------------------------------------------------


def test_trusted_types_are_exactly_what_our_models_contain():
    rng = np.random.default_rng(10)
    found: set[str] = set()
    for build in MODELS.values():
        model, _ = build(rng)
        found |= artifact_type_names(skops.io.dumps(model))
    for model in single_trees(rng)[0]:
        found |= artifact_type_names(skops.io.dumps(model))
    assert found == set(TRUSTED_TYPES)


@pytest.mark.parametrize("name", ESTIMATOR_TYPES)
def test_trusted_estimator_names_are_the_classes_skops_reports(name):
    module, _, qualname = name.rpartition(".")
    cls = getattr(importlib.import_module(module), qualname)
    assert f"{cls.__module__}.{cls.__qualname__}" == name


# Refusals ---------------------------------------------------------------------------------------------


def test_a_flipped_byte_is_refused_by_the_digest():
    model, _ = churn_pipeline(np.random.default_rng(11))
    artifact = artifact_dump(model)
    tampered = bytearray(artifact.data)
    tampered[len(tampered) // 2] ^= 0x01
    with pytest.raises(ArtifactRejected, match="digest mismatch"):
        artifact_load(bytes(tampered), sha256=artifact.sha256, versions=artifact.versions)


def test_a_malformed_digest_is_refused():
    model, _ = churn_pipeline(np.random.default_rng(12))
    artifact = artifact_dump(model)
    with pytest.raises(ArtifactRejected, match="sha256"):
        artifact_load(artifact.data, sha256="not-a-digest", versions=artifact.versions)


@pytest.mark.parametrize("library", ["sklearn", "skops"])
def test_a_version_mismatch_is_refused(library):
    model, _ = churn_pipeline(np.random.default_rng(13))
    artifact = artifact_dump(model)
    versions = {**artifact.versions, library: "0.0.1"}
    with pytest.raises(ArtifactRejected, match=f"version mismatch: saved with {library} '0.0.1'"):
        artifact_load(artifact.data, sha256=artifact.sha256, versions=versions)
    missing = {key: value for key, value in artifact.versions.items() if key != library}
    with pytest.raises(ArtifactRejected, match="version mismatch"):
        artifact_load(artifact.data, sha256=artifact.sha256, versions=missing)


def test_numpy_and_scipy_versions_are_recorded_but_not_enforced():
    model, X = churn_pipeline(np.random.default_rng(14))
    artifact = artifact_dump(model)
    versions = {**artifact.versions, "numpy": "1.0.0", "scipy": "1.0.0"}
    loaded = artifact_load(artifact.data, sha256=artifact.sha256, versions=versions)
    np.testing.assert_array_equal(loaded.predict(X), model.predict(X))


def untrusted_payloads() -> dict[str, object]:
    rng = np.random.default_rng(15)
    X = numeric(rng)
    y = (X[:, 0] > 0).astype(int)
    return {
        # skops trusts KNeighborsClassifier by default; our allowlist does not.
        "a default-trusted estimator outside our list": KNeighborsClassifier(algorithm="brute").fit(X, y),
        "a nearest-neighbours tree": KNeighborsClassifier(algorithm="kd_tree").fit(X, y),
        "a python function": Pipeline([("f", FunctionTransformer(_double)), ("lr", LogisticRegression())]).fit(X, y),
        "a numpy function": Pipeline([("f", FunctionTransformer(np.tanh)), ("lr", LogisticRegression())]).fit(X, y),
    }


def _double(x):
    return 2 * x


@pytest.mark.parametrize("name", list(untrusted_payloads()))
def test_an_untrusted_type_is_refused_even_with_the_right_digest(name):
    estimator = untrusted_payloads()[name]
    data = skops.io.dumps(estimator)  # what an attacker with write access to the blob and the row could store
    with pytest.raises(ArtifactRejected, match="untrusted types"):
        artifact_load(data, sha256=hashlib.sha256(data).hexdigest(), versions=library_versions())


def test_an_untrusted_model_is_refused_at_dump_time():
    estimator = untrusted_payloads()["a python function"]
    with pytest.raises(ArtifactRejected, match="untrusted types"):
        artifact_dump(estimator)


def test_a_container_that_is_not_an_estimator_is_refused():
    data = skops.io.dumps({"weights": np.arange(3.0)})  # every type in it is trusted, but it is not a model
    with pytest.raises(ArtifactRejected, match="not one of our estimators"):
        artifact_load(data, sha256=hashlib.sha256(data).hexdigest(), versions=library_versions())


def test_a_tree_with_out_of_range_nodes_is_refused():
    rng = np.random.default_rng(16)
    X = numeric(rng)
    tree = DecisionTreeClassifier(max_depth=3, random_state=0).fit(X, X[:, 0] > 0)
    state = tree.tree_.__getstate__()
    nodes = state["nodes"].copy()
    nodes["left_child"][0] = 10**6  # scikit-learn would read far outside the node array in predict
    tree.tree_.__setstate__({**state, "nodes": nodes})
    data = skops.io.dumps(tree)
    with pytest.raises(ArtifactRejected, match=r"malformed decision tree.*left child index out of range"):
        artifact_load(data, sha256=hashlib.sha256(data).hexdigest(), versions=library_versions())


@pytest.mark.parametrize(
    "data",
    [
        b"",
        b"definitely not a zip archive",
        bytes(np.random.default_rng(17).integers(0, 256, 4096, dtype=np.uint8)),
        b"PK\x03\x04" + b"\x00" * 64,
    ],
    ids=["empty", "text", "random", "zip-header"],
)
def test_garbage_with_its_correct_digest_is_refused_cleanly(data):
    with pytest.raises(ArtifactRejected, match="corrupt artifact"):
        artifact_load(data, sha256=hashlib.sha256(data).hexdigest(), versions=library_versions())


def zip_with(files: dict[str, bytes]) -> bytes:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        for name, content in files.items():
            archive.writestr(name, content)
    return buffer.getvalue()


@pytest.mark.parametrize(
    "data",
    [
        zip_with({"other.txt": b"x"}),
        zip_with({"schema.json": b"{not json"}),
        zip_with({"schema.json": b'{"__class__": "Pipeline"}'}),
        zip_with({"schema.json": b'{"__class__": "Pipeline", "__module__": "sklearn.pipeline", "protocol": 1}'}),
    ],
    ids=["no-schema", "bad-json", "no-module", "truncated-schema"],
)
def test_a_malformed_skops_archive_is_refused_cleanly(data):
    with pytest.raises(ArtifactRejected, match="corrupt artifact"):
        artifact_load(data, sha256=hashlib.sha256(data).hexdigest(), versions=library_versions())


def test_a_truncated_artifact_is_refused_cleanly():
    model, _ = success_pipeline(np.random.default_rng(18))
    data = artifact_dump(model).data[:-200]
    with pytest.raises(ArtifactRejected, match="corrupt artifact"):
        artifact_load(data, sha256=hashlib.sha256(data).hexdigest(), versions=library_versions())


def test_artifact_rejected_is_a_value_error():
    assert issubclass(ArtifactRejected, ValueError)


def test_skops_audits_again_behind_our_allowlist(monkeypatch):
    # Defence in depth: were our schema check to miss a type, skops's own audit still refuses it.
    monkeypatch.setattr("predictions.ml.artifacts._untrusted", lambda data: [])
    data = skops.io.dumps(untrusted_payloads()["a python function"])
    with pytest.raises(ArtifactRejected, match=r"untrusted types.*_double"):
        artifact_load(data, sha256=hashlib.sha256(data).hexdigest(), versions=library_versions())
