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
            name="expired API tokens",
            task="core.tasks.expired_tokens_delete_task",
            every_seconds=settings.EXPIRED_TOKENS_DELETE_SECONDS,
            description="Delete the API tokens that have expired (a request checks only its own).",
        ),
        PeriodicTaskSpec(
            name="segment preferences",
            task="personalization.tasks.segment_preferences_recompute_task",
            every_seconds=settings.SEGMENT_PREFERENCES_SECONDS,
            description="Refit what each segment prefers from the decision log: the prior of new customers.",
        ),
        PeriodicTaskSpec(
            name="acceptance rates",
            task="personalization.tasks.acceptance_rates_refresh_task",
            every_seconds=settings.ACCEPTANCE_RATES_SECONDS,
            description="Store each profile's recommendation acceptance rate: its choices over its sessions.",
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
        PeriodicTaskSpec(
            name="model retraining",
            task="predictions.tasks.models_retrain_due_task",
            every_seconds=settings.MODEL_RETRAIN_CHECK_SECONDS,
            description="Retrain each model type on its cadence (success weekly, satisfaction every 2 weeks, "
            "churn monthly, segments every 3 weeks) when it has its minimum of samples.",
        ),
        PeriodicTaskSpec(
            name="model drift",
            task="predictions.tasks.drift_check_task",
            every_seconds=settings.DRIFT_CHECK_SECONDS,
            description="PSI of the deployed models' live features; alert at 0.1, retrain at 0.25.",
        ),
        PeriodicTaskSpec(
            name="proactive interventions",
            task="predictions.tasks.interventions_scan_task",
            every_seconds=settings.INTERVENTIONS_SCAN_SECONDS,
            description="Churn-risk alerts and satisfaction recovery for at-risk customers, and their outcomes.",
        ),
    ]
