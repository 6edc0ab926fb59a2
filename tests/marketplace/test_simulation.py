"""The simulated marketplace without a database: determinism, the hidden truth, the choice model, churn."""

import dataclasses
import math

import numpy as np
import pytest

from marketplace import scoring
from marketplace.scoring import OrderContext
from marketplace.simulation import (
    INDUSTRY_PROCESSES,
    INDUSTRY_SEGMENTS,
    POSITION_BIAS,
    SEGMENT_TRUE_WEIGHTS,
    CustomerTruth,
    ManufacturerProfile,
    World,
    WorldConfig,
    build_world,
    catalog_from_profiles,
    choice_probabilities,
    conversion_probability,
    draw_order,
    expected_rounded_score,
    respond,
    simulate_history,
    true_utility,
)
from marketplace.vocabulary import FACTORS, REGIONS

SMALL = WorldConfig(n_manufacturers=80, n_customers=60, days=90, seed=7)


@pytest.fixture(scope="module")
def default_world() -> World:
    return build_world(WorldConfig())


@pytest.fixture(scope="module")
def small_history():
    world = build_world(SMALL)
    return world, simulate_history(world)


def make_customer(**overrides) -> CustomerTruth:
    fields = {
        "company_name": "Buyer",
        "industry": "industrial_machinery",
        "company_size": "medium",
        "region": "western_europe",
        "segment": "balanced",
        "true_weights": tuple(SEGMENT_TRUE_WEIGHTS["balanced"]),
        "utility_scale": 16.0,
        "region_affinity": (0.0,) * len(REGIONS),
        "walk_away_threshold": 0.78,
        "price_sensitivity": 1.0,
        "quality_sensitivity": 1.0,
        "order_rate": 0.1,
        "base_churn_hazard": 1 / 2000,
        "processes": ("cnc_machining",),
    }
    fields.update(overrides)
    return CustomerTruth(**fields)


def make_profile(quality_score: float, cost_index: float) -> ManufacturerProfile:
    return ManufacturerProfile(
        name="Shop",
        country="DE",
        region="western_europe",
        latitude=REGIONS["western_europe"][1],
        longitude=REGIONS["western_europe"][2],
        processes=("cnc_machining",),
        materials=("aluminium",),
        certifications=("iso_9001",),
        monthly_capacity=10_000,
        current_load=1_000,
        min_order_value=0.0,
        cost_index=cost_index,
        quality_score=quality_score,
        avg_lead_time_days=14.0,
        on_time_delivery_rate=0.9,
        completed_orders=10,
        is_active=True,
    )


ORDER = OrderContext(
    process="cnc_machining",
    quantity=100,
    complexity_level="moderate",
    estimated_value=5_000.0,
    quality_requirements=0.6,
    timeline_urgency=0.5,
    delivery_region="western_europe",
    material="aluminium",
)


@pytest.fixture(scope="module")
def four_shop_world() -> World:
    """One balanced buyer and four shops trading quality against price, so the choice is spread."""
    profiles = tuple(make_profile(q, c) for q, c in [(0.95, 1.5), (0.8, 1.0), (0.65, 0.8), (0.5, 0.6)])
    return World(
        WorldConfig(n_manufacturers=4, n_customers=1), profiles, (make_customer(),), catalog_from_profiles(profiles)
    )


def cosine(a: np.ndarray, b: np.ndarray) -> float:
    return float(a @ b / (np.linalg.norm(a) * np.linalg.norm(b)))


# Determinism and configuration


def assert_same_catalog(a: scoring.Catalog, b: scoring.Catalog) -> None:
    for field in dataclasses.fields(scoring.Catalog):
        left, right = getattr(a, field.name), getattr(b, field.name)
        if isinstance(left, np.ndarray):
            np.testing.assert_array_equal(left, right, err_msg=field.name)
        else:
            assert left == right, field.name


def test_same_seed_gives_an_identical_world_and_history(small_history):
    world, history = small_history
    again = build_world(SMALL)

    assert again.manufacturers == world.manufacturers
    assert again.customers == world.customers
    assert_same_catalog(again.catalog, world.catalog)
    assert simulate_history(again) == history
    assert len(history.orders) > 100


def test_a_different_seed_gives_a_different_world_and_history(small_history):
    world, history = small_history
    other = build_world(dataclasses.replace(SMALL, seed=8))

    assert [m.quality_score for m in other.manufacturers] != [m.quality_score for m in world.manufacturers]
    assert [c.true_weights for c in other.customers] != [c.true_weights for c in world.customers]
    other_history = simulate_history(other)
    assert [o.order for o in other_history.orders] != [o.order for o in history.orders]


@pytest.mark.parametrize(
    ("overrides", "message"),
    [
        pytest.param({"n_manufacturers": 0}, "at least one manufacturer", id="no-manufacturers"),
        pytest.param({"n_customers": 0}, "one customer", id="no-customers"),
        pytest.param({"days": 0}, "one day", id="no-days"),
        pytest.param({"shown_per_order": 0}, "shown_per_order", id="nothing-shown"),
        pytest.param({"heterogeneity": -0.1}, "heterogeneity", id="negative-heterogeneity"),
    ],
)
def test_world_config_rejects_an_impossible_world(overrides, message):
    with pytest.raises(ValueError, match=message):
        WorldConfig(**overrides)


# The hidden truth


def test_segment_true_weights_are_positive_and_sum_to_one():
    for segment, weights in SEGMENT_TRUE_WEIGHTS.items():
        assert weights.shape == (len(FACTORS),), segment
        assert np.all(weights > 0), segment
        assert weights.sum() == pytest.approx(1.0), segment


def test_true_weights_are_positive_and_sum_to_one(default_world):
    for customer in default_world.customers:
        assert len(customer.true_weights) == len(FACTORS)
        assert min(customer.true_weights) > 0
        assert sum(customer.true_weights) == pytest.approx(1.0, abs=1e-5)


def test_customers_draw_their_segment_and_processes_from_their_industry(default_world):
    for customer in default_world.customers:
        assert customer.segment in INDUSTRY_SEGMENTS[customer.industry]
        assert set(customer.processes) <= set(INDUSTRY_PROCESSES[customer.industry])
        assert 0.6 <= customer.walk_away_threshold <= 0.95
        assert customer.utility_scale > 0
        assert customer.order_rate > 0
        assert customer.base_churn_hazard > 0


def test_true_weights_differ_from_the_segment_but_stay_recognisably_near_it(default_world):
    similarity = [cosine(c.weights, SEGMENT_TRUE_WEIGHTS[c.segment]) for c in default_world.customers]

    assert 0.65 <= float(np.median(similarity)) <= 0.9
    assert len({c.segment for c in default_world.customers}) == len(SEGMENT_TRUE_WEIGHTS)


def test_without_heterogeneity_every_customer_has_its_segments_weights():
    world = build_world(WorldConfig(n_manufacturers=5, n_customers=50, heterogeneity=0.0))

    for customer in world.customers:
        np.testing.assert_allclose(customer.weights, SEGMENT_TRUE_WEIGHTS[customer.segment], atol=1e-6)


def test_drawn_orders_are_valid_and_within_the_customers_processes(default_world):
    rng = np.random.default_rng(3)
    for customer in default_world.customers[:100]:
        order = draw_order(rng, customer)
        assert order.process in customer.processes
        assert order.estimated_value > 0
        assert order.quantity >= 1


# The choice model


def test_choice_probabilities_put_the_walk_away_first_and_sum_to_one(four_shop_world):
    customer = four_shop_world.customers[0]
    catalog = four_shop_world.catalog
    features = scoring.factor_features(catalog, ORDER)

    probabilities = choice_probabilities(customer, features, catalog.region)
    utility = true_utility(customer, features, catalog.region)

    assert probabilities.shape == (5,)
    assert probabilities.sum() == pytest.approx(1.0)
    assert np.all(probabilities > 0)
    # A multinomial logit: log odds against walking away are scale * (utility - threshold), less the position
    # bias of the place each option was shown in.
    np.testing.assert_allclose(
        np.log(probabilities[1:] / probabilities[0]),
        customer.utility_scale * (utility - customer.walk_away_threshold)
        - POSITION_BIAS * np.log(np.arange(1, len(utility) + 1)),
    )


def test_choice_probabilities_stay_finite_for_a_very_decisive_customer(four_shop_world):
    customer = make_customer(utility_scale=5_000.0)
    features = scoring.factor_features(four_shop_world.catalog, ORDER)

    probabilities = choice_probabilities(customer, features, four_shop_world.catalog.region)

    assert np.all(np.isfinite(probabilities))
    best = int(np.argmax(true_utility(customer, features, four_shop_world.catalog.region)))
    assert probabilities[1 + best] == pytest.approx(1.0)


def test_region_affinity_raises_the_true_utility_of_the_favoured_region():
    features = np.full((2, len(FACTORS)), 0.5)
    regions = np.array([scoring.REGION_INDEX["east_asia"], scoring.REGION_INDEX["western_europe"]])
    affinity = tuple(0.12 if r == "east_asia" else 0.0 for r in REGIONS)

    utility = true_utility(make_customer(region_affinity=affinity), features, regions)

    np.testing.assert_allclose(utility, [0.5 + 0.12, 0.5])


def test_respond_chooses_with_the_frequencies_of_its_choice_probabilities(four_shop_world):
    rng = np.random.default_rng(17)
    shown = np.array([0, 1, 2, 3])
    draws = 10_000

    responses = [respond(rng, four_shop_world, 0, ORDER, shown) for _ in range(draws)]

    probabilities = np.array(responses[0].choice_probabilities)
    features = scoring.factor_features(four_shop_world.catalog, ORDER)
    expected = choice_probabilities(four_shop_world.customers[0], features, four_shop_world.catalog.region)
    np.testing.assert_allclose(probabilities, expected)
    assert probabilities.min() > 0.05  # the test is informative: every outcome is common
    counts = np.bincount([0 if r.chosen_position is None else r.chosen_position + 1 for r in responses], minlength=5)
    standard_error = np.sqrt(probabilities * (1 - probabilities) / draws)
    assert np.all(np.abs(counts / draws - probabilities) < 4 * standard_error), (counts / draws, probabilities)


def test_respond_outcomes_follow_the_probabilities_it_reports(four_shop_world):
    rng = np.random.default_rng(23)
    responses = [respond(rng, four_shop_world, 0, ORDER, np.array([0, 1, 2, 3])) for _ in range(6_000)]
    chosen = [r for r in responses if r.chosen_position is not None]
    converted = [r for r in chosen if r.converted]

    def assert_matches(outcomes: list[float], probabilities: list[float]) -> None:
        p = np.asarray(probabilities)
        standard_error = math.sqrt(float(np.sum(p * (1 - p)))) / len(p)
        assert abs(np.mean(outcomes) - p.mean()) < 4 * standard_error

    assert_matches([r.converted for r in chosen], [r.p_convert for r in chosen])
    assert_matches([r.delivered_on_time for r in converted], [r.p_on_time for r in converted])
    satisfaction = np.array([r.satisfaction for r in converted], dtype=float)
    expected = np.array([r.expected_satisfaction for r in converted])
    assert abs(satisfaction.mean() - expected.mean()) < 4 * satisfaction.std() / math.sqrt(len(converted))
    assert all(r.converted is None and r.satisfaction is None for r in responses if r.chosen_position is None)
    assert all(r.contract_value is None and r.satisfaction is None for r in chosen if not r.converted)


def test_conversion_probability_rises_with_match_quality():
    customer = make_customer()

    p = [conversion_probability(customer, match, 1.0) for match in np.linspace(0.6, 1.0, 9)]

    assert np.all(np.diff(p) > 0)
    assert conversion_probability(customer, customer.walk_away_threshold, 1.0) == pytest.approx(1 / (1 + math.e**3))


def test_conversion_probability_falls_with_cost_for_a_price_sensitive_customer():
    sensitive, indifferent = make_customer(price_sensitivity=2.0), make_customer(price_sensitivity=0.0)
    costs = np.linspace(0.5, 2.0, 7)

    p_sensitive = [conversion_probability(sensitive, 0.82, c) for c in costs]
    p_indifferent = [conversion_probability(indifferent, 0.82, c) for c in costs]

    assert np.all(np.diff(p_sensitive) < 0)
    assert p_indifferent == pytest.approx([p_indifferent[0]] * len(costs))


@pytest.mark.parametrize("sd", [0.6, 1.5])
def test_expected_rounded_score_matches_a_monte_carlo_estimate(sd):
    rng = np.random.default_rng(31)
    noise = rng.normal(0.0, sd, 200_000)
    for mean in (-1.0, 0.9, 1.5, 2.2, 3.0, 3.5, 4.1, 4.8, 6.5):
        simulated = np.clip(np.round(mean + noise), 1, 5).mean()

        assert expected_rounded_score(mean, sd) == pytest.approx(simulated, abs=0.02), mean


def test_expected_rounded_score_rises_with_the_mean_and_stays_within_one_to_five():
    expected = [expected_rounded_score(mean) for mean in np.linspace(-3, 9, 49)]

    assert np.all(np.diff(expected) > 0)
    assert expected[0] == pytest.approx(1.0)
    assert expected[-1] == pytest.approx(5.0)


# The history


def test_satisfaction_is_rated_one_to_five_and_only_after_a_contract(small_history):
    _, history = small_history
    ratings = [o.response.satisfaction for o in history.orders if o.response.converted]

    assert all(isinstance(r, int) and 1 <= r <= 5 for r in ratings)
    assert {1, 5} <= set(ratings)  # both ends of the scale occur, so the clipping is exercised
    assert all(1 <= o.response.expected_satisfaction <= 5 for o in history.orders if o.response.converted)
    assert all(o.response.satisfaction is None for o in history.orders if not o.response.converted)


def test_history_shows_the_top_of_the_logged_strategy_with_a_uniform_propensity(small_history):
    world, history = small_history

    for logged in history.orders[:200]:
        ranking = scoring.rank(
            world.catalog, logged.order, scoring.STRATEGIES[logged.strategy], limit=world.config.shown_per_order
        )
        assert logged.shown == tuple(ranking.rows.tolist())
        assert logged.eligible_count == ranking.eligible_count
        assert logged.propensity == pytest.approx(1 / len(scoring.STRATEGIES))
        assert sum(logged.response.choice_probabilities) == pytest.approx(1.0)
        assert len(logged.response.choice_probabilities) == len(logged.shown) + 1
    assert {o.strategy for o in history.orders} == set(scoring.STRATEGIES)


def test_orders_are_in_time_order_and_none_follows_a_churn(small_history):
    _, history = small_history
    days = [o.day for o in history.orders]

    assert days == sorted(days)
    assert days[0] >= 0
    assert days[-1] < SMALL.days
    assert all(day is None or 0 <= day < SMALL.days for day in history.churn_day)
    for logged in history.orders:
        churned = history.churn_day[logged.customer]
        assert churned is None or churned > logged.day
    assert any(day is not None for day in history.churn_day)


def test_churn_hazard_applies_until_the_end_even_after_a_customers_last_order():
    # Customers who order rarely (about once in 100 days) but leave quickly (hazard 0.5 a day): whether or
    # not another order arrives to reveal it, each has almost surely churned long before day 180.
    customers = tuple(make_customer(order_rate=0.01, base_churn_hazard=0.5) for _ in range(200))
    profiles = (make_profile(0.8, 1.0),)
    world = World(
        WorldConfig(n_manufacturers=1, n_customers=200, days=180), profiles, customers, catalog_from_profiles(profiles)
    )

    history = simulate_history(world)

    assert all(day is not None for day in history.churn_day)


def churn_by_last_bad_experience(config: WorldConfig) -> tuple[float, float, float]:
    """Churn rates of customers whose bad-experience score after their last order is in the top and
    bottom thirds, and the standard error of their difference."""
    history = simulate_history(build_world(config))
    last_score = {o.customer: o.bad_experience_score for o in history.orders}
    customers = np.array(list(last_score))
    score = np.array([last_score[c] for c in customers])
    churned = np.array([history.churn_day[c] is not None for c in customers])
    low_cut, high_cut = np.quantile(score, [1 / 3, 2 / 3])
    high, low = churned[score >= high_cut], churned[score <= low_cut]
    standard_error = math.sqrt(high.mean() * (1 - high.mean()) / high.size + low.mean() * (1 - low.mean()) / low.size)
    return float(high.mean()), float(low.mean()), standard_error


CHURN_WORLD = WorldConfig(n_manufacturers=60, n_customers=1_000, days=200, seed=3)


def test_bad_experiences_raise_churn_as_the_churn_sensitivity_grows():
    world = build_world(CHURN_WORLD)
    churned = []
    for sensitivity in (0.0, 0.6, 1.5):
        config = dataclasses.replace(CHURN_WORLD, churn_sensitivity=sensitivity)
        history = simulate_history(dataclasses.replace(world, config=config))
        churned.append(sum(day is not None for day in history.churn_day))

    # Same customers, same seed: only the hazard's response to bad experiences differs (106, 202, 396 of 1,000).
    assert churned[0] < churned[1] < churned[2]
    assert churned[1] > 1.5 * churned[0]


def test_bad_experiences_drive_churn_only_through_the_churn_sensitivity():
    # With no sensitivity the hazard ignores bad experiences: the high scorers churn no more than the low
    # ones (they churn less, as customers who leave early have fewer orders to go badly).
    high, low, _ = churn_by_last_bad_experience(dataclasses.replace(CHURN_WORLD, churn_sensitivity=0.0))

    assert high <= low


# Personalization can matter


def expected_conversion(world: World, customer_index: int, order: OrderContext, shown: np.ndarray) -> float:
    """P(contract) of a shown list: the sum over it of P(chosen) * P(converted | chosen)."""
    customer = world.customers[customer_index]
    features = scoring.factor_features(world.catalog, order, shown)
    regions = world.catalog.region[shown]
    chosen = choice_probabilities(customer, features, regions)[1:]
    match = true_utility(customer, features, regions)
    return sum(
        float(p) * conversion_probability(customer, float(m), float(world.catalog.cost_index[row]))
        for p, m, row in zip(chosen, match, shown)
    )


def test_ranking_by_true_utility_converts_far_better_than_by_segment_which_beats_random(default_world):
    rng = np.random.default_rng(2024)
    catalog = default_world.catalog
    total = {"true utility": 0.0, "segment": 0.0, "random base strategy": 0.0}
    orders = 0
    while orders < 800:
        index = int(rng.integers(len(default_world.customers)))
        customer = default_world.customers[index]
        order = draw_order(rng, customer)
        eligible = np.flatnonzero(scoring.eligible_mask(catalog, order))
        if eligible.size == 0:
            continue
        orders += 1
        utility = true_utility(customer, scoring.factor_features(catalog, order, eligible), catalog.region[eligible])
        oracle = eligible[np.argsort(-utility, kind="stable")[:5]]
        segment = scoring.rank(catalog, order, SEGMENT_TRUE_WEIGHTS[customer.segment], limit=5).rows
        total["true utility"] += expected_conversion(default_world, index, order, oracle)
        total["segment"] += expected_conversion(default_world, index, order, segment)
        # The uniformly random base strategy, in expectation: the mean over the strategies it draws from.
        total["random base strategy"] += np.mean(
            [
                expected_conversion(default_world, index, order, scoring.rank(catalog, order, w, limit=5).rows)
                for w in scoring.STRATEGIES.values()
            ]
        )

    assert total["true utility"] >= 1.3 * total["segment"], total
    assert total["segment"] > 1.05 * total["random base strategy"], total
