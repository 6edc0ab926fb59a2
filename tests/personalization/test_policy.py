"""The policy: who a customer is, which weights rank for it and why, and how the list below the top is explored.

Pure: no database. Randomness is seeded."""

import dataclasses
import itertools
import math

import numpy as np
import pytest

from marketplace.scoring import STRATEGIES
from marketplace.vocabulary import FACTORS
from personalization import policy
from personalization.policy import AT_RISK, ESTABLISHED, NEW, ProfileView

PERSONAL = np.array([0.30, 0.10, 0.25, 0.15, 0.10, 0.10])  # some customer's effective weights (sum to 1)


def profile(**changes) -> ProfileView:
    """An established customer with nothing alarming on record, unless told otherwise."""
    base = ProfileView(
        confidence=0.6,
        choices=20,
        recent_satisfaction=(4.0, 5.0, 4.0),
        average_satisfaction=4.3,
        days_since_last_interaction=3.0,
        complexity_comfort=0.5,
        risk_tolerance=0.5,
        strategy_performance={},
    )
    return dataclasses.replace(base, **changes)


def tilt(weights, toward, share):
    toward = np.asarray(toward, dtype=float)
    mixed = (1 - share) * np.asarray(weights) + share * toward / toward.sum()
    return mixed / mixed.sum()


def decide(view: ProfileView, *, goal="balanced", complexity=0.5, stated=None, weights=PERSONAL):
    return policy.choose_strategy(
        profile=view,
        classification=policy.classify(view),
        personal_weights=weights,
        goal=goal,
        order_complexity=complexity,
        stated_importance=stated,
    )


# --- classify ------------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("changes", "reason"),
    [
        ({"choices": 0, "confidence": 0.0}, "0 choices so far, confidence 0.00"),
        ({"choices": 2, "confidence": 0.9}, "2 choices so far, confidence 0.90"),
        ({"choices": 40, "confidence": 0.2}, "40 choices so far, confidence 0.20"),
    ],
    ids=["no-choices", "too-few-choices-however-confident", "many-choices-little-confidence"],
)
def test_customer_with_few_choices_or_little_confidence_is_new(changes, reason):
    classification = policy.classify(profile(**changes))

    assert classification == policy.Classification(NEW, reason)


def test_customer_with_enough_choices_and_confidence_is_established_from_the_thresholds_on():
    view = profile(choices=policy.MIN_CHOICES, confidence=policy.NEW_CUSTOMER_CONFIDENCE)

    assert policy.classify(view) == policy.Classification(ESTABLISHED, "3 choices, confidence 0.25")


@pytest.mark.parametrize("last", [1.0, 2.0])
def test_a_last_rating_of_two_or_less_puts_a_customer_at_risk(last):
    classification = policy.classify(profile(recent_satisfaction=(5.0, 5.0, last), average_satisfaction=4.8))

    assert classification == policy.Classification(AT_RISK, f"the last rating was {last:.0f} of 5")


def test_a_last_rating_of_three_after_good_ones_is_not_alarming():
    assert policy.classify(profile(recent_satisfaction=(5.0, 4.0, 3.0), average_satisfaction=4.0)).kind == ESTABLISHED


def test_an_early_low_rating_followed_by_good_ones_is_not_alarming():
    view = profile(recent_satisfaction=(1.0, 5.0, 5.0, 5.0), average_satisfaction=4.0)

    assert policy.classify(view).kind == ESTABLISHED


def test_recent_ratings_half_a_point_below_the_average_put_a_customer_at_risk():
    classification = policy.classify(profile(recent_satisfaction=(4.0, 4.0), average_satisfaction=4.5))

    assert classification == policy.Classification(AT_RISK, "recent ratings average 4.0, below the usual 4.5")


def test_only_the_last_three_ratings_count_as_recent():
    dropped = profile(recent_satisfaction=(5.0, 5.0, 5.0, 3.0, 3.0, 4.0), average_satisfaction=4.2)
    recovered = profile(recent_satisfaction=(3.0, 3.0, 5.0, 5.0, 4.0), average_satisfaction=4.2)

    assert policy.classify(dropped).kind == AT_RISK  # 3.33 <= 3.7
    assert policy.classify(recovered).kind == ESTABLISHED  # 4.67


@pytest.mark.parametrize(
    ("recent", "average"),
    [((4.0, 4.0), 4.4), ((3.0,), 4.5), ((4.0, 4.0), None)],
    ids=["drop-under-half-a-point", "a-single-recent-rating", "no-average-yet"],
)
def test_a_small_drop_a_single_rating_or_no_average_is_no_drop(recent, average):
    assert policy.classify(profile(recent_satisfaction=recent, average_satisfaction=average)).kind == ESTABLISHED


def test_more_than_sixty_days_without_activity_puts_a_customer_at_risk():
    classification = policy.classify(profile(days_since_last_interaction=61.0))

    assert classification == policy.Classification(AT_RISK, "no activity for 61 days")


@pytest.mark.parametrize("days", [60.0, None])
def test_sixty_days_or_no_interaction_yet_is_not_inactivity(days):
    assert policy.classify(profile(days_since_last_interaction=days)).kind == ESTABLISHED


def test_being_at_risk_outranks_being_new():
    view = profile(choices=1, confidence=0.05, recent_satisfaction=(1.0,), average_satisfaction=1.0)

    assert policy.classify(view).kind == AT_RISK


# --- personalization level -----------------------------------------------------------------------------------


@pytest.mark.parametrize(("kind", "confidence", "level"), [(NEW, 0.1, 0.1), (ESTABLISHED, 0.87654321, 0.8765)])
def test_personalization_level_is_the_confidence(kind, confidence, level):
    assert policy.personalization_level(profile(confidence=confidence), kind) == level


@pytest.mark.parametrize(("confidence", "level"), [(0.9, 1 - policy.RETENTION_TILT), (0.3, 0.3)])
def test_personalization_level_of_an_at_risk_customer_leaves_room_for_the_retention_tilt(confidence, level):
    assert policy.personalization_level(profile(confidence=confidence), AT_RISK) == pytest.approx(level)


# --- choose_strategy -----------------------------------------------------------------------------------------


def test_new_customer_is_ranked_by_its_segment_prior_weights_as_they_are():
    decision = decide(profile(choices=0, confidence=0.0))

    assert decision.algorithm == "segment_prior"
    assert decision.weights.tolist() == PERSONAL.tolist()
    assert decision.reasoning == (
        "New customer (0 choices so far, confidence 0.00): your segment's preferences, adjusted by the few "
        "choices you made, with more exploration below the top three.",
    )


def test_established_customer_is_ranked_by_its_personal_weights():
    decision = decide(profile())

    assert decision.algorithm == "personalized"
    assert decision.weights.tolist() == PERSONAL.tolist()
    assert decision.reasoning == ("Personal weights learnt from your choices (20 choices, confidence 0.60).",)


def test_at_risk_customer_is_tilted_toward_reliability_and_quality():
    decision = decide(profile(recent_satisfaction=(2.0,)))

    assert decision.algorithm == "retention_focus"
    share = policy.RETENTION_TILT
    assert decision.weights == pytest.approx((1 - share) * PERSONAL + share * policy.RETENTION_WEIGHTS)
    reliability, quality = FACTORS.index("reliability"), FACTORS.index("quality_fit")
    assert decision.weights[reliability] > PERSONAL[reliability]
    assert decision.weights[quality] > PERSONAL[quality]
    assert decision.reasoning == (
        "Retention focus (the last rating was 2 of 5): reliability and quality weigh 25% more, and exploration "
        "is kept to a minimum.",
    )


@pytest.mark.parametrize(
    ("goal", "strategy"), [("quality", "quality_focused"), ("cost", "cost_focused"), ("speed", "speed_focused")]
)
def test_an_optimization_goal_pulls_the_weights_30_percent_toward_its_strategy(goal, strategy):
    decision = decide(profile(), goal=goal)

    assert decision.algorithm == "personalized"
    assert decision.weights == pytest.approx(
        (1 - policy.GOAL_TILT) * PERSONAL + policy.GOAL_TILT * STRATEGIES[strategy]
    )
    assert decision.reasoning[-1] == f"Optimization goal '{goal}' pulls 30% toward the {strategy} strategy."


def test_the_balanced_goal_leaves_the_weights_alone_without_a_record():
    decision = decide(profile(), goal="balanced")

    assert decision.weights.tolist() == PERSONAL.tolist()
    assert len(decision.reasoning) == 1


def test_balanced_goal_tilts_20_percent_toward_the_strategy_that_converted_best_for_the_customer():
    record = {"cost_focused": (10, 7), "balanced": (10, 2)}

    decision = decide(profile(strategy_performance=record))

    assert decision.weights == pytest.approx(0.8 * PERSONAL + 0.2 * STRATEGIES["cost_focused"])
    assert (
        decision.reasoning[-1]
        == "The cost_focused strategy has converted best for you (67%); it takes 20% of the weights."
    )


def test_an_explicit_goal_outranks_the_record():
    record = {"cost_focused": (10, 7), "balanced": (10, 2)}

    decision = decide(profile(strategy_performance=record), goal="speed")

    assert decision.weights == pytest.approx(0.7 * PERSONAL + 0.3 * STRATEGIES["speed_focused"])
    assert not any("converted best" in line for line in decision.reasoning)


def test_an_order_more_complex_than_the_customers_comfort_tilts_toward_quality_reliability_and_capability():
    decision = decide(profile(complexity_comfort=0.25), complexity=1.0)

    assert decision.weights == pytest.approx(tilt(PERSONAL, policy.COMPLEXITY_WEIGHTS, policy.COMPLEXITY_TILT))
    assert decision.reasoning[-1] == (
        "This order is more complex than you usually place: quality, reliability and capability depth weigh 10% more."
    )


@pytest.mark.parametrize(("comfort", "complexity"), [(0.5, 0.75), (1.0, 1.0), (0.5, 0.0)])
def test_an_order_within_a_quarter_of_the_customers_comfort_is_no_complexity_tilt(comfort, complexity):
    decision = decide(profile(complexity_comfort=comfort), complexity=complexity)

    assert decision.weights.tolist() == PERSONAL.tolist()


def test_stated_importance_takes_half_of_the_weights_normalised_over_the_named_factors():
    decision = decide(profile(), stated={"speed_fit": 0.9, "proximity": 0.3})

    stated = np.array([0, 0, 0.75, 0, 0.25, 0])
    assert decision.weights == pytest.approx(0.5 * PERSONAL + 0.5 * stated)
    assert decision.reasoning[-1] == "Your stated importance of speed_fit, proximity takes 50% of the weights."


@pytest.mark.parametrize("stated", [{}, {"cost_fit": 0.0}, None])
def test_no_or_all_zero_stated_importance_changes_nothing(stated):
    assert decide(profile(), stated=stated).weights.tolist() == PERSONAL.tolist()


def test_tilts_compose_goal_then_complexity_then_stated_importance():
    decision = decide(profile(complexity_comfort=0.0), goal="quality", complexity=1.0, stated={"cost_fit": 1.0})

    expected = tilt(PERSONAL, STRATEGIES["quality_focused"], 0.3)
    expected = tilt(expected, policy.COMPLEXITY_WEIGHTS, policy.COMPLEXITY_TILT)
    expected = tilt(expected, [1, 0, 0, 0, 0, 0], 0.5)
    assert decision.weights == pytest.approx(expected)
    assert len(decision.reasoning) == 4


def test_weights_always_stay_a_distribution_over_the_factors():
    rng = np.random.default_rng(11)
    for _ in range(200):
        weights = rng.dirichlet(np.ones(len(FACTORS)))
        view = profile(
            confidence=float(rng.random()),
            choices=int(rng.integers(0, 30)),
            recent_satisfaction=tuple(float(v) for v in rng.integers(1, 6, size=3)),
            complexity_comfort=float(rng.random()),
        )
        goal = str(rng.choice(["balanced", "quality", "cost", "speed"]))
        stated = {f: float(v) for f, v in zip(FACTORS, rng.random(len(FACTORS)))}

        decision = decide(view, goal=goal, complexity=float(rng.random()), stated=stated, weights=weights)

        assert decision.weights.sum() == pytest.approx(1.0)
        assert np.all(decision.weights >= 0)


def test_exploration_temperature_falls_as_confidence_grows():
    temperatures = [decide(profile(confidence=c)).temperature for c in (0.0, 0.25, 0.5, 0.75, 1.0)]

    assert temperatures[0] == policy.TEMPERATURE_MAX
    assert temperatures[-1] == policy.TEMPERATURE_MIN
    assert all(a > b for a, b in itertools.pairwise(temperatures))


def test_new_customer_explores_more_than_an_established_one():
    new = decide(profile(choices=0, confidence=0.0))
    established = decide(profile(confidence=0.8))

    assert new.temperature > established.temperature


@pytest.mark.parametrize("confidence", [0.0, 0.5, 1.0])
def test_at_risk_customer_is_explored_at_the_minimum_temperature_whatever_its_confidence(confidence):
    decision = decide(profile(confidence=confidence, days_since_last_interaction=90.0))

    assert decision.algorithm == "retention_focus"
    assert decision.temperature == policy.TEMPERATURE_MIN


def test_choosing_a_strategy_does_not_change_the_shared_strategy_vectors():
    before = {name: weights.copy() for name, weights in STRATEGIES.items()}

    decide(profile(strategy_performance={"cost_focused": (10, 9), "balanced": (10, 0)}), complexity=1.0)
    decide(profile(), goal="quality", stated={"cost_fit": 1.0})

    assert all(STRATEGIES[name].tolist() == weights.tolist() for name, weights in before.items())


# --- best_strategy_on_record ---------------------------------------------------------------------------------


def test_best_strategy_on_record_is_the_clear_leader_by_its_beta_posterior_mean():
    record = {"cost_focused": (5, 4), "balanced": (5, 1), "speed_focused": (6, 2)}

    assert policy.best_strategy_on_record(record) == ("cost_focused", pytest.approx(5 / 7))


@pytest.mark.parametrize(
    "record",
    [
        {},
        {"cost_focused": (50, 45)},
        {"cost_focused": (4, 4), "balanced": (10, 0)},
        {"cost_focused": (20, 10), "balanced": (20, 9)},
        {"personalized": (50, 45), "balanced": (50, 5)},
    ],
    ids=["no-record", "one-strategy-only", "leader-under-five-sessions", "lead-under-0.1", "unknown-strategy"],
)
def test_no_best_strategy_without_two_rated_strategies_and_a_clear_lead(record):
    assert policy.best_strategy_on_record(record) is None


def test_a_lead_of_a_little_over_0_1_is_clear_enough():
    record = {"quality_focused": (98, 61), "balanced": (98, 50)}  # 62/100 against 51/100

    assert policy.best_strategy_on_record(record) == ("quality_focused", pytest.approx(0.62))


# --- pattern_boosts ------------------------------------------------------------------------------------------


def boosts(**changes):
    arguments = {
        "region_boost": np.zeros(8),
        "regions": np.array([0, 1, 2, 3]),
        "successes": np.zeros(4),
        "failures": np.zeros(4),
        "completed_orders": np.full(4, 1e6),
        "risk_tolerance": 0.5,
        **changes,
    }
    return policy.pattern_boosts(**arguments)


def test_pattern_boost_carries_the_learnt_effect_of_each_candidates_region():
    region_boost = np.array([0.05, -0.02, 0.0, 0.01, 0.0, 0.0, 0.0, 0.0])

    result = boosts(region_boost=region_boost, regions=np.array([3, 0, 1, 0]))

    assert result == pytest.approx([0.01, 0.05, -0.02, 0.05])


def test_manufacturers_that_worked_are_boosted_and_those_that_failed_are_penalised_smoothed():
    result = boosts(successes=np.array([3.0, 0.0, 1.0, 10.0]), failures=np.array([0.0, 3.0, 1.0, 0.0]))

    assert result == pytest.approx([0.02 * 3 / 5, -0.02 * 3 / 5, 0.0, 0.02 * 10 / 12])
    assert result[3] > result[0] > result[2] > result[1]


def test_risk_averse_customer_is_steered_away_from_manufacturers_without_a_track_record():
    completed = np.array([0.0, 10.0, 30.0, 1e6])

    averse = boosts(completed_orders=completed, risk_tolerance=0.0)
    middling = boosts(completed_orders=completed, risk_tolerance=0.5)
    tolerant = boosts(completed_orders=completed, risk_tolerance=1.0)

    assert averse == pytest.approx(-policy.RISK_PENALTY * np.exp(-completed / policy.TRACK_RECORD_ORDERS))
    assert averse[0] == pytest.approx(-0.03)
    assert all(a < b for a, b in itertools.pairwise(averse))
    assert middling == pytest.approx(averse / 2)
    assert tolerant.tolist() == [0.0] * 4


def test_pattern_boost_adds_the_three_parts():
    result = policy.pattern_boosts(
        region_boost=np.array([0.0, 0.04, 0, 0, 0, 0, 0, 0]),
        regions=np.array([1]),
        successes=np.array([2.0]),
        failures=np.array([1.0]),
        completed_orders=np.array([5.0]),
        risk_tolerance=0.2,
    )

    assert result == pytest.approx([0.04 + 0.02 * 1 / 5 - 0.03 * 0.8 * math.exp(-0.5)])


# --- explore -------------------------------------------------------------------------------------------------


@pytest.mark.parametrize("size", [1, 7, 80, 1000, 5000])
def test_explore_shows_what_a_stable_sort_by_score_and_by_gumbel_key_would_show(size):
    """explore picks the top of the list by partition (scoring.top_k), not by sorting every eligible candidate;
    it must show exactly what the full stable sorts showed, also where equal scores straddle the cut (whole
    numbers from a small range tie often)."""
    rng = np.random.default_rng(size)
    for scores in (rng.normal(size=size), rng.integers(0, 6, size=size).astype(float), np.zeros(size)):
        for k in (1, 3, 10, size):
            for temperature in (0.0, 0.05):
                explored = policy.explore(scores, k, temperature=temperature, rng=np.random.default_rng(k))
                by_score = np.argsort(-scores, kind="stable")
                head = by_score[: min(3, k)]
                remaining = np.setdiff1d(np.arange(size), head)
                if temperature == 0.0 or k <= head.size:
                    expected = by_score[:k]
                else:
                    gumbel = scores[remaining] / temperature + np.random.default_rng(k).gumbel(size=remaining.size)
                    tail = remaining[np.argsort(-gumbel, kind="stable")[: k - head.size]]
                    expected = np.concatenate([head, tail])
                assert explored.positions.tolist() == expected.tolist(), (scores, k, temperature)


SCORES = np.array([0.52, 0.61, 0.40, 0.70, 0.58, 0.45, 0.66, 0.50, 0.55, 0.62])


def test_the_top_three_by_score_are_shown_first_and_never_explored():
    rng = np.random.default_rng(3)
    for _ in range(50):
        explored = policy.explore(SCORES, 8, temperature=0.05, rng=rng)

        assert explored.positions[:3].tolist() == [3, 6, 9]
        assert explored.position_propensities[:3] == (1.0, 1.0, 1.0)


def test_explored_list_shows_distinct_candidates_with_propensities_in_zero_to_one():
    explored = policy.explore(SCORES, 10, temperature=0.05, rng=np.random.default_rng(5))

    assert sorted(explored.positions.tolist()) == list(range(10))
    assert len(explored.position_propensities) == 10
    assert all(0 < p <= 1 for p in explored.position_propensities)
    assert explored.position_propensities[-1] == 1.0  # the last one left was certain


def test_log_propensity_of_the_list_is_the_sum_of_the_logs_of_its_positions():
    explored = policy.explore(SCORES, 7, temperature=0.05, rng=np.random.default_rng(8))

    assert explored.log_propensity < 0
    assert explored.log_propensity == pytest.approx(sum(math.log(p) for p in explored.position_propensities))


def test_first_explored_position_propensity_is_the_softmax_of_the_scores_left():
    explored = policy.explore(SCORES, 4, temperature=0.05, rng=np.random.default_rng(9))

    left = [i for i in range(len(SCORES)) if i not in (3, 6, 9)]
    softmax = np.exp(SCORES[left] / 0.05) / np.exp(SCORES[left] / 0.05).sum()
    fourth = int(explored.positions[3])
    assert explored.position_propensities[3] == pytest.approx(softmax[left.index(fourth)])


def test_zero_temperature_shows_the_list_by_score_deterministically():
    rng = np.random.default_rng(1)
    before = rng.bit_generator.state

    explored = policy.explore(SCORES, 10, temperature=0.0, rng=rng)

    assert explored.positions.tolist() == np.argsort(-SCORES, kind="stable").tolist()
    assert explored.position_propensities == (1.0,) * 10
    assert explored.log_propensity == 0.0
    assert rng.bit_generator.state == before


def test_ties_are_broken_by_candidate_order():
    explored = policy.explore(np.array([0.5, 0.7, 0.5, 0.7, 0.5]), 5, temperature=0.0, rng=np.random.default_rng(0))

    assert explored.positions.tolist() == [1, 3, 0, 2, 4]


def test_the_same_seed_replays_the_same_list_and_other_seeds_explore_other_lists():
    lists = {seed: policy.explore(SCORES, 10, temperature=0.05, rng=np.random.default_rng(seed)) for seed in range(20)}
    replay = policy.explore(SCORES, 10, temperature=0.05, rng=np.random.default_rng(7))

    assert replay.positions.tolist() == lists[7].positions.tolist()
    assert replay.position_propensities == lists[7].position_propensities
    assert replay.log_propensity == lists[7].log_propensity
    assert len({tuple(e.positions.tolist()) for e in lists.values()}) > 5


def test_first_explored_position_is_drawn_as_often_as_its_propensity_says():
    scores = np.array([0.9, 0.85, 0.8, 0.60, 0.58, 0.55, 0.50, 0.45])
    rng = np.random.default_rng(2024)
    draws = 20_000
    counts = np.zeros(len(scores))
    logged = {}
    for _ in range(draws):
        explored = policy.explore(scores, 5, temperature=0.04, rng=rng)
        fourth = int(explored.positions[3])
        counts[fourth] += 1
        logged[fourth] = explored.position_propensities[3]

    assert counts[:3].sum() == 0
    for candidate, propensity in logged.items():
        standard_error = math.sqrt(propensity * (1 - propensity) / draws)
        assert counts[candidate] / draws == pytest.approx(propensity, abs=4 * standard_error + 1e-3)
    assert sum(logged.values()) == pytest.approx(1.0)  # every candidate left was drawn at some point


def test_every_explored_list_is_drawn_as_often_as_its_log_propensity_says():
    scores = np.array([0.9, 0.85, 0.8, 0.62, 0.60, 0.57])
    rng = np.random.default_rng(77)
    draws = 30_000
    counts: dict[tuple[int, ...], int] = {}
    probabilities: dict[tuple[int, ...], float] = {}
    for _ in range(draws):
        explored = policy.explore(scores, 6, temperature=0.03, rng=rng)
        shown = tuple(explored.positions.tolist())
        counts[shown] = counts.get(shown, 0) + 1
        probabilities[shown] = math.exp(explored.log_propensity)

    assert len(counts) == 6  # every order of the three explored candidates
    assert sum(probabilities.values()) == pytest.approx(1.0)
    for shown, probability in probabilities.items():
        standard_error = math.sqrt(probability * (1 - probability) / draws)
        assert counts[shown] / draws == pytest.approx(probability, abs=4 * standard_error)


def test_propensities_stay_exact_when_the_candidates_left_are_far_less_likely_than_those_drawn():
    # At an at-risk customer's temperature, weights e^(score / T) span hundreds of orders of magnitude: the
    # second explored candidate was all but certain once the first was drawn, whatever the rest.
    scores = np.array([0.9, 0.85, 0.8, 0.70, 0.60, 0.55, 0.50])

    explored = policy.explore(scores, 7, temperature=policy.TEMPERATURE_MIN, rng=np.random.default_rng(1))

    assert explored.positions.tolist() == [0, 1, 2, 3, 4, 5, 6]
    assert explored.position_propensities == pytest.approx((1.0,) * 7, abs=1e-9)
    assert explored.log_propensity == pytest.approx(0.0, abs=1e-9)


class RiggedGumbel:
    """A generator whose Gumbel noise is given: to see what is logged for a draw that is all but impossible."""

    def __init__(self, noise):
        self.noise = np.asarray(noise, dtype=float)

    def gumbel(self, size):
        assert size == self.noise.size
        return self.noise


def test_a_candidate_drawn_against_overwhelming_odds_is_logged_with_its_tiny_positive_propensity():
    scores = np.array([0.9, 0.85, 0.8, 0.70, 0.0])  # left after the top three: logits 350 and 0 at T = 0.002

    explored = policy.explore(scores, 5, temperature=0.002, rng=RiggedGumbel([0.0, 1000.0]))

    assert explored.positions.tolist() == [0, 1, 2, 4, 3]
    assert explored.position_propensities[3] == pytest.approx(math.exp(-350.0), rel=1e-9)
    assert explored.position_propensities[4] == 1.0
    assert explored.log_propensity == pytest.approx(-350.0, abs=1e-9)


@pytest.mark.parametrize("k", [1, 2, 3])
def test_a_list_no_longer_than_the_exploited_top_is_the_top_by_score(k):
    explored = policy.explore(SCORES, k, temperature=0.5, rng=np.random.default_rng(0))

    assert explored.positions.tolist() == [3, 6, 9][:k]
    assert explored.log_propensity == 0.0


def test_a_list_is_never_longer_than_the_candidates_and_an_empty_one_is_empty():
    short = policy.explore(np.array([0.2, 0.9]), 10, temperature=0.03, rng=np.random.default_rng(0))
    empty = policy.explore(np.empty(0), 10, temperature=0.03, rng=np.random.default_rng(0))
    none = policy.explore(SCORES, 0, temperature=0.03, rng=np.random.default_rng(0))

    assert short.positions.tolist() == [1, 0]
    for nothing in (empty, none):
        assert nothing.positions.tolist() == []
        assert nothing.position_propensities == ()
        assert nothing.log_propensity == 0.0


def test_exploring_more_positions_than_the_default_top_is_possible():
    explored = policy.explore(SCORES, 10, temperature=0.05, rng=np.random.default_rng(4), exploit=5)

    assert explored.positions[:5].tolist() == [3, 6, 9, 1, 4]
    assert explored.position_propensities[:5] == (1.0,) * 5
