"""Reads of experiments: the running experiments the engine checks on every request, cached per process."""

from __future__ import annotations

import threading
import time
from datetime import datetime

from django.conf import settings
from django.db.models import Count, QuerySet

from experiments.models import ABTestExperiment, BanditWeights, ExperimentSnapshot, ExperimentStatus, ExperimentType

ACTIVE_STATUSES = (ExperimentStatus.RUNNING, ExperimentStatus.PAUSED)

_lock = threading.Lock()
_cache: dict = {"at": float("-inf"), "experiments": []}


def _load() -> list[dict]:
    experiments = (
        ABTestExperiment.objects.filter(status=ExperimentStatus.RUNNING)
        .annotate(reweightings=Count("weights_history"))
        .prefetch_related("variants")
    )
    return [
        {
            "id": e.pk,
            "name": e.name,
            "seed": e.seed,
            "start_date": e.start_date,
            "period": e.reweightings if e.experiment_type == ExperimentType.BANDIT else None,
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


def experiment_snapshots_list(*, experiment: ABTestExperiment, limit: int = 500) -> list[tuple[datetime, dict]]:
    """The latest `limit` runs of the analysis, oldest first: (time, analysis)."""
    rows = ExperimentSnapshot.objects.filter(experiment=experiment).order_by("-created_at")[:limit]
    return [(row.created_at, row.analysis) for row in reversed(list(rows))]


def experiment_weights_history(*, experiment: ABTestExperiment) -> list[tuple[datetime, dict[str, float]]]:
    """A bandit's traffic weights from its start (recorded when it starts), then each reweighting."""
    return [(row.created_at, row.weights) for row in BanditWeights.objects.filter(experiment=experiment)]
