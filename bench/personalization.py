"""The personalization issue's figures: learning on the simulated marketplace, and the cost of the pipeline.

- Learning: the engine in a closed loop with a simulated world (its real services and database), against
  the segment-only ranking and the oracle on the same orders; weight recovery by the median cosine of the
  learnt effective weights to the hidden true weights after 10, 25 and 50 choices. Then the personalized loop
  with four more loop seeds, to show one seed's noise, and once more with five times the marketplace's history,
  to show how much of the recovery is the segment prior's data.
- Speed with 5,000 manufacturers: the personalization overhead (the pipeline minus the base ranking of the
  same order), and POST profile/update through the full Django stack, each next to the trivial endpoint.
"""

from __future__ import annotations

import json
import time
import uuid
from dataclasses import replace

import numpy as np
from django.test import Client, override_settings
from django.utils import timezone
from knox.models import AuthToken

from bench.harness import UNTHROTTLED, Report, Timing, time_calls
from marketplace import scoring
from marketplace.selectors import catalog_get
from marketplace.simulation import WorldConfig, build_world, draw_order, simulate_history
from marketplace.truth.closed_loop import ORACLE, PERSONALIZED, SEGMENT, LoopResult, loaded_world, run_closed_loop
from marketplace.truth.loading import world_delete, world_load
from marketplace.truth.models import SimulatedWorld
from marketplace.truth.recovery_ceiling import ceiling_cosines, true_prior_cosines
from personalization.services import recommendation_create, segment_preferences_recompute
from personalization.services.profiles import profile_apply_feedback
from tests.factories import CustomerAccountFactory

LOOP_CUSTOMERS = 100
LOOP_ORDERS = 60
LEARNING_WORLD = WorldConfig(n_manufacturers=500, n_customers=300, days=180, seed=42)
LARGER_HISTORY = 5  # the second learning run: the same world with this many times the customers
OTHER_LOOP_SEEDS = (10, 11, 12, 13)  # the goal's loop again with these seeds, to show one seed's noise
REQUESTS = 500


def _fresh_world(config: WorldConfig):
    for world in SimulatedWorld.objects.all():
        world_delete(world=world)
    world = build_world(config)
    record = world_load(world=world, history=simulate_history(world), start=timezone.now())
    return world, record


def _medians(cosines: dict[int, list[float]]) -> dict[int, float]:
    """The median cosine per number of choices, where any customer got that far."""
    return {n: round(float(np.median(v)), 3) for n, v in cosines.items() if v}


def _learning(report: Report) -> dict[int, float]:
    """The goal's run (loop seed 9); returns its median cosines per number of choices."""
    world, record = _fresh_world(LEARNING_WORLD)
    segment_preferences_recompute()
    loaded = loaded_world(world, record)
    customers = list(range(LOOP_CUSTOMERS))
    start = time.perf_counter()
    results = {
        policy: run_closed_loop(
            loaded,
            customer_indices=customers,
            orders_per_customer=LOOP_ORDERS,
            policy=policy,
            seed=9,
            track_cosine_at=(1, 10, 25, 50),
            record_lists=policy == PERSONALIZED,
        )
        for policy in (SEGMENT, ORACLE, PERSONALIZED)
    }
    seconds = time.perf_counter() - start
    lists = results[PERSONALIZED].lists
    ceiling = {
        walk: _medians(ceiling_cosines(world, lists, at=(1, 10, 25), use_walk_aways=walk)) for walk in (True, False)
    }
    from_true_prior = _medians(true_prior_cosines(world, lists, at=(1, 10, 25, 50)))
    personal, segment, oracle = results[PERSONALIZED], results[SEGMENT], results[ORACLE]
    lift = personal.expected_conversion_rate / segment.expected_conversion_rate
    share = personal.expected_conversion_rate / oracle.expected_conversion_rate
    new_personal = personal.new_customer_expected / personal.new_customer_orders
    new_segment = segment.new_customer_expected / segment.new_customer_orders
    cosine = _medians(personal.cosines)
    reached = {n: len(v) for n, v in personal.cosines.items()}
    report.add(
        f"personalization on the simulated marketplace ({LOOP_CUSTOMERS} customers x {LOOP_ORDERS} orders, seed 9)",
        {
            "expected conversion, segment-only ranking": round(segment.expected_conversion_rate, 4),
            "expected conversion, personalized": round(personal.expected_conversion_rate, 4),
            "expected conversion, oracle (true utility)": round(oracle.expected_conversion_rate, 4),
            "observed conversion, segment / personalized / oracle": (
                f"{segment.conversion_rate:.4f} / {personal.conversion_rate:.4f} / {oracle.conversion_rate:.4f}"
            ),
            "personalized / segment-only": round(lift, 3),
            "personalized / oracle": round(share, 3),
            "new customers (first 3 orders): personalized / segment": round(new_personal / new_segment, 3),
            "median cosine to true weights after 1 / 10 / 25 / 50 choices": " / ".join(
                str(cosine.get(n, "-")) for n in (1, 10, 25, 50)
            ),
            "customers reaching 1 / 10 / 25 / 50 choices": " / ".join(str(reached[n]) for n in (1, 10, 25, 50)),
            "Bayes ceiling on the same lists after 1 / 10 / 25 choices (with / without walk-aways)": " ; ".join(
                " / ".join(str(ceiling[walk].get(n, "-")) for n in (1, 10, 25)) for walk in (True, False)
            ),
            "the engine's learner from the true population's prior, same lists, 1 / 10 / 25 / 50": " / ".join(
                str(from_true_prior.get(n, "-")) for n in (1, 10, 25, 50)
            ),
            "closed loop seconds (three policies)": round(seconds, 1),
        },
        goals={
            "personalized >= 1.25 x segment-only": lift >= 1.25,
            "personalized >= 0.90 x oracle": share >= 0.90,
            "new customers no worse than segment": new_personal >= new_segment,
            "cosine >= 0.93 after 10 choices": cosine.get(10, 0) >= 0.93,
            "cosine >= 0.97 after 50 choices": cosine.get(50, 0) >= 0.97,
        },
        notes="The Bayes ceiling is the posterior mean under the simulator's true population on the lists the "
        "engine showed (marketplace/truth/recovery_ceiling.py, importance sampling with 40,000 draws; past about "
        "25 choices too few draws carry weight for it to be read). The learner from the true prior replays the same "
        "choices through learning.choice_update from the true mean and spread of the segment's log weights and the "
        "true position bias: the gap from it to the engine's figure is the prior's, to the ceiling the learner's.",
    )
    return cosine


def personalized_loop(config: WorldConfig, *, seed: int, track_cosine_at: tuple[int, ...]) -> LoopResult:
    """The goal's personalized loop (LOOP_CUSTOMERS x LOOP_ORDERS) on a freshly loaded world of `config`, its
    segment priors fitted from the loaded history first."""
    world, record = _fresh_world(config)
    segment_preferences_recompute()
    return run_closed_loop(
        loaded_world(world, record),
        customer_indices=list(range(LOOP_CUSTOMERS)),
        orders_per_customer=LOOP_ORDERS,
        policy=PERSONALIZED,
        seed=seed,
        track_cosine_at=track_cosine_at,
    )


def _recovery_over_seeds(report: Report, seed_9: dict[int, float]) -> None:
    """The personalized loop of `_learning` again with other loop seeds (other orders and responses for the same
    customers), each from a freshly loaded world: how much one seed's median moves."""
    medians = {9: seed_9}
    for seed in OTHER_LOOP_SEEDS:
        medians[seed] = _medians(personalized_loop(LEARNING_WORLD, seed=seed, track_cosine_at=(10, 50)).cosines)
    seeds = sorted(medians)
    report.add(
        f"weight recovery over loop seeds {seeds[0]}-{seeds[-1]} (the world and customers above)",
        {
            f"median cosine after {n} choices, per seed": " / ".join(str(medians[s].get(n, "-")) for s in seeds)
            for n in (10, 50)
        }
        | {
            f"mean over the seeds after {n} choices": round(float(np.mean([medians[s][n] for s in seeds])), 3)
            for n in (10, 50)
        },
        notes="Not a goal: the goal is read at seed 9 above. A seed's median over the roughly 87 customers who reach "
        "10 choices moves by about 0.01-0.015; the mean over the seeds is the figure to compare changes by.",
    )


def _learning_with_more_history(report: Report) -> None:
    """The personalized loop again, for the same customers and orders, on a marketplace with LARGER_HISTORY
    times the customers (the first 300 are the same: the world draws them in turn). Only the history that the
    segment priors are fitted from grows: how much of the recovery gap is the prior's data."""
    config = replace(LEARNING_WORLD, n_customers=LEARNING_WORLD.n_customers * LARGER_HISTORY)
    world, record = _fresh_world(config)
    fits = segment_preferences_recompute()
    result = run_closed_loop(
        loaded_world(world, record),
        customer_indices=list(range(LOOP_CUSTOMERS)),
        orders_per_customer=LOOP_ORDERS,
        policy=PERSONALIZED,
        seed=9,
        track_cosine_at=(1, 10, 25, 50),
    )
    cosine = _medians(result.cosines)
    report.add(
        f"weight recovery with {LARGER_HISTORY} x the history ({config.n_customers} customers, same loop)",
        {
            "segment priors fitted from choices / customers": " ; ".join(
                f"{f.segment} {f.choices} / {f.customers}" for f in fits if f.fitted
            ),
            "median cosine to true weights after 1 / 10 / 25 / 50 choices": " / ".join(
                str(cosine.get(n, "-")) for n in (1, 10, 25, 50)
            ),
            "customers reaching 1 / 10 / 25 / 50 choices": " / ".join(
                str(len(result.cosines[n])) for n in (1, 10, 25, 50)
            ),
            "expected conversion, personalized": round(result.expected_conversion_rate, 4),
        },
        notes="Not a goal: the goal is measured on the world above. This run only separates the method from the "
        "data: the customers, their orders and the learner are the same; the segment priors are fitted from five "
        "times the customers' history.",
    )


def _speed(report: Report) -> None:
    _fresh_world(WorldConfig(n_manufacturers=5000, n_customers=20, days=7, seed=7))
    customer = CustomerAccountFactory()
    _, token = AuthToken.objects.create(customer.user)
    client = Client(HTTP_AUTHORIZATION=f"Token {token}")
    rng = np.random.default_rng(11)
    people = build_world(WorldConfig(n_manufacturers=1, n_customers=50, days=1, seed=11)).customers
    orders = [draw_order(rng, people[i % len(people)]) for i in range(REQUESTS + 50)]
    catalog = catalog_get()

    # An established profile: 20 choices first, so that the pipeline does all of its work.
    for order in orders[:20]:
        result = recommendation_create(customer=customer, order_context=order)
        if result.items:
            chosen = result.items[min(2, len(result.items) - 1)]
            profile_apply_feedback(
                customer=customer,
                session=result.session,
                event_id=uuid.uuid4().hex,
                interaction_data={},
                choice_data={"chosen_manufacturer_id": chosen.manufacturer_id},
            )

    overhead, pipeline = [], []
    weights = scoring.STRATEGIES["balanced"]
    for order in orders[20:]:
        base = time_calls(lambda o=order: scoring.rank(catalog, o, weights), repeat=1)[0]
        full = time_calls(lambda o=order: recommendation_create(customer=customer, order_context=o), repeat=1)[0]
        pipeline.append(full)
        overhead.append(full - base)

    sessions = []
    for order in orders[:REQUESTS]:
        result = recommendation_create(customer=customer, order_context=order)
        if result.items:
            sessions.append((result.session.id, result.items[0].manufacturer_id))
    update_samples, trivial_samples = [], []
    for session_id, manufacturer_id in sessions:
        body = json.dumps(
            {
                "event_id": uuid.uuid4().hex,
                "session_id": str(session_id),
                "interaction_data": {"viewed_manufacturer_ids": [manufacturer_id], "time_to_decision_seconds": 300},
                "choice_data": {"chosen_manufacturer_id": manufacturer_id, "chosen_rank": 1},
            }
        )
        update_samples += time_calls(
            lambda b=body: _ok(
                client.post("/api/v1/advanced-personalization/profile/update", b, content_type="application/json")
            ),
            repeat=1,
        )
        trivial_samples += time_calls(lambda: _ok(client.get("/api/v1/auth/me")), repeat=1)
    over, full, update, trivial = (
        Timing(n, s).summary
        for n, s in (
            ("overhead", overhead),
            ("pipeline", pipeline),
            ("update", update_samples),
            ("trivial", trivial_samples),
        )
    )
    report.add(
        "personalization speed (5,000 manufacturers, an established profile)",
        {
            "pipeline (recommendation_create) p50 / p95 ms": f"{full['p50_ms']} / {full['p95_ms']}",
            "personalization overhead (pipeline - base ranking) p50 / p95 ms": f"{over['p50_ms']} / {over['p95_ms']}",
            "profile/update endpoint p50 / p95 ms": f"{update['p50_ms']} / {update['p95_ms']}",
            "trivial authenticated endpoint p50 / p95 ms": f"{trivial['p50_ms']} / {trivial['p95_ms']}",
            "ratio p95 profile/update / trivial": round(update["p95_ms"] / trivial["p95_ms"], 2),
            "updates measured": update["n"],
        },
        goals={"overhead p95 <= 5 ms": over["p95_ms"] <= 5.0, "profile/update p95 <= 10 ms": update["p95_ms"] <= 10.0},
    )


def _ok(response) -> None:
    assert response.status_code == 200, response.content


@override_settings(
    CATALOG_VERSION_CHECK_SECONDS=1.0,
    API_THROTTLE_RATES=UNTHROTTLED,
)
def run(report: Report) -> None:
    seed_9 = _learning(report)
    _recovery_over_seeds(report, seed_9)
    _learning_with_more_history(report)
    _speed(report)
