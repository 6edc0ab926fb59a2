from celery import shared_task
from django.db import OperationalError

from experiments.stopping import experiments_check


@shared_task(acks_late=True, autoretry_for=(OperationalError,), retry_backoff=True, max_retries=5)
def experiments_check_task() -> list[dict]:
    """Apply the stopping rules to every running experiment. Idempotent: a second run decides nothing new."""
    return [result.__dict__ for result in experiments_check()]
