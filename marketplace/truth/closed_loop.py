"""The engine in a closed loop with the simulated marketplace, whose hidden truth scores what it learns.

Customers of a loaded world post orders drawn by the simulator; the engine recommends through its real
services (database included); each customer responds by its true utility (`simulation.respond`); the choice
and the outcome go back through the real feedback and outcome services. Baselines are measured on the same
orders and the same random numbers: the segment-only ranking (the segment's prior, never updated) and the
oracle (ranking by the true utility).
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass, field

import numpy as np

from marketplace import scoring
from marketplace.models import CustomerAccount
from marketplace.simulation import (
    World,
    choice_probabilities,
    conversion_probability,
    draw_order,
    respond,
    true_utility,
)
from marketplace.truth.loading import money
from marketplace.truth.models import CustomerTruthRecord, SimulatedManufacturer, SimulatedWorld
from marketplace.truth.recovery_ceiling import ShownList
from marketplace.vocabulary import FACTORS
from personalization import learning
from personalization.services import profile_apply_feedback, recommendation_create, session_outcome_record
from personalization.services.profiles import segment_prior_get

PERSONALIZED, SEGMENT, ORACLE = "personalized", "segment", "oracle"


@dataclass
class LoopResult:
    policy: str
    orders: int = 0
    choices: int = 0
    conversions: int = 0
    expected_conversions: float = 0.0  # the sum of the true P(contract) of each shown list: less noisy
    new_customer_expected: float = 0.0
    new_customer_orders: int = 0
    cosines: dict[int, list[float]] = field(default_factory=dict)  # choices so far -> cosines of customers
    lists: dict[int, list[ShownList]] = field(default_factory=dict)  # with record_lists: customer -> its lists

    @property
    def conversion_rate(self) -> float:
        return self.conversions / self.orders if self.orders else 0.0

    @property
    def expected_conversion_rate(self) -> float:
        return self.expected_conversions / self.orders if self.orders else 0.0


@dataclass(frozen=True)
class LoadedWorld:
    world: World
    record: SimulatedWorld
    customers: dict[int, CustomerAccount]  # world index -> account
    row_of: dict[int, int]  # manufacturer id -> world catalog row
    id_of: np.ndarray  # world catalog row -> manufacturer id


def loaded_world(world: World, record: SimulatedWorld) -> LoadedWorld:
    links = dict(SimulatedManufacturer.objects.filter(world=record).values_list("manufacturer_id", "index"))
    truths = CustomerTruthRecord.objects.filter(world=record).select_related("customer", "customer__user")
    id_of = np.zeros(len(world.manufacturers), dtype=np.int64)
    for manufacturer_id, index in links.items():
        id_of[index] = manufacturer_id
    return LoadedWorld(world, record, {t.index: t.customer for t in truths}, links, id_of)


def expected_conversion(world: World, customer_index: int, order: scoring.OrderContext, rows: np.ndarray) -> float:
    """P(a contract) of a shown list, by the hidden truth: sum over positions of P(chosen) P(converted)."""
    customer = world.customers[customer_index]
    features = scoring.factor_features(world.catalog, order, rows)
    regions = world.catalog.region[rows]
    chosen = choice_probabilities(customer, features, regions)[1:]
    quality = true_utility(customer, features, regions)
    convert = [
        conversion_probability(customer, float(q), float(world.catalog.cost_index[r])) for q, r in zip(quality, rows)
    ]
    return float(chosen @ np.asarray(convert))


def _baseline_rows(
    loaded: LoadedWorld, customer_index: int, order: scoring.OrderContext, policy: str, limit: int
) -> np.ndarray:
    world = loaded.world
    if policy == ORACLE:
        eligible = np.flatnonzero(scoring.eligible_mask(world.catalog, order))
        quality = true_utility(
            world.customers[customer_index],
            scoring.factor_features(world.catalog, order, eligible),
            world.catalog.region[eligible],
        )
        return eligible[scoring.top_k(quality, eligible, limit)]
    prior = segment_prior_get(segment=world.customers[customer_index].segment)
    state = learning.prior_state(prior.mean, prior.sd)
    boost = learning.region_boosts(state)[world.catalog.region]
    scored = scoring.score_eligible(world.catalog, order, learning.effective_weights(state), boost=boost)
    return scored.rows[scoring.top_k(scored.scores, scored.rows, limit)]


def run_closed_loop(
    loaded: LoadedWorld,
    *,
    customer_indices: list[int],
    orders_per_customer: int,
    policy: str,
    seed: int,
    limit: int = 10,
    track_cosine_at: tuple[int, ...] = (),
    new_customer_orders: int = 3,
    record_lists: bool = False,
) -> LoopResult:
    """Each customer places `orders_per_customer` orders in turn. The draws of orders and responses come from
    one stream per (seed, customer, order number), so every policy sees the same orders. With `record_lists`,
    what each customer was shown and did is kept (for `recovery_ceiling`)."""
    result = LoopResult(policy, cosines={n: [] for n in track_cosine_at})
    world = loaded.world
    for round_number in range(orders_per_customer):
        for customer_index in customer_indices:
            rng = np.random.default_rng([seed, customer_index, round_number])
            order = draw_order(rng, world.customers[customer_index])
            if policy == PERSONALIZED:
                account = loaded.customers[customer_index]
                shown = recommendation_create(
                    customer=account,
                    order_context=order,
                    limit=limit,
                    exploration_seed=seed * 1_000_003 + customer_index * 10_007 + round_number,
                )
                ids = [item.manufacturer_id for item in shown.items]
                rows = np.asarray([loaded.row_of[i] for i in ids], dtype=np.int64)
            else:
                rows = _baseline_rows(loaded, customer_index, order, policy, limit)
            if rows.size == 0:
                continue
            expected = expected_conversion(world, customer_index, order, rows)
            result.orders += 1
            result.expected_conversions += expected
            if round_number < new_customer_orders:
                result.new_customer_orders += 1
                result.new_customer_expected += expected
            response = respond(rng, world, customer_index, order, rows)
            if record_lists:
                result.lists.setdefault(customer_index, []).append(
                    ShownList(
                        scoring.factor_features(world.catalog, order, rows),
                        world.catalog.region[rows],
                        response.chosen_position,
                    )
                )
            if response.chosen_position is None:
                continue
            result.choices += 1
            result.conversions += int(bool(response.converted))
            if policy != PERSONALIZED:
                continue
            session = shown.session
            chosen_id = int(loaded.id_of[rows[response.chosen_position]])
            feedback = profile_apply_feedback(
                customer=account,
                session=session,
                event_id=f"loop-{uuid.uuid4().hex}",
                interaction_data={
                    "viewed_manufacturer_ids": ids[: response.chosen_position + 1],
                    "time_to_decision_seconds": (response.time_to_match_hours or 1.0) * 3600,
                },
                choice_data={"chosen_manufacturer_id": chosen_id, "chosen_rank": response.chosen_position + 1},
            )
            session_outcome_record(
                session=session,
                event_id=f"loop-{uuid.uuid4().hex}",
                manufacturer_id=chosen_id,
                converted=bool(response.converted),
                contract_value=money(response.contract_value) if response.converted else None,
                satisfaction=response.satisfaction,
                delivered_on_time=response.delivered_on_time,
            )
            choices = feedback.profile.total_choices
            if choices in result.cosines:
                learnt = np.asarray([feedback.profile.personal_weights[f] for f in FACTORS])
                result.cosines[choices].append(learning.cosine(learnt, world.customers[customer_index].weights))
    return result
