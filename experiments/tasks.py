from celery import shared_task
from django.db import OperationalError

from experiments.models import ABTestExperiment, ExperimentStatus
from experiments.services import experiment_counters_reconcile
from experiments.stopping import experiments_check


@shared_task(acks_late=True, autoretry_for=(OperationalError,), retry_backoff=True, max_retries=5)
def experiments_check_task() -> list[dict]:
    """Apply the stopping rules to every running experiment. Idempotent: a second run decides nothing new."""
    return [result.__dict__ for result in experiments_check()]


@shared_task(acks_late=True, autoretry_for=(OperationalError,), retry_backoff=True, max_retries=5)
def experiment_counters_reconcile_task() -> dict[int, dict]:
    """Reconcile the counters of running and paused experiments with their event rows. Idempotent."""
    active = ABTestExperiment.objects.filter(status__in=(ExperimentStatus.RUNNING, ExperimentStatus.PAUSED))
    return {experiment.pk: experiment_counters_reconcile(experiment=experiment) for experiment in active}
