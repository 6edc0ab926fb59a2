"""The statistics of experiments, on sufficient statistics: tests, intervals, health checks, power, CUPED.

Framework-free (standard library, numpy, scipy). Every function takes frozen dataclasses of per-variant
sufficient statistics and returns a frozen dataclass or plain numbers, so an analysis costs O(variants)
whatever the traffic. The formulas are those of `shared/reference/experiment-statistics.md` and give the
same numbers as GrowthBook's gbstats on the same inputs.

Conventions:
- The effect is treatment minus control: absolute `mT - mC`, or relative `(mT - mC) / |mC|`.
- Intervals are `(ci_low, ci_high)`; a one-sided test has one infinite end (`-inf` or `inf`).
- Inputs that make a statistic undefined (an arm with n < 2, a control mean of 0 for a relative lift, no
  variance in either arm) raise `UndefinedStatisticError`, a `ValueError`; no function returns NaN.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from numbers import Integral, Real
from typing import Literal

import numpy as np
from scipy import special

Alternative = Literal["two-sided", "greater", "less"]
ALTERNATIVES: tuple[str, ...] = ("two-sided", "greater", "less")
ADJUSTMENT_METHODS: tuple[str, ...] = ("holm", "bh")

# Floating-point slack when checking that sums of squares are consistent (Cauchy-Schwarz) with the sums.
_CONSISTENCY_TOLERANCE = 1e-8


class UndefinedStatisticError(ValueError):
    """The data do not define the statistic asked for (too few units, no variance, a zero baseline)."""


def _check_count(name: str, value: object) -> None:
    if isinstance(value, bool) or not isinstance(value, Integral):
        raise ValueError(f"{name} must be an integer, got {value!r}")
    if value < 0:
        raise ValueError(f"{name} must be non-negative, got {value}")


def _check_finite(name: str, value: object) -> None:
    if isinstance(value, bool) or not isinstance(value, Real) or not math.isfinite(value):
        raise ValueError(f"{name} must be a finite number, got {value!r}")


def _check_sum_of_squares(label: str, n: int, total: float, squares: float) -> None:
    """`total^2 <= n * squares` for any real values (Cauchy-Schwarz); a violation means corrupted counters."""
    if squares < 0:
        raise ValueError(f"{label}: the sum of squares must be non-negative, got {squares}")
    if n == 0 and (total != 0 or squares != 0):
        raise ValueError(f"{label}: with n = 0 the sums must be 0, got sum={total}, sum_squares={squares}")
    if total * total > n * squares * (1 + _CONSISTENCY_TOLERANCE) + _CONSISTENCY_TOLERANCE:
        raise ValueError(
            f"{label}: sum^2 must not exceed n * sum_squares (got sum={total}, sum_squares={squares}, n={n})"
        )


@dataclass(frozen=True)
class SampleStats:
    """A mean metric of one variant: units, the sum of their values and the sum of their squares.

    `variance` is the unbiased sample variance `(sum_squares - sum^2 / n) / (n - 1)`. An empty arm is
    representable (`mean` is 0.0 at n = 0, `variance` 0.0 at n < 2); the tests refuse arms with n < 2.
    """

    n: int
    sum: float
    sum_squares: float

    def __post_init__(self) -> None:
        _check_count("n", self.n)
        _check_finite("sum", self.sum)
        _check_finite("sum_squares", self.sum_squares)
        _check_sum_of_squares("SampleStats", self.n, self.sum, self.sum_squares)

    @property
    def mean(self) -> float:
        return self.sum / self.n if self.n else 0.0

    @property
    def variance(self) -> float:
        if self.n < 2:
            return 0.0
        return max(0.0, (self.sum_squares - self.sum * self.sum / self.n) / (self.n - 1))


@dataclass(frozen=True)
class ProportionStats:
    """A conversion metric of one variant: units and the units that converted.

    `variance` is `p (1 - p)`, as gbstats' ProportionStatistic (not the unbiased `n / (n - 1)` version).
    """

    n: int
    conversions: int

    def __post_init__(self) -> None:
        _check_count("n", self.n)
        _check_count("conversions", self.conversions)
        if self.conversions > self.n:
            raise ValueError(f"conversions must be within 0..n, got {self.conversions} of {self.n}")

    @property
    def mean(self) -> float:
        return self.conversions / self.n if self.n else 0.0

    @property
    def variance(self) -> float:
        p = self.mean
        return p * (1.0 - p)


ArmStats = SampleStats | ProportionStats


@dataclass(frozen=True)
class TestResult:
    """A frequentist comparison of treatment against control (see the module's conventions)."""

    __test__ = False  # not a pytest test class, despite the name

    effect: float
    ci_low: float
    ci_high: float
    p_value: float
    standard_error: float

    @property
    def significant(self) -> bool:
        """Derived from the same interval that is shown: it excludes zero."""
        return self.ci_low > 0 or self.ci_high < 0


@dataclass(frozen=True)
class BayesianResult:
    """The posterior of the effect: mean, equal-tailed credible interval, chance to win, expected losses.

    `risk_control` is the expected loss of shipping control, `E[max(d, 0)]`; `risk_treatment` that of
    shipping treatment, `E[max(-d, 0)]`; both in the unit of the effect.
    """

    effect: float
    ci_low: float
    ci_high: float
    chance_to_win: float
    risk_control: float
    risk_treatment: float


@dataclass(frozen=True)
class _EffectMoments:
    effect: float
    standard_error: float
    degrees_of_freedom: float


def _effect_moments(control: ArmStats, treatment: ArmStats, *, relative: bool) -> _EffectMoments:
    """Point estimate, standard error (delta method when relative) and Welch-Satterthwaite df."""
    for label, arm in (("control", control), ("treatment", treatment)):
        if not isinstance(arm, SampleStats | ProportionStats):
            raise TypeError(f"{label} must be SampleStats or ProportionStats, got {type(arm).__name__}")
        if arm.n < 2:
            raise UndefinedStatisticError(f"the {label} arm needs at least 2 units, got {arm.n}")
    n_c, m_c, v_c = int(control.n), float(control.mean), float(control.variance)
    n_t, m_t, v_t = int(treatment.n), float(treatment.mean), float(treatment.variance)
    var_mean_c, var_mean_t = v_c / n_c, v_t / n_t
    if var_mean_c + var_mean_t <= 0:
        raise UndefinedStatisticError(
            "both arms have zero variance (every unit has the same value), so the effect has no standard error"
        )
    # Welch-Satterthwaite on the per-arm variances of the means, also for the relative lift (as gbstats).
    dof = (var_mean_c + var_mean_t) ** 2 / (var_mean_c**2 / (n_c - 1) + var_mean_t**2 / (n_t - 1))
    if not relative:
        return _EffectMoments(m_t - m_c, math.sqrt(var_mean_c + var_mean_t), dof)
    if m_c == 0:
        raise UndefinedStatisticError(
            "the relative lift is undefined when the control mean is 0; use relative=False or wait for data"
        )
    variance = v_t / (m_c**2 * n_t) + v_c * m_t**2 / (m_c**4 * n_c)
    return _EffectMoments((m_t - m_c) / abs(m_c), math.sqrt(variance), dof)


def _check_probability(name: str, value: float, *, upper: float = 1.0) -> None:
    if isinstance(value, bool) or not isinstance(value, Real) or not 0 < value < upper:
        raise ValueError(f"{name} must be strictly between 0 and {upper}, got {value!r}")


def frequentist_test(
    control: ArmStats,
    treatment: ArmStats,
    *,
    alpha: float = 0.05,
    relative: bool = True,
    alternative: Alternative = "two-sided",
    sequential_tuning: float | None = None,
) -> TestResult:
    """Welch's t-test of treatment against control, fixed-horizon or sequential (always valid).

    The standard error is `sqrt(vT/nT + vC/nC)`, or for the relative lift the delta method
    `sqrt(vT/(mC^2 nT) + vC mT^2/(mC^4 nC))`; the degrees of freedom are Welch-Satterthwaite on `vT/nT` and
    `vC/nC` in both cases (as gbstats). `alternative` is "two-sided", "greater" (treatment above control)
    or "less"; a one-sided interval is unbounded on the other side.

    With `sequential_tuning=N*` the interval is the asymptotic confidence sequence of Waudby-Smith et al.
    (2023) as in GrowthBook: valid at every look, so an experiment may be analysed as often as wanted and
    stopped when it becomes significant. `N*` is the total sample (both arms) at which the bound is
    tightest; GrowthBook's default is 5000. The two-sided p-value is GrowthBook's (equation 155 of the
    paper); the one-sided p-value is the smallest alpha at which the one-sided bound (with rho fixed at the
    given alpha) excludes zero, in closed form, which is what gbstats finds by bisection (it clips to
    [1e-5, 0.4999]). Either way `p_value < alpha` exactly when `significant`.
    """
    _check_probability("alpha", alpha)
    if alternative not in ALTERNATIVES:
        raise ValueError(f"alternative must be one of {', '.join(ALTERNATIVES)}; got {alternative!r}")
    moments = _effect_moments(control, treatment, relative=relative)
    if sequential_tuning is None:
        return _fixed_horizon(moments, alpha=alpha, alternative=alternative)
    if isinstance(sequential_tuning, bool) or not isinstance(sequential_tuning, Real) or not sequential_tuning > 0:
        raise ValueError(f"sequential_tuning must be a positive total sample size, got {sequential_tuning!r}")
    if alternative != "two-sided" and alpha >= 0.5:
        raise ValueError(f"a one-sided sequential test needs alpha < 0.5, got {alpha}")
    total = control.n + treatment.n
    return _sequential(moments, total=total, tuning=float(sequential_tuning), alpha=alpha, alternative=alternative)


def _fixed_horizon(moments: _EffectMoments, *, alpha: float, alternative: str) -> TestResult:
    d, se, dof = moments.effect, moments.standard_error, moments.degrees_of_freedom
    t_stat = d / se
    if alternative == "two-sided":
        p_value = 2.0 * float(special.stdtr(dof, -abs(t_stat)))
        half_width = float(special.stdtrit(dof, 1.0 - alpha / 2.0)) * se
        low, high = d - half_width, d + half_width
    elif alternative == "greater":
        p_value = float(special.stdtr(dof, -t_stat))
        low, high = d - float(special.stdtrit(dof, 1.0 - alpha)) * se, math.inf
    else:
        p_value = float(special.stdtr(dof, t_stat))
        low, high = -math.inf, d + float(special.stdtrit(dof, 1.0 - alpha)) * se
    return TestResult(effect=d, ci_low=low, ci_high=high, p_value=min(1.0, p_value), standard_error=se)


def sequential_rho(alpha: float, tuning: float, *, two_sided: bool = True) -> float:
    """The mixing parameter of the confidence sequence that makes it tightest at `tuning` total units."""
    a = alpha if two_sided else 2.0 * alpha
    return math.sqrt((-2.0 * math.log(a) + math.log(-2.0 * math.log(a) + 1.0)) / tuning)


def _sequential(moments: _EffectMoments, *, total: int, tuning: float, alpha: float, alternative: str) -> TestResult:
    d, se = moments.effect, moments.standard_error
    s2 = se * se * total  # per-unit variance of the effect
    rho = sequential_rho(alpha, tuning, two_sided=alternative == "two-sided")
    a = total * rho * rho + 1.0
    scale = 2.0 * a / (total * rho) ** 2
    if alternative == "two-sided":
        half_width = math.sqrt(s2 * scale * math.log(math.sqrt(a) / alpha))
        st2 = total * d * d / (se * se)
        p_value = min(1.0, math.sqrt(a) * math.exp(-rho * rho * st2 / (2.0 * a)))
        return TestResult(effect=d, ci_low=d - half_width, ci_high=d + half_width, p_value=p_value, standard_error=se)
    half_width = math.sqrt(s2 * scale * math.log(1.0 + math.sqrt(a) / (2.0 * alpha)))
    toward = d if alternative == "greater" else -d
    if toward <= 0:
        p_value = 1.0
    else:
        # Solve hw(alpha') = |d| for alpha': alpha' = sqrt(a) / (2 (exp(q) - 1)), q = d^2 / (s2 * scale).
        q = d * d / (s2 * scale)
        log_expm1_q = q + math.log1p(-math.exp(-q)) if q > 1.0 else math.log(math.expm1(q))
        p_value = min(1.0, math.exp(0.5 * math.log(a) - math.log(2.0) - log_expm1_q))
    if alternative == "greater":
        return TestResult(effect=d, ci_low=d - half_width, ci_high=math.inf, p_value=p_value, standard_error=se)
    return TestResult(effect=d, ci_low=-math.inf, ci_high=d + half_width, p_value=p_value, standard_error=se)


def bayesian_test(
    control: ArmStats,
    treatment: ArmStats,
    *,
    relative: bool = True,
    prior_mean: float | None = None,
    prior_stddev: float | None = None,
    ci_level: float = 0.95,
) -> BayesianResult:
    """Normal-normal model on the effect (relative by default), as gbstats' effect-level Bayesian test.

    The likelihood of the effect is `N(d_hat, SE^2)` with the estimate and standard error of
    `frequentist_test`. The prior is flat (improper) unless both `prior_mean` and `prior_stddev` are given,
    on the scale of the effect (e.g. `prior_mean=0, prior_stddev=0.3` for relative lifts of about +-30%);
    the posterior is then the precision-weighted combination. Chance to win is `P(d > 0)`; the risks are
    the expected losses of `BayesianResult`; the credible interval is equal-tailed at `ci_level`.
    """
    _check_probability("ci_level", ci_level)
    if (prior_mean is None) != (prior_stddev is None):
        raise ValueError("give both prior_mean and prior_stddev for a proper prior, or neither for a flat one")
    moments = _effect_moments(control, treatment, relative=relative)
    mu, sigma = moments.effect, moments.standard_error
    if prior_mean is not None and prior_stddev is not None:
        _check_finite("prior_mean", prior_mean)
        _check_finite("prior_stddev", prior_stddev)
        if prior_stddev <= 0:
            raise ValueError(f"prior_stddev must be positive, got {prior_stddev}")
        data_precision, prior_precision = 1.0 / sigma**2, 1.0 / prior_stddev**2
        precision = data_precision + prior_precision
        mu = (mu * data_precision + prior_mean * prior_precision) / precision
        sigma = math.sqrt(1.0 / precision)
    z = float(special.ndtri(0.5 + ci_level / 2.0))
    standardized = mu / sigma
    density = math.exp(-0.5 * standardized * standardized) / math.sqrt(2.0 * math.pi)
    below = float(special.ndtr(-standardized))  # P(d < 0)
    above = float(special.ndtr(standardized))  # P(d > 0)
    return BayesianResult(
        effect=mu,
        ci_low=mu - z * sigma,
        ci_high=mu + z * sigma,
        chance_to_win=above,
        risk_control=max(0.0, sigma * density + mu * above),
        risk_treatment=max(0.0, sigma * density - mu * below),
    )


def srm_p_value(counts: Sequence[int], weights: Sequence[float]) -> float:
    """Sample ratio mismatch: Pearson's chi-square p-value of the units per variant against the weights.

    `weights` are the configured traffic shares, positive and normalised here (so `[1, 1]` means 50/50).
    With no units at all there is no evidence of a mismatch and the p-value is 1.0. Deciding when to run
    the check (GrowthBook: every variant has at least 8 units) and the threshold (p < 0.001) is the caller's.
    """
    if len(counts) != len(weights):
        raise ValueError(f"need one weight per count, got {len(counts)} counts and {len(weights)} weights")
    if len(counts) < 2:
        raise ValueError(f"need at least two variants, got {len(counts)}")
    for count in counts:
        _check_count("each count", count)
    for weight in weights:
        _check_finite("each weight", weight)
        if weight <= 0:
            raise ValueError(f"each weight must be positive, got {weight}")
    observed = np.asarray(counts, dtype=float)
    total = observed.sum()
    if total == 0:
        return 1.0
    expected = total * np.asarray(weights, dtype=float) / float(np.sum(weights))
    statistic = float(np.sum((observed - expected) ** 2 / expected))
    return float(special.chdtrc(len(counts) - 1, statistic))


def adjust_p_values(p_values: Sequence[float], method: str) -> tuple[float, ...]:
    """Multiple-comparison adjusted p-values, in the input order, monotone in the raw ones, capped at 1.

    `method="holm"`: Holm-Bonferroni step-down (family-wise error rate); `method="bh"`: Benjamini-Hochberg
    step-up (false discovery rate). The same numbers as statsmodels' `multipletests` with "holm" and
    "fdr_bh".
    """
    if method not in ADJUSTMENT_METHODS:
        raise ValueError(f"method must be one of {', '.join(ADJUSTMENT_METHODS)}; got {method!r}")
    for p in p_values:
        _check_finite("each p-value", p)
        if not 0 <= p <= 1:
            raise ValueError(f"each p-value must be within 0..1, got {p}")
    m = len(p_values)
    if m == 0:
        return ()
    raw = np.asarray(p_values, dtype=float)
    order = np.argsort(raw, kind="stable")
    ranked = raw[order]
    if method == "holm":
        stepped = np.maximum.accumulate((m - np.arange(m)) * ranked)
    else:
        stepped = np.minimum.accumulate((m / np.arange(1, m + 1) * ranked)[::-1])[::-1]
    adjusted = np.empty(m)
    adjusted[order] = np.minimum(stepped, 1.0)
    return tuple(float(p) for p in adjusted)


def sample_size_per_variant(
    baseline_rate: float,
    minimum_effect: float,
    *,
    alpha: float = 0.05,
    power: float = 0.8,
    relative: bool = True,
) -> int:
    """Units per variant for a two-sided two-proportion test to detect `minimum_effect` with `power`.

    The formula of the reference (Fleiss, without continuity correction): pooled variance under the null,
    unpooled under the alternative,
    `n = (z_{1-alpha/2} sqrt(2 p_bar (1 - p_bar)) + z_{power} sqrt(p1 (1 - p1) + p2 (1 - p2)))^2 / (p2 - p1)^2`
    with `p1 = baseline_rate`, `p2 = p1 (1 + minimum_effect)` if `relative` else `p1 + minimum_effect`, and
    `p_bar = (p1 + p2) / 2`; rounded up. statsmodels' `NormalIndPower` on `proportion_effectsize` uses
    Cohen's arcsine effect size instead and agrees within a few percent for rates away from 0 and 1.

    The n is that of the test of the absolute difference (`frequentist_test(..., relative=False)`), whose
    power at this n is the requested one. The delta-method test of the relative lift divides by a larger
    standard error under the alternative (the control's variance enters scaled by `(p2 / p1)^2`), so at
    this n its power is somewhat lower: about 78% instead of 80% for a 10% lift on a 10% baseline.
    """
    _check_probability("baseline_rate", baseline_rate)
    _check_finite("minimum_effect", minimum_effect)
    _check_probability("alpha", alpha)
    _check_probability("power", power)
    if minimum_effect == 0:
        raise ValueError("minimum_effect must be non-zero")
    p1 = baseline_rate
    p2 = p1 * (1.0 + minimum_effect) if relative else p1 + minimum_effect
    if not 0 < p2 < 1:
        raise ValueError(f"the treatment rate implied by the minimum effect must be within (0, 1), got {p2}")
    p_bar = (p1 + p2) / 2.0
    z_alpha = float(special.ndtri(1.0 - alpha / 2.0))
    z_power = float(special.ndtri(power))
    root = z_alpha * math.sqrt(2.0 * p_bar * (1.0 - p_bar)) + z_power * math.sqrt(p1 * (1.0 - p1) + p2 * (1.0 - p2))
    return math.ceil(root * root / (p2 - p1) ** 2)


@dataclass(frozen=True)
class CupedStats:
    """One variant's sufficient statistics for CUPED: the metric Y in the experiment, X before it.

    X is the same metric over a pre-period (e.g. the customer's conversions in the 30 days before
    exposure; 0 for a new customer). Per unit: `n`, `sum_y`, `sum_y2` (sum of Y^2), `sum_x`, `sum_x2`,
    `sum_xy` (sum of X*Y).
    """

    n: int
    sum_y: float
    sum_y2: float
    sum_x: float
    sum_x2: float
    sum_xy: float

    def __post_init__(self) -> None:
        _check_count("n", self.n)
        for name in ("sum_y", "sum_y2", "sum_x", "sum_x2", "sum_xy"):
            _check_finite(name, getattr(self, name))
        _check_sum_of_squares("CupedStats (Y)", self.n, self.sum_y, self.sum_y2)
        _check_sum_of_squares("CupedStats (X)", self.n, self.sum_x, self.sum_x2)
        if self.n == 0 and self.sum_xy != 0:
            raise ValueError(f"CupedStats: with n = 0 sum_xy must be 0, got {self.sum_xy}")
        s_xx, s_yy, s_xy = self.centered()
        if s_xy * s_xy > s_xx * s_yy * (1 + _CONSISTENCY_TOLERANCE) + _CONSISTENCY_TOLERANCE * (1 + s_xx + s_yy):
            raise ValueError("CupedStats: the cross products are inconsistent with the sums of squares")

    def centered(self) -> tuple[float, float, float]:
        """Within-variant centred sums of squares and cross products `(S_xx, S_yy, S_xy)`."""
        if self.n == 0:
            return 0.0, 0.0, 0.0
        s_xx = max(0.0, self.sum_x2 - self.sum_x**2 / self.n)
        s_yy = max(0.0, self.sum_y2 - self.sum_y**2 / self.n)
        return s_xx, s_yy, self.sum_xy - self.sum_x * self.sum_y / self.n


def cuped_theta(variants: Sequence[CupedStats]) -> float:
    """`theta = Cov(Y, X) / Var(X)` pooled within variants: `sum_v S_xy / sum_v S_xx`.

    This is the slope of X in the regression `Y ~ variant + X` (ANCOVA), so it is not inflated by the
    treatment effect. It is 0 when X does not vary (e.g. only new customers): then CUPED changes nothing.
    """
    if not variants:
        raise ValueError("need the statistics of at least one variant")
    s_xx = sum(v.centered()[0] for v in variants)
    s_xy = sum(v.centered()[2] for v in variants)
    return s_xy / s_xx if s_xx > 0 else 0.0


def cuped_adjust(variants: Sequence[CupedStats]) -> tuple[SampleStats, ...]:
    """CUPED: the statistics of `Y_adj = Y - theta (X - mean(X))` per variant, in the input order.

    `theta` is `cuped_theta(variants)` and `mean(X)` the mean of X over all variants' units. Pass the
    results to `frequentist_test` or `bayesian_test` as mean metrics (for a conversion metric with a
    pre-period covariate, too). The adjusted absolute effect equals the treatment coefficient of the
    regression `Y ~ treatment + X`; its variance is smaller by the factor `1 - corr(X, Y)^2`.
    """
    theta = cuped_theta(variants)
    total = sum(v.n for v in variants)
    mean_x = sum(v.sum_x for v in variants) / total if total else 0.0
    adjusted = []
    for v in variants:
        centred_x = v.sum_x - v.n * mean_x
        sum_adj = v.sum_y - theta * centred_x
        sum_adj2 = (
            v.sum_y2
            - 2.0 * theta * (v.sum_xy - mean_x * v.sum_y)
            + theta * theta * (v.sum_x2 - 2.0 * mean_x * v.sum_x + v.n * mean_x * mean_x)
        )
        floor = sum_adj * sum_adj / v.n if v.n else 0.0  # rounding must not break Cauchy-Schwarz
        adjusted.append(SampleStats(n=v.n, sum=sum_adj, sum_squares=max(sum_adj2, floor)))
    return tuple(adjusted)
