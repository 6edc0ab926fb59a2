from celery import shared_task
from django.db import OperationalError

from personalization.services import profiles_acceptance_rate_refresh, segment_preferences_recompute


@shared_task(acks_late=True, autoretry_for=(OperationalError,), retry_backoff=True, max_retries=5)
def segment_preferences_recompute_task() -> list[dict]:
    """Refit every segment's prior from the decision log. Idempotent: it rewrites one row per segment."""
    return [result.__dict__ for result in segment_preferences_recompute()]


@shared_task(acks_late=True, autoretry_for=(OperationalError,), retry_backoff=True, max_retries=5)
def acceptance_rates_refresh_task() -> int:
    """Store every profile's acceptance rate. Idempotent; returns how many profiles changed."""
    return profiles_acceptance_rate_refresh()
