"""The BG/NBD model without a database: published CDNOW estimates, numerical integration and simulation."""

import json
import math
from pathlib import Path

import numpy as np
import pytest
from scipy import integrate, optimize, special

from predictions.ml.clv import (
    BGNBDParams,
    bgnbd_log_likelihood,
    expected_days_to_next_order,
    expected_purchases,
    expected_purchases_new,
    fit_bgnbd,
    probability_alive,
)

CDNOW_PATH = Path(__file__).parent / "data" / "cdnow_customers_summary.csv"
# Fader, Hardie & Lee (2005), the CDNOW sample: 2,357 customers, 39-week calibration period.
PUBLISHED = BGNBDParams(r=0.243, alpha=4.414, a=0.793, b=2.426, log_likelihood=-9582.4)


@pytest.fixture(scope="module")
def cdnow() -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    frequency, recency, age = np.loadtxt(CDNOW_PATH, delimiter=",", skiprows=1, usecols=(1, 2, 3), unpack=True)
    return frequency, recency, age


@pytest.fixture(scope="module")
def cdnow_fit(cdnow) -> BGNBDParams:
    return fit_bgnbd(*cdnow)


def simulate_customers(
    params: BGNBDParams, age: np.ndarray, holdout: float, rng: np.random.Generator
) -> dict[str, np.ndarray]:
    """Draw each customer's lambda ~ Gamma(r, alpha) and p ~ Beta(a, b), then the BG/NBD process itself.

    A customer dies right after the N-th repeat purchase, N ~ Geometric(p); purchases while alive are a Poisson
    process, drawn as Poisson(lambda * (T + holdout)) uniform times in [0, T + holdout].
    """
    n = len(age)
    rate = rng.gamma(params.r, 1 / params.alpha, n)
    death_probability = np.maximum(rng.beta(params.a, params.b, n), 1e-12)
    lifetime_purchases = rng.geometric(death_probability)
    end = age + holdout
    poisson_counts = rng.poisson(rate * end)
    frequency, recency, later, alive = np.zeros(n), np.zeros(n), np.zeros(n), np.zeros(n, dtype=bool)
    for i in range(n):
        times = np.sort(rng.uniform(0, end[i], poisson_counts[i]))[: lifetime_purchases[i]]
        x = int(np.sum(times <= age[i]))
        frequency[i], recency[i], later[i] = x, times[x - 1] if x else 0.0, len(times) - x
        alive[i] = lifetime_purchases[i] > x
    return {"frequency": frequency, "recency": recency, "T": age, "holdout_purchases": later, "alive": alive}


def bought_if_alive(p: float, t: float, scale: float, shape: float) -> float:
    """(1 - (scale / (scale + p t))^shape) / p, i.e. E[(1 - e^(-lambda p t)) / p] for lambda ~ Gamma(shape, scale)."""
    if p == 0:
        return shape * t / scale
    return -math.expm1(-shape * math.log1p(p * t / scale)) / p


def posterior_integrals(params: BGNBDParams, t: float, x: int, t_x: float, age: float) -> dict[str, float]:
    """E[Y(t) | x, t_x, T] and P(alive | x, t_x, T) by quadrature over p, lambda integrated out by hand.

    Given (lambda, p): L = (1-p)^x lambda^x e^(-lambda T) [alive] + delta p (1-p)^(x-1) lambda^x e^(-lambda t_x)
    [dead], and an alive customer buys (1 - e^(-lambda p t)) / p times in the next t. Integrating lambda against
    Gamma(r, alpha) turns lambda^x e^(-lambda s) into a common constant times (alpha + s)^-(r + x); the Beta(a, b)
    density of p is quad's algebraic weight p^(a-1) (1-p)^(b-1).
    """
    k, weight = params.r + x, {"weight": "alg", "wvar": (params.a - 1, params.b - 1)}

    def quad(function) -> float:
        return integrate.quad(function, 0, 1, epsabs=0, epsrel=1e-11, limit=200, **weight)[0]

    alive = quad(lambda p: (1 - p) ** x) * (params.alpha + age) ** -k
    dead = quad(lambda p: p * (1 - p) ** (x - 1)) * (params.alpha + t_x) ** -k if x > 0 else 0.0
    future = quad(lambda p: (1 - p) ** x * bought_if_alive(p, t, params.alpha + age, k)) * (params.alpha + age) ** -k
    return {"expected_purchases": future / (alive + dead), "probability_alive": alive / (alive + dead)}


# --- the published CDNOW results -------------------------------------------------------------------------------


def test_fit_on_cdnow_reproduces_the_published_estimates(cdnow_fit):
    for name in ("r", "alpha", "a", "b"):
        assert round(getattr(cdnow_fit, name), 3) == getattr(PUBLISHED, name), name
    assert round(cdnow_fit.log_likelihood, 1) == PUBLISHED.log_likelihood


def test_conditional_expectation_reproduces_the_published_worked_example(cdnow_fit):
    # Customer 1 of the sample: x = 2, t_x = 30.43, T = 38.86; 1.226 purchases expected in the next 39 weeks.
    assert expected_purchases(cdnow_fit, 39, 2, 30.43, 38.86) == pytest.approx(1.226, abs=5e-4)


def test_log_likelihood_of_the_fit_is_the_likelihood_of_its_parameters(cdnow, cdnow_fit):
    value = bgnbd_log_likelihood(*cdnow, r=cdnow_fit.r, alpha=cdnow_fit.alpha, a=cdnow_fit.a, b=cdnow_fit.b)
    assert value == pytest.approx(cdnow_fit.log_likelihood, rel=1e-12)


def test_log_likelihood_at_the_optimum_is_at_least_that_of_perturbed_parameters(cdnow, cdnow_fit):
    rng = np.random.default_rng(2005)
    optimum = np.array([cdnow_fit.r, cdnow_fit.alpha, cdnow_fit.a, cdnow_fit.b])
    steps = [factor * np.eye(4)[i] for i in range(4) for factor in (-0.1, -0.01, -0.001, 0.001, 0.01, 0.1)]
    steps += list(rng.normal(0, 0.02, size=(20, 4)))
    for step in steps:
        r, alpha, a, b = optimum * np.exp(step)
        assert bgnbd_log_likelihood(*cdnow, r=r, alpha=alpha, a=a, b=b) <= cdnow_fit.log_likelihood + 1e-9


def test_log_likelihood_is_the_sum_over_customers(cdnow):
    frequency, recency, age = (column[:25] for column in cdnow)
    parameters = {"r": 0.3, "alpha": 5.0, "a": 1.2, "b": 2.0}
    singles = [bgnbd_log_likelihood([x], [t_x], [t], **parameters) for x, t_x, t in zip(frequency, recency, age)]
    assert bgnbd_log_likelihood(frequency, recency, age, **parameters) == pytest.approx(sum(singles), rel=1e-12)


def test_fit_from_another_start_finds_the_same_optimum(cdnow, cdnow_fit):
    other = fit_bgnbd(*cdnow, initial=(2.0, 1.0, 3.0, 0.5))
    assert other.log_likelihood == pytest.approx(cdnow_fit.log_likelihood, abs=1e-6)
    assert other.a == pytest.approx(cdnow_fit.a, rel=1e-4)


def test_penalizer_shrinks_the_log_parameters_and_costs_likelihood(cdnow, cdnow_fit):
    penalized = fit_bgnbd(*cdnow, penalizer=0.01)
    size = sum(math.log(getattr(cdnow_fit, name)) ** 2 for name in ("r", "alpha", "a", "b"))
    penalized_size = sum(math.log(getattr(penalized, name)) ** 2 for name in ("r", "alpha", "a", "b"))
    assert penalized_size < size
    assert penalized.log_likelihood < cdnow_fit.log_likelihood


# --- the closed forms against numerical integration ------------------------------------------------------------


@pytest.mark.parametrize(
    "params",
    [PUBLISHED, BGNBDParams(r=0.8, alpha=8.0, a=2.5, b=3.0, log_likelihood=math.nan)],
    ids=["cdnow", "a-above-1"],
)
def test_expected_purchases_new_equals_the_mixture_integral(params):
    for t in (1.0, 39.0, 78.0, 500.0):
        integral = integrate.quad(
            lambda p, t=t: bought_if_alive(p, t, params.alpha, params.r),
            0,
            1,
            weight="alg",
            wvar=(params.a - 1, params.b - 1),
            epsabs=0,
            epsrel=1e-11,
        )[0] / special.beta(params.a, params.b)
        assert expected_purchases_new(params, t) == pytest.approx(integral, rel=1e-7)


@pytest.mark.parametrize(
    "params",
    [PUBLISHED, BGNBDParams(r=0.8, alpha=8.0, a=2.5, b=3.0, log_likelihood=math.nan)],
    ids=["cdnow", "a-above-1"],
)
@pytest.mark.parametrize(
    ("x", "t_x", "age"), [(0, 0.0, 38.86), (1, 1.71, 38.86), (2, 30.43, 38.86), (7, 35.0, 38.0), (25, 20.0, 52.0)]
)
def test_conditional_predictions_equal_the_posterior_integrals(params, x, t_x, age):
    for t in (5.0, 39.0, 104.0):
        expected = posterior_integrals(params, t, x, t_x, age)
        assert expected_purchases(params, t, x, t_x, age) == pytest.approx(expected["expected_purchases"], rel=1e-7)
    assert probability_alive(params, x, t_x, age) == pytest.approx(expected["probability_alive"], rel=1e-9)


def test_expectations_are_continuous_through_the_removable_singularity_at_a_equal_1():
    def at(a: float) -> tuple[float, float]:
        params = BGNBDParams(r=0.5, alpha=5.0, a=a, b=2.0, log_likelihood=math.nan)
        return expected_purchases_new(params, 39.0), expected_purchases(params, 39.0, 3, 20.0, 39.0)

    for exact, nearby in zip(at(1.0), at(1.0 + 1e-4)):
        assert math.isfinite(exact)
        assert exact == pytest.approx(nearby, rel=1e-4)


# --- the closed forms against simulation of the process --------------------------------------------------------


@pytest.fixture(scope="module")
def simulated_cohort() -> dict[str, np.ndarray]:
    rng = np.random.default_rng(20050401)
    return simulate_customers(PUBLISHED, np.full(40_000, 39.0), holdout=39.0, rng=rng)


def within_four_standard_errors(predicted: np.ndarray, observed: np.ndarray) -> bool:
    standard_error = observed.std(ddof=1) / math.sqrt(len(observed))
    return abs(predicted.mean() - observed.mean()) < 4 * standard_error


def test_expected_purchases_new_agrees_with_simulated_calibration_counts(simulated_cohort):
    assert within_four_standard_errors(
        np.asarray([expected_purchases_new(PUBLISHED, 39.0)]), simulated_cohort["frequency"]
    )


@pytest.mark.parametrize(("low", "high"), [(0, 0), (1, 1), (2, 2), (3, 5), (6, 1000)])
def test_conditional_expectation_agrees_with_simulated_holdout_purchases(simulated_cohort, low, high):
    # Averaged over customers with similar histories, E[Y(39) | x, t_x, T] must match what they actually bought
    # next (the law of total expectation); the tolerance is four standard errors of the simulated mean.
    cohort = simulated_cohort
    group = (cohort["frequency"] >= low) & (cohort["frequency"] <= high)
    predicted = expected_purchases(PUBLISHED, 39.0, cohort["frequency"][group], cohort["recency"][group], 39.0)
    assert group.sum() > 300
    assert within_four_standard_errors(predicted, cohort["holdout_purchases"][group])


@pytest.mark.parametrize(("low", "high"), [(1, 1), (2, 2), (3, 5), (6, 1000)])
def test_probability_alive_agrees_with_the_simulated_share_alive(simulated_cohort, low, high):
    cohort = simulated_cohort
    group = (cohort["frequency"] >= low) & (cohort["frequency"] <= high)
    predicted = probability_alive(PUBLISHED, cohort["frequency"][group], cohort["recency"][group], 39.0)
    assert within_four_standard_errors(predicted, cohort["alive"][group].astype(float))


def test_fit_recovers_the_parameters_of_5000_simulated_customers():
    # Over 40 seeds the sampling SD of ln(estimate / truth) was 0.026 (r), 0.033 (alpha), 0.066 (a), 0.088 (b);
    # the tolerance is about four of them.
    truth = BGNBDParams(r=0.8, alpha=8.0, a=0.9, b=3.0, log_likelihood=math.nan)
    rng = np.random.default_rng(7)
    cohort = simulate_customers(truth, rng.uniform(26, 104, 5_000), holdout=0.0, rng=rng)
    fitted = fit_bgnbd(cohort["frequency"], cohort["recency"], cohort["T"])
    tolerance = {"r": 0.10, "alpha": 0.13, "a": 0.26, "b": 0.35}
    for name, limit in tolerance.items():
        assert abs(math.log(getattr(fitted, name) / getattr(truth, name))) < limit, name


def test_a_barely_identified_dropout_is_fitted_at_its_flat_optimum_without_the_slow_simplex():
    # Nearly no dropout: a and b grow together along a flat ridge, where L-BFGS-B stops with an abnormal line
    # search. The fit takes that optimum (its likelihood is as good as a long simplex search's).
    truth = BGNBDParams(r=2.0, alpha=30.0, a=0.5, b=200.0, log_likelihood=math.nan)
    rng = np.random.default_rng(4)  # a cohort on which L-BFGS-B's line search does stop abnormally
    cohort = simulate_customers(truth, rng.uniform(60, 300, 4_000), holdout=0.0, rng=rng)
    x, t_x, age = cohort["frequency"], cohort["recency"], cohort["T"]
    fitted = fit_bgnbd(x, t_x, age)
    simplex = optimize.minimize(
        lambda theta: -bgnbd_log_likelihood(x, t_x, age, **dict(zip(["r", "alpha", "a", "b"], np.exp(theta)))),
        np.log([fitted.r, fitted.alpha, fitted.a, fitted.b]),
        method="Nelder-Mead",
        options={"maxiter": 4000, "xatol": 1e-10, "fatol": 1e-10},
    )
    assert fitted.log_likelihood >= -simplex.fun - 1e-3
    assert fitted.r == pytest.approx(truth.r, rel=0.2)
    assert fitted.a / (fitted.a + fitted.b) < 0.02  # the dropout probability per order is small, as simulated


# --- properties of the predictions -----------------------------------------------------------------------------


def test_probability_alive_is_one_without_repeat_purchases(cdnow_fit):
    assert np.all(probability_alive(cdnow_fit, [0, 0, 0], [0, 0, 0], [1.0, 38.86, 500.0]) == 1.0)


def test_probability_alive_decreases_with_age_for_a_repeat_buyer(cdnow_fit):
    values = probability_alive(cdnow_fit, 3, 10.0, np.array([10.0, 20.0, 39.0, 78.0, 156.0]))
    assert np.all(np.diff(values) < 0)
    assert values[0] == pytest.approx(1 / (1 + cdnow_fit.a / (cdnow_fit.b + 2)))


def test_expected_purchases_grow_with_the_horizon_and_start_at_zero(cdnow_fit):
    values = expected_purchases(cdnow_fit, np.array([0.0, 1.0, 10.0, 39.0, 100.0]), 2, 30.43, 38.86)
    assert values[0] == 0.0
    assert np.all(np.diff(values) > 0)


def test_vectorised_calls_equal_scalar_calls(cdnow, cdnow_fit):
    frequency, recency, age = (column[:40] for column in cdnow)
    horizons = np.linspace(1, 80, 40)
    cases = [
        (
            probability_alive(cdnow_fit, frequency, recency, age),
            lambda i: probability_alive(cdnow_fit, frequency[i], recency[i], age[i]),
        ),
        (
            expected_purchases(cdnow_fit, horizons, frequency, recency, age),
            lambda i: expected_purchases(cdnow_fit, horizons[i], frequency[i], recency[i], age[i]),
        ),
        (
            expected_days_to_next_order(cdnow_fit, frequency, recency, age),
            lambda i: expected_days_to_next_order(cdnow_fit, frequency[i], recency[i], age[i]),
        ),
        (expected_purchases_new(cdnow_fit, horizons), lambda i: expected_purchases_new(cdnow_fit, horizons[i])),
    ]
    for vectorised, scalar in cases:
        assert vectorised.shape == (40,)
        singles = [scalar(i) for i in range(40)]
        assert all(isinstance(value, float) for value in singles)
        np.testing.assert_allclose(vectorised, singles, rtol=1e-12)


def test_scalar_horizon_broadcasts_over_customers(cdnow, cdnow_fit):
    frequency, recency, age = cdnow
    values = expected_purchases(cdnow_fit, 39.0, frequency, recency, age)
    assert values.shape == frequency.shape
    assert values[0] == pytest.approx(expected_purchases(cdnow_fit, 39.0, 2, 30.43, 38.86))


def test_expected_days_to_next_order_is_when_one_purchase_is_expected(cdnow_fit):
    frequency, recency, age = np.array([2, 10, 0]), np.array([30.43, 38.0, 0.0]), np.array([38.86, 38.86, 38.86])
    days = expected_days_to_next_order(cdnow_fit, frequency, recency, age, horizon=1000.0)
    assert np.all(np.isfinite(days))
    np.testing.assert_allclose(expected_purchases(cdnow_fit, days, frequency, recency, age), 1.0, rtol=1e-9)
    assert days[1] < days[0] < days[2]  # a frequent recent buyer returns first, one without repeats last


def test_expected_days_to_next_order_is_inf_when_one_purchase_is_not_expected_within_the_horizon(cdnow_fit):
    # Ten purchases in the first week, then silence for 38 weeks: almost surely lapsed.
    assert probability_alive(cdnow_fit, 10, 1.0, 38.86) < 1e-6
    assert expected_days_to_next_order(cdnow_fit, 10, 1.0, 38.86, horizon=1000.0) == math.inf
    assert expected_days_to_next_order(cdnow_fit, 2, 30.43, 38.86, horizon=5.0) == math.inf


# --- parameters as JSON, and bad input -------------------------------------------------------------------------


def test_params_round_trip_through_json(cdnow_fit):
    assert BGNBDParams.from_dict(json.loads(json.dumps(cdnow_fit.to_dict()))) == cdnow_fit


@pytest.mark.parametrize(
    ("data", "name"),
    [({"r": 1.0, "alpha": 1.0, "a": 1.0, "log_likelihood": -1.0}, "b"), ({**PUBLISHED.to_dict(), "alpha": 0}, "alpha")],
)
def test_params_from_invalid_dict_raise_value_error_naming_the_field(data, name):
    with pytest.raises(ValueError, match=name):
        BGNBDParams.from_dict(data)


@pytest.mark.parametrize(
    ("frequency", "recency", "age", "name"),
    [
        ([1, 2], [1.0], [5.0, 5.0], "frequency, recency and T must have the same length"),
        ([], [], [], "frequency"),
        ([1.5], [1.0], [5.0], "frequency"),
        ([-1], [0.0], [5.0], "frequency"),
        ([np.nan], [0.0], [5.0], "frequency"),
        (["a lot"], [0.0], [5.0], "frequency"),
        ([1], [np.inf], [5.0], "recency"),
        ([1], [-1.0], [5.0], "recency"),
        ([1], [6.0], [5.0], "recency"),
        ([0], [2.0], [5.0], "recency"),
        ([0], [0.0], [0.0], "T"),
        ([0], [0.0], [np.nan], "T"),
        ([[1]], [[1.0]], [[5.0]], "frequency"),
    ],
)
def test_fit_with_bad_input_raises_value_error_naming_the_argument(frequency, recency, age, name):
    with pytest.raises(ValueError, match=rf"^{name}"):
        fit_bgnbd(frequency, recency, age)


@pytest.mark.parametrize(
    ("keywords", "name"), [({"penalizer": -1.0}, "penalizer"), ({"initial": (1.0, 1.0, 0.0, 1.0)}, "initial")]
)
def test_fit_with_bad_options_raises_value_error_naming_the_option(cdnow, keywords, name):
    with pytest.raises(ValueError, match=rf"^{name}"):
        fit_bgnbd(*cdnow, **keywords)


def test_predictions_with_bad_input_raise_value_error_naming_the_argument(cdnow_fit):
    with pytest.raises(ValueError, match=r"^recency"):
        probability_alive(cdnow_fit, 0, 3.0, 10.0)
    with pytest.raises(ValueError, match=r"^t must"):
        expected_purchases(cdnow_fit, -1.0, 1, 3.0, 10.0)
    with pytest.raises(ValueError, match=r"^T must"):
        expected_purchases(cdnow_fit, 1.0, 1, 0.0, -10.0)
    with pytest.raises(ValueError, match=r"^horizon"):
        expected_days_to_next_order(cdnow_fit, 1, 3.0, 10.0, horizon=0.0)
