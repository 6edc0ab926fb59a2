"""The periodic tasks of the product, declared in code; `manage.py setup_periodic_tasks` stores them.

Each later issue adds its schedule here. The command is idempotent: it creates or updates by name.
"""

from dataclasses import dataclass

from django.conf import settings


@dataclass(frozen=True)
class PeriodicTaskSpec:
    name: str
    task: str
    every_seconds: int
    description: str


def periodic_task_specs() -> list[PeriodicTaskSpec]:
    return [
        PeriodicTaskSpec(
            name="celery heartbeat",
            task="core.tasks.celery_heartbeat_task",
            every_seconds=settings.CELERY_HEARTBEAT_SECONDS,
            description="Proves that beat and a worker are alive (read by /healthz).",
        ),
        PeriodicTaskSpec(
            name="segment preferences",
            task="personalization.tasks.segment_preferences_recompute_task",
            every_seconds=settings.SEGMENT_PREFERENCES_SECONDS,
            description="Refit what each segment prefers from the decision log: the prior of new customers.",
        ),
        PeriodicTaskSpec(
            name="experiment stopping rules",
            task="experiments.tasks.experiments_check_task",
            every_seconds=settings.EXPERIMENT_CHECK_SECONDS,
            description="Pause on SRM, complete at the planned end or with a winner, reweight bandits.",
        ),
        PeriodicTaskSpec(
            name="experiment counter reconciliation",
            task="experiments.tasks.experiment_counters_reconcile_task",
            every_seconds=settings.EXPERIMENT_RECONCILE_SECONDS,
            description="Set the variants' counters from their exposure and conversion events.",
        ),
    ]
