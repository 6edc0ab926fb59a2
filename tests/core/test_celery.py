"""Celery with the real broker: the configuration, the periodic-task declaration, and a real worker."""

import time

import pytest
from celery.contrib.testing.worker import start_worker
from django.core.management import call_command
from django_celery_beat.models import PeriodicTask

from config.celery import app
from core.health import CELERY_HEARTBEAT
from core.models import Heartbeat
from core.periodic import periodic_task_specs
from core.tasks import celery_heartbeat_task


def test_celery_accepts_json_only_and_bounds_task_time():
    assert app.conf.accept_content == ["json"]
    assert app.conf.task_serializer == "json"
    assert 0 < app.conf.task_soft_time_limit < app.conf.task_time_limit


def test_every_declared_periodic_task_is_registered_with_celery():
    app.loader.import_default_modules()
    for spec in periodic_task_specs():
        assert spec.task in app.tasks, spec.task


@pytest.mark.django_db
def test_setup_periodic_tasks_is_safe_to_run_twice():
    call_command("setup_periodic_tasks")
    first = list(PeriodicTask.objects.values_list("name", "task", "interval__every"))
    call_command("setup_periodic_tasks")
    second = list(PeriodicTask.objects.values_list("name", "task", "interval__every"))

    assert first == second
    assert {name for name, _, _ in first} >= {spec.name for spec in periodic_task_specs()}


@pytest.mark.redis
@pytest.mark.django_db(transaction=True)
def test_a_real_worker_on_redis_runs_the_heartbeat_task(settings):
    assert app.conf.broker_url.startswith("redis://")
    app.conf.task_always_eager = False
    try:
        with start_worker(app, pool="solo", perform_ping_check=False, shutdown_timeout=10):
            result = celery_heartbeat_task.apply_async(ignore_result=True)
            deadline = time.monotonic() + 10
            while not Heartbeat.objects.filter(name=CELERY_HEARTBEAT).exists() and time.monotonic() < deadline:
                time.sleep(0.1)
        assert result.id
        assert Heartbeat.objects.filter(name=CELERY_HEARTBEAT).exists()
    finally:
        app.conf.task_always_eager = True
