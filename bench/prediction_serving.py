"""The predictions issue's figures through the database: training every model type from the rows a
simulated marketplace leaves (what beat's retraining does), and one prediction through the API, against a
trivial endpoint measured in the same run."""

from __future__ import annotations

import json
import time

from django.core.management import call_command
from django.test import Client, override_settings
from knox.models import AuthToken

from bench.harness import UNTHROTTLED, Report, Timing, time_calls
from marketplace.models import CustomerAccount
from marketplace.truth.loading import world_delete
from marketplace.truth.models import SimulatedWorld
from predictions.models import ModelStatus, PredictiveModel
from predictions.services import model_train, model_train_request
from predictions.services.serving import deployed_models, serving_cache_clear
from tests.api_helpers import ORDER_CONTEXT

TYPES = ("next_order", "success", "satisfaction", "churn", "segment")
REQUESTS = 300
WARMUP = 20
URL = "/api/v1/advanced-personalization/predictions"
TRIVIAL_URL = "/api/v1/auth/me"


# The production defaults of the per-process checks (tests check on every call), and rate limits high enough
# never to trip (their counters are still incremented on every request, as in production).
@override_settings(
    CATALOG_VERSION_CHECK_SECONDS=1.0,
    PREDICTION_CACHE_CHECK_SECONDS=5.0,
    API_THROTTLE_RATES=UNTHROTTLED,
)
def run(report: Report) -> None:
    for world in SimulatedWorld.objects.all():
        world_delete(world=world)
    call_command(
        "simulate_marketplace", "--manufacturers", "500", "--customers", "300", "--days", "365", "--no-progress"
    )
    train_seconds = {}
    for model_type in TYPES:
        start = time.perf_counter()
        model = model_train(model=model_train_request(model_type=model_type), seed=1)
        train_seconds[model_type] = round(time.perf_counter() - start, 2)
        assert model.status == ModelStatus.DEPLOYED, model.status_reason

    customers = list(CustomerAccount.objects.filter(orders__isnull=False).distinct().order_by("pk")[:50])
    clients = []
    for customer in customers:
        _, token = AuthToken.objects.create(customer.user)
        clients.append(Client(HTTP_AUTHORIZATION=f"Token {token}"))
    body = json.dumps({"order_context": ORDER_CONTEXT})

    def predict(client: Client) -> None:
        response = client.post(URL, body, content_type="application/json")
        assert response.status_code == 200, response.content

    def trivial(client: Client) -> None:
        assert client.get(TRIVIAL_URL).status_code == 200

    cold_samples = []
    for client in clients:  # each customer's first prediction: its part is computed from its rows
        serving_cache_clear()
        deployed_models()  # the estimators stay loaded: this measures the customer's part
        cold_samples += time_calls(lambda c=client: predict(c), repeat=1)
    for client in clients:  # the steady state: every customer's part is kept
        predict(client)
    for i in range(WARMUP):
        trivial(clients[i % len(clients)])
    samples, base_samples = [], []
    for i in range(REQUESTS):
        client = clients[i % len(clients)]
        samples += time_calls(lambda c=client: predict(c), repeat=1)
        base_samples += time_calls(lambda c=client: trivial(c), repeat=1)
    prediction, base = Timing("prediction", samples).summary, Timing("trivial", base_samples).summary
    cold = Timing("cold", cold_samples).summary
    deployed = {m.model_type: m for m in PredictiveModel.objects.filter(status=ModelStatus.DEPLOYED)}
    figures = {
        "world": "500 manufacturers, 300 customers, 365 days",
        **{f"train {t} s (from the database)": s for t, s in train_seconds.items()},
        "train all s": round(sum(train_seconds.values()), 2),
        "first prediction of a customer p50 ms": cold["p50_ms"],
        "first prediction of a customer p95 ms": cold["p95_ms"],
        "prediction p50 ms": prediction["p50_ms"],
        "prediction p95 ms": prediction["p95_ms"],
        "prediction p99 ms": prediction["p99_ms"],
        "/auth/me p95 ms": base["p95_ms"],
        "ratio p95": round(prediction["p95_ms"] / base["p95_ms"], 2),
        **{
            f"{t} holdout vs baseline": {
                k: (m.accuracy_metrics["holdout"].get(k), m.accuracy_metrics["baseline"].get(k))
                for k in ("roc_auc", "brier", "mae", "macro_f1")
                if k in m.accuracy_metrics["holdout"]
            }
            for t, m in deployed.items()
        },
    }
    report.add(
        "predictions: training from the database and one prediction through the API",
        figures,
        goals={"prediction p95 <= 20 ms": prediction["p95_ms"] <= 20.0},
        notes="A customer's own part (history, churn, satisfaction, next order) is computed from its rows by the "
        "training code on its first prediction and kept until its rows change or the hour turns; each request "
        "ranks the order context's top 5 (balanced strategy) and scores it with the cached success model. "
        "'prediction' is the steady state over 50 customers; 'first prediction' clears the customer cache.",
    )
    for world in SimulatedWorld.objects.all():
        world_delete(world=world)
