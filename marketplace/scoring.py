"""Base ranking of manufacturers for an order: hard filters, factor features, strategy weights.

Framework-free and vectorised with numpy over the whole catalog. The catalog is a struct of arrays built
once from the database (see `marketplace.selectors.catalog_get`); an order is a frozen dataclass. Every
score is the dot product of a factor vector in [0, 1]^6 with a weight vector summing to 1, so it
decomposes exactly into per-factor contributions, which is what explains a rank.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

import numpy as np

from marketplace.vocabulary import (
    CERTIFICATIONS,
    COMPLEXITY_LEVELS,
    COST_INDEX_MAX,
    COST_INDEX_MIN,
    FACTOR_LABELS,
    FACTORS,
    MATERIALS,
    PROCESSES,
    REGIONS,
)

PROCESS_INDEX = {code: i for i, code in enumerate(PROCESSES)}
MATERIAL_INDEX = {code: i for i, code in enumerate(MATERIALS)}
CERTIFICATION_INDEX = {code: i for i, code in enumerate(CERTIFICATIONS)}
REGION_INDEX = {code: i for i, code in enumerate(REGIONS)}
N_FACTORS = len(FACTORS)

EARTH_RADIUS_KM = 6371.0
PROXIMITY_SCALE_KM = 4000.0  # proximity = exp(-distance / scale): 0.61 at 2,000 km, 0.08 at 10,000 km
UTILISATION_SAFE = 0.8  # above this share of monthly capacity, on-time delivery starts to suffer
CERTIFICATIONS_FOR_FULL_DEPTH = 3

# Strategy weight vectors over FACTORS (cost, quality, speed, reliability, proximity, capability depth).
STRATEGIES: dict[str, np.ndarray] = {
    "balanced": np.array([0.20, 0.20, 0.20, 0.20, 0.10, 0.10]),
    "quality_focused": np.array([0.10, 0.40, 0.10, 0.25, 0.05, 0.10]),
    "cost_focused": np.array([0.45, 0.15, 0.10, 0.15, 0.10, 0.05]),
    "speed_focused": np.array([0.10, 0.15, 0.45, 0.15, 0.10, 0.05]),
}
for _weights in STRATEGIES.values():
    _weights.setflags(write=False)

GOAL_STRATEGY: dict[str, str] = {
    "balanced": "balanced",
    "quality": "quality_focused",
    "cost": "cost_focused",
    "speed": "speed_focused",
}


@dataclass(frozen=True, eq=False)
class Catalog:
    """All manufacturers as parallel arrays (row i of every array is the same manufacturer)."""

    ids: np.ndarray  # int64
    names: tuple[str, ...]
    region: np.ndarray  # int, index into REGIONS
    latitude: np.ndarray
    longitude: np.ndarray
    process_mask: np.ndarray  # bool (n, len(PROCESSES))
    material_mask: np.ndarray  # bool (n, len(MATERIALS))
    certification_mask: np.ndarray  # bool (n, len(CERTIFICATIONS))
    monthly_capacity: np.ndarray
    current_load: np.ndarray
    min_order_value: np.ndarray
    cost_index: np.ndarray
    quality_score: np.ndarray
    lead_time_days: np.ndarray
    on_time_rate: np.ndarray
    active: np.ndarray  # bool
    countries: tuple[str, ...] = ()
    completed_orders: np.ndarray | None = None  # track record; zeros when not given
    version: str = ""
    position: dict[int, int] = field(default_factory=dict)  # manufacturer id -> row

    def __post_init__(self) -> None:
        n = len(self.ids)
        for name in (
            "region",
            "latitude",
            "longitude",
            "monthly_capacity",
            "current_load",
            "min_order_value",
            "cost_index",
            "quality_score",
            "lead_time_days",
            "on_time_rate",
            "active",
        ):
            if len(getattr(self, name)) != n:
                raise ValueError(f"catalog array {name} has {len(getattr(self, name))} rows, expected {n}")
        if len(self.names) != n or self.process_mask.shape[0] != n:
            raise ValueError("catalog names and masks must have one row per manufacturer")
        if not self.position:
            object.__setattr__(self, "position", {int(m): i for i, m in enumerate(self.ids)})
        if self.completed_orders is None:
            object.__setattr__(self, "completed_orders", np.zeros(n))

    def __len__(self) -> int:
        return len(self.ids)


@dataclass(frozen=True)
class OrderContext:
    process: str
    quantity: int
    complexity_level: str
    estimated_value: float
    quality_requirements: float
    timeline_urgency: float
    delivery_region: str
    material: str | None = None

    def __post_init__(self) -> None:
        if self.process not in PROCESS_INDEX:
            raise ValueError(f"unknown process {self.process!r}")
        if self.material is not None and self.material not in MATERIAL_INDEX:
            raise ValueError(f"unknown material {self.material!r}")
        if self.complexity_level not in COMPLEXITY_LEVELS:
            raise ValueError(f"unknown complexity level {self.complexity_level!r}")
        if self.delivery_region not in REGION_INDEX:
            raise ValueError(f"unknown region {self.delivery_region!r}")
        if self.quantity < 1:
            raise ValueError("quantity must be at least 1")
        if not (math.isfinite(self.estimated_value) and self.estimated_value > 0):
            raise ValueError("estimated_value must be a positive finite number")
        for name in ("quality_requirements", "timeline_urgency"):
            value = getattr(self, name)
            if not (math.isfinite(value) and 0.0 <= value <= 1.0):
                raise ValueError(f"{name} must be within [0, 1]")

    @property
    def complexity(self) -> float:
        return COMPLEXITY_LEVELS[self.complexity_level]


@dataclass(frozen=True)
class CandidateFilters:
    """Filters a customer may add to the hard ones: certifications required, manufacturers excluded."""

    required_certifications: tuple[str, ...] = ()
    excluded_ids: tuple[int, ...] = ()
    max_lead_time_days: float | None = None


@dataclass(frozen=True, eq=False)
class Ranking:
    """The top of a ranking: catalog rows best first, their scores, features and contributions."""

    rows: np.ndarray  # int, rows of the catalog
    scores: np.ndarray  # (k,)
    features: np.ndarray  # (k, N_FACTORS)
    contributions: np.ndarray  # (k, N_FACTORS); each row sums to the score
    eligible_count: int


def eligible_mask(catalog: Catalog, order: OrderContext, filters: CandidateFilters = CandidateFilters()) -> np.ndarray:
    """Hard filters: active, capable of the process, capacity headroom, minimum order value."""
    mask = catalog.active & catalog.process_mask[:, PROCESS_INDEX[order.process]]
    mask &= (catalog.monthly_capacity - catalog.current_load) >= order.quantity
    mask &= catalog.min_order_value <= order.estimated_value
    for code in filters.required_certifications:
        mask &= catalog.certification_mask[:, CERTIFICATION_INDEX[code]]
    if filters.excluded_ids:
        mask &= ~np.isin(catalog.ids, np.asarray(filters.excluded_ids, dtype=np.int64))
    if filters.max_lead_time_days is not None:
        mask &= catalog.lead_time_days <= filters.max_lead_time_days
    return mask


def haversine_km(lat1: np.ndarray, lon1: np.ndarray, lat2: float, lon2: float) -> np.ndarray:
    phi1, phi2 = np.radians(lat1), math.radians(lat2)
    dphi = phi2 - phi1
    dlambda = math.radians(lon2) - np.radians(lon1)
    a = np.sin(dphi / 2) ** 2 + np.cos(phi1) * math.cos(phi2) * np.sin(dlambda / 2) ** 2
    return 2 * EARTH_RADIUS_KM * np.arcsin(np.sqrt(np.clip(a, 0.0, 1.0)))


def target_lead_time_days(urgency: float) -> float:
    """The lead time an order can live with: 40 days when not urgent, 5 days when most urgent."""
    return 40.0 - 35.0 * urgency


def factor_features(catalog: Catalog, order: OrderContext, rows: np.ndarray | None = None) -> np.ndarray:
    """Factor vectors in [0, 1] for the given catalog rows (all rows when None), shape (m, N_FACTORS).

    - cost_fit: the price level, 1 at the cheapest cost index and 0 at the dearest.
    - quality_fit: the quality score, less 1.5 times any shortfall against the order's requirement.
    - speed_fit: a logistic fit of the lead time (longer for complex work) to the target that urgency sets.
    - reliability: the on-time rate, reduced when taking the order would push utilisation past 80 %.
    - proximity: exp(-distance to the delivery region / 4,000 km).
    - capability_depth: material supported (0.45), certifications (0.25), specialisation (0.30).
    """
    idx = slice(None) if rows is None else rows
    quality = catalog.quality_score[idx]
    lead = catalog.lead_time_days[idx] * (1.0 + 0.3 * order.complexity)
    capacity = catalog.monthly_capacity[idx]

    cost_fit = (COST_INDEX_MAX - catalog.cost_index[idx]) / (COST_INDEX_MAX - COST_INDEX_MIN)
    quality_fit = quality - 1.5 * np.maximum(0.0, order.quality_requirements - quality)
    target = target_lead_time_days(order.timeline_urgency)
    speed_fit = 1.0 / (1.0 + np.exp((lead - target) / (0.25 * target + 2.0)))
    utilisation = (catalog.current_load[idx] + order.quantity) / np.maximum(capacity, 1.0)
    overload = np.clip((utilisation - UTILISATION_SAFE) / (1.0 - UTILISATION_SAFE), 0.0, 1.0)
    reliability = catalog.on_time_rate[idx] * (1.0 - 0.4 * overload)
    _, lat, lon = REGIONS[order.delivery_region]
    proximity = np.exp(-haversine_km(catalog.latitude[idx], catalog.longitude[idx], lat, lon) / PROXIMITY_SCALE_KM)
    if order.material is None:
        material_supported = np.ones(len(quality))
    else:
        material_supported = catalog.material_mask[idx, MATERIAL_INDEX[order.material]].astype(float)
    certifications = np.minimum(catalog.certification_mask[idx].sum(axis=1) / CERTIFICATIONS_FOR_FULL_DEPTH, 1.0)
    specialisation = 1.0 / np.sqrt(np.maximum(catalog.process_mask[idx].sum(axis=1), 1))
    capability_depth = 0.45 * material_supported + 0.25 * certifications + 0.30 * specialisation

    features = np.column_stack([cost_fit, quality_fit, speed_fit, reliability, proximity, capability_depth])
    return np.clip(features, 0.0, 1.0)


def normalise_weights(weights: np.ndarray) -> np.ndarray:
    weights = np.asarray(weights, dtype=float)
    if weights.shape != (N_FACTORS,) or not np.all(np.isfinite(weights)) or np.any(weights < 0):
        raise ValueError(f"weights must be {N_FACTORS} finite non-negative numbers")
    total = weights.sum()
    if total <= 0:
        raise ValueError("weights must not all be zero")
    return weights / total


@dataclass(frozen=True, eq=False)
class Scored:
    """Every eligible manufacturer of an order with its factor features and score."""

    rows: np.ndarray  # int, rows of the catalog
    features: np.ndarray  # (m, N_FACTORS)
    scores: np.ndarray  # (m,): features @ weights, plus the boost of each row when one was given


def score_eligible(
    catalog: Catalog,
    order: OrderContext,
    weights: np.ndarray,
    *,
    filters: CandidateFilters = CandidateFilters(),
    boost: np.ndarray | None = None,
) -> Scored:
    """Scores of all eligible rows: `features @ normalised weights`, plus `boost[row]` (a per-row adjustment
    beyond the factors, such as a customer's learnt region effect) when given."""
    weights = normalise_weights(weights)
    eligible = np.flatnonzero(eligible_mask(catalog, order, filters))
    features = factor_features(catalog, order, eligible) if eligible.size else np.empty((0, N_FACTORS))
    scores = features @ weights
    if boost is not None and eligible.size:
        scores = scores + np.asarray(boost, dtype=float)[eligible]
    return Scored(rows=eligible, features=features, scores=scores)


def top_k(scores: np.ndarray, rows: np.ndarray, k: int) -> np.ndarray:
    """Positions of the k best scores, best first, ties broken by catalog row."""
    k = max(0, min(k, scores.size))
    if k < scores.size:
        # Keep every row tied with the k-th best score (argpartition splits ties arbitrarily), then sort.
        kth_best = -np.partition(-scores, k - 1)[k - 1] if k > 0 else np.inf
        top = np.flatnonzero(scores >= kth_best)
    else:
        top = np.arange(scores.size)
    return top[np.lexsort((rows[top], -scores[top]))][:k]


def rank(
    catalog: Catalog,
    order: OrderContext,
    weights: np.ndarray,
    *,
    limit: int = 10,
    filters: CandidateFilters = CandidateFilters(),
) -> Ranking:
    """The `limit` best eligible manufacturers by `features @ weights`, ties broken by catalog row."""
    weights = normalise_weights(weights)
    scored = score_eligible(catalog, order, weights, filters=filters)
    if scored.rows.size == 0:
        empty = np.empty((0, N_FACTORS))
        return Ranking(np.empty(0, dtype=np.int64), np.empty(0), empty, empty, 0)
    top = top_k(scored.scores, scored.rows, limit)
    return Ranking(
        rows=scored.rows[top],
        scores=scored.scores[top],
        features=scored.features[top],
        contributions=scored.features[top] * weights,
        eligible_count=int(scored.rows.size),
    )


def explain(contributions: np.ndarray, rank_position: int) -> str:
    """One line: the two factors that contributed most to this item's score, with their shares."""
    total = float(contributions.sum())
    if total <= 0:
        return f"Ranked #{rank_position}: no factor stands out."
    order = np.argsort(-contributions, kind="stable")[:2]
    parts = [f"{FACTOR_LABELS[FACTORS[i]]} ({100 * contributions[i] / total:.0f}%)" for i in order]
    return f"Ranked #{rank_position} mainly for {' and '.join(parts)}."
