"""The paired comparison of `bench.recovery_sweep`, by which a change to the learning is judged."""

import math

import numpy as np
import pytest
from scipy import stats

from bench.recovery_sweep import _parse_runs, paired_comparison


def row(world: int, loop_seed: int, cosine_10: float, conversion: float) -> dict:
    return {"world": world, "loop_seed": loop_seed, "cosine": {"10": cosine_10}, "expected_conversion": conversion}


def test_the_comparison_is_the_paired_t_test_of_the_gains_after_10_choices():
    rng = np.random.default_rng(3)
    base_cosines = rng.uniform(0.9, 0.94, 15)
    change_cosines = base_cosines + rng.normal(0.002, 0.007, 15)
    base_conversion = rng.uniform(0.27, 0.42, 15)
    change_conversion = base_conversion * (1 + rng.normal(0.001, 0.003, 15))
    runs = [(42, s) for s in range(9, 14)] + [(w, 9) for w in range(43, 53)]
    base = [row(w, s, c, v) for (w, s), c, v in zip(runs, base_cosines, base_conversion, strict=True)]
    change = [row(w, s, c, v) for (w, s), c, v in zip(runs, change_cosines, change_conversion, strict=True)]

    result = paired_comparison(base, list(reversed(change)))  # paired by world and loop seed, not by order

    expected = stats.ttest_rel(change_cosines, base_cosines)
    assert result.pairs == 15
    assert result.t == pytest.approx(expected.statistic)
    assert result.mean_gain == pytest.approx(np.mean(change_cosines - base_cosines))
    assert result.standard_error == pytest.approx(stats.sem(change_cosines - base_cosines))
    assert result.up + result.equal + result.down == 15
    assert result.up == int(np.sum(change_cosines > base_cosines))
    assert result.conversion_change == pytest.approx(np.mean(change_conversion / base_conversion - 1))


def test_runs_without_a_partner_are_left_out():
    base = [row(42, 9, 0.90, 0.30), row(42, 10, 0.92, 0.30), row(43, 9, 0.91, 0.30)]
    change = [row(42, 9, 0.91, 0.30), row(42, 10, 0.94, 0.33), row(44, 9, 0.99, 0.10)]

    result = paired_comparison(base, change)

    assert result.pairs == 2
    assert result.mean_gain == pytest.approx(0.015)
    assert result.conversion_change == pytest.approx(0.05)


def test_equal_gains_have_no_spread_and_an_infinite_t():
    base = [row(42, s, 0.90, 0.30) for s in (9, 10, 11)]
    change = [row(42, s, 0.91, 0.30) for s in (9, 10, 11)]

    result = paired_comparison(base, change)

    assert result.sd == 0.0
    assert result.t == math.inf
    assert result.up == 3


def test_fewer_than_two_pairs_are_refused():
    with pytest.raises(ValueError, match="at least two runs"):
        paired_comparison([row(42, 9, 0.9, 0.3)], [row(42, 9, 0.91, 0.3), row(43, 9, 0.9, 0.3)])


@pytest.mark.parametrize("spec", ["42", "42:", ":9", "a:9", "42:9:1"])
def test_a_run_must_be_world_and_loop_seed(spec):
    with pytest.raises(SystemExit, match="WORLD_SEED:LOOP_SEED"):
        _parse_runs([spec])


def test_runs_are_parsed_in_order():
    assert _parse_runs(["42:9", "43:10"]) == [(42, 9), (43, 10)]
