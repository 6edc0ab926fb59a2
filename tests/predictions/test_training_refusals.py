"""Training with too few samples is refused with the count needed: by the API (and every other way of starting
a run) before a run is queued, and by the run itself (the version fails with the reason)."""

import pytest

from predictions.models import ModelStatus, PredictiveModel
from predictions.services import model_train, model_train_request
from tests.factories import UserFactory

TRAIN = "/api/v1/advanced-personalization/models/train"


@pytest.fixture
def staff_api(db):
    from rest_framework.test import APIClient

    client = APIClient()
    client.force_authenticate(UserFactory(is_staff=True))
    return client


@pytest.mark.parametrize(("model_type", "needed"), [("success", 100), ("satisfaction", 50), ("churn", 80)])
def test_the_api_refuses_training_without_enough_samples_and_says_how_many(staff_api, model_type, needed):
    response = staff_api.post(TRAIN, {"model_type": model_type}, format="json")

    message = f"{model_type} needs at least {needed} labelled samples to train; there are 0."
    assert response.status_code == 400
    assert response.json() == {
        "message": message,
        "extra": {"fields": {"model_type": [message]}, "needed": needed, "available": 0},
    }
    assert not PredictiveModel.objects.exists()


@pytest.mark.parametrize("model_type", ["success", "satisfaction", "churn", "segment", "next_order"])
def test_a_run_without_enough_rows_fails_with_the_count_needed(db, model_type):
    model = model_train(model=model_train_request(model_type=model_type))

    assert model.status == ModelStatus.FAILED
    assert "needs at least" in model.status_reason
    assert model.status_reason.endswith("there are 0.")


def test_beat_does_not_open_runs_that_cannot_have_enough_samples(db):
    from predictions.tasks import models_retrain_due_task

    assert models_retrain_due_task() == []
    assert not PredictiveModel.objects.exists()  # no failed version row each time beat looks


def test_a_customer_may_not_train_or_read_the_registry(db):
    from rest_framework.test import APIClient

    from tests.factories import CustomerAccountFactory

    client = APIClient()
    client.force_authenticate(CustomerAccountFactory().user)

    assert client.post(TRAIN, {"model_type": "success"}, format="json").status_code == 403
    assert client.get("/api/v1/advanced-personalization/models/performance").status_code == 403
