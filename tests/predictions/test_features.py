"""Feature frames of the predictive models: the input contract, no leakage, the segment rule."""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
import pytest

from marketplace.simulation import WorldConfig, build_world, simulate_history
from marketplace.truth.prediction_data import alive_probability, oracle_churn, prediction_frames
from predictions.ml import features as F


@pytest.fixture(scope="module")
def data():
    world = build_world(WorldConfig(n_manufacturers=150, n_customers=200, days=240, seed=5))
    history = simulate_history(world)
    return world, history, prediction_frames(world, history)


def _altered_after(orders: pd.DataFrame, cutoff: float) -> pd.DataFrame:
    """Every row created at or after the cut-off scrambled, and outcomes known only after it flipped."""
    altered = orders.copy()
    later = altered["created_day"] >= cutoff
    altered.loc[later, "converted"] = ~altered.loc[later, "converted"]
    altered.loc[later, "estimated_value"] *= 3
    altered.loc[later, "satisfaction"] = 1.0
    unknown = altered["delivered_day"] >= cutoff
    altered.loc[unknown, "satisfaction"] = 5.0
    altered.loc[unknown, "delivered_on_time"] = 0.0
    undecided = altered["decided_day"] >= cutoff
    altered.loc[undecided, "converted"] = ~altered.loc[undecided, "converted"]
    return altered


def test_the_adapter_fills_exactly_the_documented_columns(data):
    _, history, frames = data
    assert tuple(frames.orders.columns) == F.ORDER_COLUMNS
    assert tuple(frames.customers.columns) == F.CUSTOMER_COLUMNS
    assert len(frames.orders) == len(history.orders)
    walked = ~frames.orders["chosen"]
    assert frames.orders.loc[walked, "chosen_quality_score"].isna().all()
    assert not frames.orders.loc[walked, "converted"].any()
    assert set(frames.order_oracle.columns) == {"order_id", "p_convert_true", "expected_satisfaction_true"}
    assert frames.order_oracle["p_convert_true"].between(0, 1).all()


def test_an_incomplete_orders_frame_is_refused():
    with pytest.raises(ValueError, match="lacks columns"):
        F.success_frame(pd.DataFrame({"order_id": [1]}), pd.DataFrame(), cutoff=10.0)


def test_success_features_are_unchanged_when_rows_after_the_cutoff_change_or_go(data):
    _, _, frames = data
    cutoff = 150.0
    base = F.success_frame(frames.orders, frames.customers, cutoff=cutoff)
    altered = F.success_frame(_altered_after(frames.orders, cutoff), frames.customers, cutoff=cutoff)
    removed = F.success_frame(frames.orders[frames.orders["created_day"] < cutoff], frames.customers, cutoff=cutoff)
    pd.testing.assert_frame_equal(base.features, altered.features)
    pd.testing.assert_frame_equal(base.features, removed.features)
    pd.testing.assert_series_equal(base.labels, removed.labels)
    assert (base.times < cutoff).all()


def test_an_orders_history_uses_only_outcomes_known_before_it_was_created(data):
    _, _, frames = data
    orders = frames.orders
    base = F.success_frame(orders, frames.customers, cutoff=240.0)
    # Flip the outcome of one order: only the customer's orders created after its decision may change.
    target = orders[orders["chosen"]].iloc[100]
    flipped = orders.copy()
    flipped.loc[flipped["order_id"] == target["order_id"], "converted"] = not target["converted"]
    changed = F.success_frame(flipped, frames.customers, cutoff=240.0)
    differs = (base.features != changed.features) & ~(base.features.isna() & changed.features.isna())
    rows = orders.set_index("order_id").loc[base.features.index[differs.any(axis=1)]]
    assert len(rows) > 0
    assert (rows["customer_id"] == target["customer_id"]).all()
    assert (rows["created_day"] > target["decided_day"]).all()


def test_labels_of_orders_undecided_at_the_cutoff_are_missing(data):
    _, _, frames = data
    frame = F.success_frame(frames.orders, frames.customers, cutoff=100.0)
    decided = frames.orders.set_index("order_id").loc[frame.features.index, "decided_day"] < 100.0
    assert frame.labels[decided.to_numpy()].notna().all()
    assert frame.labels[~decided.to_numpy()].isna().all()


def test_satisfaction_rows_are_contracts_and_their_label_waits_for_the_rating(data):
    _, _, frames = data
    frame = F.satisfaction_frame(frames.orders, frames.customers, cutoff=200.0)
    rows = frames.orders.set_index("order_id").loc[frame.features.index]
    assert rows["converted"].all()
    rated = rows["delivered_day"] < 200.0
    assert frame.labels[rated.to_numpy()].between(1, 5).all()
    assert frame.labels[~rated.to_numpy()].isna().all()
    altered = F.satisfaction_frame(_altered_after(frames.orders, 200.0), frames.customers, cutoff=200.0)
    pd.testing.assert_frame_equal(frame.features, altered.features)


def test_churn_features_come_before_the_cutoff_and_labels_strictly_after(data):
    _, _, frames = data
    cutoff = 120.0
    base = F.churn_frame(frames.orders, frames.customers, cutoff=cutoff)
    altered = F.churn_frame(_altered_after(frames.orders, cutoff), frames.customers, cutoff=cutoff)
    pd.testing.assert_frame_equal(base.features, altered.features)
    created = frames.orders.groupby("customer_id")["created_day"]
    ordered_after = frames.orders[
        (frames.orders["created_day"] > cutoff) & (frames.orders["created_day"] <= cutoff + 90)
    ]["customer_id"].unique()
    expected = pd.Series(~np.isin(base.features.index, ordered_after), index=base.features.index).astype(float)
    pd.testing.assert_series_equal(base.labels, expected, check_names=False)
    assert (created.min().loc[base.features.index] < cutoff).all()
    # A window that is not over when the data ends has no labels.
    late = F.churn_frame(frames.orders, frames.customers, cutoff=200.0, data_end=240.0)
    assert late.labels.isna().all()


def test_rolling_churn_rows_stack_the_cutoffs_in_time_order(data):
    _, _, frames = data
    cutoffs = F.rolling_cutoffs(60, 150, every=30)
    assert cutoffs == [60.0, 90.0, 120.0, 150.0]
    rolled = F.rolling_frames("churn", frames.orders, frames.customers, cutoffs)
    assert list(rolled.times.unique()) == cutoffs
    assert rolled.features.index.names == ["cutoff", "customer_id"]
    single = F.churn_frame(frames.orders, frames.customers, cutoff=90.0)
    pd.testing.assert_frame_equal(rolled.features.loc[90.0], single.features, check_names=False)


def test_the_segment_rule_follows_its_documented_order():
    behaviour = pd.DataFrame(
        {
            "decisions": [10, 10, 10, 10, 10, 3],
            "choices": [1, 8, 8, 8, 8, 3],
            "walk_share": [0.9, 0.2, 0.2, 0.2, 0.2, 0.0],
            "top1_share": [1.0, 0.9, 0.9, 0.9, 0.3, 1.0],
            "median_hours": [10.0, 10.0, 10.0, 10.0, 10.0, 10.0],
            "lift_cost": [0.2, 0.15, 0.0, 0.0, 0.0, 0.2],
            "lift_quality": [0.0, 0.1, 0.12, 0.0, 0.0, 0.0],
        }
    )
    assert F.segment_rule(behaviour).tolist() == [
        "selective",
        "price_hunter",
        "quality_seeker",
        "decisive",
        "deliberate_comparer",
        None,
    ]


def test_segment_labels_come_from_the_window_after_the_cutoff(data):
    _, _, frames = data
    frame = F.segment_frame(frames.orders, frames.customers, cutoff=100.0, label_window=120.0)
    expected = F.segment_labels(frames.orders, start=100.0, end=220.0).reindex(frame.features.index)
    assert frame.labels.fillna("-").tolist() == expected.fillna("-").tolist()
    altered = F.segment_frame(_altered_after(frames.orders, 100.0), frames.customers, cutoff=100.0)
    pd.testing.assert_frame_equal(frame.features, altered.features)
    assert set(frame.labels.dropna()) <= set(F.SEGMENT_LABELS)


def test_the_churn_oracle_is_a_probability_and_the_hidden_state_one_is_certain_for_the_churned(data):
    world, history, _ = data
    oracle = oracle_churn(world, history, 120.0)
    hidden = oracle_churn(world, history, 120.0, hidden_state=True)
    assert oracle.between(0, 1).all()
    assert hidden.between(0, 1).all()
    churned = [i for i, day in enumerate(history.churn_day) if day is not None and day <= 120.0]
    assert churned
    assert (hidden.loc[churned] == 1.0).all()
    assert (oracle.loc[churned] < 1.0).all()  # a silent churn is a guess for anyone without the hidden state
    active = hidden.index.difference(churned)
    assert (oracle.loc[active] >= hidden.loc[active] - 1e-12).all()  # who may have left adds to P(no order)


def test_the_posterior_of_being_alive_after_a_silence_matches_the_constant_hazard_closed_form():
    rate, hazard, silence = 0.05, 0.002, 40.0
    total = rate + hazard
    stay = math.exp(-total * silence)
    expected = stay / (stay + hazard / total * (1 - stay))
    assert alive_probability(rate, hazard, 0.6, 0.0, silence) == pytest.approx(expected, rel=1e-6)
    assert alive_probability(rate, hazard, 0.6, 2.0, silence) < expected  # bad experiences raise the hazard
    assert alive_probability(rate, hazard, 0.6, 0.0, 0.0) == 1.0


def test_serving_a_new_order_from_a_customers_kept_sums_gives_the_features_of_the_full_frame(data):
    _, _, frames = data
    orders = frames.orders
    customer = orders["customer_id"].value_counts().index[0]
    own = orders[orders["customer_id"] == customer]
    new = own.iloc[[-1]].copy()  # a new order at day 300 with the last order's context and list
    new["order_id"], new["created_day"], new["decided_day"] = -1, 300.0, 302.0
    everything = pd.concat([own, new], ignore_index=True)

    full = F.success_frame(everything, frames.customers, cutoff=300.0 + 1e-6)
    state = F.customer_state(own, frames.customers, customer_id=customer, time=300.0)
    kept = F.success_features_for(state, new)

    pd.testing.assert_frame_equal(kept, full.features.loc[[-1]], check_names=False)


def test_a_customer_without_orders_has_a_state_and_success_features(data):
    _, _, frames = data
    none = frames.orders.iloc[:0]
    new = frames.orders.iloc[[0]].copy()
    new["order_id"], new["customer_id"], new["created_day"] = -1, -7, 10.0
    customers = pd.concat([frames.customers, frames.customers.iloc[[0]].assign(customer_id=-7)], ignore_index=True)

    features = F.success_features_for(F.customer_state(none, customers, customer_id=-7, time=10.0), new)

    assert features.loc[-1, "hist_orders"] == 0.0
    assert np.isnan(features.loc[-1, "hist_conversion_rate"])
