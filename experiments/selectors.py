"""Reads of experiments: the running experiments the engine checks on every request, cached per process."""

from __future__ import annotations

import threading
import time

from django.conf import settings
from django.db.models import QuerySet

from experiments.models import ABTestExperiment, ExperimentStatus

ACTIVE_STATUSES = (ExperimentStatus.RUNNING, ExperimentStatus.PAUSED)

_lock = threading.Lock()
_cache: dict = {"at": float("-inf"), "experiments": []}


def _load() -> list[dict]:
    experiments = ABTestExperiment.objects.filter(status=ExperimentStatus.RUNNING).prefetch_related("variants")
    return [
        {
            "id": e.pk,
            "name": e.name,
            "seed": e.seed,
            "coverage": e.coverage,
            "targeting": e.targeting,
            "namespace": e.namespace,
            "namespace_start": e.namespace_start,
            "namespace_end": e.namespace_end,
            "variants": [
                {"id": v.pk, "key": v.key, "weight": v.weight, "config": v.config}
                for v in sorted(e.variants.all(), key=lambda v: v.position)
            ],
        }
        for e in experiments.order_by("start_date", "pk")
    ]


def experiments_running() -> list[dict]:
    """The running experiments with their variants, re-read at most every CATALOG_VERSION_CHECK_SECONDS
    (a lifecycle change in this process is seen at once)."""
    if time.monotonic() - _cache["at"] >= settings.CATALOG_VERSION_CHECK_SECONDS:
        with _lock:
            _cache["experiments"] = _load()
            _cache["at"] = time.monotonic()
    return _cache["experiments"]


def running_experiments_invalidate() -> None:
    with _lock:
        _cache["at"] = float("-inf")


def experiments_active_list() -> QuerySet[ABTestExperiment]:
    """Running and paused experiments, with their variants (two queries whatever their number)."""
    return (
        ABTestExperiment.objects.filter(status__in=ACTIVE_STATUSES)
        .prefetch_related("variants")
        .order_by("start_date", "pk")
    )


def experiment_get(*, experiment_id: int) -> ABTestExperiment | None:
    return ABTestExperiment.objects.filter(pk=experiment_id).first()
