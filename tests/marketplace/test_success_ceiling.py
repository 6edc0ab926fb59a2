"""The success bar's ceiling: the Bayes posterior predictive under the simulator's true population (seeded)."""

from dataclasses import replace

import numpy as np
import pytest
from sklearn.metrics import brier_score_loss, roc_auc_score

from marketplace.simulation import History, WorldConfig, build_world, simulate_history
from marketplace.truth.prediction_data import prediction_frames
from marketplace.truth.success_ceiling import customer_sample, success_ceiling


@pytest.fixture(scope="module")
def market():
    world = build_world(WorldConfig(n_manufacturers=150, n_customers=120, days=365, seed=5))
    history = simulate_history(world)
    return world, history, prediction_frames(world, history)


def test_the_ceiling_lies_between_the_base_rate_and_the_oracle(market):
    world, history, data = market
    ceiling = success_ceiling(world, history, customers=range(len(world.customers)), draws=4_000, seed=1)
    y = data.orders.set_index("order_id").loc[ceiling.p_convert.index, "converted"].to_numpy()
    oracle = data.order_oracle.set_index("order_id").loc[ceiling.p_convert.index, "p_convert_true"].to_numpy()
    p = ceiling.p_convert.to_numpy()

    assert len(p) == len(data.orders) > 1_500
    assert ((p >= 0) & (p <= 1)).all()
    assert brier_score_loss(y, np.full(len(y), y.mean())) > brier_score_loss(y, p) + 0.03
    assert roc_auc_score(y, p) > 0.85
    assert roc_auc_score(y, p) < roc_auc_score(y, oracle)  # it does not know the hidden preferences
    assert brier_score_loss(y, p) > brier_score_loss(y, oracle)


def test_an_outcome_is_evidence_only_for_its_customers_later_orders(market):
    world, history, _ = market
    customer = 7
    own = [i for i, o in enumerate(history.orders) if o.customer == customer]
    flipped_id = next(i for i in own[3:] if history.orders[i].response.chosen_position is not None)
    flipped = history.orders[flipped_id]
    orders = list(history.orders)
    orders[flipped_id] = replace(flipped, response=replace(flipped.response, converted=not flipped.response.converted))
    changed_history = History(tuple(orders), history.churn_day)
    customers = [customer, 8]

    before = success_ceiling(world, history, customers=customers, draws=2_000, seed=3, use_ratings=False).p_convert
    after = success_ceiling(world, changed_history, customers=customers, draws=2_000, seed=3, use_ratings=False)
    after = after.p_convert

    decided = flipped.day + flipped.response.time_to_match_hours / 24.0
    later = [i for i in own if history.orders[i].day >= decided]
    earlier = [i for i in own if history.orders[i].day < decided]
    assert later
    assert earlier
    assert np.allclose(before.loc[earlier], after.loc[earlier])
    assert not np.allclose(before.loc[later], after.loc[later])
    others = [i for i, o in enumerate(history.orders) if o.customer == 8]
    assert np.allclose(before.loc[others], after.loc[others])


def test_a_customer_sample_is_seeded_and_drawn_from_the_orders_owners(market):
    _, history, _ = market
    order_ids = range(0, len(history.orders), 3)
    owners = {history.orders[i].customer for i in order_ids}

    sample = customer_sample(history, order_ids, 20, seed=4)

    assert sample == customer_sample(history, order_ids, 20, seed=4)
    assert len(sample) == 20
    assert set(sample) <= owners
    assert customer_sample(history, [], 5) == []
