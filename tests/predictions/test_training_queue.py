"""A training run never blocks its type for good: a run whose task the broker cannot take fails at once (the
API says 503), and a run whose task was lost later is failed once it is older than any live run can be.

The broker is made unreachable for real: the Celery app publishes to a closed port. These tests commit (the
enqueueing happens on commit, as in production), so they run in transactions of their own."""

from datetime import timedelta

import pytest
from django.utils import timezone

from config.celery import app
from core.errors import DomainError
from predictions.models import ModelStatus, PredictiveModel
from predictions.services import model_train, model_train_start
from predictions.services.registry import training_abandoned_after
from tests.factories import OrderFactory, UserFactory

TRAIN = "/api/v1/advanced-personalization/models/train"
pytestmark = pytest.mark.django_db(transaction=True)


def _reset_broker_connections() -> None:
    """Drop the app's cached connection pools, so that the next publish connects to the configured broker."""
    app._pool = None
    app.amqp._producer_pool = None


@pytest.fixture
def broker_down():
    saved = {key: app.conf[key] for key in ("broker_url", "task_always_eager")}
    app.conf.update(broker_url="redis://127.0.0.1:1/0", task_always_eager=False)
    _reset_broker_connections()
    yield
    app.conf.update(saved)
    _reset_broker_connections()


@pytest.fixture
def next_order_samples():
    """Enough customers with orders for a next_order run to be opened (50)."""
    OrderFactory.create_batch(50)


@pytest.fixture
def staff(client):
    client.force_login(UserFactory(is_staff=True))
    return client


def test_with_the_broker_down_training_is_a_503_and_the_run_is_failed_not_left_training(
    staff, next_order_samples, broker_down
):
    response = staff.post(TRAIN, {"model_type": "next_order"}, content_type="application/json")

    assert response.status_code == 503, response.json()
    message = response.json()["message"]
    assert message.startswith("Not queued: the task broker is unreachable (")
    assert response.json() == {"message": message, "extra": {"fields": {"model_type": [message]}}}
    run = PredictiveModel.objects.get(model_type="next_order")
    assert (run.status, run.status_reason, run.task_id) == (ModelStatus.FAILED, message, "")
    # Nothing blocks the type: the next attempt is refused for the broker again, not as "already training".
    again = staff.post(TRAIN, {"model_type": "next_order"}, content_type="application/json")
    assert again.status_code == 503
    assert PredictiveModel.objects.filter(model_type="next_order", status=ModelStatus.TRAINING).count() == 0


def test_once_the_broker_is_back_the_next_run_is_queued(staff, next_order_samples, broker_down):
    assert staff.post(TRAIN, {"model_type": "next_order"}, content_type="application/json").status_code == 503
    app.conf.update(task_always_eager=True)  # the broker is back (eager: the task runs in the request)

    response = staff.post(TRAIN, {"model_type": "next_order"}, content_type="application/json")

    assert response.status_code == 202, response.json()
    assert PredictiveModel.objects.get(pk=response.json()["id"]).task_id


def test_a_run_whose_task_was_lost_blocks_its_type_only_until_it_is_abandoned(next_order_samples):
    lost = PredictiveModel.objects.create(
        model_type="next_order", version=1, name="next_order-v1", status=ModelStatus.TRAINING
    )
    queued = PredictiveModel.objects.filter(pk=lost.pk)
    queued.update(created_at=timezone.now() - training_abandoned_after() + timedelta(minutes=5))
    with pytest.raises(DomainError, match="already training"):
        model_train_start(model_type="next_order")

    queued.update(created_at=timezone.now() - training_abandoned_after() - timedelta(minutes=5))
    run = model_train_start(model_type="next_order")  # eager: the new run's task runs on commit

    lost.refresh_from_db()
    assert (lost.status, run.version, run.task_id != "") == (ModelStatus.FAILED, 2, True)
    # Redis's visibility timeout (2 h) and two runs of the task's time limit (30 min).
    assert lost.status_reason.startswith("Abandoned: still in training 3 h after it was queued")
    assert model_train(model=lost).status == ModelStatus.FAILED  # the lost task turning up does nothing
