"""The experiments issue's speed figures: assignment per call, pure and through the engine's selector."""

from __future__ import annotations

import time

from django.test import override_settings

from bench.harness import Report, Timing, time_calls
from experiments import assignment
from experiments.services import experiment_create, experiment_start, experiment_variant_for
from marketplace import scoring
from tests.factories import CustomerAccountFactory

CALLS = 100_000
ORDER = scoring.OrderContext(
    process="cnc_machining",
    quantity=100,
    complexity_level="complex",
    estimated_value=12000.0,
    quality_requirements=0.8,
    timeline_urgency=0.5,
    delivery_region="western_europe",
)


def _assignment(report: Report) -> None:
    weights = [0.34, 0.33, 0.33]
    start = time.perf_counter()
    for i in range(CALLS):
        assignment.assign(experiment_seed="bench-seed", unit_id=str(i), weights=weights, coverage=0.8)
    pure_us = (time.perf_counter() - start) / CALLS * 1e6

    variants = [
        {"key": f"v{i}", "weight": w, "is_control": i == 0, "config": {"strategy": "balanced"}}
        for i, w in enumerate(weights)
    ]
    experiment_start(experiment=experiment_create(name="bench", variants=variants))
    customers = CustomerAccountFactory.create_batch(300)
    for customer in customers:  # first calls store the sticky assignments
        experiment_variant_for(customer=customer, order=ORDER)
    sticky = [
        s * 1000
        for customer in customers
        for s in time_calls(lambda c=customer: experiment_variant_for(customer=c, order=ORDER), repeat=3)
    ]
    figures = Timing("sticky", sticky).summary
    report.add(
        "experiment assignment",
        {
            "pure assign() mean us per call": round(pure_us, 2),
            "engine lookup (stored, sticky) p50 / p95 us": f"{figures['p50_ms']} / {figures['p95_ms']}",
        },
        goals={"assignment <= 50 us per call": pure_us <= 50.0},
        notes="The engine's lookup reads the stored assignment (one indexed query) once a customer is assigned.",
    )


@override_settings(CATALOG_VERSION_CHECK_SECONDS=1.0)
def run(report: Report) -> None:
    _assignment(report)
