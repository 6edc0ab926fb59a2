"""The experiments issue's speed figures: assignment per call, pure and through the engine's selector."""

from __future__ import annotations

import time

from django.test import Client, override_settings
from knox.models import AuthToken

from bench.harness import UNTHROTTLED, Report, Timing, time_calls
from experiments import assignment
from experiments.services import experiment_create, experiment_start, experiment_variant_for
from tests.api_helpers import ORDER
from tests.factories import CustomerAccountFactory, UserFactory

CALLS = 100_000


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


def _results(report: Report) -> None:
    """GET results of an experiment with a million customers in its counters, through the full stack."""
    variants = [
        {"key": f"r{i}", "weight": 0.25, "is_control": i == 0, "config": {"strategy": "balanced"}} for i in range(4)
    ]
    experiment = experiment_start(experiment=experiment_create(name="million", variants=variants))
    for i, variant in enumerate(experiment.variants.order_by("position")):
        variant.participants = 250_000
        variant.conversions = 50_000 + 600 * i
        variant.revenue_sum = 5e8 + 1e6 * i
        variant.revenue_sum_squares = 2e15
        variant.save()
    staff = UserFactory(is_staff=True)
    _, token = AuthToken.objects.create(staff)
    client = Client(HTTP_AUTHORIZATION=f"Token {token}")
    url = f"/api/v1/advanced-personalization/experiments/{experiment.pk}/results"

    def get() -> None:
        response = client.get(url)
        assert response.status_code == 200, response.content

    for _ in range(20):
        get()
    figures = Timing("results", time_calls(get, repeat=300)).summary
    report.add(
        "experiment results endpoint (4 variants, 1,000,000 customers in the counters)",
        {"p50 ms": figures["p50_ms"], "p95 ms": figures["p95_ms"], "requests": figures["n"]},
        goals={"p95 <= 50 ms": figures["p95_ms"] <= 50.0},
        notes="The analysis reads the variant counters only: its cost does not grow with the events.",
    )


@override_settings(
    CATALOG_VERSION_CHECK_SECONDS=1.0,
    API_THROTTLE_RATES=UNTHROTTLED,
)
def run(report: Report) -> None:
    _assignment(report)
    _results(report)
