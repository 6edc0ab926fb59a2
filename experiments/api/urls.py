from django.urls import path

from experiments.api.views import (
    ExperimentActiveListApi,
    ExperimentCreateApi,
    ExperimentResultsApi,
    ExperimentStartApi,
    ExperimentStopApi,
)

urlpatterns = [
    path("experiments", ExperimentCreateApi.as_view(), name="experiments"),
    path("experiments/active", ExperimentActiveListApi.as_view(), name="experiments-active"),
    path("experiments/<int:experiment_id>/start", ExperimentStartApi.as_view(), name="experiment-start"),
    path("experiments/<int:experiment_id>/stop", ExperimentStopApi.as_view(), name="experiment-stop"),
    path("experiments/<int:experiment_id>/results", ExperimentResultsApi.as_view(), name="experiment-results"),
]
