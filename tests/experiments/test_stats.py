"""The statistics of experiments without a database, against scipy, statsmodels and published numbers."""

import dataclasses
import math

import numpy as np
import pytest
import statsmodels.api as sm
from scipy import integrate, stats
from statsmodels.stats.multitest import multipletests
from statsmodels.stats.power import NormalIndPower
from statsmodels.stats.proportion import proportion_effectsize

from experiments.stats import (
    BayesianResult,
    CupedStats,
    ProportionStats,
    SampleStats,
    TestResult,
    UndefinedStatisticError,
    adjust_p_values,
    bayesian_test,
    cuped_adjust,
    cuped_theta,
    frequentist_test,
    sample_size_per_variant,
    srm_p_value,
)


def sample_stats(values: np.ndarray) -> SampleStats:
    return SampleStats(n=len(values), sum=float(values.sum()), sum_squares=float((values**2).sum()))


def cuped_stats(y: np.ndarray, x: np.ndarray) -> CupedStats:
    return CupedStats(
        n=len(y),
        sum_y=float(y.sum()),
        sum_y2=float((y**2).sum()),
        sum_x=float(x.sum()),
        sum_x2=float((x**2).sum()),
        sum_xy=float((x * y).sum()),
    )


def welch_dof(var_mean_c: float, var_mean_t: float, n_c: int, n_t: int) -> float:
    return (var_mean_c + var_mean_t) ** 2 / (var_mean_c**2 / (n_c - 1) + var_mean_t**2 / (n_t - 1))


# Sufficient statistics ---------------------------------------------------------------------------------


def test_sample_stats_give_the_unbiased_sample_variance():
    values = np.random.default_rng(1).normal(3.0, 2.0, size=50)
    arm = sample_stats(values)
    assert arm.mean == pytest.approx(values.mean())
    assert arm.variance == pytest.approx(values.var(ddof=1))


def test_proportion_stats_give_the_bernoulli_variance():
    arm = ProportionStats(n=200, conversions=30)
    assert arm.mean == 0.15
    assert arm.variance == pytest.approx(0.15 * 0.85)


@pytest.mark.parametrize(
    ("factory", "message"),
    [
        (lambda: ProportionStats(n=10, conversions=11), "conversions must be within 0..n"),
        (lambda: ProportionStats(n=-1, conversions=0), "n must be non-negative"),
        (lambda: ProportionStats(n=10.5, conversions=1), "n must be an integer"),
        (lambda: SampleStats(n=3, sum=6.0, sum_squares=5.0), "sum\\^2 must not exceed n \\* sum_squares"),
        (lambda: SampleStats(n=0, sum=1.0, sum_squares=1.0), "with n = 0 the sums must be 0"),
        (lambda: SampleStats(n=3, sum=float("nan"), sum_squares=5.0), "sum must be a finite number"),
        (lambda: SampleStats(n=3, sum=1.0, sum_squares=-1.0), "sum of squares must be non-negative"),
        (lambda: CupedStats(n=2, sum_y=0, sum_y2=2, sum_x=0, sum_x2=2, sum_xy=5), "cross products are inconsistent"),
    ],
)
def test_inconsistent_sufficient_statistics_are_rejected(factory, message):
    with pytest.raises(ValueError, match=message):
        factory()


def test_results_are_frozen():
    result = frequentist_test(ProportionStats(1000, 100), ProportionStats(1000, 120))
    with pytest.raises(dataclasses.FrozenInstanceError):
        result.p_value = 0.0
    assert isinstance(result, TestResult)
    assert all(type(getattr(result, f.name)) is float for f in dataclasses.fields(result))


# Frequentist fixed-horizon test --------------------------------------------------------------------------


@pytest.mark.parametrize("alternative", ["two-sided", "greater", "less"])
def test_welch_absolute_test_equals_scipy_ttest_ind_on_raw_samples(alternative):
    rng = np.random.default_rng(11)
    control = rng.normal(10.0, 2.0, size=300)
    treatment = rng.normal(10.4, 3.0, size=250)

    result = frequentist_test(sample_stats(control), sample_stats(treatment), relative=False, alternative=alternative)

    expected = stats.ttest_ind(treatment, control, equal_var=False, alternative=alternative)
    interval = expected.confidence_interval(confidence_level=0.95)
    assert result.effect == pytest.approx(treatment.mean() - control.mean())
    assert result.p_value == pytest.approx(expected.pvalue, rel=1e-9)
    assert result.ci_low == pytest.approx(interval.low, rel=1e-9)
    assert result.ci_high == pytest.approx(interval.high, rel=1e-9)


def test_welch_test_on_proportions_equals_the_hand_computation():
    control, treatment = ProportionStats(n=1000, conversions=100), ProportionStats(n=1000, conversions=130)

    result = frequentist_test(control, treatment, relative=False)

    var_mean_c, var_mean_t = 0.1 * 0.9 / 1000, 0.13 * 0.87 / 1000
    se = math.sqrt(var_mean_c + var_mean_t)
    dof = welch_dof(var_mean_c, var_mean_t, 1000, 1000)
    half_width = stats.t.ppf(0.975, dof) * se
    assert result.effect == pytest.approx(0.03)
    assert result.standard_error == pytest.approx(se)
    assert result.p_value == pytest.approx(2 * stats.t.sf(0.03 / se, dof))
    assert (result.ci_low, result.ci_high) == pytest.approx((0.03 - half_width, 0.03 + half_width))
    # The same numbers written out: SE 0.014251, t 2.105, p 0.0354, interval 0.0021..0.0579.
    assert result.standard_error == pytest.approx(0.014251, abs=1e-6)
    assert result.p_value == pytest.approx(0.0354, abs=1e-4)
    assert result.significant


def test_relative_lift_standard_error_is_the_delta_method():
    rng = np.random.default_rng(12)
    control_values, treatment_values = rng.gamma(2.0, 5.0, size=400), rng.gamma(2.2, 5.0, size=380)
    control, treatment = sample_stats(control_values), sample_stats(treatment_values)

    result = frequentist_test(control, treatment)

    m_c, m_t = control_values.mean(), treatment_values.mean()
    v_c, v_t = control_values.var(ddof=1), treatment_values.var(ddof=1)
    se = math.sqrt(v_t / (m_c**2 * 380) + v_c * m_t**2 / (m_c**4 * 400))
    dof = welch_dof(v_c / 400, v_t / 380, 400, 380)  # on the raw terms, as gbstats
    assert result.effect == pytest.approx((m_t - m_c) / m_c)
    assert result.standard_error == pytest.approx(se)
    assert result.p_value == pytest.approx(2 * stats.t.sf(abs(result.effect) / se, dof))
    assert result.ci_high - result.effect == pytest.approx(stats.t.ppf(0.975, dof) * se)


@pytest.mark.parametrize(("treatment_conversions", "direction"), [(260, "greater"), (150, "less")])
def test_one_sided_p_value_is_half_the_two_sided_in_the_direction_of_the_effect(treatment_conversions, direction):
    control, treatment = ProportionStats(2000, 200), ProportionStats(2000, treatment_conversions)
    opposite = "less" if direction == "greater" else "greater"

    two_sided = frequentist_test(control, treatment)
    along = frequentist_test(control, treatment, alternative=direction)
    against = frequentist_test(control, treatment, alternative=opposite)

    assert along.p_value == pytest.approx(two_sided.p_value / 2)
    assert against.p_value == pytest.approx(1 - two_sided.p_value / 2)
    assert (along.ci_high if direction == "greater" else along.ci_low) in (math.inf, -math.inf)


def test_significance_follows_the_shown_interval_and_agrees_with_the_p_value():
    rng = np.random.default_rng(13)
    checked = 0
    for _ in range(300):
        n_c, n_t = rng.integers(200, 3000, size=2)
        control = ProportionStats(int(n_c), int(rng.binomial(n_c, 0.1)))
        treatment = ProportionStats(int(n_t), int(rng.binomial(n_t, rng.uniform(0.08, 0.13))))
        for alternative in ("two-sided", "greater", "less"):
            for tuning in (None, 2000):
                result = frequentist_test(control, treatment, alternative=alternative, sequential_tuning=tuning)
                assert result.significant == (result.p_value < 0.05)
                checked += result.significant
    assert 0 < checked < 300 * 6  # both outcomes occurred


# Sequential test -------------------------------------------------------------------------------------------


def test_sequential_interval_multiplier_at_the_tuning_sample_is_3_035():
    control, treatment = ProportionStats(2500, 250), ProportionStats(2500, 280)

    result = frequentist_test(control, treatment, sequential_tuning=5000)

    assert (result.ci_high - result.effect) / result.standard_error == pytest.approx(3.035, abs=5e-4)
    assert (result.effect - result.ci_low) / result.standard_error == pytest.approx(3.035, abs=5e-4)


@pytest.fixture(scope="module")
def peeked_aa_experiments():
    """1,000 A/A experiments at a 10% conversion rate, analysed after each of 20 batches of 250 per arm."""
    rng = np.random.default_rng(7)
    n_experiments, looks, batch = 1000, 20, 250
    conversions = rng.binomial(batch, 0.1, size=(n_experiments, looks, 2)).cumsum(axis=1)
    units = batch * np.arange(1, looks + 1)
    return [
        [(ProportionStats(int(n), int(c)), ProportionStats(int(n), int(t))) for n, (c, t) in zip(units, experiment)]
        for experiment in conversions
    ]


def first_look_false_positive_rate(experiments, **options) -> float:
    stopped = sum(any(frequentist_test(c, t, **options).significant for c, t in looks) for looks in experiments)
    return stopped / len(experiments)


def test_sequential_test_keeps_false_positives_at_alpha_when_peeked_every_batch(peeked_aa_experiments):
    false_positive_rate = first_look_false_positive_rate(peeked_aa_experiments, sequential_tuning=5000)
    assert false_positive_rate <= 0.05


def test_fixed_horizon_test_peeked_every_batch_exceeds_alpha(peeked_aa_experiments):
    false_positive_rate = first_look_false_positive_rate(peeked_aa_experiments)
    assert false_positive_rate > 0.10  # about 25% for 20 looks (Armitage et al. 1969)


def test_sequential_one_sided_p_value_is_the_alpha_at_which_the_bound_touches_zero():
    control, treatment = ProportionStats(2600, 260), ProportionStats(2400, 285)
    result = frequentist_test(control, treatment, alternative="greater", sequential_tuning=5000)

    # The reference's one-sided bound with rho fixed at alpha = 0.05 (what gbstats bisects on), at alpha' = p.
    n, alpha = 5000, 0.05
    rho = math.sqrt((-2 * math.log(2 * alpha) + math.log(-2 * math.log(2 * alpha) + 1)) / 5000)
    s2 = result.standard_error**2 * n
    half_width = math.sqrt(
        s2 * 2 * (n * rho**2 + 1) / (n * rho) ** 2 * math.log(1 + math.sqrt(n * rho**2 + 1) / (2 * result.p_value))
    )
    assert 0 < result.p_value < 1
    assert half_width == pytest.approx(result.effect, rel=1e-9)


def test_sequential_one_sided_test_never_rejects_against_the_direction_of_the_effect():
    control, treatment = ProportionStats(5000, 600), ProportionStats(5000, 500)
    lesser = frequentist_test(control, treatment, alternative="less", sequential_tuning=5000)
    greater = frequentist_test(control, treatment, alternative="greater", sequential_tuning=5000)
    assert lesser.significant
    assert lesser.ci_low == -math.inf
    assert greater.p_value == 1.0
    assert not greater.significant


# Coverage and power ----------------------------------------------------------------------------------------


def test_fixed_horizon_intervals_cover_the_true_absolute_effect_95_percent_of_the_time():
    rng = np.random.default_rng(21)
    n_experiments, n = 4000, 200
    controls = rng.exponential(10.0, size=(n_experiments, n))
    treatments = rng.exponential(11.0, size=(n_experiments, n))
    covered = 0
    for control, treatment in zip(controls, treatments):
        result = frequentist_test(sample_stats(control), sample_stats(treatment), relative=False)
        covered += result.ci_low <= 1.0 <= result.ci_high
    assert covered / n_experiments == pytest.approx(0.95, abs=0.015)


def test_fixed_horizon_intervals_cover_the_true_relative_lift_95_percent_of_the_time():
    rng = np.random.default_rng(22)
    n_experiments, n = 4000, 3000
    conversions = rng.binomial(n, [0.10, 0.11], size=(n_experiments, 2))
    covered = 0
    for c, t in conversions:
        result = frequentist_test(ProportionStats(n, int(c)), ProportionStats(n, int(t)))
        covered += result.ci_low <= 0.1 <= result.ci_high
    assert covered / n_experiments == pytest.approx(0.95, abs=0.015)


def detection_rate(n: int, *, relative: bool, n_experiments: int, seed: int) -> float:
    conversions = np.random.default_rng(seed).binomial(n, [0.10, 0.11], size=(n_experiments, 2))
    detected = 0
    for c, t in conversions:
        result = frequentist_test(ProportionStats(n, int(c)), ProportionStats(n, int(t)), relative=relative)
        detected += result.ci_low > 0
    return detected / n_experiments


def test_a_true_10_percent_lift_is_detected_80_percent_of_the_time_at_the_planned_sample_size():
    n = sample_size_per_variant(0.10, 0.10)
    n_experiments = 20_000
    rate = detection_rate(n, relative=False, n_experiments=n_experiments, seed=31)
    # The design power is 80.0%; allow three Monte Carlo standard errors below it (0.85 points).
    assert rate >= 0.80 - 3 * math.sqrt(0.8 * 0.2 / n_experiments)


def test_the_relative_lift_test_has_less_power_than_planned_as_the_docstring_warns():
    n = sample_size_per_variant(0.10, 0.10)
    n_experiments = 20_000
    rate = detection_rate(n, relative=True, n_experiments=n_experiments, seed=32)
    # The delta method's standard error is larger under the alternative: about 78% instead of 80%.
    assert rate < 0.80 - 3 * math.sqrt(0.8 * 0.2 / n_experiments)
    assert rate == pytest.approx(0.78, abs=0.012)


def test_sample_size_is_the_reference_two_proportion_formula():
    # p1 = 10%, p2 = 11%: (1.95996 sqrt(2 * 0.105 * 0.895) + 0.84162 sqrt(0.09 + 0.0979))^2 / 0.01^2
    assert sample_size_per_variant(0.10, 0.10) == 14751
    assert sample_size_per_variant(0.10, 0.01, relative=False) == 14751


@pytest.mark.parametrize(
    ("baseline", "effect", "relative"), [(0.10, 0.10, True), (0.03, 0.20, True), (0.5, 0.05, False), (0.2, -0.1, True)]
)
def test_sample_size_is_within_a_few_percent_of_statsmodels_arcsine_power(baseline, effect, relative):
    treatment_rate = baseline * (1 + effect) if relative else baseline + effect
    # statsmodels: Cohen's arcsine effect size h and the normal approximation, n = 2 ((z_a + z_b) / h)^2.
    expected = NormalIndPower().solve_power(
        effect_size=proportion_effectsize(treatment_rate, baseline), alpha=0.05, power=0.8, ratio=1.0
    )
    assert sample_size_per_variant(baseline, effect, relative=relative) == pytest.approx(expected, rel=0.03)


@pytest.mark.parametrize(
    ("baseline", "effect", "relative"), [(0.0, 0.1, True), (0.9, 0.2, True), (0.1, 0.0, True), (0.5, 0.6, False)]
)
def test_sample_size_refuses_impossible_rates(baseline, effect, relative):
    with pytest.raises(ValueError, match=r"baseline_rate|minimum_effect|treatment rate"):
        sample_size_per_variant(baseline, effect, relative=relative)


# Health checks ------------------------------------------------------------------------------------------


def test_srm_1000_vs_1200_at_an_even_split_is_about_2e_5_as_scipy_chisquare():
    p_value = srm_p_value([1000, 1200], [0.5, 0.5])
    assert p_value == pytest.approx(2.0e-5, rel=0.01)
    assert p_value == pytest.approx(stats.chisquare([1000, 1200]).pvalue, rel=1e-12)


def test_srm_against_uneven_weights_equals_scipy_chisquare():
    counts, weights = [5100, 2400, 2560], [0.5, 0.25, 0.25]
    expected = stats.chisquare(counts, f_exp=np.array(weights) * sum(counts)).pvalue
    assert srm_p_value(counts, weights) == pytest.approx(expected, rel=1e-12)
    assert srm_p_value(counts, [2, 1, 1]) == pytest.approx(expected, rel=1e-12)


def test_srm_without_units_is_no_evidence_of_a_mismatch():
    assert srm_p_value([0, 0], [0.5, 0.5]) == 1.0


@pytest.mark.parametrize(
    ("counts", "weights"), [([10], [1.0]), ([10, 10], [0.5]), ([10, 10], [1.0, 0.0]), ([10, -1], [0.5, 0.5])]
)
def test_srm_refuses_malformed_input(counts, weights):
    with pytest.raises(ValueError, match=r"two variants|one weight per count|positive|non-negative"):
        srm_p_value(counts, weights)


@pytest.mark.parametrize(("method", "statsmodels_method"), [("holm", "holm"), ("bh", "fdr_bh")])
def test_adjusted_p_values_equal_statsmodels_multipletests(method, statsmodels_method):
    rng = np.random.default_rng(41)
    for size in (1, 2, 5, 12, 40):
        p_values = np.concatenate([rng.uniform(0, 0.05, size // 2), rng.uniform(0, 1, size - size // 2)])
        p_values[-1] = p_values[0]  # a tie
        rng.shuffle(p_values)

        adjusted = adjust_p_values(list(p_values), method)

        expected = multipletests(p_values, method=statsmodels_method)[1]
        np.testing.assert_allclose(adjusted, expected, rtol=1e-12)
        order = np.argsort(p_values)
        assert np.all(np.diff(np.asarray(adjusted)[order]) >= 0)
        assert max(adjusted) <= 1.0
        assert all(a >= p for a, p in zip(adjusted, p_values))


def test_adjust_p_values_refuses_unknown_methods_and_values():
    assert adjust_p_values([], "holm") == ()
    with pytest.raises(ValueError, match="method must be one of holm, bh"):
        adjust_p_values([0.1], "bonferroni")
    with pytest.raises(ValueError, match=r"within 0\.\.1"):
        adjust_p_values([1.2], "bh")


# Bayesian --------------------------------------------------------------------------------------------------


def test_bayesian_chance_to_win_is_the_posterior_mass_above_zero():
    control, treatment = ProportionStats(3000, 300), ProportionStats(3000, 335)

    result = bayesian_test(control, treatment)

    frequentist = frequentist_test(control, treatment)
    mu, sigma = frequentist.effect, frequentist.standard_error  # flat prior: the posterior is the likelihood
    assert isinstance(result, BayesianResult)
    assert result.effect == pytest.approx(mu)
    assert result.chance_to_win == pytest.approx(1 - stats.norm.cdf(0, loc=mu, scale=sigma))
    assert (result.ci_low, result.ci_high) == pytest.approx(stats.norm.interval(0.95, loc=mu, scale=sigma))


@pytest.mark.parametrize("treatment_conversions", [335, 290])
def test_bayesian_risks_equal_numeric_integration_and_monte_carlo(treatment_conversions):
    control, treatment = ProportionStats(3000, 300), ProportionStats(3000, treatment_conversions)
    result = bayesian_test(control, treatment)
    frequentist = frequentist_test(control, treatment)
    posterior = stats.norm(loc=frequentist.effect, scale=frequentist.standard_error)

    risk_control, _ = integrate.quad(lambda d: d * posterior.pdf(d), 0, np.inf)
    risk_treatment, _ = integrate.quad(lambda d: -d * posterior.pdf(d), -np.inf, 0)
    assert result.risk_control == pytest.approx(risk_control, rel=1e-6)
    assert result.risk_treatment == pytest.approx(risk_treatment, rel=1e-6)

    draws = posterior.rvs(size=1_000_000, random_state=np.random.default_rng(51))
    for risk, loss in ((result.risk_control, np.maximum(draws, 0)), (result.risk_treatment, np.maximum(-draws, 0))):
        assert risk == pytest.approx(loss.mean(), abs=4 * loss.std() / 1000)


def test_a_proper_prior_shrinks_the_effect_toward_the_prior_mean():
    control, treatment = ProportionStats(500, 50), ProportionStats(500, 65)
    flat = bayesian_test(control, treatment)
    frequentist = frequentist_test(control, treatment)

    shrunk = bayesian_test(control, treatment, prior_mean=0.0, prior_stddev=0.1)

    precision = 1 / frequentist.standard_error**2 + 1 / 0.1**2
    assert 0 < shrunk.effect < flat.effect
    assert shrunk.effect == pytest.approx(frequentist.effect / frequentist.standard_error**2 / precision)
    assert shrunk.ci_high - shrunk.ci_low < flat.ci_high - flat.ci_low
    assert shrunk.chance_to_win < flat.chance_to_win


def test_bayesian_test_needs_both_prior_parameters():
    with pytest.raises(ValueError, match="both prior_mean and prior_stddev"):
        bayesian_test(ProportionStats(100, 10), ProportionStats(100, 12), prior_mean=0.0)


# CUPED ------------------------------------------------------------------------------------------------------


def simulated_customers(rng: np.random.Generator, n: int, lift: float) -> tuple[np.ndarray, np.ndarray]:
    """Orders in the experiment (Y) and in the pre-period (X) of customers with gamma-distributed rates."""
    rate = rng.gamma(0.5, 4.0, size=n)
    return rng.poisson(rate * (1 + lift)).astype(float), rng.poisson(rate).astype(float)


def test_cuped_reduces_the_variance_of_the_effect_and_leaves_it_unbiased():
    rng = np.random.default_rng(61)
    true_effect = 0.1 * 2.0  # a 10% lift on a mean of 2 orders
    raw, adjusted, adjusted_se = [], [], []
    for _ in range(400):
        y_c, x_c = simulated_customers(rng, 1000, 0.0)
        y_t, x_t = simulated_customers(rng, 1000, 0.1)
        raw.append(frequentist_test(sample_stats(y_c), sample_stats(y_t), relative=False).effect)
        control, treatment = cuped_adjust([cuped_stats(y_c, x_c), cuped_stats(y_t, x_t)])
        result = frequentist_test(control, treatment, relative=False)
        adjusted.append(result.effect)
        adjusted_se.append(result.standard_error)
    raw, adjusted = np.array(raw), np.array(adjusted)

    assert adjusted.var() < 0.5 * raw.var()  # corr(X, Y)^2 = 0.64 here
    assert abs(adjusted.mean() - true_effect) < 4 * adjusted.std() / math.sqrt(len(adjusted))
    assert np.mean(adjusted_se) == pytest.approx(adjusted.std(), rel=0.1)  # the reported SE is honest


def test_cuped_effect_equals_the_treatment_coefficient_of_the_regression_on_the_pre_period():
    rng = np.random.default_rng(62)
    y_c, x_c = simulated_customers(rng, 800, 0.0)
    y_t, x_t = simulated_customers(rng, 700, 0.1)
    variants = [cuped_stats(y_c, x_c), cuped_stats(y_t, x_t)]

    control, treatment = cuped_adjust(variants)

    design = sm.add_constant(np.column_stack([np.r_[np.zeros(800), np.ones(700)], np.r_[x_c, x_t]]))
    fit = sm.OLS(np.r_[y_c, y_t], design).fit()
    assert cuped_theta(variants) == pytest.approx(fit.params[2])
    assert treatment.mean - control.mean == pytest.approx(fit.params[1])
    assert control.n == 800
    assert treatment.n == 700


def test_cuped_without_pre_period_variation_changes_nothing():
    rng = np.random.default_rng(63)
    y_c, y_t = rng.poisson(2.0, 300).astype(float), rng.poisson(2.2, 300).astype(float)
    new_customers = np.zeros(300)
    variants = [cuped_stats(y_c, new_customers), cuped_stats(y_t, new_customers)]

    assert cuped_theta(variants) == 0.0
    assert cuped_adjust(variants) == (sample_stats(y_c), sample_stats(y_t))


# Edge cases ------------------------------------------------------------------------------------------------


def test_zero_variance_in_both_arms_is_refused_rather_than_nan():
    with pytest.raises(UndefinedStatisticError, match="both arms have zero variance"):
        frequentist_test(ProportionStats(100, 0), ProportionStats(100, 0), relative=False)
    with pytest.raises(UndefinedStatisticError, match="both arms have zero variance"):
        bayesian_test(SampleStats(3, 6.0, 12.0), SampleStats(3, 9.0, 27.0))


def test_one_zero_variance_arm_takes_the_degrees_of_freedom_of_the_other():
    control, treatment = ProportionStats(50, 0), ProportionStats(50, 5)
    result = frequentist_test(control, treatment, relative=False)
    se = math.sqrt(0.1 * 0.9 / 50)
    assert result.standard_error == pytest.approx(se)
    assert result.p_value == pytest.approx(2 * stats.t.sf(0.1 / se, 49))


def test_relative_lift_against_a_zero_control_mean_is_refused():
    with pytest.raises(UndefinedStatisticError, match="control mean is 0"):
        frequentist_test(ProportionStats(100, 0), ProportionStats(100, 3))
    with pytest.raises(UndefinedStatisticError, match="control mean is 0"):
        bayesian_test(ProportionStats(100, 0), ProportionStats(100, 3))


def test_an_arm_with_fewer_than_two_units_is_refused():
    with pytest.raises(UndefinedStatisticError, match="treatment arm needs at least 2 units"):
        frequentist_test(ProportionStats(100, 10), ProportionStats(1, 1))
    with pytest.raises(UndefinedStatisticError, match="control arm needs at least 2 units"):
        bayesian_test(SampleStats(0, 0.0, 0.0), ProportionStats(100, 10))


@pytest.mark.parametrize(
    ("options", "message"),
    [
        ({"alpha": 0}, "alpha must be strictly between 0 and 1"),
        ({"alternative": "bigger"}, "alternative must be one of"),
        ({"sequential_tuning": 0}, "sequential_tuning must be a positive"),
        ({"sequential_tuning": 5000, "alternative": "greater", "alpha": 0.5}, "needs alpha < 0.5"),
    ],
)
def test_invalid_test_options_are_refused(options, message):
    with pytest.raises(ValueError, match=message):
        frequentist_test(ProportionStats(100, 10), ProportionStats(100, 12), **options)
