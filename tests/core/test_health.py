from datetime import timedelta

import pytest
from django.test import override_settings
from django.utils import timezone

from core.health import CELERY_HEARTBEAT
from core.models import Heartbeat
from core.services import heartbeat_record
from core.tasks import celery_heartbeat_task


@pytest.mark.django_db
@override_settings(REDIS_URL="")
def test_healthz_is_ok_when_the_database_answers_and_celery_beat_recently(client):
    heartbeat_record(name=CELERY_HEARTBEAT)

    response = client.get("/healthz")

    assert response.status_code == 200
    body = response.json()
    assert body["status"] == "ok"
    assert body["components"]["database"]["ok"] is True
    assert body["components"]["celery"]["ok"] is True
    assert body["components"]["redis"] == {"ok": True, "detail": "not configured (embedded mode)"}


@pytest.mark.django_db
@override_settings(REDIS_URL="", CELERY_HEARTBEAT_SECONDS=60)
def test_healthz_is_503_when_the_celery_heartbeat_is_stale(client):
    Heartbeat.objects.create(name=CELERY_HEARTBEAT, beat_at=timezone.now() - timedelta(minutes=10))

    response = client.get("/healthz")

    assert response.status_code == 503
    assert response.json()["components"]["celery"]["ok"] is False
    assert "s ago" in response.json()["components"]["celery"]["detail"]


@pytest.mark.django_db
@override_settings(REDIS_URL="")
def test_healthz_is_503_before_the_first_heartbeat(client):
    response = client.get("/healthz")

    assert response.status_code == 503
    assert response.json()["components"]["celery"] == {"ok": False, "detail": "no heartbeat yet"}


@pytest.mark.django_db
@override_settings(REDIS_URL="redis://127.0.0.1:1/0")
def test_healthz_is_503_when_redis_is_configured_but_unreachable(client):
    heartbeat_record(name=CELERY_HEARTBEAT)

    response = client.get("/healthz")

    assert response.status_code == 503
    assert response.json()["components"]["redis"]["ok"] is False


@pytest.mark.redis
@pytest.mark.django_db
def test_healthz_reports_a_reachable_redis(client, settings):
    heartbeat_record(name=CELERY_HEARTBEAT)

    response = client.get("/healthz")

    assert response.json()["components"]["redis"] == {"ok": True, "detail": "ping ok"}
    assert response.status_code == 200


@pytest.mark.django_db
def test_heartbeat_task_moves_the_heartbeat_forward():
    old = timezone.now() - timedelta(hours=1)
    Heartbeat.objects.create(name=CELERY_HEARTBEAT, beat_at=old)

    celery_heartbeat_task.delay()

    assert Heartbeat.objects.get(name=CELERY_HEARTBEAT).beat_at > old
