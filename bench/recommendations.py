"""The recommendation endpoint through the full Django stack, against a trivial authenticated endpoint.

5,000 active-or-not manufacturers from the simulator, a customer with a knox token, varied order contexts;
the two endpoints are called alternately so that both see the same conditions. Also: the pure ranking alone,
and how long the simulated marketplace of the demo (300 customers, a year) takes to build and load.
"""

from __future__ import annotations

import json
import time
from dataclasses import asdict

import numpy as np
from django.test import Client, override_settings
from django.utils import timezone
from knox.models import AuthToken

from bench.harness import UNTHROTTLED, Report, Timing, time_calls
from marketplace import scoring
from marketplace.selectors import catalog_get
from marketplace.simulation import WorldConfig, build_world, draw_order, simulate_history
from marketplace.truth.loading import world_delete, world_load
from marketplace.truth.models import SimulatedWorld
from tests.factories import CustomerAccountFactory

URL = "/api/v1/advanced-personalization/recommendations/personalized"
TRIVIAL_URL = "/api/v1/auth/me"
MANUFACTURERS = 5000
REQUESTS = 600
WARMUP = 50


def _load(config: WorldConfig) -> float:
    start = time.perf_counter()
    world = build_world(config)
    history = simulate_history(world)
    world_load(world=world, history=history, start=timezone.now())
    return time.perf_counter() - start


# The production default catalog check (tests check every request), and rate limits high enough never to trip:
# their counters are still incremented on every request, as in production.
@override_settings(
    CATALOG_VERSION_CHECK_SECONDS=1.0,
    API_THROTTLE_RATES=UNTHROTTLED,
)
def run(report: Report) -> None:
    for world in SimulatedWorld.objects.all():
        world_delete(world=world)
    demo_seconds = _load(WorldConfig(n_manufacturers=500, n_customers=300, days=365, seed=42))
    for world in SimulatedWorld.objects.all():
        world_delete(world=world)
    _load(WorldConfig(n_manufacturers=MANUFACTURERS, n_customers=20, days=7, seed=7))

    customer = CustomerAccountFactory()
    _, token = AuthToken.objects.create(customer.user)
    client = Client(HTTP_AUTHORIZATION=f"Token {token}")
    world = build_world(WorldConfig(n_manufacturers=1, n_customers=50, days=1, seed=11))
    rng = np.random.default_rng(11)
    bodies = []
    for i in range(REQUESTS + WARMUP):
        order = draw_order(rng, world.customers[i % len(world.customers)])
        context = {k: v for k, v in asdict(order).items() if k != "delivery_region"} | {"region": order.delivery_region}
        goal = ("balanced", "quality", "cost", "speed")[i % 4]
        bodies.append(json.dumps({"order_context": context, "optimization_goal": goal}))

    def recommend(body: str) -> None:
        response = client.post(URL, body, content_type="application/json")
        assert response.status_code == 200, response.content

    def trivial() -> None:
        response = client.get(TRIVIAL_URL)
        assert response.status_code == 200, response.content

    for body in bodies[:WARMUP]:
        recommend(body)
        trivial()
    rec_samples, trivial_samples = [], []
    for body in bodies[WARMUP:]:
        rec_samples += time_calls(lambda b=body: recommend(b), repeat=1)
        trivial_samples += time_calls(trivial, repeat=1)
    rec = Timing("recommendation", rec_samples).summary
    base = Timing("trivial", trivial_samples).summary

    catalog = catalog_get()
    contexts = [draw_order(rng, world.customers[i % 50]) for i in range(200)]
    rank_samples = [
        s
        for order in contexts
        for s in time_calls(lambda o=order: scoring.rank(catalog, o, scoring.STRATEGIES["balanced"]), repeat=1)
    ]
    ranking = Timing("rank", rank_samples).summary

    ratio_p95 = round(rec["p95_ms"] / base["p95_ms"], 2)
    report.add(
        "recommendation endpoint (5,000 manufacturers, full Django stack)",
        {
            "catalog manufacturers": len(catalog),
            "recommendation p50 ms": rec["p50_ms"],
            "recommendation p95 ms": rec["p95_ms"],
            "recommendation p99 ms": rec["p99_ms"],
            "trivial authenticated endpoint p50 ms": base["p50_ms"],
            "trivial authenticated endpoint p95 ms": base["p95_ms"],
            "ratio p50 (recommendation / trivial)": round(rec["p50_ms"] / base["p50_ms"], 2),
            "ratio p95 (recommendation / trivial)": ratio_p95,
            "requests per endpoint": rec["n"],
            "pure ranking (scoring.rank) p50 ms": ranking["p50_ms"],
            "pure ranking (scoring.rank) p95 ms": ranking["p95_ms"],
        },
        goals={"p95 <= 20 ms": rec["p95_ms"] <= 20.0, "p95 <= 3x trivial endpoint": ratio_p95 <= 3.0},
    )
    report.add(
        "simulated marketplace load (300 customers, a year, 500 manufacturers)",
        {"build + simulate + load seconds": round(demo_seconds, 2)},
        goals={"under 60 s": demo_seconds < 60},
    )
