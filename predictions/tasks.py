import logging

from celery import shared_task
from django.db import OperationalError

from core.errors import DomainError
from predictions.models import PredictiveModel
from predictions.services import model_train, model_train_start, models_retrain_due
from predictions.services.drift import drift_check_deployed
from predictions.services.interventions import interventions_scan
from predictions.services.registry import TRAINING_TIME_LIMIT_SECONDS

logger = logging.getLogger(__name__)


@shared_task(
    acks_late=True,
    autoretry_for=(OperationalError,),
    retry_backoff=True,
    max_retries=3,
    time_limit=TRAINING_TIME_LIMIT_SECONDS,
)
def model_train_task(model_id: int) -> dict:
    """Carry out one training run. Idempotent: a run already done (or taken by another worker) is left."""
    model = model_train(model=PredictiveModel.objects.get(pk=model_id))
    return {"id": model.pk, "status": model.status, "reason": model.status_reason}


@shared_task(acks_late=True, autoretry_for=(OperationalError,), retry_backoff=True, max_retries=3)
def models_retrain_due_task() -> list[int]:
    """Start a training run for each model type whose cadence has come and that has enough new labelled rows
    since its latest version's data (skipping any already training, and any without enough samples yet)."""
    started = []
    for model_type in models_retrain_due():
        try:
            started.append(model_train_start(model_type=model_type).pk)
        except DomainError as error:
            logger.info("not retraining %s: %s", model_type, error.message)
    return started


@shared_task(acks_late=True, autoretry_for=(OperationalError,), retry_backoff=True, max_retries=3)
def drift_check_task() -> list[dict]:
    """PSI of the deployed versions' live features against their training data; retrain past 0.25."""
    return drift_check_deployed()


@shared_task(acks_late=True, autoretry_for=(OperationalError,), retry_backoff=True, max_retries=3)
def interventions_scan_task() -> dict:
    """Open alerts and recovery for at-risk customers; close those whose horizon has passed."""
    return interventions_scan()
