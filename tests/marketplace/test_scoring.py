"""The base ranking without a database: hard filters, factor features, strategy weights, explanations."""

import dataclasses
import math

import numpy as np
import pytest

from marketplace import scoring
from marketplace.scoring import CandidateFilters, OrderContext
from marketplace.simulation import ManufacturerProfile, WorldConfig, build_world, catalog_from_profiles, draw_order
from marketplace.vocabulary import COST_INDEX_MAX, COST_INDEX_MIN, FACTORS, REGIONS

COST = FACTORS.index("cost_fit")
QUALITY = FACTORS.index("quality_fit")
SPEED = FACTORS.index("speed_fit")
RELIABILITY = FACTORS.index("reliability")
PROXIMITY = FACTORS.index("proximity")
DEPTH = FACTORS.index("capability_depth")
_, WE_LAT, WE_LON = REGIONS["western_europe"]


def make_profile(**overrides) -> ManufacturerProfile:
    """A capable, active CNC shop at the Western European centroid; override what the test is about."""
    fields = {
        "name": "Shop",
        "country": "DE",
        "region": "western_europe",
        "latitude": WE_LAT,
        "longitude": WE_LON,
        "processes": ("cnc_machining",),
        "materials": ("aluminium",),
        "certifications": ("iso_9001",),
        "monthly_capacity": 10_000,
        "current_load": 1_000,
        "min_order_value": 0.0,
        "cost_index": 1.0,
        "quality_score": 0.8,
        "avg_lead_time_days": 14.0,
        "on_time_delivery_rate": 0.9,
        "completed_orders": 10,
        "is_active": True,
    }
    fields.update(overrides)
    return ManufacturerProfile(**fields)


def make_order(**overrides) -> OrderContext:
    fields = {
        "process": "cnc_machining",
        "quantity": 100,
        "complexity_level": "moderate",
        "estimated_value": 5_000.0,
        "quality_requirements": 0.6,
        "timeline_urgency": 0.5,
        "delivery_region": "western_europe",
        "material": "aluminium",
    }
    fields.update(overrides)
    return OrderContext(**fields)


def features_of(*profiles: ManufacturerProfile, order: OrderContext | None = None) -> np.ndarray:
    return scoring.factor_features(catalog_from_profiles(profiles), order or make_order())


# Hard filters


@pytest.mark.parametrize(
    ("overrides", "filters"),
    [
        pytest.param({"is_active": False}, CandidateFilters(), id="inactive"),
        pytest.param({"processes": ("casting",)}, CandidateFilters(), id="process-not-offered"),
        pytest.param({"monthly_capacity": 1_000, "current_load": 901}, CandidateFilters(), id="headroom-99-of-100"),
        pytest.param({"min_order_value": 5_000.01}, CandidateFilters(), id="min-order-value-above-estimate"),
        pytest.param(
            {"certifications": ("iso_9001",)},
            CandidateFilters(required_certifications=("as9100",)),
            id="missing-certification",
        ),
        pytest.param(
            {"certifications": ("iso_9001",)},
            CandidateFilters(required_certifications=("iso_9001", "iso_13485")),
            id="one-of-two-certifications",
        ),
        pytest.param({"avg_lead_time_days": 21.0}, CandidateFilters(max_lead_time_days=20.0), id="lead-time-too-long"),
    ],
)
def test_hard_filter_excludes_only_the_failing_manufacturer(overrides, filters):
    passing = make_profile(certifications=("iso_9001", "iso_13485", "as9100"))
    failing = dataclasses.replace(passing, **overrides)
    catalog = catalog_from_profiles([passing, failing])

    mask = scoring.eligible_mask(catalog, make_order(), filters)
    ranking = scoring.rank(catalog, make_order(), scoring.STRATEGIES["balanced"], filters=filters)

    assert mask.tolist() == [True, False]
    assert ranking.rows.tolist() == [0]
    assert ranking.eligible_count == 1


@pytest.mark.parametrize(
    ("overrides", "filters"),
    [
        pytest.param(
            {"monthly_capacity": 1_000, "current_load": 900}, CandidateFilters(), id="headroom-equals-quantity"
        ),
        pytest.param({"min_order_value": 5_000.0}, CandidateFilters(), id="min-order-value-equals-estimate"),
        pytest.param({"avg_lead_time_days": 20.0}, CandidateFilters(max_lead_time_days=20.0), id="lead-time-at-limit"),
        pytest.param(
            {"certifications": ("iso_13485", "iso_9001")},
            CandidateFilters(required_certifications=("iso_9001", "iso_13485")),
            id="all-certifications-held",
        ),
    ],
)
def test_hard_filter_boundaries_are_inclusive(overrides, filters):
    catalog = catalog_from_profiles([make_profile(**overrides)])

    assert scoring.eligible_mask(catalog, make_order(quantity=100), filters).tolist() == [True]


def test_excluded_ids_are_matched_against_manufacturer_ids_not_rows():
    catalog = catalog_from_profiles([make_profile(), make_profile(), make_profile()], ids=np.array([101, 102, 103]))

    mask = scoring.eligible_mask(catalog, make_order(), CandidateFilters(excluded_ids=(102, 1)))

    assert mask.tolist() == [True, False, True]


def test_headroom_counts_the_current_load_not_just_the_capacity():
    big_but_busy = make_profile(monthly_capacity=50_000, current_load=49_950)
    small_but_idle = make_profile(monthly_capacity=200, current_load=0)

    mask = scoring.eligible_mask(catalog_from_profiles([big_but_busy, small_but_idle]), make_order(quantity=100))

    assert mask.tolist() == [False, True]


# Features


def test_every_feature_is_within_unit_interval_on_a_random_catalog_and_orders():
    world = build_world(WorldConfig(n_manufacturers=300, n_customers=40, seed=11))
    rng = np.random.default_rng(5)
    extremes = [
        make_order(timeline_urgency=1.0, quality_requirements=1.0, complexity_level="highly_complex", material=None),
        make_order(timeline_urgency=0.0, quality_requirements=0.0, complexity_level="simple", quantity=10**6),
    ]
    orders = [draw_order(rng, world.customers[i % 40]) for i in range(200)] + extremes

    for order in orders:
        features = scoring.factor_features(world.catalog, order)
        assert features.shape == (len(world.catalog), len(FACTORS))
        assert np.all((features >= 0.0) & (features <= 1.0)), order


def test_features_of_selected_rows_equal_those_rows_of_the_full_catalog():
    world = build_world(WorldConfig(n_manufacturers=80, n_customers=1, seed=3))
    order = draw_order(np.random.default_rng(1), world.customers[0])
    rows = np.array([5, 0, 79, 33])

    np.testing.assert_allclose(
        scoring.factor_features(world.catalog, order, rows), scoring.factor_features(world.catalog, order)[rows]
    )


def test_cost_fit_is_one_at_the_cheapest_cost_index_and_zero_at_the_dearest():
    features = features_of(
        make_profile(cost_index=COST_INDEX_MIN), make_profile(cost_index=1.25), make_profile(cost_index=COST_INDEX_MAX)
    )

    np.testing.assert_allclose(features[:, COST], [1.0, 0.5, 0.0])


def test_quality_fit_penalises_a_shortfall_against_the_requirement():
    order = make_order(quality_requirements=0.8)

    features = features_of(make_profile(quality_score=0.9), make_profile(quality_score=0.6), order=order)

    # Above the requirement the fit is the quality itself; below it, 1.5 times the shortfall is deducted.
    np.testing.assert_allclose(features[:, QUALITY], [0.9, 0.6 - 1.5 * 0.2])


def test_quality_fit_prefers_higher_quality_below_and_above_the_requirement():
    qualities = [0.3, 0.5, 0.7, 0.75, 0.85, 0.95]

    fit = features_of(*(make_profile(quality_score=q) for q in qualities), order=make_order(quality_requirements=0.75))

    assert np.all(np.diff(fit[:, QUALITY]) > 0)


def test_speed_fit_decreases_with_lead_time():
    lead_times = [1.0, 3.0, 7.0, 14.0, 30.0, 60.0]

    fit = features_of(*(make_profile(avg_lead_time_days=d) for d in lead_times))

    assert np.all(np.diff(fit[:, SPEED]) < 0)


def test_speed_fit_is_lower_for_complex_work_with_the_same_lead_time():
    shop = make_profile(avg_lead_time_days=14.0)

    simple = features_of(shop, order=make_order(complexity_level="simple"))[0, SPEED]
    complex_ = features_of(shop, order=make_order(complexity_level="highly_complex"))[0, SPEED]

    assert complex_ < simple


def test_urgent_orders_favour_faster_shops():
    fast_dear = make_profile(avg_lead_time_days=3.0, cost_index=1.6)
    slow_cheap = make_profile(avg_lead_time_days=30.0, cost_index=1.0)
    catalog = catalog_from_profiles([fast_dear, slow_cheap])
    relaxed, urgent = make_order(timeline_urgency=0.0), make_order(timeline_urgency=1.0)

    relaxed_speed = scoring.factor_features(catalog, relaxed)[:, SPEED]
    urgent_speed = scoring.factor_features(catalog, urgent)[:, SPEED]
    balanced = scoring.STRATEGIES["balanced"]

    assert urgent_speed[0] - urgent_speed[1] > relaxed_speed[0] - relaxed_speed[1] > 0
    assert scoring.rank(catalog, relaxed, balanced).rows.tolist() == [1, 0]
    assert scoring.rank(catalog, urgent, balanced).rows.tolist() == [0, 1]


def test_haversine_matches_a_quarter_of_the_earths_circumference():
    distance = scoring.haversine_km(np.array([0.0, 0.0]), np.array([0.0, 90.0]), 0.0, 0.0)

    np.testing.assert_allclose(distance, [0.0, math.pi / 2 * scoring.EARTH_RADIUS_KM])


def test_proximity_decreases_with_distance_from_the_delivery_region():
    shops = [make_profile(latitude=WE_LAT, longitude=WE_LON + offset) for offset in (0.0, 5.0, 20.0, 60.0, 120.0)]

    proximity = features_of(*shops)[:, PROXIMITY]

    assert proximity[0] == pytest.approx(1.0)
    assert np.all(np.diff(proximity) < 0)
    km = scoring.haversine_km(np.array([WE_LAT]), np.array([WE_LON + 60.0]), WE_LAT, WE_LON)[0]
    assert proximity[3] == pytest.approx(math.exp(-km / scoring.PROXIMITY_SCALE_KM))


def test_overload_lowers_reliability_past_80_percent_utilisation():
    # Capacity 1,000 and an order of 100: utilisation after the order is 0.5, 0.8, 0.9 and 1.0.
    loads = [400, 700, 800, 900]

    reliability = features_of(
        *(make_profile(monthly_capacity=1_000, current_load=load, on_time_delivery_rate=0.9) for load in loads)
    )[:, RELIABILITY]

    np.testing.assert_allclose(reliability, [0.9, 0.9, 0.9 * (1 - 0.4 * 0.5), 0.9 * (1 - 0.4)])


def test_capability_depth_rewards_the_material_certifications_and_specialisation():
    specialist = make_profile(certifications=("iso_9001", "as9100", "iso_14001"))
    generalist = make_profile(
        processes=("cnc_machining", "casting", "sheet_metal", "3d_printing"), certifications=("iso_9001", "as9100")
    )
    wrong_material = make_profile(materials=("titanium",), certifications=())

    depth = features_of(specialist, generalist, wrong_material)[:, DEPTH]

    np.testing.assert_allclose(depth, [0.45 + 0.25 + 0.30, 0.45 + 0.25 * 2 / 3 + 0.30 / 2, 0.30])


# Ranking


def test_contributions_sum_to_the_score_of_every_ranked_item():
    world = build_world(WorldConfig(n_manufacturers=200, n_customers=20, seed=4))
    rng = np.random.default_rng(9)
    for i in range(30):
        order = draw_order(rng, world.customers[i % 20])
        weights = rng.dirichlet(np.ones(len(FACTORS)))
        ranking = scoring.rank(world.catalog, order, weights, limit=10)

        np.testing.assert_allclose(ranking.contributions.sum(axis=1), ranking.scores, rtol=0, atol=1e-12)
        np.testing.assert_array_equal(ranking.contributions, ranking.features * scoring.normalise_weights(weights))


def brute_force_rank(catalog, order, weights, limit, filters=CandidateFilters()):
    eligible = np.flatnonzero(scoring.eligible_mask(catalog, order, filters))
    scores = scoring.factor_features(catalog, order, eligible) @ (np.asarray(weights) / np.sum(weights))
    ordered = sorted(range(eligible.size), key=lambda i: (-scores[i], eligible[i]))
    return [int(eligible[i]) for i in ordered[:limit]]


def test_rank_equals_a_brute_force_full_sort_with_ties_broken_by_catalog_row():
    world = build_world(WorldConfig(n_manufacturers=300, n_customers=30, seed=21))
    # Every third manufacturer appears twice, so exact ties occur, also at the cut-off of the top.
    profiles = list(world.manufacturers) + list(world.manufacturers[::3])
    catalog = catalog_from_profiles(profiles)
    rng = np.random.default_rng(13)
    tied_tops = 0
    for i in range(60):
        order = draw_order(rng, world.customers[i % 30])
        weights = rng.dirichlet(np.ones(len(FACTORS))) * 3.0  # rank normalises the weights itself
        limit = int(rng.choice([1, 3, 5, 10, 25]))

        ranking = scoring.rank(catalog, order, weights, limit=limit)

        expected = brute_force_rank(catalog, order, weights, limit)
        assert ranking.rows.tolist() == expected
        tied_tops += len(set(np.round(ranking.scores, 12))) < len(ranking.scores)
    assert tied_tops > 0  # the ties were really exercised


def test_equal_scores_at_the_cut_off_keep_the_earliest_catalog_rows():
    catalog = catalog_from_profiles([make_profile()] * 1_000)

    ranking = scoring.rank(catalog, make_order(), scoring.STRATEGIES["balanced"], limit=3)

    assert len(set(scoring.factor_features(catalog, make_order()) @ scoring.STRATEGIES["balanced"])) == 1
    assert ranking.rows.tolist() == [0, 1, 2]


def test_limit_larger_than_the_eligible_set_returns_every_eligible_manufacturer_best_first():
    catalog = catalog_from_profiles(
        [make_profile(quality_score=0.7), make_profile(is_active=False), make_profile(quality_score=0.95)]
    )

    ranking = scoring.rank(catalog, make_order(), scoring.STRATEGIES["quality_focused"], limit=50)

    assert ranking.rows.tolist() == [2, 0]
    assert ranking.eligible_count == 2
    assert ranking.scores[0] > ranking.scores[1]
    assert ranking.features.shape == ranking.contributions.shape == (2, len(FACTORS))


def test_rank_of_an_order_nobody_can_make_is_empty():
    catalog = catalog_from_profiles([make_profile(processes=("casting",)), make_profile(is_active=False)])

    ranking = scoring.rank(catalog, make_order(), scoring.STRATEGIES["balanced"])

    assert ranking.eligible_count == 0
    assert ranking.rows.shape == ranking.scores.shape == (0,)
    assert ranking.features.shape == ranking.contributions.shape == (0, len(FACTORS))


# Strategies and weights


def test_strategies_are_read_only_weight_vectors_summing_to_one():
    for name, weights in scoring.STRATEGIES.items():
        assert weights.shape == (len(FACTORS),), name
        assert np.all(weights > 0), name
        assert weights.sum() == pytest.approx(1.0), name
        with pytest.raises(ValueError, match="read-only"):
            weights[0] = 0.5
    assert set(scoring.GOAL_STRATEGY.values()) == set(scoring.STRATEGIES)


def test_quality_focused_prefers_the_dear_excellent_shop_and_cost_focused_the_cheap_poor_one():
    dear_excellent = make_profile(cost_index=1.8, quality_score=0.95)
    cheap_poor = make_profile(cost_index=0.6, quality_score=0.45)
    catalog = catalog_from_profiles([dear_excellent, cheap_poor])
    order = make_order(quality_requirements=0.6)

    assert scoring.rank(catalog, order, scoring.STRATEGIES["quality_focused"]).rows.tolist() == [0, 1]
    assert scoring.rank(catalog, order, scoring.STRATEGIES["cost_focused"]).rows.tolist() == [1, 0]


def test_normalise_weights_scales_to_a_unit_sum():
    np.testing.assert_allclose(scoring.normalise_weights(np.array([2, 2, 2, 2, 0, 2])), [0.2, 0.2, 0.2, 0.2, 0, 0.2])


@pytest.mark.parametrize(
    "weights",
    [
        pytest.param([0.2] * 5, id="too-few"),
        pytest.param([0.1] * 7, id="too-many"),
        pytest.param([[0.1] * 6, [0.1] * 6], id="two-dimensional"),
        pytest.param([0.2, 0.2, 0.2, 0.2, 0.2, -0.01], id="negative"),
        pytest.param([0.2, 0.2, 0.2, 0.2, 0.2, math.nan], id="nan"),
        pytest.param([0.2, 0.2, 0.2, 0.2, 0.2, math.inf], id="infinite"),
        pytest.param([0.0] * 6, id="all-zero"),
    ],
)
def test_normalise_weights_rejects_bad_input(weights):
    with pytest.raises(ValueError, match="weights"):
        scoring.normalise_weights(np.array(weights))


def test_rank_rejects_bad_weights():
    catalog = catalog_from_profiles([make_profile()])

    with pytest.raises(ValueError, match="weights"):
        scoring.rank(catalog, make_order(), np.zeros(len(FACTORS)))


# Orders and catalogs


@pytest.mark.parametrize(
    ("overrides", "message"),
    [
        pytest.param({"process": "welding"}, "unknown process", id="unknown-process"),
        pytest.param({"material": "wood"}, "unknown material", id="unknown-material"),
        pytest.param({"complexity_level": "trivial"}, "unknown complexity level", id="unknown-complexity"),
        pytest.param({"delivery_region": "antarctica"}, "unknown region", id="unknown-region"),
        pytest.param({"quantity": 0}, "quantity must be at least 1", id="zero-quantity"),
        pytest.param({"estimated_value": 0.0}, "estimated_value", id="zero-value"),
        pytest.param({"estimated_value": -10.0}, "estimated_value", id="negative-value"),
        pytest.param({"estimated_value": math.nan}, "estimated_value", id="nan-value"),
        pytest.param({"estimated_value": math.inf}, "estimated_value", id="infinite-value"),
        pytest.param({"quality_requirements": -0.01}, "quality_requirements", id="quality-below-0"),
        pytest.param({"quality_requirements": 1.01}, "quality_requirements", id="quality-above-1"),
        pytest.param({"quality_requirements": math.nan}, "quality_requirements", id="quality-nan"),
        pytest.param({"timeline_urgency": -0.5}, "timeline_urgency", id="urgency-below-0"),
        pytest.param({"timeline_urgency": 2.0}, "timeline_urgency", id="urgency-above-1"),
        pytest.param({"timeline_urgency": math.nan}, "timeline_urgency", id="urgency-nan"),
    ],
)
def test_order_context_rejects_invalid_fields(overrides, message):
    with pytest.raises(ValueError, match=message):
        make_order(**overrides)


def test_order_context_accepts_the_bounds_and_no_material():
    order = make_order(quality_requirements=0.0, timeline_urgency=1.0, material=None, complexity_level="complex")

    assert order.complexity == pytest.approx(2 / 3)


def test_catalog_rejects_arrays_of_different_lengths():
    catalog = catalog_from_profiles([make_profile(), make_profile()])

    with pytest.raises(ValueError, match="cost_index"):
        dataclasses.replace(catalog, cost_index=np.array([1.0]), position={})


def test_catalog_maps_manufacturer_ids_to_rows():
    catalog = catalog_from_profiles([make_profile(), make_profile()], ids=np.array([40, 7]))

    assert catalog.position == {40: 0, 7: 1}
    assert len(catalog) == 2


# Explanations


def test_explain_names_the_two_largest_factors_with_their_shares():
    contributions = np.array([0.10, 0.30, 0.05, 0.04, 0.01, 0.0])  # total 0.5

    text = scoring.explain(contributions, 3)

    assert text == "Ranked #3 mainly for quality fit (60%) and cost fit (20%)."


def test_explain_breaks_equal_contributions_in_factor_order():
    text = scoring.explain(np.array([0.0, 0.0, 0.0, 0.2, 0.2, 0.1]), 1)

    assert text == "Ranked #1 mainly for reliability (40%) and proximity (40%)."


def test_explain_without_any_contribution_says_so():
    assert scoring.explain(np.zeros(len(FACTORS)), 2) == "Ranked #2: no factor stands out."


def test_explain_of_a_real_ranking_names_its_top_contributions():
    catalog = catalog_from_profiles([make_profile(cost_index=0.5, quality_score=0.3)])

    ranking = scoring.rank(catalog, make_order(), scoring.STRATEGIES["cost_focused"])
    contributions = ranking.contributions[0]
    share = 100 * contributions[COST] / contributions.sum()

    assert scoring.explain(contributions, 1).startswith(f"Ranked #1 mainly for cost fit ({share:.0f}%) and ")
