from celery import shared_task
from django.db import OperationalError

from core.health import CELERY_HEARTBEAT
from core.services import expired_tokens_delete, heartbeat_record


@shared_task(autoretry_for=(OperationalError,), retry_backoff=True, max_retries=3, ignore_result=True)
def celery_heartbeat_task() -> str:
    """Run by beat every CELERY_HEARTBEAT_SECONDS: proves that beat and a worker are alive."""
    return heartbeat_record(name=CELERY_HEARTBEAT).beat_at.isoformat()


@shared_task(autoretry_for=(OperationalError,), retry_backoff=True, max_retries=3, ignore_result=True)
def expired_tokens_delete_task() -> int:
    """Run by beat every EXPIRED_TOKENS_DELETE_SECONDS: delete the expired API tokens."""
    return expired_tokens_delete()
