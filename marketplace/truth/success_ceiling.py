"""The best prediction of whether an order converts that any model could make from what it sees: the Bayes
posterior predictive under the simulated marketplace's true population, by importance sampling.

Pure (numpy and pandas). The success bar's oracle (`prediction_data`'s `p_convert_true`) knows each customer's
hidden preferences. A model knows only what the customer did. This predictor sits between the two. For each
customer it takes draws of the hidden parameters from the distribution `simulation._draw_customer` draws from,
for the customer's segment (factor weights, decisiveness, region affinity, walk-away bar and price
sensitivity, quality sensitivity). Each draw is weighted by the likelihood of what was known before the order:
which option was chosen, or none, whether the chosen one converted, and the ratings of delivered contracts,
under the true choice, conversion and satisfaction models. The prediction is P(the order converts) averaged
over the weighted draws.

It knows the simulator's model and population, which no model does, so no model that sees only the customer's
orders can do better, up to sampling error (which only lowers its accuracy: the bench shows that eight times
the draws change it by less than 0.002). It is the ceiling of the success bar, as `recovery_ceiling` is of
the recovery bar.
"""

from __future__ import annotations

import heapq
from collections.abc import Iterable
from dataclasses import dataclass
from types import SimpleNamespace

import numpy as np
import pandas as pd
from scipy.special import ndtr

from marketplace.simulation import (
    CONVERSION_OFFSET,
    CONVERSION_SLOPE,
    PRICE_SENSITIVITY_GAMMA,
    SATISFACTION_NOISE_SD,
    SENSITIVE_SEGMENT_FACTOR,
    History,
    SimulatedOrder,
    World,
    satisfaction_mean,
)
from marketplace.truth.recovery_ceiling import log_choice_probabilities, population_draws
from predictions.ml.features import WALK_AWAY_DECISION_HOURS


@dataclass(frozen=True)
class SuccessCeiling:
    p_convert: pd.Series  # per order id of the customers asked for: the posterior predictive P(converts)
    effective_draws: pd.Series  # per order id: the effective number of draws behind its prediction


def _order_terms(
    features: np.ndarray,
    regions: np.ndarray,
    cost_index: np.ndarray,
    position: int | None,
    converted: bool,
    draws: tuple[np.ndarray, ...],
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Per draw: P(the order converts), the log-likelihood of what the customer did with the shown options
    (`position` chosen, None = walked away; `converted` if it then signed), and each option's match quality."""
    bar, price = draws[3], draws[4]
    log_choice, match = log_choice_probabilities(draws, features, regions)
    logit = CONVERSION_OFFSET + CONVERSION_SLOPE * (match - bar[:, None]) - price[:, None] * (cost_index - 1.0)[None, :]
    convert = 1.0 / (1.0 + np.exp(-logit))
    p_convert = (np.exp(log_choice[:, 1:]) * convert).sum(axis=1)
    if position is None:
        log_likelihood = log_choice[:, 0]
    else:
        p = convert[:, position] if converted else 1.0 - convert[:, position]
        log_likelihood = log_choice[:, position + 1] + np.log(np.clip(p, 1e-300, None))
    return p_convert, log_likelihood, match


def _rating_log_likelihood(
    sim: SimulatedOrder, match: np.ndarray, bar: np.ndarray, quality_sensitivity: np.ndarray, quality: float
) -> np.ndarray:
    """Per draw: the log-likelihood of the contract's rating (1-5) given its on-time delivery, by the true
    model (`simulation.satisfaction_mean` plus the rating noise, rounded and clipped)."""
    position = sim.response.chosen_position
    draws = SimpleNamespace(walk_away_threshold=bar, quality_sensitivity=quality_sensitivity)
    mean = satisfaction_mean(draws, sim.order, match[:, position], quality, bool(sim.response.delivered_on_time))
    score = sim.response.satisfaction
    upper = 1.0 if score == 5 else ndtr((score + 0.5 - mean) / SATISFACTION_NOISE_SD)
    lower = 0.0 if score == 1 else ndtr((score - 0.5 - mean) / SATISFACTION_NOISE_SD)
    return np.log(np.clip(upper - lower, 1e-300, None))


def success_ceiling(
    world: World,
    history: History,
    *,
    customers: Iterable[int],
    draws: int = 20_000,
    seed: int = 0,
    use_ratings: bool = True,
) -> SuccessCeiling:
    """The posterior predictive P(converts) of every order of `customers` (indexes into world.customers), order
    ids as in `prediction_data` (the index into history.orders). An order's outcome is evidence from the time
    it was decided (the choice, or a walk-away 48 hours after the order), as the feature builder has it; its
    rating (`use_ratings`) from the delivery on."""
    wanted = set(customers)
    by_customer: dict[int, list[int]] = {}
    for order_id, sim in enumerate(history.orders):
        if sim.customer in wanted:
            by_customer.setdefault(sim.customer, []).append(order_id)
    rng = np.random.default_rng(seed)
    catalog = world.catalog
    predictions: dict[int, float] = {}
    effective: dict[int, float] = {}
    for index in sorted(by_customer):
        customer = world.customers[index]
        price_boost = SENSITIVE_SEGMENT_FACTOR if customer.segment == "cost_sensitive" else 1.0
        quality_boost = SENSITIVE_SEGMENT_FACTOR if customer.segment == "quality_critical" else 1.0
        population = (
            *population_draws(rng, customer.segment, world.config.heterogeneity, draws),
            rng.gamma(*PRICE_SENSITIVITY_GAMMA, draws) * price_boost,
        )
        quality_sensitivity = rng.gamma(*PRICE_SENSITIVITY_GAMMA, draws) * quality_boost
        log_weight = np.zeros(draws)
        pending: list[tuple[float, int, np.ndarray]] = []  # (decided day, order id, log-likelihood)
        for order_id in sorted(by_customer[index], key=lambda i: history.orders[i].day):
            sim = history.orders[order_id]
            while pending and pending[0][0] <= sim.day:
                log_weight += heapq.heappop(pending)[2]
            shown = np.asarray(sim.shown, dtype=np.int64)
            position = sim.response.chosen_position
            if shown.size == 0:  # nothing to choose from: it cannot convert, and says nothing
                predictions[order_id], effective[order_id] = 0.0, float("nan")
                continue
            p_convert, log_likelihood, match = _order_terms(
                np.asarray(sim.shown_features, dtype=float),
                catalog.region[shown],
                catalog.cost_index[shown],
                position,
                bool(sim.response.converted),
                population,
            )
            w = np.exp(log_weight - log_weight.max())
            w /= w.sum()
            predictions[order_id] = float(w @ p_convert)
            effective[order_id] = float(1.0 / (w @ w))
            hours = WALK_AWAY_DECISION_HOURS if position is None else sim.response.time_to_match_hours
            decided = sim.day + hours / 24.0
            heapq.heappush(pending, (decided, order_id, log_likelihood))
            if use_ratings and sim.response.satisfaction is not None:  # known once the contract is delivered
                row = int(shown[position])
                rating = _rating_log_likelihood(
                    sim, match, population[3], quality_sensitivity, float(catalog.quality_score[row])
                )
                heapq.heappush(pending, (decided + float(catalog.lead_time_days[row]), order_id, rating))
    index = pd.Index(sorted(predictions), name="order_id")
    return SuccessCeiling(
        pd.Series([predictions[i] for i in index], index=index, name="p_convert_ceiling"),
        pd.Series([effective[i] for i in index], index=index, name="effective_draws"),
    )


def customer_sample(history: History, order_ids: Iterable[int], n: int, seed: int = 0) -> list[int]:
    """`n` customers drawn at random (seeded) among those of `order_ids`: the ceiling is costly, so the
    bench computes it for a sample and compares every predictor on the same orders."""
    owners = sorted({history.orders[int(i)].customer for i in order_ids})
    rng = np.random.default_rng(seed)
    return sorted(rng.choice(owners, size=min(n, len(owners)), replace=False).tolist()) if owners else []
