"""How a profile becomes a ranking: the customer's class, the strategy and its weights, and exploration.

Framework-free: the services pass in what they read from the profile and the catalog, and get back frozen
decisions with their reasoning, so that every rule here is tested without a database.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from marketplace.scoring import STRATEGIES, top_k
from marketplace.vocabulary import FACTORS

NEW, ESTABLISHED, AT_RISK = "new", "established", "at_risk"

NEW_CUSTOMER_CONFIDENCE = 0.25  # below this (or before MIN_CHOICES choices) a customer is new
MIN_CHOICES = 3
INACTIVE_DAYS = 60
CHURN_RISK_AT_RISK = 0.5  # a churn risk from the predictive model at or above this makes a customer at risk
GOAL_TILT = 0.3  # how far an explicit optimization goal pulls the weights toward its strategy
COMPLEXITY_TILT = 0.1  # ... an order beyond the customer's comfort toward quality, reliability, capability
RETENTION_TILT = 0.25  # ... an at-risk customer toward reliability and quality
STRATEGY_EVIDENCE = 5  # sessions a strategy needs before its record for this customer counts
STRATEGY_TILT = 0.2

RETENTION_WEIGHTS = np.array([0.0, 0.45, 0.0, 0.55, 0.0, 0.0])
COMPLEXITY_WEIGHTS = np.array([0.0, 0.4, 0.0, 0.3, 0.0, 0.3])

EXPLOIT_POSITIONS = 3  # the top of the list is never explored: new customers do no worse than the segment
TEMPERATURE_MAX = 0.03  # exploration temperature (in score units) of a customer with no confidence
TEMPERATURE_MIN = 0.002
RISK_PENALTY = 0.03  # score taken from an unproven manufacturer for a fully risk-averse customer
TRACK_RECORD_ORDERS = 10.0
SUCCESS_BOOST = 0.02  # score given per unit of smoothed success with a manufacturer that worked


@dataclass(frozen=True)
class ProfileView:
    """What the policy needs to know about a customer."""

    confidence: float
    choices: int
    recent_satisfaction: tuple[float, ...]  # oldest first
    average_satisfaction: float | None
    days_since_last_interaction: float | None
    complexity_comfort: float
    risk_tolerance: float
    strategy_performance: dict[str, tuple[int, int]]  # strategy -> (sessions, conversions)
    churn_risk: float | None = None  # from the deployed churn model (predictions), when it has scored them


@dataclass(frozen=True)
class Classification:
    kind: str
    reason: str


def classify(profile: ProfileView) -> Classification:
    """new (little evidence), at risk (falling satisfaction or long inactivity), or established."""
    recent = profile.recent_satisfaction[-3:]
    if recent and recent[-1] <= 2:
        return Classification(AT_RISK, f"the last rating was {recent[-1]:.0f} of 5")
    if (
        len(recent) >= 2
        and profile.average_satisfaction is not None
        and float(np.mean(recent)) <= profile.average_satisfaction - 0.5
    ):
        return Classification(
            AT_RISK,
            f"recent ratings average {np.mean(recent):.1f}, below the usual {profile.average_satisfaction:.1f}",
        )
    if profile.churn_risk is not None and profile.churn_risk >= CHURN_RISK_AT_RISK:
        return Classification(AT_RISK, f"the churn model gives a {profile.churn_risk:.0%} risk of no order in 90 days")
    if profile.days_since_last_interaction is not None and profile.days_since_last_interaction > INACTIVE_DAYS:
        return Classification(AT_RISK, f"no activity for {profile.days_since_last_interaction:.0f} days")
    if profile.choices < MIN_CHOICES or profile.confidence < NEW_CUSTOMER_CONFIDENCE:
        return Classification(NEW, f"{profile.choices} choices so far, confidence {profile.confidence:.2f}")
    return Classification(ESTABLISHED, f"{profile.choices} choices, confidence {profile.confidence:.2f}")


def personalization_level(profile: ProfileView, kind: str) -> float:
    """How much of the ranking is the customer's own: its confidence (capped for at-risk customers, whose
    ranking is partly retention-driven)."""
    level = profile.confidence
    return round(min(level, 1.0 - RETENTION_TILT) if kind == AT_RISK else level, 4)


@dataclass(frozen=True)
class StrategyDecision:
    algorithm: str
    weights: np.ndarray  # over FACTORS, summing to 1
    temperature: float
    reasoning: tuple[str, ...]


def _tilt(weights: np.ndarray, toward: np.ndarray, share: float) -> np.ndarray:
    mixed = (1 - share) * weights + share * toward / toward.sum()
    return mixed / mixed.sum()


def best_strategy_on_record(performance: dict[str, tuple[int, int]]) -> tuple[str, float] | None:
    """The base strategy that converted clearly best for this customer (Beta(1, 1) posterior means), if any."""
    rated = {
        name: (conversions + 1) / (sessions + 2)
        for name, (sessions, conversions) in performance.items()
        if name in STRATEGIES and sessions >= STRATEGY_EVIDENCE
    }
    if len(rated) < 2:
        return None
    ranked = sorted(rated.items(), key=lambda item: -item[1])
    (best, rate), (_, runner_up) = ranked[0], ranked[1]
    return (best, rate) if rate - runner_up >= 0.1 - 1e-9 else None


def choose_strategy(
    *,
    profile: ProfileView,
    classification: Classification,
    personal_weights: np.ndarray,
    goal: str,
    order_complexity: float,
    stated_importance: dict[str, float] | None = None,
) -> StrategyDecision:
    """The weights of this ranking, and why, from the profile, the order and the goal."""
    weights = np.asarray(personal_weights, dtype=float)
    reasoning = []
    if classification.kind == NEW:
        algorithm = "segment_prior"
        reasoning.append(
            f"New customer ({classification.reason}): your segment's preferences, adjusted by the "
            "few choices you made, with more exploration below the top three."
        )
    elif classification.kind == AT_RISK:
        algorithm = "retention_focus"
        weights = _tilt(weights, RETENTION_WEIGHTS, RETENTION_TILT)
        reasoning.append(
            f"Retention focus ({classification.reason}): reliability and quality weigh "
            f"{RETENTION_TILT:.0%} more, and exploration is kept to a minimum."
        )
    else:
        algorithm = "personalized"
        reasoning.append(f"Personal weights learnt from your choices ({classification.reason}).")

    if goal != "balanced":
        strategy = {"quality": "quality_focused", "cost": "cost_focused", "speed": "speed_focused"}[goal]
        weights = _tilt(weights, STRATEGIES[strategy], GOAL_TILT)
        reasoning.append(f"Optimization goal '{goal}' pulls {GOAL_TILT:.0%} toward the {strategy} strategy.")
    else:
        record = best_strategy_on_record(profile.strategy_performance)
        if record is not None:
            strategy, rate = record
            weights = _tilt(weights, STRATEGIES[strategy], STRATEGY_TILT)
            reasoning.append(
                f"The {strategy} strategy has converted best for you ({rate:.0%}); it takes "
                f"{STRATEGY_TILT:.0%} of the weights."
            )

    if order_complexity - profile.complexity_comfort > 0.25:
        weights = _tilt(weights, COMPLEXITY_WEIGHTS, COMPLEXITY_TILT)
        reasoning.append(
            "This order is more complex than you usually place: quality, reliability and "
            f"capability depth weigh {COMPLEXITY_TILT:.0%} more."
        )

    if stated_importance and sum(stated_importance.values()) > 0:
        stated = np.array([stated_importance.get(f, 0.0) for f in FACTORS])
        weights = _tilt(weights, stated, 0.5)
        named = ", ".join(f for f in FACTORS if stated_importance.get(f, 0.0) > 0)
        reasoning.append(f"Your stated importance of {named} takes 50% of the weights.")

    if classification.kind == AT_RISK:
        temperature = TEMPERATURE_MIN
    else:
        temperature = TEMPERATURE_MIN + (TEMPERATURE_MAX - TEMPERATURE_MIN) * (1.0 - profile.confidence)
    return StrategyDecision(algorithm, weights, round(temperature, 6), tuple(reasoning))


def pattern_boosts(
    *,
    region_boost: np.ndarray,
    regions: np.ndarray,
    successes: np.ndarray,
    failures: np.ndarray,
    completed_orders: np.ndarray,
    risk_tolerance: float,
) -> np.ndarray:
    """Per-candidate score adjustments beyond the factors: the learnt region effect, manufacturers that
    worked for this customer (smoothed success minus failure), and, for the risk-averse, a penalty on
    manufacturers with little track record."""
    worked = (successes - failures) / (successes + failures + 2.0)
    unproven = np.exp(-np.asarray(completed_orders, dtype=float) / TRACK_RECORD_ORDERS)
    return (
        np.asarray(region_boost)[np.asarray(regions, dtype=int)]
        + SUCCESS_BOOST * worked
        - RISK_PENALTY * (1.0 - risk_tolerance) * unproven
    )


@dataclass(frozen=True)
class ExploredList:
    positions: np.ndarray  # indices into the scored candidates, in shown order
    position_propensities: tuple[float, ...]  # P(this item at this position | the ones above it)
    log_propensity: float  # of the whole list under the exploration policy


def explore(
    scores: np.ndarray, k: int, *, temperature: float, rng: np.random.Generator, exploit: int = EXPLOIT_POSITIONS
) -> ExploredList:
    """The top `exploit` by score, then Plackett-Luce sampling (Gumbel top-k) at `temperature` for the rest.

    The propensities are exact under that policy, for off-policy evaluation later.
    """
    scores = np.asarray(scores, dtype=float)
    k = min(k, scores.size)
    if k == 0:
        return ExploredList(np.empty(0, dtype=np.int64), (), 0.0)
    positions = np.arange(scores.size)
    by_score = top_k(scores, positions, k)  # ties by position, as a stable sort
    head = by_score[: min(exploit, k)]
    propensities = [1.0] * len(head)
    left_out = np.ones(scores.size, dtype=bool)
    left_out[head] = False
    remaining = np.flatnonzero(left_out)
    tail: list[int] = []
    if k > len(head) and temperature > 0:
        logits = scores[remaining] / temperature
        gumbel = logits + rng.gumbel(size=remaining.size)
        picked = top_k(gumbel, positions[: remaining.size], k - len(head))
        # P(this one next | the ones drawn before): its weight over the weight still left. The log of what is
        # left is accumulated from the back (the never drawn, then each drawn one, last first): subtracting
        # drawn weights from a total loses the small ones that are left, and they are not equally likely.
        never_drawn = np.ones(remaining.size, dtype=bool)
        never_drawn[picked] = False
        left = -np.inf
        if never_drawn.any():
            top = float(logits[never_drawn].max())
            left = top + math.log(float(np.exp(logits[never_drawn] - top).sum()))
        log_left = np.empty(picked.size)
        for j in range(picked.size - 1, -1, -1):
            left = float(np.logaddexp(left, logits[picked[j]]))
            log_left[j] = left
        propensities += np.exp(logits[picked] - log_left).tolist()
        tail = remaining[picked].tolist()
    elif k > len(head):
        tail = by_score[len(head) : k].tolist()
        propensities += [1.0] * len(tail)
    positions = np.concatenate([head, np.asarray(tail, dtype=np.int64)]).astype(np.int64)
    log_propensity = float(sum(math.log(max(p, 1e-300)) for p in propensities))
    return ExploredList(positions, tuple(propensities), log_propensity)
