"""Learning a customer's preferences from its choices: a Bayesian conditional logit, updated online.

Framework-free. A customer shown options `x_1..x_k` (each the six factor values followed by a one-hot of the
manufacturer's region) and choosing `j` is a conditional-logit observation with utilities
`beta . x_i - position_bias * ln(i)` (buyers look at the top of a list more closely).

The factor weights are positive (more quality is never worse) and differ between customers by factors, not
by amounts (one customer cares twice as much about speed as another), so they are log-normal around the
segment's: the state is a Gaussian over `z = (ln beta_factors, region effects)`, with `beta = (exp(z_f), z_r)`
(the region effects, which may be of either sign, stay linear). This is the mixed-logit convention for
coefficients of one sign. On the same choices of the simulated marketplace, the exact MAP under the true
population's moments recovers a customer's weights with a median cosine of 0.906 after 10 choices with a
Gaussian over beta and 0.938 with the log-normal; the engine's own online learning went from 0.885 to 0.909.

The state starts at the segment's prior (hierarchical Bayes, as in choice-based conjoint: the customer's
weights are drawn around its segment's), and each choice moves it to the Gaussian with the mean and covariance
of the belief times the choice's likelihood (assumed density filtering; the moments by quasi-Monte Carlo over
512 fixed points, so an update is deterministic):
- shrinkage toward the segment is the prior, so a new customer's weights are the segment's and a confident
  customer's are its own (the posterior mean is `(1 - c) w_segment + c w_personal` in effect);
- the move, the learning velocity, is large while the belief is wide and small once it is narrow, and a
  caller may scale it down (for high-value customers);
- a move is bounded in norm (a poisoning guard): no single event can move the weights far.
One Newton (Fisher scoring) step at the mean, the conditional-logit gradient `J (x_j - sum_i p_i x_i)` with
`J = d beta / d z` (beta for a factor, 1 for a region) preconditioned by the covariance, is what the engine
did before, and what EM's customers still take (`posterior_after`); it overshoots a log weight's curved
likelihood. On one choice of the simulated marketplace's lists, the matched moments are 0.07 posterior standard
deviations from the exact posterior's mean at the median (0.17 at the 90th percentile) and the Newton step
0.26 (0.61); the median cosine after 10 choices of the goal's closed loop went from 0.909 to 0.942.
"""

from __future__ import annotations

import functools
import math
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
from scipy import special
from scipy.stats import qmc

from marketplace.vocabulary import FACTORS, REGIONS

N_FACTORS = len(FACTORS)
N_REGIONS = len(REGIONS)
DIMENSIONS = N_FACTORS + N_REGIONS
MAX_STEP_NORM = 3.0  # the largest change of z one event may make (log units for factors, utility for regions)
DEFAULT_POSITION_BIAS = 1.0
MOMENT_POINTS = 512  # quasi-Monte Carlo points of a moment-matched update
MIN_EFFECTIVE_POINTS = 2 * DIMENSIONS  # fewer carrying the weight: the points miss the posterior; Newton instead


@dataclass(frozen=True)
class PreferenceState:
    """A Gaussian belief over z: the log factor weights first (utility units), then the region effects."""

    mean: tuple[float, ...]
    precision: tuple[tuple[float, ...], ...]
    choices: int = 0

    def __post_init__(self) -> None:
        if len(self.mean) != DIMENSIONS or len(self.precision) != DIMENSIONS:
            raise ValueError(f"a preference state has {DIMENSIONS} dimensions")
        if not all(math.isfinite(v) for v in self.mean):
            raise ValueError("the mean must be finite")

    @property
    def mean_array(self) -> np.ndarray:
        return np.asarray(self.mean, dtype=float)

    @property
    def precision_array(self) -> np.ndarray:
        return np.asarray(self.precision, dtype=float)

    @property
    def covariance(self) -> np.ndarray:
        return np.linalg.inv(self.precision_array)

    @property
    def factor_weights(self) -> np.ndarray:
        """The factor weights in utility units (exp of the mean's log weights: the posterior median)."""
        return np.exp(self.mean_array[:N_FACTORS])

    @property
    def region_effects(self) -> np.ndarray:
        return self.mean_array[N_FACTORS:]


def state_from(mean: np.ndarray, precision: np.ndarray, choices: int = 0) -> PreferenceState:
    precision = 0.5 * (precision + precision.T)  # keep it exactly symmetric through many updates
    return PreferenceState(
        mean=tuple(np.asarray(mean, dtype=float).tolist()),
        precision=tuple(map(tuple, precision.tolist())),  # Python floats, as float(v) gives, 7 x faster
        choices=choices,
    )


def prior_state(mean: np.ndarray, sd: np.ndarray) -> PreferenceState:
    """The belief before any choice: independent normals around the segment's z (log factor weights, then
    region effects)."""
    mean = np.asarray(mean, dtype=float)
    sd = np.asarray(sd, dtype=float)
    if mean.shape != (DIMENSIONS,) or sd.shape != (DIMENSIONS,) or np.any(sd <= 0):
        raise ValueError(f"a prior needs {DIMENSIONS} means and {DIMENSIONS} positive standard deviations")
    return state_from(mean, np.diag(1.0 / sd**2))


def utility_weights(z: np.ndarray) -> np.ndarray:
    """beta of a z: the factor weights exp(z_f), then the region effects."""
    z = np.asarray(z, dtype=float)
    return np.concatenate([np.exp(np.clip(z[:N_FACTORS], -30.0, 30.0)), z[N_FACTORS:]])


def log_normal_prior_mean(weights: np.ndarray, log_sd: np.ndarray, *, floor: float) -> np.ndarray:
    """The mean of the log weights whose log-normal has `weights` as its mean: ln(w) - log_sd^2 / 2 (each
    weight at least `floor`, since a pooled fit may put one at or below zero)."""
    weights = np.maximum(np.asarray(weights, dtype=float), floor)
    return np.log(weights) - np.asarray(log_sd, dtype=float) ** 2 / 2


def option_matrix(features: np.ndarray, regions: np.ndarray) -> np.ndarray:
    """The learning features of shown options: factor values, then the one-hot of the region index."""
    features = np.asarray(features, dtype=float)
    one_hot = np.zeros((len(features), N_REGIONS))
    one_hot[np.arange(len(features)), np.asarray(regions, dtype=int)] = 1.0
    return np.hstack([features, one_hot])


def position_offsets(k: int, position_bias: float) -> np.ndarray:
    """The utility each list position loses: position_bias * ln(position), positions from 1."""
    return -position_bias * np.log(np.arange(1, k + 1))


def choice_probabilities(beta: np.ndarray, options: np.ndarray, offsets: np.ndarray | None = None) -> np.ndarray:
    utilities = np.asarray(options) @ np.asarray(beta)
    if offsets is not None:
        utilities = utilities + offsets
    utilities = utilities - utilities.max()
    weights = np.exp(utilities)
    return weights / weights.sum()


@dataclass(frozen=True)
class ChoiceUpdate:
    state: PreferenceState
    probabilities: tuple[float, ...]  # of the shown options, before the update
    step_norm: float
    clipped: bool  # the step hit the bound


def choice_update(
    state: PreferenceState,
    options: np.ndarray,
    chosen: int,
    *,
    offsets: np.ndarray | None = None,
    step_scale: float = 1.0,
    weight: float = 1.0,
    informative: bool = True,
    max_step: float = MAX_STEP_NORM,
    matched: bool = True,
) -> ChoiceUpdate:
    """The belief after `chosen` was picked among `options` (rows best first).

    A choice (`informative`) moves the Gaussian belief to the mean and covariance of the belief times the
    choice's likelihood (assumed density filtering: `_matched_moments`). With `matched=False`, or when too few
    of the points carry that product (a choice far in the belief's tail), it takes one Newton (Fisher scoring)
    step instead: the gradient preconditioned by the covariance, the choice's Fisher information added to the
    precision. `step_scale` (the learning velocity: smaller for high-value customers) scales the move of the
    mean; the evidence counts in full. `weight` scales the observation: 1 for a choice; an outcome may
    reinforce (> 0) or weaken (< 0) a choice, which is not new evidence (`informative=False`): one Newton step
    of the mean, the precision left as it is.
    """
    options = np.asarray(options, dtype=float)
    if options.ndim != 2 or options.shape[1] != DIMENSIONS or not 0 <= chosen < len(options):
        raise ValueError(f"options must be (k, {DIMENSIONS}) with 0 <= chosen < k")
    if not (math.isfinite(step_scale) and step_scale >= 0 and math.isfinite(weight)):
        raise ValueError("step_scale and weight must be finite, step_scale non-negative")
    mean = state.mean_array
    precision = state.precision_array
    beta = utility_weights(mean)
    probabilities = choice_probabilities(beta, options, offsets)
    moments = _matched_moments(mean, precision, options, chosen, offsets, weight) if informative and matched else None
    if moments is not None:
        matched_mean, precision = moments
        step = step_scale * (matched_mean - mean)
    else:
        jacobian = np.concatenate([beta[:N_FACTORS], np.ones(N_REGIONS)])  # d beta / d z
        design = options * jacobian[None, :]  # d utility / d z of each option
        expected = probabilities @ design
        if informative:
            centred = design - expected
            precision = precision + abs(weight) * (centred * probabilities[:, None]).T @ centred
        step = step_scale * np.linalg.solve(precision, weight * (design[chosen] - expected))
    norm = float(np.linalg.norm(step))
    clipped = norm > max_step
    if clipped:
        step *= max_step / norm
    choices = state.choices + (1 if informative else 0)
    return ChoiceUpdate(
        state=state_from(mean + step, precision, choices),
        probabilities=tuple(float(p) for p in probabilities),
        step_norm=min(norm, max_step),
        clipped=clipped,
    )


@functools.cache
def _standard_points() -> np.ndarray:
    """MOMENT_POINTS points of the standard normal in DIMENSIONS: a scrambled Sobol set (fixed seed) and its
    mirror image, whitened, so that their mean is exactly 0 and their covariance exactly the identity (equal
    weights give back the belief itself)."""
    half = special.ndtri(qmc.Sobol(DIMENSIONS, scramble=True, seed=20261206).random(MOMENT_POINTS // 2))
    points = np.vstack([half, -half])
    root = np.linalg.cholesky(points.T @ points / len(points))
    return np.linalg.solve(root, points.T).T


def _matched_moments(
    mean: np.ndarray,
    precision: np.ndarray,
    options: np.ndarray,
    chosen: int,
    offsets: np.ndarray | None,
    weight: float,
) -> tuple[np.ndarray, np.ndarray] | None:
    """The mean and precision of the Gaussian with the moments of the belief times likelihood ** weight, by
    quasi-Monte Carlo: the belief's points (`_standard_points` through its Cholesky root) weighted by the
    likelihood. None when fewer than MIN_EFFECTIVE_POINTS of the points carry the weight, or when the belief's
    covariance or the matched one is not positive definite (numerically)."""
    if weight == 0:
        return mean, precision
    try:
        root = np.linalg.cholesky(np.linalg.inv(precision))
    except np.linalg.LinAlgError:
        return None
    z = mean + _standard_points() @ root.T
    beta = np.concatenate([np.exp(np.clip(z[:, :N_FACTORS], -30.0, 30.0)), z[:, N_FACTORS:]], axis=1)
    utilities = options @ beta.T  # options x points: the reductions below run over the short first axis, 40 us
    if offsets is not None:  # less than over the rows of points x options
        utilities = utilities + np.asarray(offsets, dtype=float)[:, None]
    top = utilities.max(axis=0)  # log-sum-exp by hand: scipy.special.logsumexp takes 120 us more here
    log_likelihood = utilities[chosen] - top - np.log(np.exp(utilities - top).sum(axis=0))
    log_weights = weight * log_likelihood
    weights = np.exp(log_weights - log_weights.max())
    weights /= weights.sum()
    if 1.0 / float(weights @ weights) < MIN_EFFECTIVE_POINTS:
        return None
    matched_mean = weights @ z
    centred = z - matched_mean
    covariance = (centred * weights[:, None]).T @ centred
    covariance = 0.5 * (covariance + covariance.T)
    try:
        np.linalg.cholesky(covariance)
    except np.linalg.LinAlgError:
        return None
    return matched_mean, np.linalg.inv(covariance)


def confidence(state: PreferenceState, prior: PreferenceState) -> float:
    """How much of the prior's uncertainty about the factor weights the evidence has removed, in [0, 1]."""
    now = np.diag(state.covariance)[:N_FACTORS]
    before = np.diag(prior.covariance)[:N_FACTORS]
    return float(np.clip(1.0 - np.mean(now / before), 0.0, 1.0))


def effective_weights(state: PreferenceState) -> np.ndarray:
    """Ranking weights: the factor weights, summing to 1."""
    log_weights = state.mean_array[:N_FACTORS]
    weights = np.exp(log_weights - log_weights.max())
    return weights / weights.sum()


def region_boosts(state: PreferenceState) -> np.ndarray:
    """The learnt region effects in the units of a ranking score (a share of the factor weights' scale)."""
    scale = float(state.factor_weights.sum())
    if not math.isfinite(scale) or scale <= 1e-12:
        return np.zeros(N_REGIONS)
    return state.region_effects / scale


def cosine(a: np.ndarray, b: np.ndarray) -> float:
    a, b = np.asarray(a, dtype=float), np.asarray(b, dtype=float)
    denominator = float(np.linalg.norm(a) * np.linalg.norm(b))
    return float(a @ b / denominator) if denominator else 0.0


@dataclass(frozen=True)
class ChoiceObservation:
    """One choice for a pooled fit: the shown options (rows best first) and the chosen row."""

    options: np.ndarray  # (k, DIMENSIONS)
    chosen: int


@dataclass(frozen=True)
class PooledFit:
    mean: tuple[float, ...]  # beta, then the position coefficient (-position_bias) when it was fitted
    covariance: tuple[tuple[float, ...], ...]
    log_likelihood: float
    observations: int
    iterations: int


def fit_pooled_logit(
    observations: Sequence[ChoiceObservation],
    *,
    prior_mean: np.ndarray,
    prior_precision: np.ndarray,
    fit_position: bool = True,
    iterations: int = 25,
    tolerance: float = 1e-6,
) -> PooledFit:
    """MAP of one conditional logit over many choices (a segment's), by Newton's method, in beta itself: the
    weights of the segment's representative customer, whose scale starts `empirical_bayes_prior`.

    With `fit_position`, ln(position) is one more feature, whose coefficient is minus the position bias.
    The prior keeps the fit defined when a segment has few choices or a region never appears.
    """
    extra = 1 if fit_position else 0
    dimension = DIMENSIONS + extra
    prior_mean = np.asarray(prior_mean, dtype=float)
    prior_precision = np.asarray(prior_precision, dtype=float)
    if prior_mean.shape != (dimension,) or prior_precision.shape != (dimension, dimension):
        raise ValueError(f"the prior of this fit has {dimension} dimensions")
    designs = []
    for observation in observations:
        options = np.asarray(observation.options, dtype=float)
        if fit_position:
            options = np.hstack([options, np.log(np.arange(1, len(options) + 1))[:, None]])
        designs.append((options, observation.chosen))
    beta = prior_mean.copy()
    log_likelihood = 0.0
    done = 0
    for done in range(1, iterations + 1):  # noqa: B007 - reported after the loop
        gradient = -prior_precision @ (beta - prior_mean)
        hessian = prior_precision.copy()
        log_likelihood = 0.0
        for options, chosen in designs:
            utilities = options @ beta
            utilities -= utilities.max()
            weights = np.exp(utilities)
            total = weights.sum()
            probabilities = weights / total
            log_likelihood += float(utilities[chosen] - math.log(total))
            expected = probabilities @ options
            gradient += options[chosen] - expected
            centred = options - expected
            hessian += (centred * probabilities[:, None]).T @ centred
        step = np.linalg.solve(hessian, gradient)
        beta += step
        if float(np.linalg.norm(step)) < tolerance:
            break
    covariance = np.linalg.inv(hessian)
    return PooledFit(
        mean=tuple(float(v) for v in beta),
        covariance=tuple(tuple(float(v) for v in row) for row in covariance),
        log_likelihood=log_likelihood,
        observations=len(designs),
        iterations=done,
    )


def posterior_after(
    prior: PreferenceState, observations: Sequence[ChoiceObservation], *, position_bias: float
) -> tuple[PreferenceState, float]:
    """The belief after learning from each choice in turn by a Newton step, and how well the belief predicted
    each choice before learning from it (the sum of the log probabilities: prequential, a marginal likelihood).
    EM's customers learn by the Newton step, not the engine's matched moments: with the matched posteriors EM's
    spread of the log factor weights falls to 0.5-0.9 and that of the region effects rises to 2-3.5 (the truth:
    about 1.25 and 1.9), and a first version that learnt them so converted 4.8 % less in the closed loop."""
    state, log_likelihood = prior, 0.0
    for observation in observations:
        offsets = position_offsets(len(observation.options), position_bias)
        update = choice_update(state, observation.options, observation.chosen, offsets=offsets, matched=False)
        log_likelihood += math.log(max(update.probabilities[observation.chosen], 1e-300))
        state = update.state
    return state, log_likelihood


def predictive_log_likelihood(
    prior: PreferenceState, customers: Sequence[Sequence[ChoiceObservation]], *, position_bias: float
) -> float:
    """How well a prior predicts each customer's next choice before learning from it, summed over all choices
    of all customers: the marginal likelihood of the prior (by the chain rule), the empirical-Bayes criterion."""
    return sum(posterior_after(prior, c, position_bias=position_bias)[1] for c in customers)


SPREAD_MULTIPLIERS = (0.75, 1.0, 1.25, 1.5, 2.0)


def empirical_bayes_prior(
    customers: Sequence[Sequence[ChoiceObservation]],
    start: PreferenceState,
    *,
    position_bias: float,
    sd_floor: np.ndarray,
    iterations: int = 10,
    spread_multipliers: Sequence[float] = SPREAD_MULTIPLIERS,
) -> PreferenceState:
    """A segment's prior from its customers' choices: EM for the normal hierarchical model, each customer's
    posterior approximated by its Newton updates (`posterior_after`). Each round learns every customer from the
    current prior, then sets the prior's mean to the mean of their posterior means and its variance to the
    spread of those means plus their mean posterior variance (never below `sd_floor`). The Newton posteriors
    are narrower than exact ones, so EM settles on too small a spread of the factor weights: last, that spread
    is scaled by the multiple of `spread_multipliers` with the highest predictive likelihood."""
    mean, sd = start.mean_array, np.sqrt(np.diag(start.covariance))
    floor = np.asarray(sd_floor, dtype=float)
    if not customers:
        return start
    for _ in range(iterations):
        prior = prior_state(mean, sd)
        posteriors = [
            posterior_after(prior, observations, position_bias=position_bias)[0] for observations in customers
        ]
        means = np.array([p.mean_array for p in posteriors])
        variances = np.array([np.diag(p.covariance) for p in posteriors])
        mean = means.mean(axis=0)
        sd = np.sqrt(np.maximum(((means - mean) ** 2 + variances).mean(axis=0), floor**2))

    def scaled(multiple: float) -> PreferenceState:
        return prior_state(mean, np.concatenate([sd[:N_FACTORS] * multiple, sd[N_FACTORS:]]))

    return max(
        (scaled(m) for m in spread_multipliers),
        key=lambda prior: predictive_log_likelihood(prior, customers, position_bias=position_bias),
    )
