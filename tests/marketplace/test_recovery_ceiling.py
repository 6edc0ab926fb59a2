"""The weight-recovery oracle: the Bayes posterior under the simulator's true population (seeded)."""

import numpy as np

from marketplace import scoring
from marketplace.simulation import WorldConfig, build_world, draw_order, respond
from marketplace.truth.recovery_ceiling import ShownList, ceiling_cosines, true_prior_cosines


def lists_of(world, customers: range, orders: int, seed: int) -> dict[int, list[ShownList]]:
    rng = np.random.default_rng(seed)
    lists: dict[int, list[ShownList]] = {}
    for index in customers:
        for _ in range(orders):
            order = draw_order(rng, world.customers[index])
            strategy = list(scoring.STRATEGIES)[int(rng.integers(len(scoring.STRATEGIES)))]
            rows = scoring.rank(world.catalog, order, scoring.STRATEGIES[strategy], limit=8).rows
            if rows.size == 0:
                continue
            response = respond(rng, world, index, order, rows)
            features = scoring.factor_features(world.catalog, order, rows)
            lists.setdefault(index, []).append(
                ShownList(features, world.catalog.region[rows], response.chosen_position)
            )
    return lists


def test_the_ceiling_rises_with_the_choices_and_nears_the_truth():
    world = build_world(WorldConfig(n_manufacturers=200, n_customers=30, days=1, seed=4))
    lists = lists_of(world, range(30), orders=40, seed=1)

    with_walks = ceiling_cosines(world, lists, at=(1, 10), draws=8_000, seed=2)
    choices_only = ceiling_cosines(world, lists, at=(1, 10), draws=8_000, seed=2, use_walk_aways=False)

    for ceiling in (with_walks, choices_only):
        assert len(ceiling[10]) >= 15  # customers who chose at least 10 times in 40 lists
        assert np.median(ceiling[10]) > np.median(ceiling[1]) + 0.03
        assert np.median(ceiling[10]) > 0.9
        assert all(-1.0 <= c <= 1.0 for c in ceiling[10])


def test_customers_with_fewer_choices_are_left_out():
    world = build_world(WorldConfig(n_manufacturers=50, n_customers=3, days=1, seed=4))
    lists = lists_of(world, range(3), orders=3, seed=1)

    ceiling = ceiling_cosines(world, lists, at=(10,), draws=500)

    assert ceiling == {10: []}


def test_the_engines_learner_from_the_true_prior_learns_and_stays_below_the_ceiling():
    world = build_world(WorldConfig(n_manufacturers=200, n_customers=30, days=1, seed=4))
    lists = lists_of(world, range(30), orders=40, seed=1)

    learner = true_prior_cosines(world, lists, at=(1, 10), draws=20_000, seed=2)
    ceiling = ceiling_cosines(world, lists, at=(1, 10), draws=8_000, seed=2, use_walk_aways=False)

    assert len(learner[10]) == len(ceiling[10]) >= 15
    assert np.median(learner[10]) > np.median(learner[1]) + 0.03
    assert np.median(learner[10]) <= np.median(ceiling[10]) + 0.01  # the posterior mean is the best there is
