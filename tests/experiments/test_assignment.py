"""Deterministic assignment without a database, against published FNV-1a and GrowthBook vectors and scipy."""

import dataclasses
import math

import numpy as np
import pytest
from scipy import stats

from experiments.assignment import (
    Assignment,
    Namespace,
    assign,
    bucket_ranges,
    choose_variant,
    fnv1a32,
    hash_unit,
    hash_unit_v1,
    in_namespace,
    namespace_hash,
)

N_UNITS = 100_000


def seeded_unit_ids(seed: int, size: int = N_UNITS) -> list[str]:
    """Distinct customer-like ids drawn from a seeded generator."""
    numbers = np.random.default_rng(seed).choice(10**9, size=size, replace=False)
    return [f"customer-{number}" for number in numbers]


def within_binomial_error(count: int, n: int, p: float, *, sigmas: float = 4.0) -> bool:
    return abs(count - n * p) <= sigmas * math.sqrt(n * p * (1 - p))


# Hashing ------------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        # Landon Curt Noll's FNV-1a 32-bit test vectors.
        ("", 0x811C9DC5),
        ("a", 0xE40C292C),
        ("b", 0xE70C2DE5),
        ("ab", 0x4D2505CA),
        ("foo", 0xA9F37ED7),
        ("foobar", 0xBF9CF968),
    ],
)
def test_fnv1a32_matches_the_published_test_vectors(text, expected):
    assert fnv1a32(text) == expected


def test_fnv1a32_hashes_the_utf8_bytes_of_the_text():
    h = 0x811C9DC5
    for byte in "é".encode():
        h = ((h ^ byte) * 0x01000193) % 2**32
    assert fnv1a32("é") == h


@pytest.mark.parametrize(
    ("seed", "unit_id", "expected"),
    [
        # GrowthBook's sdk-js test/cases.json, "hash" cases of version 2.
        ("seed", "a", 0.0505),
        ("seed", "b", 0.2696),
        ("foo", "ab", 0.2575),
        ("foo", "def", 0.2019),
        ("89123klj", "8952klfjas09ujkasdf", 0.124),
        ("90850943850283058242805", "123", 0.7516),
        ("()**(%$##$%#$#", '___)((*":&', 0.0128),
    ],
)
def test_hash_unit_matches_growthbook_hash_v2(seed, unit_id, expected):
    assert hash_unit(seed, unit_id) == expected


@pytest.mark.parametrize(
    ("seed", "unit_id", "expected"),
    [
        # GrowthBook's sdk-js test/cases.json, "hash" cases of version 1.
        ("", "a", 0.22),
        ("", "b", 0.077),
        ("b", "a", 0.946),
        ("ef", "d", 0.652),
        ("asdf", "8952klfjas09ujk", 0.549),
        ("", "123", 0.011),
        ("", '___)((*":&', 0.563),
    ],
)
def test_hash_unit_v1_matches_growthbook_hash_v1(seed, unit_id, expected):
    assert hash_unit_v1(seed, unit_id) == expected


def test_hash_unit_is_deterministic_and_in_the_unit_interval():
    ids = seeded_unit_ids(1, size=2_000)
    first = [hash_unit("exp-42", unit_id) for unit_id in ids]
    again = [hash_unit("exp-42", unit_id) for unit_id in ids]
    assert first == again
    assert all(0 <= value < 1 for value in first)


@pytest.mark.parametrize(
    "ids",
    [seeded_unit_ids(2), [str(pk) for pk in range(1, N_UNITS + 1)]],
    ids=["random-ids", "sequential-primary-keys"],
)
def test_hash_unit_is_uniform_over_twenty_bins(ids):
    values = np.array([hash_unit("ranking-experiment", unit_id) for unit_id in ids])
    counts = np.histogram(values, bins=20, range=(0.0, 1.0))[0]
    assert stats.chisquare(counts).pvalue > 0.001


def test_hashes_under_two_seeds_are_independent():
    ids = seeded_unit_ids(3)
    first = np.array([hash_unit("experiment-a", unit_id) for unit_id in ids])
    second = np.array([hash_unit("experiment-b", unit_id) for unit_id in ids])
    table = np.histogram2d(first, second, bins=10, range=[[0.0, 1.0], [0.0, 1.0]])[0]
    assert stats.chi2_contingency(table).pvalue > 0.001
    assert abs(stats.pearsonr(first, second).statistic) < 4 / math.sqrt(len(ids))


# Bucket ranges and choosing a variant -------------------------------------------------------------------


@pytest.mark.parametrize(
    ("weights", "coverage", "expected"),
    [
        # GrowthBook's sdk-js test/cases.json, "getBucketRange" cases with valid weights.
        ((0.5, 0.5), 1, [(0, 0.5), (0.5, 1)]),
        ((0.5, 0.5), 0.5, [(0, 0.25), (0.5, 0.75)]),
        ((0.5, 0.5), 0, [(0, 0), (0.5, 0.5)]),
        ((0.25, 0.25, 0.25, 0.25), 1, [(0, 0.25), (0.25, 0.5), (0.5, 0.75), (0.75, 1)]),
        ((0.4, 0.6), 1, [(0, 0.4), (0.4, 1)]),
        ((0.2, 0.3, 0.5), 1, [(0, 0.2), (0.2, 0.5), (0.5, 1)]),
        ((0.2, 0.3, 0.5), 0.2, [(0, 0.04), (0.2, 0.26), (0.5, 0.6)]),
        ((0.4, 0.6), 0.1, [(0, 0.04), (0.4, 0.46)]),
    ],
)
def test_bucket_ranges_start_at_the_cumulative_weights_and_span_coverage_times_weight(weights, coverage, expected):
    ranges = bucket_ranges(weights, coverage)
    assert len(ranges) == len(expected)
    for (start, end), (expected_start, expected_end) in zip(ranges, expected):
        assert start == pytest.approx(expected_start, abs=1e-12)
        assert end == pytest.approx(expected_end, abs=1e-12)


def test_choose_variant_includes_the_start_and_excludes_the_end_of_a_range():
    ranges = ((0.0, 0.25), (0.5, 0.75))
    assert choose_variant(ranges, 0.0) == 0
    assert choose_variant(ranges, 0.2) == 0
    assert choose_variant(ranges, 0.25) is None
    assert choose_variant(ranges, 0.4) is None
    assert choose_variant(ranges, 0.5) == 1
    assert choose_variant(ranges, 0.6) == 1
    assert choose_variant(ranges, 0.75) is None
    assert choose_variant(ranges, 0.8) is None


def test_choose_variant_skips_a_variant_of_weight_zero():
    ranges = bucket_ranges((0.5, 0.0, 0.5))
    assert choose_variant(ranges, 0.5) == 2


# Assigning units ----------------------------------------------------------------------------------------


def test_assign_is_deterministic_and_returns_a_frozen_assignment():
    kwargs = {"experiment_seed": "exp-7", "unit_id": "customer-1", "weights": (0.5, 0.5)}
    first = assign(**kwargs)
    assert first == assign(**kwargs)
    assert isinstance(first, Assignment)
    assert first.hash_value == hash_unit("exp-7", "customer-1")
    assert first.variant == (0 if first.hash_value < 0.5 else 1)
    with pytest.raises(dataclasses.FrozenInstanceError):
        first.variant = 1


def test_assign_agrees_with_choosing_from_the_bucket_ranges():
    weights, coverage = (0.2, 0.3, 0.5), 0.7
    ranges = bucket_ranges(weights, coverage)
    for unit_id in seeded_unit_ids(4, size=5_000):
        result = assign(experiment_seed="exp-9", unit_id=unit_id, weights=weights, coverage=coverage)
        expected = choose_variant(ranges, hash_unit("exp-9", unit_id))
        assert (None if result is None else result.variant) == expected


def test_assign_respects_the_weights_within_binomial_error():
    weights = (0.2, 0.3, 0.5)
    ids = seeded_unit_ids(5)
    variants = [assign(experiment_seed="exp-weights", unit_id=u, weights=weights).variant for u in ids]
    counts = np.bincount(variants, minlength=len(weights))
    for count, weight in zip(counts, weights):
        assert within_binomial_error(int(count), len(ids), weight)
    assert stats.chisquare(counts, f_exp=np.array(weights) * len(ids)).pvalue > 0.001


def test_assign_puts_no_unit_in_at_zero_coverage_and_every_unit_in_at_full_coverage():
    ids = seeded_unit_ids(6, size=5_000)
    assert all(assign(experiment_seed="e", unit_id=u, weights=(0.5, 0.5), coverage=0) is None for u in ids)
    assert all(assign(experiment_seed="e", unit_id=u, weights=(0.5, 0.5), coverage=1) is not None for u in ids)


def test_ramping_coverage_never_moves_a_unit_to_another_variant():
    weights = (0.4, 0.6)
    ids = seeded_unit_ids(7)
    by_coverage = {
        coverage: [assign(experiment_seed="exp-ramp", unit_id=u, weights=weights, coverage=coverage) for u in ids]
        for coverage in (0.1, 0.5, 1.0)
    }
    for low, high in ((0.1, 0.5), (0.5, 1.0), (0.1, 1.0)):
        for before, after in zip(by_coverage[low], by_coverage[high]):
            if before is not None:
                assert after is not None
                assert after.variant == before.variant
    for coverage, results in by_coverage.items():
        entered = [result for result in results if result is not None]
        if coverage < 1:
            assert within_binomial_error(len(entered), len(ids), coverage)
        else:
            assert len(entered) == len(ids)
        treated = sum(result.variant == 1 for result in entered)
        assert within_binomial_error(treated, len(entered), weights[1])


# Namespaces ---------------------------------------------------------------------------------------------


def test_experiments_with_disjoint_namespace_ranges_share_no_unit_and_each_gets_its_share():
    first = Namespace("ranking", 0.0, 0.3)
    second = Namespace("ranking", 0.3, 1.0)
    ids = seeded_unit_ids(8)
    in_first = {
        u for u in ids if assign(experiment_seed="exp-a", unit_id=u, weights=(0.5, 0.5), namespace=first) is not None
    }
    in_second = {
        u for u in ids if assign(experiment_seed="exp-b", unit_id=u, weights=(0.5, 0.5), namespace=second) is not None
    }
    assert not in_first & in_second
    assert within_binomial_error(len(in_first), len(ids), 0.3)
    assert within_binomial_error(len(in_second), len(ids), 0.7)
    assert len(in_first) + len(in_second) == len(ids)


def test_the_namespace_hash_does_not_bias_the_split_between_variants():
    namespace = Namespace("ranking", 0.0, 0.5)
    ids = seeded_unit_ids(9)
    results = [assign(experiment_seed="exp-c", unit_id=u, weights=(0.5, 0.5), namespace=namespace) for u in ids]
    entered = [result for result in results if result is not None]
    treated = sum(result.variant == 1 for result in entered)
    assert within_binomial_error(len(entered), len(ids), 0.5)
    assert within_binomial_error(treated, len(entered), 0.5)


def test_in_namespace_uses_the_salted_namespace_hash():
    namespace = Namespace("checkout", 0.25, 0.75)
    for unit_id in seeded_unit_ids(10, size=2_000):
        position = hash_unit("checkout__namespace", unit_id)
        assert namespace_hash("checkout", unit_id) == position
        assert in_namespace(unit_id, namespace) == (0.25 <= position < 0.75)


# Bad input ----------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("weights", "message"),
    [
        ((1.0,), "at least two variants"),
        ((), "at least two variants"),
        ((0.5, 0.4), r"sum to 1 \(within 1e-09\)"),
        ((0.6, 0.6), r"sum to 1 \(within 1e-09\)"),
        ((1.5, -0.5), "weight 1 must be non-negative"),
        ((0.5, math.nan), "weight 1 must be a finite number"),
        ((math.inf, 0.5), "weight 0 must be a finite number"),
        ((0.5, "0.5"), "weight 1 must be a finite number"),
        ("ab", "weights must be a sequence of numbers"),
    ],
)
def test_invalid_weights_raise_a_clear_value_error(weights, message):
    with pytest.raises(ValueError, match=message):
        bucket_ranges(weights, 1.0)
    with pytest.raises(ValueError, match=message):
        assign(experiment_seed="exp", unit_id="customer-1", weights=weights)


def test_weights_summing_to_one_within_the_tolerance_are_accepted():
    assert len(bucket_ranges((0.1,) * 10)) == 10
    assert len(bucket_ranges((0.5, 0.5 + 5e-10))) == 2


@pytest.mark.parametrize("coverage", [-0.1, 1.01, math.nan, math.inf, True, "1"])
def test_coverage_outside_the_unit_interval_raises_a_clear_value_error(coverage):
    with pytest.raises(ValueError, match=r"coverage must be a number in \[0, 1\]"):
        assign(experiment_seed="exp", unit_id="customer-1", weights=(0.5, 0.5), coverage=coverage)


@pytest.mark.parametrize(
    ("field", "value"),
    [("experiment_seed", ""), ("unit_id", ""), ("unit_id", 17)],
)
def test_an_empty_or_non_string_identifier_raises_a_value_error(field, value):
    kwargs = {"experiment_seed": "exp", "unit_id": "customer-1", "weights": (0.5, 0.5), field: value}
    with pytest.raises(ValueError, match=f"{field} must be a non-empty string"):
        assign(**kwargs)


@pytest.mark.parametrize(
    ("name", "start", "end", "message"),
    [
        ("", 0.0, 0.5, "non-empty name"),
        ("ranking", -0.1, 0.5, r"start must be a number in \[0, 1\]"),
        ("ranking", 0.0, 1.5, r"end must be a number in \[0, 1\]"),
        ("ranking", 0.0, math.nan, r"end must be a number in \[0, 1\]"),
        ("ranking", 0.5, 0.5, "start must be below its end"),
        ("ranking", 0.7, 0.2, "start must be below its end"),
    ],
)
def test_an_invalid_namespace_raises_a_clear_value_error(name, start, end, message):
    with pytest.raises(ValueError, match=message):
        Namespace(name, start, end)
