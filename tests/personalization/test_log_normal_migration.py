"""The data migration that turned stored beliefs over beta into beliefs over z = (ln factor weights, regions)."""

import importlib

import numpy as np
import pytest

from personalization import learning

migration = importlib.import_module("personalization.migrations.0005_log_normal_factor_weights")


def linear_state() -> dict:
    rng = np.random.default_rng(5)
    mean = np.concatenate([[8.0, 4.0, 2.0, 1.0, 0.5, -0.3], rng.normal(0, 1, learning.N_REGIONS)])
    root = rng.normal(size=(learning.DIMENSIONS, learning.DIMENSIONS))
    precision = root @ root.T + np.eye(learning.DIMENSIONS)
    return {"mean": mean.tolist(), "precision": precision.tolist(), "choices": 7, "position_bias": 0.9}


def test_a_stored_belief_keeps_its_ranking_weights_and_its_other_keys():
    old = linear_state()

    new = migration._to_log(old)

    state = learning.PreferenceState(
        mean=tuple(new["mean"]), precision=tuple(map(tuple, new["precision"])), choices=new["choices"]
    )
    positive = np.maximum(np.asarray(old["mean"][:6]), 0.0)
    floored = np.maximum(positive, 0.01 * positive.sum())  # a weight at or below zero becomes the floor
    assert learning.effective_weights(state) == pytest.approx(floored / floored.sum())
    assert new["mean"][6:] == old["mean"][6:]  # region effects stay linear
    assert {k: new[k] for k in ("choices", "position_bias")} == {"choices": 7, "position_bias": 0.9}
    assert np.allclose(np.asarray(new["precision"]), np.asarray(new["precision"]).T)


def test_the_delta_method_precision_gives_the_same_uncertainty_of_each_weight_to_first_order():
    old = linear_state()

    new = migration._to_log(old)

    weights = np.asarray(old["mean"][:5])  # the positive ones
    sd_beta = np.sqrt(np.diag(np.linalg.inv(np.asarray(old["precision"]))))[:5]
    sd_z = np.sqrt(np.diag(np.linalg.inv(np.asarray(new["precision"]))))[:5]
    assert sd_z == pytest.approx(sd_beta / weights)


def test_converting_back_restores_a_belief_with_positive_weights():
    old = linear_state()
    old["mean"][5] = 0.7  # all positive: the floor does not apply

    back = migration._to_linear(migration._to_log(old))

    assert back["mean"] == pytest.approx(old["mean"])
    assert np.asarray(back["precision"]) == pytest.approx(np.asarray(old["precision"]))
