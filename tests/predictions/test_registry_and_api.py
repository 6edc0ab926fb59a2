"""The registry on a simulated marketplace in the database: every model type trained from the database's
rows and deployed when it beats its baseline, champion/challenger, rollback, refused artifacts, the
predictions API, the training API, and the interventions that feed the pipeline.

One world is loaded and the five model types trained once for the module (about 30 s); each test runs in
its own transaction on top of it.

The world has 400 customers. With 300, the satisfaction model's holdout was 156 ratings, and its MAE was within
noise of the mean predictor's: from 0.010 below it to 0.0006 above, by the hour the world was loaded (the world
ends now, and the temporal features read the calendar), so the deployment tests failed at some hours. With 400
(213 ratings), every type beats its baseline at every start time tried over a year: satisfaction by 0.077-0.080
MAE."""

import logging
from datetime import timedelta

import numpy as np
import pytest
from django.core.management import call_command
from django.db import IntegrityError, transaction
from django.utils import timezone

from core.errors import DomainError
from marketplace.models import CustomerAccount
from marketplace.truth.loading import world_delete
from marketplace.truth.models import SimulatedWorld
from personalization.models import CustomerPersonalizationProfile
from personalization.services import recommendation_create
from predictions.models import Intervention, ModelStatus, PredictiveModel
from predictions.selectors import day_of, prediction_frames_get
from predictions.services import (
    model_deploy,
    model_rollback,
    model_train,
    model_train_request,
    models_retrain_due,
    registry,
    serving,
)
from predictions.services.interventions import interventions_scan
from predictions.services.registry import model_frame
from tests.api_helpers import ORDER, ORDER_CONTEXT, assert_field_error
from tests.factories import UserFactory

TYPES = ("next_order", "success", "satisfaction", "churn", "segment")
PREDICTIONS = "/api/v1/advanced-personalization/predictions"
PERFORMANCE = "/api/v1/advanced-personalization/models/performance"
TRAIN = "/api/v1/advanced-personalization/models/train"


@pytest.fixture(scope="module")
def trained(django_db_setup, django_db_blocker):
    with django_db_blocker.unblock():
        call_command(
            "simulate_marketplace", "--manufacturers", "200", "--customers", "400", "--days", "365", "--no-progress"
        )
        versions = {t: model_train(model=model_train_request(model_type=t), seed=1) for t in TYPES}
        yield versions
        PredictiveModel.objects.all().delete()
        Intervention.objects.all().delete()
        for world in SimulatedWorld.objects.all():
            world_delete(world=world)


@pytest.fixture(autouse=True)
def _fresh_estimators():
    serving.serving_cache_clear()


def client_of(user):
    from rest_framework.test import APIClient

    client = APIClient()
    client.force_authenticate(user)
    return client


@pytest.mark.django_db
def test_every_model_type_trains_from_the_database_and_is_deployed_over_its_baseline(trained):
    for model_type, model in trained.items():
        model.refresh_from_db()
        holdout, baseline = model.accuracy_metrics["holdout"], model.accuracy_metrics["baseline"]
        assert model.status == ModelStatus.DEPLOYED, (model_type, model.status_reason)
        assert "beats its baseline" in model.status_reason
        assert model.next_retrain_due > model.last_retrained
        if model_type in ("success", "churn"):
            assert holdout["roc_auc"] > 0.8 > baseline["roc_auc"] == 0.5
            assert holdout["brier"] < baseline["brier"]
        if model_type != "next_order":
            assert model.artifact_sha256
            assert model.library_versions["sklearn"]
            assert model.feature_importance
            assert model.drift_reference


@pytest.mark.django_db
def test_exactly_one_version_per_type_is_deployed(trained):
    with pytest.raises(IntegrityError), transaction.atomic():
        PredictiveModel.objects.create(name="x", model_type="success", version=99, status=ModelStatus.DEPLOYED)


@pytest.mark.django_db
def test_a_challenger_no_better_than_the_champion_stays_validated_and_rollback_restores_the_champion(trained):
    champion = trained["segment"]

    challenger = model_train(model=model_train_request(model_type="segment"), seed=1)  # same data, same seed

    assert challenger.status == ModelStatus.VALIDATED
    assert "does not beat the deployed version" in challenger.status_reason
    model_deploy(model=challenger, reason="by hand")
    champion.refresh_from_db()
    assert champion.status == ModelStatus.RETIRED
    restored = model_rollback(model_type="segment")
    challenger.refresh_from_db()
    assert restored.pk == champion.pk
    assert restored.status == ModelStatus.DEPLOYED
    assert challenger.status == ModelStatus.RETIRED


@pytest.mark.django_db
def test_a_second_training_run_of_a_type_is_refused_and_a_finished_run_is_left_alone(trained):
    run = model_train_request(model_type="satisfaction")

    with pytest.raises(DomainError, match="already training"):
        model_train_request(model_type="satisfaction")
    run.status = ModelStatus.FAILED
    run.save()
    assert model_train(model=run).status == ModelStatus.FAILED  # not retrained


@pytest.mark.django_db
def test_a_run_abandoned_while_it_trained_drops_its_result(trained, monkeypatch):
    """The abandon rule fails a run that has been training too long; if its task was only slow, not lost, its
    late result must not overwrite the failure (nor be deployed)."""
    run = model_train_request(model_type="satisfaction")
    champion = PredictiveModel.objects.get(model_type="satisfaction", status=ModelStatus.DEPLOYED)
    read = registry.prediction_frames_get

    def read_while_the_run_is_abandoned():
        frames = read()
        registry.training_runs_abandon(now=timezone.now() + registry.training_abandoned_after() + timedelta(hours=1))
        return frames

    monkeypatch.setattr(registry, "prediction_frames_get", read_while_the_run_is_abandoned)
    result = model_train(model=run, seed=1)

    run.refresh_from_db()
    assert (result.status, run.status, run.artifact_sha256) == (ModelStatus.FAILED, ModelStatus.FAILED, "")
    assert run.status_reason.startswith("Abandoned: ")
    assert PredictiveModel.objects.get(model_type="satisfaction", status=ModelStatus.DEPLOYED) == champion


@pytest.mark.django_db
def test_beat_retrains_a_type_only_once_enough_new_labelled_rows_exist(trained, caplog):
    now = timezone.now()
    PredictiveModel.objects.update(next_retrain_due=now - timedelta(hours=1))  # every cadence has come

    with caplog.at_level(logging.INFO, logger="predictions.services.registry"):
        assert models_retrain_due(now=now) == []  # no row is newer than the data each version was trained on
    for model_type in TYPES:
        assert f"not retraining {model_type}: " in caplog.text

    # As if the deployed success version had been trained before the last 99, then the last 100, labelled rows.
    success = PredictiveModel.objects.get(model_type="success", status=ModelStatus.DEPLOYED)
    frame = model_frame("success", *prediction_frames_get(), now_day=day_of(now))
    newest_first = np.sort(frame.times[frame.labels.notna()].to_numpy(dtype=float))[::-1]
    for newer, due in ((99, []), (100, ["success"])):
        end = float(newest_first[newer])  # exactly `newer` labelled rows come after it
        metrics = {**success.accuracy_metrics, "holdout_period": [end - 30.0, end]}
        PredictiveModel.objects.filter(pk=success.pk).update(accuracy_metrics=metrics, training_data_end=end - 31.0)
        assert models_retrain_due(now=now) == due
        success.refresh_from_db()  # the count the status page shows
        assert success.retrain_check == {"checked_at": now.isoformat(), "new_labelled_rows": newer, "needed": 100}


@pytest.mark.django_db
def test_a_tampered_artifact_is_refused_and_serving_stays_on_the_last_good_version(trained):
    customer = CustomerAccount.objects.order_by("pk").first()
    before = serving.prediction_make(customer=customer)
    deployed = PredictiveModel.objects.get(model_type="churn", status=ModelStatus.DEPLOYED)
    data = bytearray(deployed.artifact)
    data[len(data) // 2] ^= 0xFF
    retired = PredictiveModel.objects.create(
        name="tampered",
        model_type="churn",
        version=50,
        status=ModelStatus.VALIDATED,
        artifact=bytes(data),
        artifact_sha256=deployed.artifact_sha256,
        library_versions=deployed.library_versions,
    )

    with pytest.raises(DomainError, match="artifact is refused"):
        model_deploy(model=retired)
    PredictiveModel.objects.filter(pk=deployed.pk).update(artifact=bytes(data))  # tampered in place
    after = serving.prediction_make(customer=customer)  # the process still holds the good one
    serving.serving_cache_clear()
    fresh = serving.prediction_make(customer=customer)  # a new process refuses it

    assert before["churn_risk"] is not None
    assert after["churn_risk"] == pytest.approx(before["churn_risk"], abs=1e-4)  # (now moved on a little)
    assert fresh["churn_risk"] is None
    assert PredictiveModel.objects.get(pk=deployed.pk).status == ModelStatus.DEPLOYED


# --- the API ---------------------------------------------------------------------------------------------------


@pytest.mark.django_db
def test_a_customer_gets_its_own_predictions_with_the_versions_used(trained):
    customer = CustomerAccount.objects.filter(orders__outcome__satisfaction__isnull=False).order_by("pk").first()

    response = client_of(customer.user).post(PREDICTIONS, {"order_context": ORDER_CONTEXT}, format="json")

    body = response.json()
    assert response.status_code == 200, body
    assert 0 <= body["success_probability"] <= 1
    assert 1 <= body["predicted_satisfaction"] <= 5
    assert 0 <= body["churn_risk"] <= 1
    assert 0 <= body["next_order"]["probability_active"] <= 1
    assert body["model_versions"] == {t: trained[t].version for t in TYPES} | body["model_versions"]
    assert set(body["model_versions"]) == set(TYPES)
    assert isinstance(body["preferred_factors"], list)


@pytest.mark.django_db
def test_a_customer_may_not_ask_about_another_but_staff_may(trained):
    first, second = CustomerAccount.objects.order_by("pk")[:2]

    other = client_of(first.user).post(PREDICTIONS, {"customer_id": second.pk}, format="json")
    staff = client_of(UserFactory(is_staff=True)).post(PREDICTIONS, {"customer_id": second.pk}, format="json")
    unknown = client_of(UserFactory(is_staff=True)).post(PREDICTIONS, {"customer_id": 10**12}, format="json")

    assert other.status_code == 403
    assert staff.status_code == 200
    assert staff.json()["customer_id"] == second.pk
    assert staff.json()["success_probability"] is None
    assert "order context" in staff.json()["reasons"]["success_probability"]
    assert unknown.status_code == 404


@pytest.mark.django_db
@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"order_context": ORDER_CONTEXT | {"quality_requirements": 1.5}}, "order_context.quality_requirements"),
        ({"order_context": ORDER_CONTEXT | {"process": "alchemy"}}, "order_context.process"),
        ({"customer_id": "12"}, "customer_id"),
        ({"horizon": 30}, "horizon"),
    ],
)
def test_bad_prediction_input_is_a_400_naming_the_field(trained, body, field):
    customer = CustomerAccount.objects.order_by("pk").first()

    response = client_of(customer.user).post(PREDICTIONS, body, format="json")

    assert_field_error(response, field)


@pytest.mark.django_db
def test_staff_read_every_versions_metrics_and_customers_may_not(trained):
    customer = CustomerAccount.objects.order_by("pk").first()

    staff = client_of(UserFactory(is_staff=True)).get(PERFORMANCE)
    denied = client_of(customer.user).get(PERFORMANCE)

    assert staff.status_code == 200
    deployed = [v for v in staff.json() if v["status"] == "deployed"]
    assert {v["model_type"] for v in deployed} == set(TYPES)
    assert all("holdout" in v["accuracy_metrics"] and "baseline" in v["accuracy_metrics"] for v in deployed)
    assert denied.status_code == 403


@pytest.mark.django_db
def test_training_on_demand_is_a_celery_task_with_its_status(trained, django_capture_on_commit_callbacks):
    client = client_of(UserFactory(is_staff=True))

    with django_capture_on_commit_callbacks(execute=True):
        response = client.post(TRAIN, {"model_type": "satisfaction"}, format="json")
    again = client.post(TRAIN, {"model_type": "magic"}, format="json")

    assert response.status_code == 202
    assert response.json()["status"] == "training"
    version = PredictiveModel.objects.get(pk=response.json()["id"])
    assert version.status in (ModelStatus.VALIDATED, ModelStatus.DEPLOYED)  # the eager task ran on commit
    assert version.task_id
    assert_field_error(again, "model_type")


@pytest.mark.django_db
def test_train_now_in_the_admin_starts_the_same_task(trained, django_capture_on_commit_callbacks):
    from django.test import Client
    from django.urls import reverse

    admin = Client()
    admin.force_login(UserFactory(is_staff=True, is_superuser=True))
    deployed = PredictiveModel.objects.get(model_type="next_order", status=ModelStatus.DEPLOYED)

    with django_capture_on_commit_callbacks(execute=True):
        response = admin.post(
            reverse("admin:predictions_predictivemodel_changelist"),
            {"action": "train_now", "_selected_action": [deployed.pk]},
            follow=True,
        )

    run = PredictiveModel.objects.filter(model_type="next_order").order_by("-version").first()
    assert [str(m) for m in response.context["messages"]] == [
        f"next_order v{run.version} (training): training queued; its status follows in the versions list."
    ]
    assert run.status in (ModelStatus.VALIDATED, ModelStatus.DEPLOYED)  # the eager task ran on commit
    assert run.task_id
    assert run.requested_by is not None


# --- interventions and the pipeline --------------------------------------------------------------------------


@pytest.mark.django_db
def test_the_scan_alerts_on_at_risk_customers_once_and_the_pipeline_treats_them_as_at_risk(trained, settings):
    settings.CHURN_ALERT_THRESHOLD = 0.5

    first = interventions_scan()
    second = interventions_scan()

    alerts = Intervention.objects.filter(kind="churn_alert", status="open")
    assert first["scored"] > 0
    assert first["opened"] == alerts.count() + Intervention.objects.filter(kind="satisfaction_recovery").count()
    assert alerts.count() > 0
    assert second["opened"] == 0  # one open intervention per customer and kind
    risky = alerts.order_by("-churn_risk").first()
    profile = CustomerPersonalizationProfile.objects.get(customer_id=risky.customer_id)
    assert profile.churn_risk == pytest.approx(risky.churn_risk)
    session = recommendation_create(customer=risky.customer, order_context=ORDER).session
    assert session.customer_class == "at_risk"
    assert "retention" in session.optimization_reasoning.lower() or "churn" in session.optimization_reasoning


@pytest.mark.django_db
def test_a_prediction_without_a_deployed_model_says_which_is_missing(trained):
    customer = CustomerAccount.objects.filter(orders__isnull=False).order_by("pk").first()
    PredictiveModel.objects.filter(model_type__in=["churn", "satisfaction"]).update(status=ModelStatus.RETIRED)

    body = client_of(UserFactory(is_staff=True)).post(PREDICTIONS, {"customer_id": customer.pk}, format="json").json()

    assert body["churn_risk"] is None
    assert body["predicted_satisfaction"] is None
    assert body["reasons"]["churn_risk"] == "No churn model deployed."
    assert body["reasons"]["predicted_satisfaction"] == "No satisfaction model deployed."
    assert body["next_order"] is not None  # still deployed


@pytest.mark.django_db
def test_a_new_customer_gets_nulls_with_their_reasons(trained):
    from tests.factories import CustomerAccountFactory

    newcomer = CustomerAccountFactory()

    response = client_of(newcomer.user).post(PREDICTIONS, {"order_context": ORDER_CONTEXT}, format="json")

    body = response.json()
    assert response.status_code == 200, body
    assert body["churn_risk"] is None
    assert body["next_order"] is None
    assert {k: body["reasons"][k] for k in ("churn_risk", "next_order", "predicted_satisfaction")} == {
        "churn_risk": "No order history yet.",  # every model is deployed: the reason is the customer's
        "next_order": "No order history yet.",
        "predicted_satisfaction": "No order history yet.",
    }
    assert 0 <= body["success_probability"] <= 1  # the order and the account say something already


@pytest.mark.django_db
def test_the_training_command_leaves_deployed_types_alone_and_refuses_unknown_ones(trained):
    from io import StringIO

    from django.core.management.base import CommandError

    out = StringIO()
    call_command("predictions_train", "--if-missing", stdout=out)

    assert out.getvalue().count("a version is deployed already") == len(TYPES)
    with pytest.raises(CommandError, match="Unknown model types"):
        call_command("predictions_train", "magic")


@pytest.mark.django_db
def test_a_customers_kept_part_is_recomputed_when_its_rows_change(trained, settings):
    from tests.factories import OrderFactory

    customer = CustomerAccount.objects.filter(orders__isnull=False).order_by("pk").first()
    first = serving.prediction_make(customer=customer)
    kept = serving.prediction_make(customer=customer)
    before = serving._customers[customer.pk][2]

    OrderFactory(customer=customer)  # a new order: its rows changed
    changed = serving.prediction_make(customer=customer)

    assert kept["churn_risk"] == pytest.approx(first["churn_risk"])
    assert serving._customers[customer.pk][2] is not before
    settings.PREDICTION_CACHE_CHECK_SECONDS = 3600.0  # within the check interval the kept part is used as is
    OrderFactory(customer=customer)
    assert serving.prediction_make(customer=customer)["churn_risk"] == changed["churn_risk"]
