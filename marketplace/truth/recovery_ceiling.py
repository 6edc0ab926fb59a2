"""The best weight recovery any learner could reach on given choices: the Bayes posterior under the true
population of the simulated marketplace, by importance sampling.

Pure (numpy). For each customer, draws of the hidden preferences (factor weights, decisiveness, region
affinity, walk-away bar) come from the distribution `simulation._draw_customer` draws from, for the customer's
segment; each draw is weighted by the likelihood of what the customer did with every list it was shown
(the true choice model: multinomial logit against the outside option, with the position bias), and the
posterior mean of the weights after its n-th choice is compared with its true weights. This is the oracle
of the personalization issue's recovery bar: a learner that reaches it uses all the information there is.
Walk-aways are evidence too (`use_walk_aways`); without them the ceiling is that of choices alone.

`true_prior_cosines` runs the engine's own learner from the true population's prior on the same lists: the
recovery a perfectly fitted segment prior would give, between the engine's figure and the ceiling.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from marketplace.simulation import (
    AFFINITY_NOISE_SD,
    AFFINITY_SHARE,
    POSITION_BIAS,
    REGION_AFFINITY,
    SEGMENT_TRUE_WEIGHTS,
    UTILITY_SCALE,
    UTILITY_SCALE_LOG_SD,
    WALK_AWAY_MEAN_SD,
    WALK_AWAY_RANGE,
    World,
)
from marketplace.vocabulary import FACTORS, REGIONS
from personalization import learning


@dataclass(frozen=True)
class ShownList:
    """What a customer was shown (factor features and region index of each option, best first) and did."""

    features: np.ndarray  # (k, FACTORS)
    regions: np.ndarray  # (k,)
    chosen: int | None  # 0-based position; None = walked away


def population_draws(rng: np.random.Generator, segment: str, heterogeneity: float, draws: int):
    """`draws` customers' hidden preferences as `simulation._draw_customer` draws them for a segment: factor
    weights (draws, FACTORS), decisiveness (draws,), region affinity (draws, REGIONS) and walk-away bar (draws,)."""
    raw = SEGMENT_TRUE_WEIGHTS[segment] * np.exp(rng.normal(0.0, heterogeneity, (draws, len(FACTORS))))
    weights = raw / raw.sum(axis=1, keepdims=True)
    scale = np.exp(rng.normal(math.log(UTILITY_SCALE), UTILITY_SCALE_LOG_SD, draws))
    affinity = rng.normal(0.0, AFFINITY_NOISE_SD, (draws, len(REGIONS)))
    favoured = rng.integers(len(REGIONS), size=draws)
    avoided = (favoured + rng.integers(1, len(REGIONS), size=draws)) % len(REGIONS)
    on = np.flatnonzero(rng.random(draws) < AFFINITY_SHARE)
    affinity[on, favoured[on]] += REGION_AFFINITY
    affinity[on, avoided[on]] -= REGION_AFFINITY
    bar = np.clip(rng.normal(*WALK_AWAY_MEAN_SD, draws), *WALK_AWAY_RANGE)
    return weights, scale, affinity, bar


def log_choice_probabilities(
    draws: tuple[np.ndarray, ...], features: np.ndarray, regions: np.ndarray
) -> tuple[np.ndarray, np.ndarray]:
    """Per draw of (weights, scale, affinity, bar, ...): the log-probabilities of [walk away, option 1, ...,
    option k] under the true choice model (`simulation.choice_probabilities`), and each option's match quality
    (`simulation.true_utility`)."""
    weights, scale, affinity, bar = draws[:4]
    match = weights @ features.T + affinity[:, regions]
    utility = scale[:, None] * match - POSITION_BIAS * np.log(np.arange(1, len(features) + 1))[None, :]
    utility = np.concatenate([(scale * bar)[:, None], utility], axis=1)
    utility -= utility.max(axis=1, keepdims=True)
    return utility - np.log(np.exp(utility).sum(axis=1, keepdims=True)), match


def ceiling_cosines(
    world: World,
    lists: dict[int, Sequence[ShownList]],
    *,
    at: tuple[int, ...],
    draws: int = 40_000,
    use_walk_aways: bool = True,
    seed: int = 0,
) -> dict[int, list[float]]:
    """Per n in `at`, the cosine of the posterior-mean weights after each customer's n-th choice to its true
    weights (customers with fewer choices are left out). `lists`: customer index -> its lists in time order."""
    rng = np.random.default_rng(seed)
    out: dict[int, list[float]] = {n: [] for n in at}
    for index, shown in lists.items():
        customer = world.customers[index]
        weights, scale, affinity, bar = population_draws(rng, customer.segment, world.config.heterogeneity, draws)
        log_likelihood = np.zeros(draws)
        choices = 0
        for item in shown:
            if item.chosen is None and not use_walk_aways:
                continue
            log_choice, _ = log_choice_probabilities((weights, scale, affinity, bar), item.features, item.regions)
            log_likelihood += log_choice[:, 0 if item.chosen is None else item.chosen + 1]
            if item.chosen is None:
                continue
            choices += 1
            if choices in out:
                posterior = np.exp(log_likelihood - log_likelihood.max())
                mean = (posterior / posterior.sum()) @ weights
                truth = customer.weights
                out[choices].append(float(mean @ truth / (np.linalg.norm(mean) * np.linalg.norm(truth))))
    return out


def true_prior_cosines(
    world: World,
    lists: dict[int, Sequence[ShownList]],
    *,
    at: tuple[int, ...],
    draws: int = 100_000,
    seed: int = 0,
) -> dict[int, list[float]]:
    """Per n in `at`, the cosine to the true weights after each customer's n-th choice of the engine's own
    online learner (`learning.choice_update` from the choices, as the engine learns) started from the true
    population's prior instead of the fitted one: the mean and spread of the log factor weights and of the
    region effects of the customer's segment (from `draws` draws of the population), and the true position
    bias. Against the engine's figure it separates what the learner loses from what the fitted prior loses."""
    rng = np.random.default_rng(seed)
    priors: dict[str, learning.PreferenceState] = {}
    out: dict[int, list[float]] = {n: [] for n in at}
    for index, shown in lists.items():
        customer = world.customers[index]
        if customer.segment not in priors:
            weights, scale, affinity, _ = population_draws(rng, customer.segment, world.config.heterogeneity, draws)
            z = np.hstack([np.log(scale[:, None] * weights), scale[:, None] * affinity])
            priors[customer.segment] = learning.prior_state(z.mean(axis=0), z.std(axis=0))
        state, choices = priors[customer.segment], 0
        for item in shown:
            if item.chosen is None:
                continue
            options = learning.option_matrix(item.features, item.regions)
            offsets = learning.position_offsets(len(options), POSITION_BIAS)
            state = learning.choice_update(state, options, item.chosen, offsets=offsets).state
            choices += 1
            if choices in out:
                out[choices].append(learning.cosine(learning.effective_weights(state), customer.weights))
    return out
