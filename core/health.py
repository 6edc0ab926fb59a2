"""Health of the real components the service depends on: the database, Redis and Celery."""

from dataclasses import dataclass
from datetime import timedelta

import redis
from django.conf import settings
from django.db import connection
from django.utils import timezone

from core.models import Heartbeat

CELERY_HEARTBEAT = "celery.heartbeat"


@dataclass(frozen=True)
class ComponentStatus:
    name: str
    ok: bool
    detail: str


def database_status() -> ComponentStatus:
    try:
        with connection.cursor() as cursor:
            cursor.execute("SELECT 1")
            cursor.fetchone()
    except Exception as error:
        return ComponentStatus("database", False, f"{type(error).__name__}: {error}")
    return ComponentStatus("database", True, connection.vendor)


def redis_status() -> ComponentStatus:
    if not settings.REDIS_URL:
        return ComponentStatus("redis", True, "not configured (embedded mode)")
    try:
        client = redis.Redis.from_url(settings.REDIS_URL, socket_connect_timeout=0.5, socket_timeout=0.5)
        client.ping()
    except redis.RedisError as error:
        return ComponentStatus("redis", False, f"{type(error).__name__}: {error}")
    return ComponentStatus("redis", True, "ping ok")


def celery_status(*, now=None) -> ComponentStatus:
    """Celery is alive when beat and a worker ran the heartbeat task within three intervals."""
    now = now or timezone.now()
    try:
        beat_at = Heartbeat.objects.filter(name=CELERY_HEARTBEAT).values_list("beat_at", flat=True).first()
    except Exception as error:
        return ComponentStatus("celery", False, f"{type(error).__name__}: {error}")
    if beat_at is None:
        return ComponentStatus("celery", False, "no heartbeat yet")
    age = now - beat_at
    if age > timedelta(seconds=3 * settings.CELERY_HEARTBEAT_SECONDS):
        return ComponentStatus("celery", False, f"last heartbeat {int(age.total_seconds())} s ago")
    return ComponentStatus("celery", True, f"last heartbeat {int(age.total_seconds())} s ago")


def system_status() -> list[ComponentStatus]:
    database = database_status()
    components = [database, redis_status()]
    components.append(celery_status() if database.ok else ComponentStatus("celery", False, "database down"))
    return components
