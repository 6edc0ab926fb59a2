"""The Bayesian conditional logit that learns a customer's weights from its choices.

Pure: no database. Every simulation is seeded; the pooled fit is checked against scipy's optimiser."""

import itertools
import math
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from scipy import optimize, special

from personalization import learning
from personalization.learning import DIMENSIONS, N_FACTORS, N_REGIONS

K = 8  # options shown per choice
# z: the log factor weights (utility units), then the region effects
SEGMENT_MEAN = np.concatenate([np.log(np.array([0.2, 0.2, 0.2, 0.2, 0.1, 0.1]) * 20), np.zeros(N_REGIONS)])
SEGMENT_SD = np.concatenate([np.full(N_FACTORS, 0.8), np.full(N_REGIONS, 1.0)])


def shown_options(rng: np.random.Generator, k: int = K) -> np.ndarray:
    return learning.option_matrix(rng.random((k, N_FACTORS)), rng.integers(0, N_REGIONS, size=k))


def simulated_choice(rng: np.random.Generator, z: np.ndarray, options: np.ndarray, position_bias: float) -> int:
    offsets = learning.position_offsets(len(options), position_bias)
    beta = learning.utility_weights(z)
    return int(rng.choice(len(options), p=learning.choice_probabilities(beta, options, offsets)))


def design(state: learning.PreferenceState, options: np.ndarray) -> np.ndarray:
    """d utility / d z of each option: the factor values times their weights, then the region one-hot."""
    beta = learning.utility_weights(state.mean_array)
    return options * np.concatenate([beta[:N_FACTORS], np.ones(N_REGIONS)])[None, :]


@pytest.fixture
def prior():
    return learning.prior_state(SEGMENT_MEAN, SEGMENT_SD)


def test_learning_and_policy_import_no_django_and_no_web_stack():
    probe = (
        "import sys, personalization.learning, personalization.policy; "
        "web = ('django', 'rest_framework', 'celery', 'knox', 'drf_spectacular'); "
        "print(sorted({m.split('.')[0] for m in sys.modules} & set(web)))"
    )
    root = Path(__file__).resolve().parents[2]

    result = subprocess.run([sys.executable, "-c", probe], cwd=root, capture_output=True, text=True, timeout=60)

    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "[]"


# --- the state and the prior ---------------------------------------------------------------------------------


def test_prior_state_is_independent_normals_around_the_segment_weights(prior):
    assert prior.mean == tuple(SEGMENT_MEAN)
    assert prior.precision_array == pytest.approx(np.diag(1 / SEGMENT_SD**2))
    assert np.diag(prior.covariance) == pytest.approx(SEGMENT_SD**2)
    assert prior.choices == 0
    assert prior.factor_weights == pytest.approx([4.0, 4.0, 4.0, 4.0, 2.0, 2.0])  # exp of the log weights
    assert prior.region_effects.tolist() == [0.0] * N_REGIONS


@pytest.mark.parametrize(
    ("mean", "sd"),
    [
        (np.zeros(DIMENSIONS - 1), np.ones(DIMENSIONS - 1)),
        (np.zeros(DIMENSIONS), np.ones(DIMENSIONS + 1)),
        (np.zeros((2, DIMENSIONS)), np.ones(DIMENSIONS)),
        (np.zeros(DIMENSIONS), np.concatenate([np.ones(DIMENSIONS - 1), [0.0]])),
        (np.zeros(DIMENSIONS), np.concatenate([np.ones(DIMENSIONS - 1), [-1.0]])),
    ],
    ids=["short-mean", "long-sd", "matrix-mean", "zero-sd", "negative-sd"],
)
def test_prior_state_refuses_wrong_shapes_and_non_positive_spreads(mean, sd):
    with pytest.raises(ValueError, match="positive standard deviations"):
        learning.prior_state(mean, sd)


def test_a_state_must_have_every_dimension_and_a_finite_mean():
    identity = tuple(tuple(float(i == j) for j in range(DIMENSIONS)) for i in range(DIMENSIONS))

    with pytest.raises(ValueError, match="dimensions"):
        learning.PreferenceState(mean=(0.0,) * (DIMENSIONS - 1), precision=identity)
    with pytest.raises(ValueError, match="finite"):
        learning.PreferenceState(mean=(math.nan,) + (0.0,) * (DIMENSIONS - 1), precision=identity)


def test_option_matrix_is_the_factor_values_then_the_one_hot_of_the_region():
    features = np.array([[0.1, 0.2, 0.3, 0.4, 0.5, 0.6], [1, 1, 1, 1, 1, 1]])

    options = learning.option_matrix(features, np.array([7, 0]))

    assert options.shape == (2, DIMENSIONS)
    assert options[:, :N_FACTORS].tolist() == features.tolist()
    assert options[:, N_FACTORS:].tolist() == [[0, 0, 0, 0, 0, 0, 0, 1], [1, 0, 0, 0, 0, 0, 0, 0]]


def test_each_list_position_loses_the_position_bias_times_the_log_of_the_position():
    assert learning.position_offsets(4, 1.5) == pytest.approx(
        [0.0, -1.5 * math.log(2), -1.5 * math.log(3), -3 * math.log(2)]
    )


def test_choice_probabilities_are_the_softmax_of_utility_plus_offset_and_survive_large_utilities():
    options = np.eye(DIMENSIONS)[:3]
    beta = np.zeros(DIMENSIONS)
    beta[:3] = [1000.0, 999.0, 0.0]

    probabilities = learning.choice_probabilities(beta, options, np.array([0.0, 1.0, 0.0]))

    assert probabilities == pytest.approx([0.5, 0.5, 0.0])


# --- one choice ----------------------------------------------------------------------------------------------


@pytest.mark.parametrize("seed", range(5))
def test_a_choice_moves_the_mean_toward_the_chosen_option_and_makes_it_more_likely(prior, seed):
    rng = np.random.default_rng(seed)
    options = shown_options(rng)
    offsets = learning.position_offsets(K, 1.0)
    chosen = int(rng.integers(K))

    update = learning.choice_update(prior, options, chosen, offsets=offsets)

    before = learning.choice_probabilities(learning.utility_weights(prior.mean_array), options, offsets)
    after = learning.choice_probabilities(learning.utility_weights(update.state.mean_array), options, offsets)
    assert update.probabilities == pytest.approx(tuple(before))
    assert after[chosen] > before[chosen]
    moved = update.state.mean_array - prior.mean_array
    gradient = design(prior, options)
    assert moved @ (gradient[chosen] - before @ gradient) > 0
    assert update.step_norm == pytest.approx(float(np.linalg.norm(moved)))
    assert update.state.choices == 1


def exact_moments(state, options, chosen, offsets, tilt=1.0, draws=200_000):
    """The mean and covariance of the belief times likelihood ** tilt, by plain Monte Carlo with many draws."""
    rng = np.random.default_rng(99)
    z = state.mean_array + rng.standard_normal((draws, DIMENSIONS)) @ np.linalg.cholesky(state.covariance).T
    utilities = np.hstack([np.exp(z[:, :N_FACTORS]), z[:, N_FACTORS:]]) @ options.T + offsets
    log_likelihood = utilities[:, chosen] - special.logsumexp(utilities, axis=1)
    weights = special.softmax(tilt * log_likelihood)
    mean = weights @ z
    return mean, ((z - mean) * weights[:, None]).T @ (z - mean)


def mahalanobis(a, b, covariance):
    return float(np.linalg.norm(np.linalg.solve(np.linalg.cholesky(covariance), a - b)))


@pytest.mark.parametrize("seed", range(5))
def test_a_choice_moves_the_belief_to_the_moments_of_the_belief_times_the_likelihood(prior, seed):
    rng = np.random.default_rng(seed)
    options = shown_options(rng)
    chosen = int(rng.integers(K))
    offsets = learning.position_offsets(K, 1.0)
    mean, covariance = exact_moments(prior, options, chosen, offsets)

    matched = learning.choice_update(prior, options, chosen, offsets=offsets, max_step=1e9)
    newton = learning.choice_update(prior, options, chosen, offsets=offsets, max_step=1e9, matched=False)

    error = mahalanobis(matched.state.mean_array, mean, covariance)
    assert error < 0.6  # in posterior standard deviations
    assert error < 0.6 * mahalanobis(newton.state.mean_array, mean, covariance)
    log_variance_ratio = np.log(np.diag(matched.state.covariance) / np.diag(covariance))
    assert np.abs(log_variance_ratio).max() < 0.45
    again = learning.choice_update(prior, options, chosen, offsets=offsets, max_step=1e9)
    assert again.state == matched.state  # deterministic: the same points every time


def test_the_newton_step_is_the_gradient_preconditioned_by_the_posterior_covariance(prior):
    rng = np.random.default_rng(21)
    options = shown_options(rng)

    update = learning.choice_update(prior, options, 2, max_step=1e9, matched=False)

    p = learning.choice_probabilities(learning.utility_weights(prior.mean_array), options)
    gradient = design(prior, options)  # the chain rule through beta = exp(z) for the factors
    centred = gradient - p @ gradient
    precision = prior.precision_array + (centred * p[:, None]).T @ centred
    assert update.state.precision_array == pytest.approx(precision)
    expected = np.linalg.solve(precision, gradient[2] - p @ gradient)
    assert update.state.mean_array - prior.mean_array == pytest.approx(expected)
    assert not update.clipped


def test_a_choice_that_few_points_explain_falls_back_to_the_newton_step():
    """A choice of an option worse in every factor: the likelihood sits in the belief's far tail, where too few
    of the points lie to match its moments."""
    state = learning.prior_state(
        np.concatenate([np.full(N_FACTORS, np.log(20.0)), np.zeros(N_REGIONS)]), np.ones(DIMENSIONS)
    )
    options = learning.option_matrix(np.array([[0.9] * N_FACTORS, [0.1] * N_FACTORS]), np.array([0, 0]))

    update = learning.choice_update(state, options, 1, max_step=1e9)
    newton = learning.choice_update(state, options, 1, max_step=1e9, matched=False)

    assert update.state == newton.state


def test_a_belief_whose_covariance_is_not_positive_definite_falls_back_to_the_newton_step(prior):
    precision = prior.precision_array.copy()
    precision[0, 1] = precision[1, 0] = 10 * precision[0, 0]  # indefinite
    state = learning.state_from(prior.mean_array, precision)
    options = shown_options(np.random.default_rng(2))

    update = learning.choice_update(state, options, 1, max_step=1e9)
    newton = learning.choice_update(state, options, 1, max_step=1e9, matched=False)

    assert update.state == newton.state


def test_no_single_choice_moves_the_weights_further_than_max_step():
    wide = learning.prior_state(np.zeros(DIMENSIONS), np.full(DIMENSIONS, 50.0))
    options = shown_options(np.random.default_rng(4))

    free = learning.choice_update(wide, options, K - 1, max_step=1e9)
    bounded = learning.choice_update(wide, options, K - 1, max_step=0.5)
    default = learning.choice_update(wide, options, K - 1)

    assert free.step_norm > learning.MAX_STEP_NORM
    assert bounded.clipped
    assert bounded.step_norm == pytest.approx(0.5)
    assert float(np.linalg.norm(bounded.state.mean_array - wide.mean_array)) == pytest.approx(0.5)
    step = bounded.state.mean_array - wide.mean_array
    assert step / 0.5 == pytest.approx((free.state.mean_array - wide.mean_array) / free.step_norm)  # same direction
    assert default.clipped
    assert default.step_norm == pytest.approx(learning.MAX_STEP_NORM)


def test_a_matched_step_is_bounded_too(prior):
    options = shown_options(np.random.default_rng(1))
    offsets = learning.position_offsets(K, 1.0)

    free = learning.choice_update(prior, options, 6, offsets=offsets, max_step=1e9)
    bounded = learning.choice_update(prior, options, 6, offsets=offsets, max_step=0.25)

    assert free.step_norm > 0.25
    assert bounded.clipped
    assert float(np.linalg.norm(bounded.state.mean_array - prior.mean_array)) == pytest.approx(0.25)
    assert bounded.state.precision == free.state.precision


@pytest.mark.parametrize("matched", [True, False])
def test_step_scale_shrinks_the_move_of_the_mean_and_zero_moves_nothing(prior, matched):
    options = shown_options(np.random.default_rng(5))
    offsets = learning.position_offsets(K, 1.0)

    def update(step_scale: float) -> learning.ChoiceUpdate:
        return learning.choice_update(
            prior, options, 0, offsets=offsets, step_scale=step_scale, max_step=1e9, matched=matched
        )

    full, half, none = update(1.0), update(0.5), update(0.0)

    assert half.state.mean_array - prior.mean_array == pytest.approx(0.5 * (full.state.mean_array - prior.mean_array))
    assert none.state.mean == prior.mean
    assert half.state.precision == full.state.precision == none.state.precision  # the evidence counts in full
    assert none.state.precision != prior.precision


def test_an_uninformative_reinforcement_moves_the_mean_but_leaves_the_precision_and_the_count(prior):
    options = shown_options(np.random.default_rng(6))

    update = learning.choice_update(prior, options, 1, informative=False, weight=0.5)

    assert update.state.precision == prior.precision
    assert update.state.choices == 0
    assert update.state.mean != prior.mean


def test_a_negative_weight_weakens_what_was_chosen(prior):
    options = shown_options(np.random.default_rng(8))

    update = learning.choice_update(prior, options, 3, weight=-1.0, informative=False)

    after = learning.choice_probabilities(learning.utility_weights(update.state.mean_array), options)
    assert after[3] < update.probabilities[3]


@pytest.mark.parametrize(
    ("options", "chosen", "kwargs", "message"),
    [
        (np.zeros((K, DIMENSIONS - 1)), 0, {}, "options must be"),
        (np.zeros(DIMENSIONS), 0, {}, "options must be"),
        (np.zeros((K, DIMENSIONS)), K, {}, "options must be"),
        (np.zeros((K, DIMENSIONS)), -1, {}, "options must be"),
        (np.zeros((K, DIMENSIONS)), 0, {"step_scale": -0.1}, "step_scale non-negative"),
        (np.zeros((K, DIMENSIONS)), 0, {"step_scale": math.nan}, "must be finite"),
        (np.zeros((K, DIMENSIONS)), 0, {"weight": math.inf}, "must be finite"),
    ],
    ids=[
        "too-few-columns",
        "one-dimensional",
        "chosen-past-the-end",
        "chosen-negative",
        "negative-scale",
        "nan-scale",
        "infinite-weight",
    ],
)
def test_a_malformed_choice_is_refused(prior, options, chosen, kwargs, message):
    with pytest.raises(ValueError, match=message):
        learning.choice_update(prior, options, chosen, **kwargs)


# --- confidence and the ranking weights ----------------------------------------------------------------------


def test_confidence_starts_at_zero_and_rises_with_every_choice_within_zero_and_one(prior):
    rng = np.random.default_rng(13)
    true = SEGMENT_MEAN + SEGMENT_SD * rng.standard_normal(DIMENSIONS)
    state = prior
    confidences = [learning.confidence(state, prior)]
    for _ in range(100):
        options = shown_options(rng)
        chosen = simulated_choice(rng, true, options, 1.0)
        state = learning.choice_update(state, options, chosen, offsets=learning.position_offsets(K, 1.0)).state
        confidences.append(learning.confidence(state, prior))

    assert confidences[0] == 0.0
    assert all(b > a for a, b in itertools.pairwise(confidences))
    assert 0.0 < confidences[10] < confidences[100] < 1.0
    assert confidences[100] > 0.8
    assert state.choices == 100


def test_confidence_is_clipped_to_zero_and_one():
    narrow = learning.prior_state(np.zeros(DIMENSIONS), np.full(DIMENSIONS, 0.1))
    wide = learning.prior_state(np.zeros(DIMENSIONS), np.full(DIMENSIONS, 10.0))

    assert learning.confidence(wide, narrow) == 0.0  # less certain than the prior
    assert learning.confidence(narrow, wide) == pytest.approx(0.9999)


def test_effective_weights_are_the_factor_weights_summing_to_one():
    mean = np.concatenate([np.log([4.0, 1e-9, 2.0, 1e-9, 1.0, 1.0]), np.full(N_REGIONS, 9.0)])
    state = learning.prior_state(mean, np.ones(DIMENSIONS))

    weights = learning.effective_weights(state)

    assert weights == pytest.approx([0.5, 0.0, 0.25, 0.0, 0.125, 0.125], abs=1e-9)


def test_effective_weights_stay_a_distribution_for_any_state():
    rng = np.random.default_rng(17)
    for _ in range(200):
        state = learning.prior_state(rng.normal(0, 20, DIMENSIONS), np.ones(DIMENSIONS))

        weights = learning.effective_weights(state)

        assert weights.sum() == pytest.approx(1.0)
        assert np.all(weights >= 0)


def test_effective_weights_of_equal_log_weights_are_uniform():
    state = learning.prior_state(np.concatenate([np.full(N_FACTORS, -3.0), np.ones(N_REGIONS)]), np.ones(DIMENSIONS))

    assert learning.effective_weights(state) == pytest.approx([1 / N_FACTORS] * N_FACTORS)


def test_region_boosts_are_the_region_effects_in_units_of_the_factor_scale():
    mean = np.concatenate([np.log([2.0, 1.0, 0.5, 0.25, 0.25, 0.0 + 1e-12]), [0.4, -0.8, 0, 0, 0, 0, 0, 0]])
    state = learning.prior_state(mean, np.ones(DIMENSIONS))
    flat = learning.prior_state(np.concatenate([np.zeros(N_FACTORS), np.zeros(N_REGIONS)]), np.ones(DIMENSIONS))

    assert learning.region_boosts(state) == pytest.approx([0.1, -0.2, 0, 0, 0, 0, 0, 0])  # weights sum to 4
    assert learning.region_boosts(flat).tolist() == [0.0] * N_REGIONS


def test_cosine_of_parallel_opposite_and_zero_vectors():
    assert learning.cosine([1, 2], [2, 4]) == pytest.approx(1.0)
    assert learning.cosine([1, 0], [-3, 0]) == pytest.approx(-1.0)
    assert learning.cosine([0, 0], [1, 1]) == 0.0


# --- the pooled fit of a segment -----------------------------------------------------------------------------

TRUE_BETA = np.array([4.0, 6.0, 2.0, 5.0, 1.5, 3.0, 0.8, -0.5, 0.3, -0.6, 0.0, 0.4, -0.2, -0.2])  # regions sum to 0
TRUE_POSITION_BIAS = 1.0
POOLED_PRIOR_PRECISION = 0.01


@pytest.fixture(scope="module")
def segment_choices() -> list[learning.ChoiceObservation]:
    rng = np.random.default_rng(42)
    observations = []
    for _ in range(3000):
        options = shown_options(rng)
        true_z = np.concatenate([np.log(TRUE_BETA[:N_FACTORS]), TRUE_BETA[N_FACTORS:]])  # the pooled fit is in beta
        observations.append(learning.ChoiceObservation(options, simulated_choice(rng, true_z, options, 1.0)))
    return observations


@pytest.fixture(scope="module")
def pooled_fit(segment_choices) -> learning.PooledFit:
    dimension = DIMENSIONS + 1
    return learning.fit_pooled_logit(
        segment_choices,
        prior_mean=np.zeros(dimension),
        prior_precision=POOLED_PRIOR_PRECISION * np.eye(dimension),
    )


def penalised_negative_log_likelihood(beta: np.ndarray, observations) -> tuple[float, np.ndarray]:
    """The objective that fit_pooled_logit maximises, written independently, vectorised over choices."""
    designs = np.stack([np.hstack([o.options, np.log(np.arange(1, K + 1))[:, None]]) for o in observations])
    chosen = np.array([o.chosen for o in observations])
    utilities = designs @ beta
    top = utilities.max(axis=1, keepdims=True)
    log_total = top[:, 0] + np.log(np.exp(utilities - top).sum(axis=1))
    log_likelihood = utilities[np.arange(len(chosen)), chosen] - log_total
    probabilities = np.exp(utilities - log_total[:, None])
    gradient = designs[np.arange(len(chosen)), chosen].sum(axis=0) - np.einsum("ni,nid->d", probabilities, designs)
    penalty = 0.5 * POOLED_PRIOR_PRECISION * beta @ beta
    return -log_likelihood.sum() + penalty, -gradient + POOLED_PRIOR_PRECISION * beta


def test_pooled_fit_recovers_the_segment_weights_and_the_position_bias(pooled_fit):
    mean = np.array(pooled_fit.mean)
    se = np.sqrt(np.diag(np.array(pooled_fit.covariance)))

    factors = mean[:N_FACTORS]
    assert factors == pytest.approx(TRUE_BETA[:N_FACTORS], abs=4 * se[:N_FACTORS].max())
    assert np.abs(factors - TRUE_BETA[:N_FACTORS]).max() < 0.5
    assert learning.cosine(factors, TRUE_BETA[:N_FACTORS]) > 0.995
    # Only differences between regions are identified (every option has one region); compare them centred.
    regions = mean[N_FACTORS:DIMENSIONS]
    assert regions - regions.mean() == pytest.approx(TRUE_BETA[N_FACTORS:] - TRUE_BETA[N_FACTORS:].mean(), abs=0.25)
    assert -mean[-1] == pytest.approx(TRUE_POSITION_BIAS, abs=max(4 * se[-1], 0.1))
    assert pooled_fit.observations == 3000
    assert pooled_fit.iterations < 25  # converged


def test_pooled_fit_is_the_maximum_of_the_penalised_likelihood_that_scipy_finds(segment_choices, pooled_fit):
    dimension = DIMENSIONS + 1
    result = optimize.minimize(
        penalised_negative_log_likelihood,
        np.zeros(dimension),
        args=(segment_choices,),
        jac=True,
        method="BFGS",
        options={"gtol": 1e-8, "maxiter": 2000},
    )
    mean = np.array(pooled_fit.mean)

    assert mean == pytest.approx(result.x, abs=1e-4)
    objective, gradient = penalised_negative_log_likelihood(mean, segment_choices)
    assert objective <= result.fun + 1e-6
    assert np.abs(gradient).max() < 1e-3
    penalty = 0.5 * POOLED_PRIOR_PRECISION * mean @ mean
    assert pooled_fit.log_likelihood == pytest.approx(-(objective - penalty), abs=1e-3)


def test_pooled_fit_covariance_is_the_inverse_hessian_of_the_penalised_likelihood(segment_choices, pooled_fit):
    mean = np.array(pooled_fit.mean)
    step = 1e-5
    hessian = np.column_stack(
        [
            (
                penalised_negative_log_likelihood(mean + step * e, segment_choices)[1]
                - penalised_negative_log_likelihood(mean - step * e, segment_choices)[1]
            )
            / (2 * step)
            for e in np.eye(len(mean))
        ]
    )

    assert np.linalg.inv(hessian) == pytest.approx(np.array(pooled_fit.covariance), rel=1e-3, abs=1e-6)


def test_pooled_fit_without_a_position_feature_has_only_the_utility_weights(segment_choices):
    fit = learning.fit_pooled_logit(
        segment_choices[:500], prior_mean=np.zeros(DIMENSIONS), prior_precision=np.eye(DIMENSIONS), fit_position=False
    )

    assert len(fit.mean) == DIMENSIONS
    assert np.array(fit.covariance).shape == (DIMENSIONS, DIMENSIONS)
    assert learning.cosine(fit.mean[:N_FACTORS], TRUE_BETA[:N_FACTORS]) > 0.95


def test_pooled_fit_of_no_choices_is_the_prior():
    prior_mean = np.arange(DIMENSIONS + 1, dtype=float)
    prior_precision = 2.0 * np.eye(DIMENSIONS + 1)

    fit = learning.fit_pooled_logit([], prior_mean=prior_mean, prior_precision=prior_precision)

    assert fit.mean == tuple(prior_mean)
    assert np.array(fit.covariance) == pytest.approx(0.5 * np.eye(DIMENSIONS + 1))
    assert fit.observations == 0
    assert fit.log_likelihood == 0.0


@pytest.mark.parametrize("fit_position", [True, False])
def test_pooled_fit_refuses_a_prior_of_the_wrong_dimension(fit_position):
    wrong = DIMENSIONS if fit_position else DIMENSIONS + 1

    with pytest.raises(ValueError, match="dimensions"):
        learning.fit_pooled_logit(
            [], prior_mean=np.zeros(wrong), prior_precision=np.eye(wrong), fit_position=fit_position
        )


# --- the segment's prior by empirical Bayes --------------------------------------------------------------------


def simulated_segment(rng: np.random.Generator, mean: np.ndarray, sd: np.ndarray, customers: int, choices: int):
    population = []
    for _ in range(customers):
        z = mean + sd * rng.standard_normal(DIMENSIONS)
        observations = []
        for _ in range(choices):
            options = shown_options(rng, 6)
            observations.append(learning.ChoiceObservation(options, simulated_choice(rng, z, options, 1.0)))
        population.append(observations)
    return population


def test_empirical_bayes_finds_the_segments_log_weights_and_predicts_its_choices_better_than_its_start():
    rng = np.random.default_rng(33)
    true_mean = np.concatenate([np.log([8.0, 2.0, 4.0, 1.0, 3.0, 2.0]), np.zeros(N_REGIONS)])
    true_sd = np.concatenate([np.full(N_FACTORS, 0.6), np.full(N_REGIONS, 1.0)])
    customers = simulated_segment(rng, true_mean, true_sd, customers=150, choices=12)
    start = learning.prior_state(
        np.concatenate([np.full(N_FACTORS, np.log(20 / 6)), np.zeros(N_REGIONS)]), np.ones(DIMENSIONS)
    )
    floor = np.full(DIMENSIONS, 0.1)

    fitted = learning.empirical_bayes_prior(customers, start, position_bias=1.0, sd_floor=floor, iterations=15)

    def evidence(prior: learning.PreferenceState) -> float:
        return learning.predictive_log_likelihood(prior, customers, position_bias=1.0)

    log_weights = fitted.mean_array[:N_FACTORS]
    relative = log_weights - log_weights.mean()  # the scale is weakly identified from 12 choices; ratios are not
    true_relative = true_mean[:N_FACTORS] - true_mean[:N_FACTORS].mean()
    assert np.abs(relative - true_relative).max() < 0.35
    assert learning.cosine(np.exp(log_weights), np.exp(true_mean[:N_FACTORS])) > 0.98
    assert evidence(fitted) > evidence(start)
    assert np.all(np.sqrt(np.diag(fitted.covariance)) >= floor - 1e-12)


def test_empirical_bayes_of_no_customers_is_its_start(prior):
    fitted = learning.empirical_bayes_prior([], prior, position_bias=1.0, sd_floor=np.full(DIMENSIONS, 0.1))

    assert fitted == prior


def test_posterior_after_is_the_newton_updates_in_turn_and_their_predictive_log_likelihood(prior):
    rng = np.random.default_rng(34)
    observations = simulated_segment(rng, SEGMENT_MEAN, SEGMENT_SD, customers=1, choices=5)[0]

    state, log_likelihood = learning.posterior_after(prior, observations, position_bias=1.0)

    expected, total = prior, 0.0
    for o in observations:
        offsets = learning.position_offsets(6, 1.0)
        update = learning.choice_update(expected, o.options, o.chosen, offsets=offsets, matched=False)
        total += math.log(update.probabilities[o.chosen])
        expected = update.state
    assert state == expected
    assert log_likelihood == pytest.approx(total)


# --- the online loop on a simulated population ---------------------------------------------------------------


def test_online_updates_recover_each_customers_direction_from_its_choices(prior):
    rng = np.random.default_rng(7)
    offsets = learning.position_offsets(K, TRUE_POSITION_BIAS)
    cosines: dict[int, list[float]] = {0: [], 10: [], 50: []}
    for _ in range(200):
        true = SEGMENT_MEAN + SEGMENT_SD * rng.standard_normal(DIMENSIONS)
        true_weights = learning.utility_weights(true)[:N_FACTORS]
        state = prior
        cosines[0].append(learning.cosine(state.factor_weights, true_weights))
        for n in range(1, 51):
            options = shown_options(rng)
            chosen = simulated_choice(rng, true, options, TRUE_POSITION_BIAS)
            state = learning.choice_update(state, options, chosen, offsets=offsets).state
            if n in cosines:
                cosines[n].append(learning.cosine(state.factor_weights, true_weights))

    medians = {n: float(np.median(values)) for n, values in cosines.items()}
    assert medians[0] < 0.85  # the segment's weights alone
    assert medians[10] > medians[0] + 0.05
    assert medians[50] > medians[10]
    assert medians[50] >= 0.97
    assert float(np.percentile(cosines[50], 10)) > float(np.percentile(cosines[0], 10)) + 0.2


def test_the_predictive_likelihood_prefers_the_true_spread_of_customers_over_a_far_too_narrow_or_wide_one():
    rng = np.random.default_rng(21)
    mean = np.concatenate([np.full(N_FACTORS, np.log(5.0)), np.zeros(N_REGIONS)])
    true_sd = 1.0
    customers = simulated_segment(rng, mean, np.full(DIMENSIONS, true_sd), customers=60, choices=8)

    def score(sd: float) -> float:
        prior = learning.prior_state(mean, np.full(DIMENSIONS, sd))
        return learning.predictive_log_likelihood(prior, customers, position_bias=1.0)

    assert score(true_sd) > score(0.1)
    assert score(true_sd) > score(6.0)
