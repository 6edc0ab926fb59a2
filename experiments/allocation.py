"""Traffic allocation for multi-armed bandit experiments: Thompson weights, the reweighting rule, the analysis.

Framework-free (standard library, numpy). It follows "Multi-armed bandit mode" in
`shared/reference/experiment-statistics.md`:

- `thompson_weights`: each arm's share of posterior draws in which it is best (Beta posteriors of the
  conversion rate), with the additive floor `p_i = f + (1 - k f) w_i` so that no arm starves.
- `reweight_due`: reweight only once every arm has a minimum of units and a fixed cadence has passed.
- `period_weighted_conversion`: each arm's conversion rate when traffic weights and the base rate change
  between periods (stratified by period, so a naive pooled rate's Simpson-style bias does not arise).
- `simulate_bernoulli_bandit`: a per-round simulator of Thompson sampling, epsilon-greedy, UCB1 and random
  play on Bernoulli arms, for the regret benchmark of `shared/reference/learning-and-bandits.md`.

Randomness always comes in as `rng: numpy.random.Generator`; times are plain floats (seconds, e.g. a Unix
timestamp) so the module needs no clock and no framework.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from numbers import Integral, Real
from typing import Literal

import numpy as np

from experiments.stats import UndefinedStatisticError

Policy = Literal["thompson", "epsilon_greedy", "ucb1", "random"]
POLICIES: tuple[str, ...] = ("thompson", "epsilon_greedy", "ucb1", "random")


def _check_count(name: str, value: object) -> None:
    if isinstance(value, bool) or not isinstance(value, Integral):
        raise ValueError(f"{name} must be an integer, got {value!r}")
    if value < 0:
        raise ValueError(f"{name} must be non-negative, got {value}")


def _check_positive(name: str, value: object) -> None:
    if isinstance(value, bool) or not isinstance(value, Real) or not math.isfinite(value) or not value > 0:
        raise ValueError(f"{name} must be a positive finite number, got {value!r}")


def _check_finite(name: str, value: object) -> None:
    if isinstance(value, bool) or not isinstance(value, Real) or not math.isfinite(value):
        raise ValueError(f"{name} must be a finite number, got {value!r}")


@dataclass(frozen=True)
class ArmState:
    """The sufficient statistics of one arm's conversion metric: units served and the units that converted."""

    units: int
    conversions: int

    def __post_init__(self) -> None:
        _check_count("units", self.units)
        _check_count("conversions", self.conversions)
        if self.conversions > self.units:
            raise ValueError(f"conversions must be within 0..units, got {self.conversions} of {self.units}")


def _check_arms(arms: Sequence[ArmState]) -> None:
    if len(arms) == 0:
        raise ValueError("at least one arm is needed")
    for index, arm in enumerate(arms):
        if not isinstance(arm, ArmState):
            raise TypeError(f"arm {index} must be an ArmState, got {type(arm).__name__}")


def thompson_weights(
    arms: Sequence[ArmState],
    *,
    rng: np.random.Generator,
    draws: int = 10_000,
    floor: float = 0.01,
    prior_alpha: float = 1.0,
    prior_beta: float = 1.0,
) -> tuple[float, ...]:
    """Traffic weights from Thompson sampling: the share of posterior draws in which each arm is best, floored.

    Arm `i`'s posterior is `Beta(prior_alpha + conversions_i, prior_beta + units_i - conversions_i)`;
    `draws` joint samples are taken at once (a `draws x k` matrix) and `w_i` is the fraction of rows whose
    maximum is arm `i`. The floor is additive, `p_i = f + (1 - k f) w_i`: every arm keeps at least `f` and the
    weights still sum to 1. `floor` must lie in `[0, 1/k]`; at `1/k` the weights are uniform.
    """
    _check_arms(arms)
    if isinstance(draws, bool) or not isinstance(draws, Integral) or draws < 1:
        raise ValueError(f"draws must be a positive integer, got {draws!r}")
    _check_finite("floor", floor)
    k = len(arms)
    if not 0 <= floor <= 1 / k:
        raise ValueError(f"floor must be within 0..1/k = {1 / k:.6g} for {k} arms, got {floor}")
    _check_positive("prior_alpha", prior_alpha)
    _check_positive("prior_beta", prior_beta)
    units = np.array([arm.units for arm in arms], dtype=float)
    conversions = np.array([arm.conversions for arm in arms], dtype=float)
    alpha = prior_alpha + conversions
    beta = prior_beta + units - conversions
    samples = rng.beta(alpha, beta, size=(int(draws), k))
    best = np.bincount(np.argmax(samples, axis=1), minlength=k) / draws
    weights = floor + (1.0 - k * floor) * best
    return tuple(float(weight) for weight in weights)


def reweight_due(
    arms: Sequence[ArmState],
    *,
    minimum_units: int = 100,
    last_reweight_at: float | None,
    now_seconds: float,
    cadence_seconds: float,
) -> bool:
    """Whether the bandit should recompute its weights now.

    Due when both hold: every arm has at least `minimum_units` units (GrowthBook's default is 100), and at
    least `cadence_seconds` have passed since `last_reweight_at` (`None`: never reweighted, so only the
    minimum applies). Times are seconds on one clock (e.g. Unix timestamps). If the clock reads earlier than
    the last reweight, the elapsed time is negative and it is not due.
    """
    _check_arms(arms)
    _check_count("minimum_units", minimum_units)
    _check_finite("now_seconds", now_seconds)
    _check_positive("cadence_seconds", cadence_seconds)
    if last_reweight_at is not None:
        _check_finite("last_reweight_at", last_reweight_at)
    if any(arm.units < minimum_units for arm in arms):
        return False
    return last_reweight_at is None or now_seconds - last_reweight_at >= cadence_seconds


@dataclass(frozen=True)
class Period:
    """One period of constant traffic weights: each arm's units and conversions while those weights held."""

    arms: tuple[ArmState, ...]

    def __post_init__(self) -> None:
        if not isinstance(self.arms, tuple):
            raise TypeError(f"arms must be a tuple of ArmState, got {type(self.arms).__name__}")
        _check_arms(self.arms)

    @property
    def units(self) -> int:
        return sum(arm.units for arm in self.arms)


@dataclass(frozen=True)
class ArmRate:
    """An arm's period-weighted conversion rate, its standard error, and its raw totals over all periods."""

    rate: float
    standard_error: float
    units: int
    conversions: int


def period_weighted_conversion(periods: Sequence[Period]) -> tuple[ArmRate, ...]:
    """Each arm's conversion rate over the experiment's traffic, unbiased when weights and the base rate drift.

    The estimator stratifies by period: arm `a`'s rate within period `t`, `r_at = c_at / n_at`, is averaged
    over the periods with each period weighted by its total traffic (all arms), `N_t / N`:

        rate_a = sum_t (N_t / N) r_at,    se_a^2 = sum_t (N_t / N)^2 r_at (1 - r_at) / n_at.

    The target is what the arm's rate would have been had it served every unit of the experiment, the same
    mix of periods for every arm, so arms are compared on the same population. Within a period the weights
    are fixed, so given the units an arm received there, `r_at` is unbiased for that period's true rate; the
    estimate is therefore unbiased whatever the weights were (adaptive Thompson weights included) as long as
    the periods' sizes `N_t` do not depend on the outcomes. The naive pooled rate `sum_t c_at / sum_t n_at`
    instead weights the periods by the arm's own traffic, which is biased when the weights and the base rate
    both move (an arm that wins late collects its units in the periods it happened to be served most).

    This needs only the counts, not the intended weights, so it stays exact when the realised split differs
    from the weights. Periods with no traffic are skipped. An arm with no units in a period that had traffic
    leaves its rate undefined there and raises `UndefinedStatisticError` (the floor makes this rare; merge
    the period with a neighbour). The standard error uses `p (1 - p)` as `ProportionStats` does.
    """
    if len(periods) == 0:
        raise ValueError("at least one period is needed")
    for index, period in enumerate(periods):
        if not isinstance(period, Period):
            raise TypeError(f"period {index} must be a Period, got {type(period).__name__}")
    k = len(periods[0].arms)
    if any(len(period.arms) != k for period in periods):
        raise ValueError(f"every period must have the same number of arms, got {[len(p.arms) for p in periods]}")
    units = np.array([[arm.units for arm in period.arms] for period in periods], dtype=float)
    conversions = np.array([[arm.conversions for arm in period.arms] for period in periods], dtype=float)
    period_units = units.sum(axis=1)
    active = period_units > 0
    if not active.any():
        raise UndefinedStatisticError("no period has any traffic")
    units, conversions, period_units = units[active], conversions[active], period_units[active]
    empty = np.argwhere(units == 0)
    if empty.size:
        period_index, arm_index = int(np.flatnonzero(active)[empty[0, 0]]), int(empty[0, 1])
        raise UndefinedStatisticError(
            f"arm {arm_index} has no units in period {period_index}, which had traffic, so its rate there is "
            "undefined; merge that period with a neighbour"
        )
    share = period_units / period_units.sum()
    rates = conversions / units
    rate = share @ rates
    variance = (share**2) @ (rates * (1.0 - rates) / units)
    return tuple(
        ArmRate(
            rate=float(rate[a]),
            standard_error=float(math.sqrt(variance[a])),
            units=int(units[:, a].sum()),
            conversions=int(conversions[:, a].sum()),
        )
        for a in range(k)
    )


def periods_merge_sparse(periods: Sequence[Period]) -> tuple[Period, ...]:
    """Merge each period in which some arm has no units into its neighbour, so that every remaining period
    defines every arm's rate (what `period_weighted_conversion` needs). Periods without traffic are dropped;
    a sparse period joins the one before it (the first, the one after). Merging two periods pools them, which
    is unbiased when their weights were equal and only mildly biased otherwise: it is the fallback for what
    the floor of the weights makes rare."""
    kept = [p for p in periods if p.units > 0]
    merged: list[Period] = []

    def pooled(a: Period, b: Period) -> Period:
        return Period(
            tuple(
                ArmState(x.units + y.units, x.conversions + y.conversions) for x, y in zip(a.arms, b.arms, strict=True)
            )
        )

    for period in kept:
        sparse = any(arm.units == 0 for arm in period.arms)
        if merged and (sparse or any(arm.units == 0 for arm in merged[-1].arms)):
            merged[-1] = pooled(merged[-1], period)
        else:
            merged.append(period)
    return tuple(merged)


def simulate_bernoulli_bandit(
    policy: Policy,
    true_rates: Sequence[float],
    rounds: int,
    rng: np.random.Generator,
    *,
    epsilon: float = 0.1,
) -> float:
    """Play `rounds` rounds of a policy on Bernoulli arms and return its expected (pseudo-)regret.

    The regret is `sum over rounds of (best rate - rate of the pulled arm)`: the expected regret given the
    pulls, not the realised reward shortfall, which is what MABWiser's benchmark figures measure. Policies:

    - "thompson": Beta(1, 1) priors; each round draws one sample per arm, pulls the argmax, updates.
    - "epsilon_greedy": with probability `epsilon` (default 0.1) a uniformly random arm, otherwise the arm
      with the highest observed mean (an unpulled arm counts as 0, as in MABWiser).
    - "ucb1": each arm once, then the argmax of `mean + sqrt(2 ln t / n)` (Auer et al. 2002).
    - "random": a uniformly random arm each round.

    The arms are shuffled once per run, so that `argmax`'s ties (broken by the lowest index) favour no
    particular position of the best arm; the regret does not depend on the order of `true_rates`.
    """
    if policy not in POLICIES:
        raise ValueError(f"policy must be one of {', '.join(POLICIES)}; got {policy!r}")
    rates = np.asarray(true_rates, dtype=float)
    if rates.ndim != 1 or rates.size == 0:
        raise ValueError("true_rates must be a non-empty sequence of probabilities")
    if not np.all((rates >= 0) & (rates <= 1)):
        raise ValueError(f"true rates must be within 0..1, got {list(true_rates)}")
    _check_count("rounds", rounds)
    _check_finite("epsilon", epsilon)
    if not 0 <= epsilon <= 1:
        raise ValueError(f"epsilon must be within 0..1, got {epsilon}")
    rates = rng.permutation(rates)
    k = rates.size
    rewards_uniform = rng.random(rounds)
    pulls = np.zeros(k)
    successes = np.zeros(k)

    if policy == "random":
        pulls = np.bincount(rng.integers(k, size=rounds), minlength=k).astype(float)
    elif policy == "thompson":
        failures = np.zeros(k)
        for t in range(rounds):
            arm = int(np.argmax(rng.beta(successes + 1.0, failures + 1.0)))
            pulls[arm] += 1
            if rewards_uniform[t] < rates[arm]:
                successes[arm] += 1
            else:
                failures[arm] += 1
    elif policy == "epsilon_greedy":
        explore = rng.random(rounds) < epsilon
        random_arms = rng.integers(k, size=rounds)
        means = np.zeros(k)
        for t in range(rounds):
            arm = int(random_arms[t]) if explore[t] else int(np.argmax(means))
            pulls[arm] += 1
            successes[arm] += rewards_uniform[t] < rates[arm]
            means[arm] = successes[arm] / pulls[arm]
    else:  # ucb1
        for t in range(rounds):  # t is the number of pulls so far; the first k rounds play each arm once
            arm = t if t < k else int(np.argmax(successes / pulls + np.sqrt(2.0 * math.log(t) / pulls)))
            pulls[arm] += 1
            successes[arm] += rewards_uniform[t] < rates[arm]
    return float(pulls @ (rates.max() - rates))
