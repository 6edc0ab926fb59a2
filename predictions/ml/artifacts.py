"""Safe storage of fitted scikit-learn models: skops bytes, a sha256 digest, the library versions, an allowlist.

Framework-free (standard library, numpy, scipy, scikit-learn, skops). pickle and joblib run code when they
load, so models are stored with skops (0.16), which rebuilds objects from a JSON schema and refuses types
it does not trust. `artifact_load` refuses, with `ArtifactRejected` (a `ValueError`) and a reason:

1. bytes whose sha256 differs from the recorded digest (tampered or corrupted);
2. an artifact saved by another scikit-learn or skops version (numpy and scipy versions are recorded
   for diagnosis but not enforced);
3. any type outside `TRUSTED_TYPES`. skops trusts every public scikit-learn estimator by default and
   adds `trusted=` to those defaults, so on its own it would load, say, a KNeighborsClassifier. We
   therefore read the skops schema first and require every type in it to be in `TRUSTED_TYPES`, then
   let skops audit again with `trusted=list(TRUSTED_TYPES)`;
4. bytes that are not a valid skops archive, or whose top object is not a scikit-learn estimator;
5. decision trees with out-of-range node indices. `sklearn.tree._tree.Tree` (inside every forest) is
   not trusted by skops by default because scikit-learn indexes its node arrays without bounds checks:
   a crafted file loads and then crashes the process in `predict`. We need it, so we trust it and check
   every loaded tree's structure before returning the model.

The digest protects only if it is stored apart from the bytes (the registry row), where whoever can
replace the blob cannot also rewrite it.

`TRUSTED_TYPES` was found empirically with scikit-learn 1.9.1 and skops 0.16.0: each estimator our
training uses was fitted on small seeded data, dumped with `skops.io.dumps`, and every type named in the
dump's schema was collected (the tests repeat this and require the union to equal `TRUSTED_TYPES`).
skops names types by their defining module (`sklearn.compose._column_transformer.ColumnTransformer`, not
`sklearn.compose.ColumnTransformer`). Of these, skops's `get_untrusted_types` reports only `numpy.dtype`,
`sklearn.tree._tree.Tree`, `sklearn.calibration._CalibratedClassifier` and
`sklearn.calibration._SigmoidCalibration`; the rest are skops defaults that we narrow to what we use.
Not trusted on purpose: `FunctionTransformer` (which `ColumnTransformer(remainder="passthrough")` stores,
and which can name any function), every other estimator, and numpy scalar types we never produce.
"""

from __future__ import annotations

import hashlib
import hmac
import io
import json
import zipfile
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from typing import Any

import numpy as np
import scipy
import sklearn
import skops
import skops.io
from sklearn.base import BaseEstimator
from sklearn.tree._tree import Tree
from skops.io.exceptions import UntrustedTypesFoundException

# The estimators our training builds (the top object and every nested step must be one of these).
ESTIMATOR_TYPES: tuple[str, ...] = (
    "sklearn.pipeline.Pipeline",
    "sklearn.compose._column_transformer.ColumnTransformer",
    "sklearn.preprocessing._data.StandardScaler",
    "sklearn.preprocessing._encoders.OneHotEncoder",
    "sklearn.impute._base.SimpleImputer",
    "sklearn.ensemble._forest.RandomForestClassifier",
    "sklearn.ensemble._forest.RandomForestRegressor",
    "sklearn.tree._classes.DecisionTreeClassifier",
    "sklearn.tree._classes.DecisionTreeRegressor",
    "sklearn.linear_model._logistic.LogisticRegression",
    "sklearn.calibration.CalibratedClassifierCV",
    "sklearn.isotonic.IsotonicRegression",
    "sklearn.frozen._frozen.FrozenEstimator",
)

# Fitted internals of those estimators.
_SKLEARN_INTERNAL_TYPES: tuple[str, ...] = (
    "sklearn.tree._tree.Tree",  # the node arrays of every decision tree; structure-checked after loading
    "sklearn.calibration._CalibratedClassifier",  # CalibratedClassifierCV.calibrated_classifiers_
    "sklearn.calibration._SigmoidCalibration",  # the calibrator of method="sigmoid"
)

# Arrays, the dtype SimpleImputer keeps (`_fit_dtype`), scalars (StandardScaler.n_samples_seen_,
# IsotonicRegression.X_min_, ...) and OneHotEncoder's dtype parameter (np.float64).
_NUMPY_TYPES: tuple[str, ...] = ("numpy.ndarray", "numpy.dtype", "numpy.float64", "numpy.int64")

# Containers and JSON leaves; builtins.int is the key type of a class_weight dict such as {0: 1, 1: 3},
# builtins.slice is ColumnTransformer.output_indices_.
_BUILTIN_TYPES: tuple[str, ...] = (
    "builtins.dict",
    "builtins.list",
    "builtins.tuple",
    "builtins.str",
    "builtins.int",
    "builtins.slice",
)

TRUSTED_TYPES: tuple[str, ...] = ESTIMATOR_TYPES + _SKLEARN_INTERNAL_TYPES + _NUMPY_TYPES + _BUILTIN_TYPES

_TRUSTED = frozenset(TRUSTED_TYPES)
_SCHEMA_FILE = "schema.json"
_ENFORCED_VERSIONS = ("sklearn", "skops")
_TREE_LEAF = -1
_TREE_UNDEFINED = -2


class ArtifactRejected(ValueError):
    """The stored model must not be loaded; the message says why."""


@dataclass(frozen=True)
class Artifact:
    """A fitted model as skops bytes, their sha256 (hex) and the library versions at save time."""

    data: bytes
    sha256: str
    versions: dict[str, str]


def library_versions() -> dict[str, str]:
    """The running versions that an artifact records: sklearn, skops, numpy, scipy."""
    return {
        "sklearn": sklearn.__version__,
        "skops": skops.__version__,
        "numpy": np.__version__,
        "scipy": scipy.__version__,
    }


def _schema_types(node: Any) -> Iterator[str]:
    """Every `module.class` named by a node of a skops schema (nested at any depth)."""
    if isinstance(node, dict):
        if "__module__" in node or "__class__" in node or "__loader__" in node:
            module, name = node.get("__module__"), node.get("__class__")
            if not isinstance(module, str) or not isinstance(name, str):
                raise ArtifactRejected(f"corrupt artifact: a schema node has no type ({module!r}, {name!r})")
            yield f"{module}.{name}"
        for value in node.values():
            yield from _schema_types(value)
    elif isinstance(node, list):
        for value in node:
            yield from _schema_types(value)


def artifact_type_names(data: bytes) -> frozenset[str]:
    """The fully-qualified names of all types in skops bytes, read from the schema without loading."""
    try:
        with zipfile.ZipFile(io.BytesIO(data)) as archive:
            schema = json.loads(archive.read(_SCHEMA_FILE))
    except (zipfile.BadZipFile, KeyError, ValueError, OSError, EOFError, RuntimeError) as exc:
        raise ArtifactRejected(f"corrupt artifact: not a skops archive ({type(exc).__name__}: {exc})") from exc
    return frozenset(_schema_types(schema))


def _untrusted(data: bytes) -> list[str]:
    return sorted(artifact_type_names(data) - _TRUSTED)


def artifact_dump(estimator: BaseEstimator) -> Artifact:
    """Serialise a fitted estimator with skops; refuses (ArtifactRejected) what `artifact_load` would refuse."""
    if not isinstance(estimator, BaseEstimator):
        raise ArtifactRejected(f"estimator must be a scikit-learn estimator, got {type(estimator).__name__}")
    data = skops.io.dumps(estimator)
    untrusted = _untrusted(data)
    if untrusted:
        raise ArtifactRejected(f"refusing to store a model that could not be loaded: untrusted types {untrusted}")
    return Artifact(data=data, sha256=hashlib.sha256(data).hexdigest(), versions=library_versions())


def _check_digest(data: bytes, sha256: str) -> None:
    if not isinstance(sha256, str) or len(sha256) != 64 or any(c not in "0123456789abcdef" for c in sha256.lower()):
        raise ArtifactRejected(f"sha256 must be 64 hexadecimal characters, got {sha256!r}")
    actual = hashlib.sha256(data).hexdigest()
    if not hmac.compare_digest(actual, sha256.lower()):
        raise ArtifactRejected(f"digest mismatch: the bytes hash to {actual}, the record says {sha256.lower()}")


def _check_versions(versions: Mapping[str, str]) -> None:
    if not isinstance(versions, Mapping):
        raise ArtifactRejected(f"versions must be a mapping, got {type(versions).__name__}")
    running = library_versions()
    for library in _ENFORCED_VERSIONS:
        recorded = versions.get(library)
        if recorded != running[library]:
            raise ArtifactRejected(
                f"version mismatch: saved with {library} {recorded!r}, running {running[library]}; retrain the model"
            )


def _tree_problem(tree: Tree) -> str | None:
    """Why a tree's node arrays are unsafe to predict with, or None when they are consistent."""
    count = tree.node_count
    left, right, feature = tree.children_left, tree.children_right, tree.feature
    if count < 1 or not (len(left) == len(right) == len(feature) == count):
        return f"{count} nodes but arrays of lengths {len(left)}, {len(right)}, {len(feature)}"
    if tree.value.shape[0] != count:
        return f"{count} nodes but {tree.value.shape[0]} value rows"
    leaf = left == _TREE_LEAF
    if not np.array_equal(leaf, right == _TREE_LEAF):
        return "a node with exactly one child"
    index = np.arange(count)
    split = ~leaf
    # scikit-learn's builders append children after their parent, so child ids exceed the parent's: no cycles.
    if np.any((left[split] <= index[split]) | (left[split] >= count)):
        return "a left child index out of range"
    if np.any((right[split] <= index[split]) | (right[split] >= count)):
        return "a right child index out of range"
    if np.any((feature[split] < 0) | (feature[split] >= tree.n_features)):
        return "a split on a feature index out of range"
    if np.any(feature[leaf] != _TREE_UNDEFINED):
        return "a leaf with a split feature"
    return None


def _trees(obj: Any, seen: set[int]) -> Iterator[Tree]:
    """Every decision tree reachable from a loaded model (estimators, steps, calibrators, containers)."""
    if id(obj) in seen:
        return
    seen.add(id(obj))
    if isinstance(obj, Tree):
        yield obj
    elif isinstance(obj, dict):
        for value in obj.values():
            yield from _trees(value, seen)
    elif isinstance(obj, list | tuple):
        for value in obj:
            yield from _trees(value, seen)
    elif isinstance(obj, np.ndarray):
        if obj.dtype == object:
            for value in obj.ravel():
                yield from _trees(value, seen)
    elif hasattr(obj, "__dict__") and type(obj).__module__.startswith("sklearn."):
        yield from _trees(vars(obj), seen)


def artifact_load(data: bytes, *, sha256: str, versions: Mapping[str, str]) -> BaseEstimator:
    """The estimator stored in `data`, or ArtifactRejected saying why it must not be loaded."""
    if not isinstance(data, bytes | bytearray | memoryview):
        raise ArtifactRejected(f"data must be bytes, got {type(data).__name__}")
    data = bytes(data)
    _check_digest(data, sha256)
    _check_versions(versions)
    untrusted = _untrusted(data)
    if untrusted:
        raise ArtifactRejected(f"untrusted types in the artifact: {untrusted}")
    try:
        estimator = skops.io.loads(data, trusted=list(TRUSTED_TYPES))
    except UntrustedTypesFoundException as exc:
        raise ArtifactRejected(f"untrusted types in the artifact: {exc}") from exc
    except Exception as exc:  # any failure to decode is a refusal, never a crash of the caller
        raise ArtifactRejected(f"corrupt artifact: skops could not load it ({type(exc).__name__}: {exc})") from exc
    estimator_type = f"{type(estimator).__module__}.{type(estimator).__qualname__}"
    if not isinstance(estimator, BaseEstimator) or estimator_type not in ESTIMATOR_TYPES:
        raise ArtifactRejected(f"the artifact holds a {estimator_type}, not one of our estimators")
    for tree in _trees(estimator, set()):
        problem = _tree_problem(tree)
        if problem is not None:
            raise ArtifactRejected(f"malformed decision tree in the artifact: {problem}")
    return estimator
