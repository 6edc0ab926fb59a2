"""Writes of the predictive engine, one module per concern: the registry (training, champion/challenger,
deployment, rollback), serving, drift, interventions."""

from predictions.services.registry import (
    MODEL_TYPES,
    model_deploy,
    model_rollback,
    model_train,
    model_train_request,
    model_train_start,
    models_retrain_due,
)

__all__ = [
    "MODEL_TYPES",
    "model_deploy",
    "model_rollback",
    "model_train",
    "model_train_request",
    "model_train_start",
    "models_retrain_due",
]
