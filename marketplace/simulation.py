"""A simulated marketplace with a known hidden truth, for the demo, the tests and the benchmarks.

Framework-free and deterministic: `build_world(config)` draws manufacturers and customers from
`config.seed`, and `simulate_history(world)` plays `config.days` of orders with its own seeded stream.

The hidden truth of each customer:
- true factor weights, drawn around its segment's weights with log-normal heterogeneity (`heterogeneity`
  is the standard deviation of the log of each weight), and a decisiveness (`utility_scale`);
- an affinity for one region and against another (nearshoring, language, compliance);
- a walk-away bar (the outside option of the choice), a price and a quality sensitivity;
- an order rate (Poisson arrivals, gamma-distributed across customers) and a churn hazard that rises
  after bad experiences (walking away, a lost contract, a late delivery, a poor rating) and decays again.

A customer shown a list chooses by a multinomial logit on its true utility `scale * (w . x + affinity)`,
less `POSITION_BIAS * ln(position)`, against the outside option. Conversion, on-time delivery and
satisfaction follow how far the true match quality clears the customer's bar, the price against the price
sensitivity and the quality against the requirement. The engine never reads any of this: it sees only the
public catalog, the accounts, the orders, what was shown and what happened. `respond()` is the same choice
model, for closed-loop tests of the engine.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

import numpy as np

from marketplace import scoring
from marketplace.vocabulary import (
    CERTIFICATIONS,
    COMPLEXITY_LEVELS,
    COST_INDEX_MAX,
    COST_INDEX_MIN,
    FACTORS,
    INDUSTRIES,
    MATERIALS,
    PROCESS_MATERIALS,
    PROCESSES,
    REGION_COUNTRIES,
    REGIONS,
)

# Hidden mean factor weights of each segment over FACTORS (cost, quality, speed, reliability, proximity,
# capability depth). The engine must learn these from behaviour; it never reads them.
SEGMENT_TRUE_WEIGHTS: dict[str, np.ndarray] = {
    "quality_critical": np.array([0.06, 0.34, 0.08, 0.26, 0.06, 0.20]),
    "cost_sensitive": np.array([0.42, 0.10, 0.12, 0.16, 0.12, 0.08]),
    "speed_driven": np.array([0.08, 0.12, 0.44, 0.18, 0.10, 0.08]),
    "balanced": np.array([0.18, 0.20, 0.17, 0.20, 0.12, 0.13]),
}

INDUSTRY_SEGMENTS: dict[str, dict[str, float]] = {
    "aerospace": {"quality_critical": 0.8, "balanced": 0.2},
    "medical_devices": {"quality_critical": 0.75, "balanced": 0.25},
    "automotive": {"cost_sensitive": 0.5, "balanced": 0.3, "quality_critical": 0.2},
    "consumer_products": {"cost_sensitive": 0.7, "speed_driven": 0.2, "balanced": 0.1},
    "electronics": {"speed_driven": 0.45, "cost_sensitive": 0.3, "balanced": 0.25},
    "industrial_machinery": {"balanced": 0.6, "cost_sensitive": 0.25, "quality_critical": 0.15},
    "energy": {"quality_critical": 0.4, "balanced": 0.4, "cost_sensitive": 0.2},
    "robotics": {"speed_driven": 0.7, "balanced": 0.3},
}

INDUSTRY_PROCESSES: dict[str, tuple[str, ...]] = {
    "aerospace": ("cnc_machining", "casting", "sheet_metal", "3d_printing"),
    "medical_devices": ("cnc_machining", "injection_moulding", "3d_printing"),
    "automotive": ("casting", "sheet_metal", "injection_moulding", "cnc_machining"),
    "consumer_products": ("injection_moulding", "sheet_metal", "3d_printing"),
    "electronics": ("pcb_assembly", "injection_moulding", "sheet_metal"),
    "industrial_machinery": ("cnc_machining", "casting", "sheet_metal"),
    "energy": ("casting", "cnc_machining", "sheet_metal"),
    "robotics": ("3d_printing", "cnc_machining", "pcb_assembly"),
}

# Mean quality requirement and urgency of a segment's orders.
SEGMENT_QUALITY_NEED = {"quality_critical": 0.8, "cost_sensitive": 0.45, "speed_driven": 0.55, "balanced": 0.6}
SEGMENT_URGENCY = {"quality_critical": 0.4, "cost_sensitive": 0.35, "speed_driven": 0.8, "balanced": 0.5}
SIZE_VALUE_SCALE = {"small": 4_000.0, "medium": 12_000.0, "large": 35_000.0, "enterprise": 90_000.0}
SIZE_ORDER_RATE = {"small": 0.04, "medium": 0.07, "large": 0.1, "enterprise": 0.14}  # mean orders per day
MANUFACTURER_REGION_SHARE = {
    "east_asia": 0.28,
    "north_america": 0.18,
    "western_europe": 0.18,
    "central_eastern_europe": 0.1,
    "south_asia": 0.08,
    "southeast_asia": 0.09,
    "latin_america": 0.05,
    "middle_east_africa": 0.04,
}
REGION_COST_LEVEL = {
    "east_asia": -0.15,
    "north_america": 0.2,
    "western_europe": 0.25,
    "central_eastern_europe": 0.0,
    "south_asia": -0.25,
    "southeast_asia": -0.2,
    "latin_america": -0.05,
    "middle_east_africa": 0.0,
}
CUSTOMER_REGION_SHARE = {
    "north_america": 0.35,
    "western_europe": 0.3,
    "central_eastern_europe": 0.08,
    "east_asia": 0.1,
    "latin_america": 0.05,
    "south_asia": 0.04,
    "southeast_asia": 0.04,
    "middle_east_africa": 0.04,
}

NAME_STEMS = (
    "Nord",
    "Prae",
    "Atlas",
    "Vektor",
    "Helix",
    "Orion",
    "Kestrel",
    "Summit",
    "Delta",
    "Falcon",
    "Granite",
    "Meridian",
    "Apex",
    "Cobalt",
    "Vertex",
    "Pioneer",
    "Harbor",
    "Zenith",
    "Lumen",
    "Titan",
)
NAME_KINDS = (
    "Precision",
    "Works",
    "Fabrication",
    "Manufacturing",
    "Industries",
    "Components",
    "Tech",
    "Engineering",
    "Foundry",
    "Systems",
)
COMPANY_STEMS = (
    "Aero",
    "Medi",
    "Volt",
    "Axis",
    "Nimbus",
    "Quanta",
    "Boreal",
    "Cascade",
    "Ember",
    "Fjord",
    "Gamma",
    "Iris",
    "Juno",
    "Koru",
    "Lyra",
    "Mosaic",
    "Nova",
    "Onyx",
    "Polar",
    "Sable",
)
COMPANY_KINDS = (
    "Dynamics",
    "Labs",
    "Robotics",
    "Devices",
    "Motors",
    "Energy",
    "Instruments",
    "Group",
    "Technologies",
    "Mobility",
)

BAD_EXPERIENCE_HALF_LIFE_DAYS = 60.0
UTILITY_SCALE = 35.0  # median decisiveness of a customer's choice
UTILITY_SCALE_LOG_SD = 0.2
WALK_AWAY_MEAN_SD = (0.84, 0.04)  # the walk-away bar's normal, clipped to WALK_AWAY_RANGE
WALK_AWAY_RANGE = (0.65, 0.97)
AFFINITY_NOISE_SD = 0.01
AFFINITY_SHARE = 0.7  # of customers with a favoured and an avoided region
POSITION_BIAS = 1.0  # utility lost per e-fold of list position: buyers look at the top of a list more closely
REGION_AFFINITY = 0.12  # match quality gained (lost) at a manufacturer in the favoured (avoided) region
PRICE_SENSITIVITY_GAMMA = (4.0, 0.25)  # shape and scale of a customer's price (and quality) sensitivity
SENSITIVE_SEGMENT_FACTOR = 1.6  # the cost-sensitive segment's price and the quality-critical's quality sensitivity
CONVERSION_OFFSET = -3.0
CONVERSION_SLOPE = 45.0  # per unit of match quality above the customer's bar


@dataclass(frozen=True)
class WorldConfig:
    n_manufacturers: int = 500
    n_customers: int = 300
    days: int = 180
    seed: int = 42
    shown_per_order: int = 5  # how many manufacturers the historical platform showed per order
    heterogeneity: float = 1.25  # sd of log true weight around the segment's weight
    churn_sensitivity: float = 0.6  # log-hazard increase per (decayed) bad experience

    def __post_init__(self) -> None:
        if self.n_manufacturers < 1 or self.n_customers < 1 or self.days < 1:
            raise ValueError("a world needs at least one manufacturer, one customer and one day")
        if self.shown_per_order < 1:
            raise ValueError("shown_per_order must be at least 1")
        if self.heterogeneity < 0:
            raise ValueError("heterogeneity must be non-negative")


@dataclass(frozen=True)
class ManufacturerProfile:
    """The public attributes of a manufacturer, as the catalog holds them."""

    name: str
    country: str
    region: str
    latitude: float
    longitude: float
    processes: tuple[str, ...]
    materials: tuple[str, ...]
    certifications: tuple[str, ...]
    monthly_capacity: int
    current_load: int
    min_order_value: float
    cost_index: float
    quality_score: float
    avg_lead_time_days: float
    on_time_delivery_rate: float
    completed_orders: int
    is_active: bool


@dataclass(frozen=True)
class CustomerTruth:
    """A customer's public account fields and its hidden truth (everything after `segment`)."""

    company_name: str
    industry: str
    company_size: str
    region: str
    segment: str
    true_weights: tuple[float, ...]  # over FACTORS, summing to 1
    utility_scale: float  # decisiveness: the true utility is utility_scale * w . x
    region_affinity: tuple[float, ...]  # over REGIONS: added to the match quality of a manufacturer there
    walk_away_threshold: float  # the outside option's match quality, and the bar a contract must clear
    price_sensitivity: float
    quality_sensitivity: float
    order_rate: float  # orders per day while active
    base_churn_hazard: float  # daily churn probability with no bad experience
    processes: tuple[str, ...]  # what this company orders

    @property
    def weights(self) -> np.ndarray:
        return np.asarray(self.true_weights)


@dataclass(frozen=True, eq=False)
class World:
    config: WorldConfig
    manufacturers: tuple[ManufacturerProfile, ...]
    customers: tuple[CustomerTruth, ...]
    catalog: scoring.Catalog  # ids are 0..n-1 here; the loader maps them to database ids


@dataclass(frozen=True)
class Response:
    """What a customer did with a shown list, and the true probabilities behind it."""

    choice_probabilities: tuple[float, ...]  # walk away first, then each shown position
    chosen_position: int | None  # 0-based position in the shown list; None = walked away
    converted: bool | None
    p_convert: float | None
    contract_value: float | None
    delivered_on_time: bool | None
    p_on_time: float | None
    satisfaction: int | None
    expected_satisfaction: float | None
    time_to_match_hours: float | None

    @property
    def bad_experience(self) -> float:
        if self.chosen_position is None or not self.converted:
            return 0.25
        return float(self.delivered_on_time is False) + float(self.satisfaction is not None and self.satisfaction <= 2)


@dataclass(frozen=True)
class SimulatedOrder:
    customer: int  # index into world.customers
    day: float  # days since the start of the simulation
    order: scoring.OrderContext
    strategy: str
    propensity: float  # probability with which the logging policy picked this strategy
    shown: tuple[int, ...]  # catalog rows, best first
    shown_features: tuple[tuple[float, ...], ...]
    shown_scores: tuple[float, ...]
    eligible_count: int
    response: Response
    bad_experience_score: float  # the customer's decayed bad-experience score after this order


@dataclass(frozen=True)
class History:
    orders: tuple[SimulatedOrder, ...]
    churn_day: tuple[float | None, ...] = field(default=())  # per customer; None = still active at the end


def _choice(rng: np.random.Generator, options: dict[str, float]) -> str:
    keys = list(options)
    probabilities = np.asarray([options[k] for k in keys], dtype=float)
    return keys[int(rng.choice(len(keys), p=probabilities / probabilities.sum()))]


def _name(rng: np.random.Generator, stems: tuple[str, ...], kinds: tuple[str, ...], serial: int) -> str:
    return f"{stems[int(rng.integers(len(stems)))]}{kinds[int(rng.integers(len(kinds)))]} {serial:04d}"


def _draw_manufacturer(rng: np.random.Generator, serial: int) -> ManufacturerProfile:
    region = _choice(rng, MANUFACTURER_REGION_SHARE)
    _, lat, lon = REGIONS[region]
    n_processes = int(rng.choice([1, 2, 3], p=[0.5, 0.35, 0.15]))
    processes = tuple(sorted(rng.choice(list(PROCESSES), size=n_processes, replace=False).tolist()))
    workable = sorted({m for p in processes for m in PROCESS_MATERIALS[p]})
    keep = rng.random(len(workable)) < 0.7
    keep[int(rng.integers(len(workable)))] = True
    materials = tuple(m for m, k in zip(workable, keep) if k)
    quality = float(np.clip(rng.beta(2.5, 1.5), 0.05, 0.99))
    certification_odds = {
        "iso_9001": 0.4 + 0.5 * quality,
        "as9100": 0.25 * quality,
        "iso_13485": 0.2 * quality,
        "iatf_16949": 0.18,
        "itar": 0.3 if region == "north_america" else 0.0,
        "iso_14001": 0.3,
    }
    certifications = tuple(c for c in CERTIFICATIONS if rng.random() < certification_odds[c])
    speediness = float(rng.uniform(0.0, 1.0))  # express shops are faster and dearer: a cost/speed frontier
    cost = 0.4 + 0.8 * quality + 0.45 * speediness + REGION_COST_LEVEL[region] + rng.normal(0, 0.15)
    lead = (6.0 if "3d_printing" in processes else 16.0) * math.exp(-1.4 * (speediness - 0.5)) * rng.lognormal(0, 0.25)
    on_time = float(np.clip(0.6 + 0.3 * quality + rng.normal(0, 0.12), 0.3, 0.995))
    capacity = int(rng.lognormal(math.log(20_000), 0.8)) + 200
    return ManufacturerProfile(
        name=_name(rng, NAME_STEMS, NAME_KINDS, serial),
        country=str(rng.choice(REGION_COUNTRIES[region])),
        region=region,
        latitude=float(np.clip(lat + rng.normal(0, 4.0), -85, 85)),
        longitude=float(((lon + rng.normal(0, 6.0) + 180) % 360) - 180),
        processes=processes,
        materials=materials,
        certifications=certifications,
        monthly_capacity=capacity,
        current_load=int(capacity * rng.uniform(0.1, 0.95)),
        min_order_value=float(rng.choice([0, 250, 1000, 2500, 10_000], p=[0.35, 0.25, 0.2, 0.12, 0.08])),
        cost_index=round(float(np.clip(cost, COST_INDEX_MIN, COST_INDEX_MAX)), 3),
        quality_score=round(quality, 3),
        avg_lead_time_days=round(float(np.clip(lead, 1.0, 120.0)), 1),
        on_time_delivery_rate=round(on_time, 3),
        completed_orders=int(rng.poisson(40)),
        is_active=bool(rng.random() < 0.95),
    )


def _draw_region_affinity(rng: np.random.Generator) -> tuple[float, ...]:
    """Most buying companies trust one region more (nearshoring, language, compliance) and one less."""
    affinity = rng.normal(0.0, AFFINITY_NOISE_SD, len(REGIONS))
    favoured, avoided = rng.choice(len(REGIONS), size=2, replace=False)
    if rng.random() < AFFINITY_SHARE:
        affinity[favoured] += REGION_AFFINITY
        affinity[avoided] -= REGION_AFFINITY
    return tuple(round(float(a), 6) for a in affinity)


def _draw_customer(rng: np.random.Generator, serial: int, heterogeneity: float) -> CustomerTruth:
    industry = str(rng.choice(list(INDUSTRIES)))
    segment = _choice(rng, INDUSTRY_SEGMENTS[industry])
    size = _choice(rng, {"small": 0.35, "medium": 0.35, "large": 0.2, "enterprise": 0.1})
    raw = SEGMENT_TRUE_WEIGHTS[segment] * np.exp(rng.normal(0.0, heterogeneity, len(FACTORS)))
    weights = raw / raw.sum()
    processes = INDUSTRY_PROCESSES[industry]
    n_processes = int(rng.integers(1, len(processes) + 1))
    return CustomerTruth(
        company_name=_name(rng, COMPANY_STEMS, COMPANY_KINDS, serial),
        industry=industry,
        company_size=size,
        region=_choice(rng, CUSTOMER_REGION_SHARE),
        segment=segment,
        true_weights=tuple(round(float(w), 6) for w in weights),
        utility_scale=float(rng.lognormal(math.log(UTILITY_SCALE), UTILITY_SCALE_LOG_SD)),
        region_affinity=_draw_region_affinity(rng),
        walk_away_threshold=float(np.clip(rng.normal(*WALK_AWAY_MEAN_SD), *WALK_AWAY_RANGE)),
        price_sensitivity=float(
            rng.gamma(*PRICE_SENSITIVITY_GAMMA) * (SENSITIVE_SEGMENT_FACTOR if segment == "cost_sensitive" else 1.0)
        ),
        quality_sensitivity=float(
            rng.gamma(*PRICE_SENSITIVITY_GAMMA) * (SENSITIVE_SEGMENT_FACTOR if segment == "quality_critical" else 1.0)
        ),
        order_rate=float(rng.gamma(3.0, SIZE_ORDER_RATE[size] / 3.0)),
        base_churn_hazard=float(rng.lognormal(math.log(1 / 2000), 0.5)),
        processes=tuple(sorted(rng.choice(processes, size=n_processes, replace=False).tolist())),
    )


def catalog_from_profiles(
    profiles: tuple[ManufacturerProfile, ...] | list[ManufacturerProfile],
    ids: np.ndarray | None = None,
    version: str = "",
) -> scoring.Catalog:
    """The scoring catalog of a list of manufacturer profiles (ids default to 0..n-1)."""
    n = len(profiles)

    def mask(vocabulary: dict[str, str], attribute: str) -> np.ndarray:
        index = {code: i for i, code in enumerate(vocabulary)}
        out = np.zeros((n, len(vocabulary)), dtype=bool)
        for row, profile in enumerate(profiles):
            out[row, [index[c] for c in getattr(profile, attribute)]] = True
        return out

    def column(attribute: str, dtype: type = float) -> np.ndarray:
        return np.fromiter((getattr(p, attribute) for p in profiles), dtype=dtype, count=n)

    return scoring.Catalog(
        ids=np.arange(n, dtype=np.int64) if ids is None else np.asarray(ids, dtype=np.int64),
        names=tuple(p.name for p in profiles),
        region=np.fromiter((scoring.REGION_INDEX[p.region] for p in profiles), dtype=np.int64, count=n),
        latitude=column("latitude"),
        longitude=column("longitude"),
        process_mask=mask(PROCESSES, "processes"),
        material_mask=mask(MATERIALS, "materials"),
        certification_mask=mask(CERTIFICATIONS, "certifications"),
        monthly_capacity=column("monthly_capacity"),
        current_load=column("current_load"),
        min_order_value=column("min_order_value"),
        cost_index=column("cost_index"),
        quality_score=column("quality_score"),
        lead_time_days=column("avg_lead_time_days"),
        on_time_rate=column("on_time_delivery_rate"),
        active=column("is_active", bool),
        countries=tuple(p.country for p in profiles),
        completed_orders=column("completed_orders"),
        version=version,
    )


def build_world(config: WorldConfig) -> World:
    rng = np.random.default_rng([config.seed, 1])
    manufacturers = tuple(_draw_manufacturer(rng, i + 1) for i in range(config.n_manufacturers))
    customers = tuple(_draw_customer(rng, i + 1, config.heterogeneity) for i in range(config.n_customers))
    return World(config, manufacturers, customers, catalog_from_profiles(manufacturers))


def draw_order(rng: np.random.Generator, customer: CustomerTruth) -> scoring.OrderContext:
    """An order of this customer: its processes, its segment's quality need and urgency, its size's value."""
    process = str(rng.choice(customer.processes))
    complexity = str(rng.choice(list(COMPLEXITY_LEVELS), p=[0.3, 0.35, 0.25, 0.1]))
    quality_need = SEGMENT_QUALITY_NEED[customer.segment]
    urgency = SEGMENT_URGENCY[customer.segment]
    value = SIZE_VALUE_SCALE[customer.company_size] * (1 + COMPLEXITY_LEVELS[complexity]) * rng.lognormal(0, 0.6)
    return scoring.OrderContext(
        process=process,
        material=str(rng.choice(PROCESS_MATERIALS[process])),
        quantity=int(max(1, rng.lognormal(math.log(300), 1.2))),
        complexity_level=complexity,
        estimated_value=round(float(value), 2),
        quality_requirements=round(float(rng.beta(8 * quality_need, 8 * (1 - quality_need))), 3),
        timeline_urgency=round(float(rng.beta(4 * urgency, 4 * (1 - urgency))), 3),
        delivery_region=customer.region if rng.random() < 0.9 else str(rng.choice(list(REGIONS))),
    )


def true_utility(customer: CustomerTruth, features: np.ndarray, regions: np.ndarray) -> np.ndarray:
    """The true match quality of each option: `w . x` plus the customer's affinity to the option's region."""
    return np.asarray(features) @ customer.weights + np.asarray(customer.region_affinity)[np.asarray(regions)]


def choice_probabilities(customer: CustomerTruth, features: np.ndarray, regions: np.ndarray) -> np.ndarray:
    """Multinomial logit over [walk away, option 1, ..., option k]: the true utility of each option, less
    POSITION_BIAS * ln(position) for where the list showed it (the options are given best first)."""
    match_quality = true_utility(customer, features, regions)
    utilities = customer.utility_scale * np.concatenate(([customer.walk_away_threshold], match_quality))
    utilities[1:] -= POSITION_BIAS * np.log(np.arange(1, len(match_quality) + 1))
    utilities -= utilities.max()
    weights = np.exp(utilities)
    return weights / weights.sum()


def _sigmoid(x: float) -> float:
    return 1.0 / (1.0 + math.exp(-x))


def conversion_probability(customer: CustomerTruth, match_quality: float, cost_index: float) -> float:
    """P(contract signed | chosen): steep in how far the true match clears the customer's bar; lowered by
    price for the price-sensitive."""
    margin = match_quality - customer.walk_away_threshold
    return _sigmoid(CONVERSION_OFFSET + CONVERSION_SLOPE * margin - customer.price_sensitivity * (cost_index - 1.0))


def on_time_probability(order: scoring.OrderContext, on_time_rate: float, reliability_feature: float) -> float:
    """The manufacturer's on-time rate, lowered by overload (through the reliability factor) and complexity."""
    overload_penalty = reliability_feature / max(on_time_rate, 1e-9)
    return float(np.clip(on_time_rate * overload_penalty * (1 - 0.08 * order.complexity), 0.01, 0.995))


SATISFACTION_NOISE_SD = 0.6


def satisfaction_mean(
    customer: CustomerTruth, order: scoring.OrderContext, match_quality: float, quality_score: float, on_time: bool
) -> float:
    """The latent satisfaction before rounding to 1..5."""
    quality_gap = quality_score - order.quality_requirements
    return (
        2.6
        + 8.0 * (match_quality - customer.walk_away_threshold)
        + 1.5 * customer.quality_sensitivity * quality_gap
        + (0.4 if on_time else -1.2)
    )


def _normal_cdf(x: float) -> float:
    return 0.5 * (1.0 + math.erf(x / math.sqrt(2.0)))


def expected_rounded_score(mean: float, sd: float = SATISFACTION_NOISE_SD) -> float:
    """E[clip(round(mean + N(0, sd)), 1, 5)], exactly."""
    expected = 0.0
    for score in range(1, 6):
        upper = 1.0 if score == 5 else _normal_cdf((score + 0.5 - mean) / sd)
        lower = 0.0 if score == 1 else _normal_cdf((score - 0.5 - mean) / sd)
        expected += score * (upper - lower)
    return expected


def respond(
    rng: np.random.Generator, world: World, customer_index: int, order: scoring.OrderContext, shown_rows: np.ndarray
) -> Response:
    """What the customer does with the shown catalog rows (best first), by the hidden truth."""
    customer = world.customers[customer_index]
    catalog = world.catalog
    shown_rows = np.asarray(shown_rows, dtype=np.int64)
    features = scoring.factor_features(catalog, order, shown_rows)
    regions = catalog.region[shown_rows]
    probabilities = choice_probabilities(customer, features, regions)
    pick = int(rng.choice(len(probabilities), p=probabilities))
    if pick == 0:
        return Response(tuple(float(p) for p in probabilities), None, None, None, None, None, None, None, None, None)
    position = pick - 1
    row = int(shown_rows[position])
    match_quality = float(
        true_utility(customer, features[position : position + 1], regions[position : position + 1])[0]
    )
    p_convert = conversion_probability(customer, match_quality, float(catalog.cost_index[row]))
    converted = bool(rng.random() < p_convert)
    hours = float(rng.lognormal(math.log(20.0) + 0.6 * order.complexity, 0.7))
    if not converted:
        return Response(
            tuple(float(p) for p in probabilities), position, False, p_convert, None, None, None, None, None, hours
        )
    p_on_time = on_time_probability(order, float(catalog.on_time_rate[row]), float(features[position, 3]))
    on_time = bool(rng.random() < p_on_time)
    quality = float(catalog.quality_score[row])
    expected = p_on_time * expected_rounded_score(satisfaction_mean(customer, order, match_quality, quality, True)) + (
        1 - p_on_time
    ) * expected_rounded_score(satisfaction_mean(customer, order, match_quality, quality, False))
    latent = satisfaction_mean(customer, order, match_quality, quality, on_time) + rng.normal(0, SATISFACTION_NOISE_SD)
    satisfaction = int(np.clip(round(latent), 1, 5))
    contract_value = round(order.estimated_value * float(catalog.cost_index[row]) * float(rng.lognormal(0, 0.1)), 2)
    return Response(
        tuple(float(p) for p in probabilities),
        position,
        True,
        p_convert,
        contract_value,
        on_time,
        p_on_time,
        satisfaction,
        expected,
        hours,
    )


def simulate_history(world: World, *, strategies: tuple[str, ...] = tuple(scoring.STRATEGIES)) -> History:
    """Play `config.days` days: orders arrive, the logging policy (a base strategy drawn uniformly at random,
    so its propensity is known) shows its top `shown_per_order`, customers respond and may churn."""
    config = world.config
    rng = np.random.default_rng([config.seed, 2])
    decay = math.log(2) / BAD_EXPERIENCE_HALF_LIFE_DAYS
    events: list[tuple[float, int]] = []
    for index, customer in enumerate(world.customers):
        day = float(rng.exponential(1 / customer.order_rate))
        while day < config.days:
            events.append((day, index))
            day += float(rng.exponential(1 / customer.order_rate))
    events.sort()

    bad_score = np.zeros(len(world.customers))
    last_update = np.zeros(len(world.customers))
    churn_day: list[float | None] = [None] * len(world.customers)

    def churns_before(index: int, day: float) -> bool:
        """Churn between the customer's last event and `day`? Daily hazard h0 * exp(sensitivity * bad), bad
        decaying since the last event. Records the churn day."""
        elapsed = day - last_update[index]
        mean_bad = (
            bad_score[index] * (1 - math.exp(-decay * elapsed)) / (decay * elapsed) if elapsed > 0 else bad_score[index]
        )
        hazard = world.customers[index].base_churn_hazard * math.exp(config.churn_sensitivity * mean_bad)
        if rng.random() < 1 - math.exp(-hazard * elapsed):
            churn_day[index] = float(last_update[index] + rng.uniform(0, elapsed))
            return True
        return False

    orders: list[SimulatedOrder] = []
    for day, index in events:
        customer = world.customers[index]
        if churn_day[index] is not None or churns_before(index, day):
            continue
        elapsed = day - last_update[index]
        bad_score[index] *= math.exp(-decay * elapsed)
        last_update[index] = day

        order = draw_order(rng, customer)
        strategy = strategies[int(rng.integers(len(strategies)))]
        ranking = scoring.rank(world.catalog, order, scoring.STRATEGIES[strategy], limit=config.shown_per_order)
        if ranking.rows.size == 0:
            continue  # nobody can make it: the platform shows nothing and the order is not recorded
        response = respond(rng, world, index, order, ranking.rows)
        bad_score[index] += response.bad_experience
        orders.append(
            SimulatedOrder(
                customer=index,
                day=day,
                order=order,
                strategy=strategy,
                propensity=1.0 / len(strategies),
                shown=tuple(int(r) for r in ranking.rows),
                shown_features=tuple(tuple(round(float(v), 6) for v in row) for row in ranking.features),
                shown_scores=tuple(round(float(s), 6) for s in ranking.scores),
                eligible_count=ranking.eligible_count,
                response=response,
                bad_experience_score=float(bad_score[index]),
            )
        )
    # The hazard runs on after a customer's last order too: churn may come before the end with no order to show it.
    for index in range(len(world.customers)):
        if churn_day[index] is None:
            churns_before(index, float(config.days))
    return History(tuple(orders), tuple(churn_day))
