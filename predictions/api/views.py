"""The predictions API: a customer's predictions (a customer about itself, staff about anyone), the
registry's metrics (staff), and training on demand as a Celery task (staff)."""

from drf_spectacular.utils import extend_schema
from rest_framework import status
from rest_framework.exceptions import NotFound, PermissionDenied
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from core.api.permissions import IsStaff
from core.api.serializers import ErrorSerializer
from core.errors import DomainError
from marketplace.models import CustomerAccount
from marketplace.scoring import OrderContext
from predictions.api.serializers import (
    ModelVersionSerializer,
    PredictionInputSerializer,
    PredictionOutputSerializer,
    TrainInputSerializer,
)
from predictions.selectors import model_versions_list
from predictions.services import model_train_start
from predictions.services.serving import prediction_make

ERRORS = {400: ErrorSerializer, 401: ErrorSerializer, 403: ErrorSerializer, 404: ErrorSerializer}


class PredictionApi(APIView):
    """Predictions for a customer and an optional order context: the success probability (with an order),
    predicted satisfaction, churn risk, next-order timeline, preferred and risk factors, and the model
    versions used. A customer may ask only about itself; staff about anyone (`customer_id`)."""

    @extend_schema(request=PredictionInputSerializer, responses={200: PredictionOutputSerializer, **ERRORS})
    def post(self, request: Request) -> Response:
        data = PredictionInputSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        params = data.validated_data
        own = CustomerAccount.objects.filter(user=request.user).first()
        if "customer_id" in params and not request.user.is_staff and (own is None or params["customer_id"] != own.pk):
            raise PermissionDenied("A customer may ask only about itself.")
        customer_id = params.get("customer_id", own.pk if own else None)
        if customer_id is None:
            raise DomainError("Name the customer (customer_id).", field="customer_id")
        customer = (
            own if own is not None and own.pk == customer_id else CustomerAccount.objects.filter(pk=customer_id).first()
        )
        if customer is None:
            raise NotFound("No such customer.")
        order = None
        if "order_context" in params:
            raw = dict(params["order_context"])
            order = OrderContext(delivery_region=raw.pop("region"), **raw)
        return Response(PredictionOutputSerializer(prediction_make(customer=customer, order=order)).data)


class ModelPerformanceApi(APIView):
    """Every version of every model type with its holdout metrics next to the baseline's, the time-ordered
    validation, the live accuracy of deployed versions and their drift. Staff only."""

    permission_classes = [IsStaff]

    @extend_schema(responses={200: ModelVersionSerializer(many=True), **ERRORS})
    def get(self, request: Request) -> Response:
        return Response(ModelVersionSerializer(model_versions_list(), many=True).data)


class ModelTrainApi(APIView):
    """Train a model type now, as a Celery task: 202 with the new version (status training and the task id;
    follow it in `models/performance`). Refused with the count needed when there are too few samples, and
    when that type is already training; 503 when the task broker cannot take the task. Staff only."""

    permission_classes = [IsStaff]

    @extend_schema(
        request=TrainInputSerializer, responses={202: ModelVersionSerializer, **ERRORS, 503: ErrorSerializer}
    )
    def post(self, request: Request) -> Response:
        data = TrainInputSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        model = model_train_start(model_type=data.validated_data["model_type"], requested_by=request.user)
        return Response(ModelVersionSerializer(model).data, status=status.HTTP_202_ACCEPTED)
