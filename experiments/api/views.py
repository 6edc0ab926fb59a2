"""The experiments API for product managers and operators (staff only): create, list the active ones with
their live counters, start, stop, and read the results computed now."""

from drf_spectacular.utils import extend_schema
from rest_framework import status
from rest_framework.exceptions import NotFound
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from core.api.permissions import IsStaff
from core.api.serializers import ErrorSerializer
from experiments.analysis import analysis_current
from experiments.api.serializers import (
    ExperimentAnalysisSerializer,
    ExperimentCreateInputSerializer,
    ExperimentOutputSerializer,
    LifecycleInputSerializer,
    ResultsQuerySerializer,
)
from experiments.models import ABTestExperiment
from experiments.selectors import experiment_get, experiments_active_list
from experiments.services import experiment_create, experiment_start, experiment_stop


def experiment_get_or_404(*, experiment_id: int) -> ABTestExperiment:
    experiment = experiment_get(experiment_id=experiment_id)
    if experiment is None:
        raise NotFound("No such experiment.")
    return experiment


def _experiment_data(experiment: ABTestExperiment) -> dict:
    return ExperimentOutputSerializer(experiment).data


class ExperimentCreateApi(APIView):
    """Create a draft experiment with its variants. Staff only.

    Every variant names a strategy the engine ranks with and parameters within their bounds; the weights
    sum to 1 and exactly one variant is the control. Start it with `experiments/{id}/start`."""

    permission_classes = [IsStaff]

    @extend_schema(
        request=ExperimentCreateInputSerializer,
        responses={201: ExperimentOutputSerializer, 400: ErrorSerializer, 401: ErrorSerializer, 403: ErrorSerializer},
    )
    def post(self, request: Request) -> Response:
        data = ExperimentCreateInputSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        experiment = experiment_create(**data.validated_data, created_by=request.user)
        return Response(_experiment_data(experiment), status=status.HTTP_201_CREATED)


class ExperimentActiveListApi(APIView):
    """The running and the paused experiments (paused ones keep their customers and may resume), oldest start
    first, each with its variants and their live counters. Staff only."""

    permission_classes = [IsStaff]

    @extend_schema(responses={200: ExperimentOutputSerializer(many=True), 401: ErrorSerializer, 403: ErrorSerializer})
    def get(self, request: Request) -> Response:
        return Response(ExperimentOutputSerializer(experiments_active_list(), many=True).data)


class _LifecycleApi(APIView):
    permission_classes = [IsStaff]
    verb = ""

    def transition(self, experiment: ABTestExperiment, reason: str) -> ABTestExperiment:
        raise NotImplementedError

    def post(self, request: Request, experiment_id: int) -> Response:
        data = LifecycleInputSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        experiment = experiment_get_or_404(experiment_id=experiment_id)
        reason = f"{self.verb} by {request.user}"
        if data.validated_data.get("reason"):
            reason = f"{reason}: {data.validated_data['reason']}"
        return Response(_experiment_data(self.transition(experiment, reason)))


LIFECYCLE_RESPONSES = {
    200: ExperimentOutputSerializer,
    400: ErrorSerializer,
    401: ErrorSerializer,
    403: ErrorSerializer,
    404: ErrorSerializer,
}


class ExperimentStartApi(_LifecycleApi):
    """Start a draft experiment, or resume a paused one; anything else is a 400. Staff only."""

    verb = "started"

    def transition(self, experiment: ABTestExperiment, reason: str) -> ABTestExperiment:
        return experiment_start(experiment=experiment, reason=reason)

    @extend_schema(request=LifecycleInputSerializer, responses=LIFECYCLE_RESPONSES)
    def post(self, request: Request, experiment_id: int) -> Response:
        return super().post(request, experiment_id)


class ExperimentStopApi(_LifecycleApi):
    """Stop a running or paused experiment for good, with an optional reason; anything else is a 400. Staff
    only."""

    verb = "stopped"

    def transition(self, experiment: ABTestExperiment, reason: str) -> ABTestExperiment:
        return experiment_stop(experiment=experiment, reason=reason)

    @extend_schema(request=LifecycleInputSerializer, responses=LIFECYCLE_RESPONSES)
    def post(self, request: Request, experiment_id: int) -> Response:
        return super().post(request, experiment_id)


class ExperimentResultsApi(APIView):
    """The analysis computed now from the variants' counters (a constant number of queries whatever the
    traffic); a read: the runs of beat's check and the admin's "analyze now" are the ones stored as snapshots.
    Staff only.

    Per variant the rates; per treatment the relative lift of the conversion rate and of the revenue per
    participant against the control, with interval, p-value (raw and Holm-adjusted), chance to win, risks
    and power; the sample ratio check; timing; and the winner, from the same interval that is shown.
    Statistics that the data do not define yet are null, with the reason."""

    permission_classes = [IsStaff]

    @extend_schema(
        parameters=[ResultsQuerySerializer],
        responses={
            200: ExperimentAnalysisSerializer,
            400: ErrorSerializer,
            401: ErrorSerializer,
            403: ErrorSerializer,
            404: ErrorSerializer,
        },
    )
    def get(self, request: Request, experiment_id: int) -> Response:
        query = ResultsQuerySerializer(data=request.query_params)
        query.is_valid(raise_exception=True)
        experiment = experiment_get_or_404(experiment_id=experiment_id)
        analysis = analysis_current(experiment=experiment, method=query.validated_data.get("method"))
        return Response(ExperimentAnalysisSerializer(analysis).data)
