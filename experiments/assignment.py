"""Deterministic assignment of units (customers) to experiment variants: hashing, bucket ranges, namespaces.

Framework-free (standard library only). The formulas follow GrowthBook's SDKs, so that an assignment can be
checked against them:

- `fnv1a32(text)`: FNV-1a 32-bit over the UTF-8 bytes of `text`. For ASCII text (our unit ids and seeds)
  this equals GrowthBook's `hashFnv32a`; for other characters GrowthBook's JavaScript SDK hashes UTF-16
  code units instead of bytes, so there the two may differ.
- `hash_unit(seed, unit_id)`: GrowthBook's hash v2, `fnv1a32(str(fnv1a32(seed + unit_id))) % 10000 / 10000`,
  a value in [0, 1) with a resolution of 1e-4 (so weights and coverage act in steps of 1e-4). Hashing the
  decimal string of the first hash removes the bias of v1 on sequential ids.
- `hash_unit_v1(seed, unit_id)`: GrowthBook's original hash v1, `fnv1a32(unit_id + seed) % 1000 / 1000`
  (note the reversed order and 1000 buckets), kept only to reproduce legacy GrowthBook assignments.
- `bucket_ranges(weights, coverage)`: GrowthBook's `getBucketRanges`. Variant i gets
  `[start_i, start_i + coverage * weight_i)` where `start_i` is the cumulative sum of the weights before it
  (not of `coverage * weight`). Growing the coverage only extends each range to the right, so a unit that
  was in the experiment stays in the same variant (a ramp never moves a unit to another variant).
- `choose_variant(ranges, n)`: the index of the range holding `n` (start inclusive, end exclusive), or None
  when `n` falls in none of them (the unit is outside the coverage).
- Namespaces make experiments mutually exclusive: a `Namespace(name, start, end)` is a range of [0, 1), and
  a unit is eligible for the experiment only when `hash_unit(name + "__namespace", unit_id)` lies in
  `[start, end)`. Experiments given disjoint ranges of one namespace never share a unit.

Salts: the variant (and coverage) hash is salted with the experiment seed; the namespace hash with the
namespace name and the suffix `"__namespace"`. The two hashes of a unit are therefore independent: which
share of a namespace an experiment owns does not bias its split between variants. (GrowthBook's own
namespace check uses the v1 hash of `unit_id + "__" + name`; ours uses v2 for its finer, unbiased buckets,
so namespace membership is ours, not GrowthBook's.) An experiment seed must not itself end in
`"__namespace"`, or its variant hash could coincide with a namespace's.

Stickiness is the caller's job: the first assignment is stored and wins afterwards; these functions only
say what the assignment is for the configuration given.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from numbers import Real

__all__ = [
    "WEIGHT_SUM_TOLERANCE",
    "Assignment",
    "BucketRange",
    "Namespace",
    "assign",
    "bucket_ranges",
    "choose_variant",
    "fnv1a32",
    "hash_unit",
    "hash_unit_v1",
    "in_namespace",
    "namespace_hash",
]

# The weights of an experiment must sum to 1 within this tolerance.
WEIGHT_SUM_TOLERANCE = 1e-9

_FNV_OFFSET_BASIS = 0x811C9DC5
_FNV_PRIME = 0x01000193
_MASK_32 = 0xFFFFFFFF
_NAMESPACE_SALT = "__namespace"

BucketRange = tuple[float, float]


def fnv1a32(text: str) -> int:
    """The FNV-1a 32-bit hash of the UTF-8 bytes of `text` (Fowler, Noll, Vo), as an int in [0, 2**32)."""
    h = _FNV_OFFSET_BASIS
    for byte in text.encode():
        h = ((h ^ byte) * _FNV_PRIME) & _MASK_32
    return h


def hash_unit(seed: str, unit_id: str) -> float:
    """GrowthBook's hash v2 of a unit under a seed: `fnv1a32(str(fnv1a32(seed + unit_id))) % 10000 / 10000`."""
    return fnv1a32(str(fnv1a32(seed + unit_id))) % 10000 / 10000


def hash_unit_v1(seed: str, unit_id: str) -> float:
    """GrowthBook's legacy hash v1: `fnv1a32(unit_id + seed) % 1000 / 1000`, biased on sequential ids.

    Only for reproducing assignments made with v1; `assign` uses `hash_unit` (v2).
    """
    return fnv1a32(unit_id + seed) % 1000 / 1000


def _check_weights(weights: Sequence[float]) -> None:
    if isinstance(weights, str) or not isinstance(weights, Sequence):
        raise ValueError(f"weights must be a sequence of numbers, got {weights!r}")
    if len(weights) < 2:
        raise ValueError(f"an experiment needs at least two variants, got {len(weights)} weight(s)")
    for index, weight in enumerate(weights):
        if isinstance(weight, bool) or not isinstance(weight, Real) or not math.isfinite(weight):
            raise ValueError(f"weight {index} must be a finite number, got {weight!r}")
        if weight < 0:
            raise ValueError(f"weight {index} must be non-negative, got {weight!r}")
    total = math.fsum(weights)
    if abs(total - 1.0) > WEIGHT_SUM_TOLERANCE:
        raise ValueError(
            f"weights must sum to 1 (within {WEIGHT_SUM_TOLERANCE:g}), got {total!r} from {list(weights)!r}"
        )


def _check_coverage(coverage: float) -> None:
    if isinstance(coverage, bool) or not isinstance(coverage, Real) or not 0 <= coverage <= 1:
        raise ValueError(f"coverage must be a number in [0, 1], got {coverage!r}")


def bucket_ranges(weights: Sequence[float], coverage: float = 1.0) -> tuple[BucketRange, ...]:
    """The range of [0, 1) of each variant: `[start_i, start_i + coverage * weight_i)`.

    `start_i` is the sum of the weights before variant i, whatever the coverage, so growing the coverage
    only extends ranges. Raises ValueError for fewer than two variants, weights that are negative, not
    finite or do not sum to 1 (within `WEIGHT_SUM_TOLERANCE`), and a coverage outside [0, 1].
    """
    _check_weights(weights)
    _check_coverage(coverage)
    ranges = []
    start = 0.0
    for weight in weights:
        ranges.append((start, start + coverage * weight))
        start += weight
    return tuple(ranges)


def choose_variant(ranges: Sequence[BucketRange], n: float) -> int | None:
    """The index of the range with `start <= n < end`, or None when `n` is in no range (outside coverage)."""
    for index, (start, end) in enumerate(ranges):
        if start <= n < end:
            return index
    return None


@dataclass(frozen=True)
class Namespace:
    """A share `[start, end)` of the namespace `name`; experiments with disjoint shares never share a unit."""

    name: str
    start: float
    end: float

    def __post_init__(self) -> None:
        if not isinstance(self.name, str) or not self.name:
            raise ValueError(f"a namespace needs a non-empty name, got {self.name!r}")
        for label, value in (("start", self.start), ("end", self.end)):
            if isinstance(value, bool) or not isinstance(value, Real) or not 0 <= value <= 1:
                raise ValueError(f"namespace {label} must be a number in [0, 1], got {value!r}")
        if self.start >= self.end:
            raise ValueError(f"namespace start must be below its end, got [{self.start!r}, {self.end!r})")


def namespace_hash(name: str, unit_id: str) -> float:
    """The position of a unit in a namespace: `hash_unit(name + "__namespace", unit_id)`."""
    return hash_unit(name + _NAMESPACE_SALT, unit_id)


def in_namespace(unit_id: str, namespace: Namespace) -> bool:
    """Whether the unit's position in the namespace lies in `[namespace.start, namespace.end)`."""
    return namespace.start <= namespace_hash(namespace.name, unit_id) < namespace.end


@dataclass(frozen=True)
class Assignment:
    """The variant a unit is assigned to, and the hash value in [0, 1) that chose it."""

    variant: int
    hash_value: float


def _check_identifier(label: str, value: object) -> None:
    if not isinstance(value, str) or not value:
        raise ValueError(f"{label} must be a non-empty string, got {value!r}")


def assign(
    *,
    experiment_seed: str,
    unit_id: str,
    weights: Sequence[float],
    coverage: float = 1.0,
    namespace: Namespace | None = None,
) -> Assignment | None:
    """Assign a unit to a variant, or None when it is not in the experiment.

    A unit is out when it falls outside the experiment's share of its namespace (if any) or outside the
    coverage. Otherwise the variant is `choose_variant(bucket_ranges(weights, coverage), hash_unit(seed, id))`.
    Raises ValueError for an empty seed or unit id and for invalid weights or coverage (see `bucket_ranges`).
    """
    _check_identifier("experiment_seed", experiment_seed)
    _check_identifier("unit_id", unit_id)
    ranges = bucket_ranges(weights, coverage)
    if namespace is not None and not in_namespace(unit_id, namespace):
        return None
    n = hash_unit(experiment_seed, unit_id)
    variant = choose_variant(ranges, n)
    if variant is None:
        return None
    return Assignment(variant=variant, hash_value=n)
