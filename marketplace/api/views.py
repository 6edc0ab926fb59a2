from django.shortcuts import get_object_or_404
from drf_spectacular.utils import extend_schema
from rest_framework import status
from rest_framework.exceptions import PermissionDenied
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from core.api.pagination import paginate, paginated
from core.api.permissions import IsStaff, IsStaffOrReadOnly
from core.api.serializers import ErrorSerializer
from marketplace.api.serializers import (
    ManufacturerFilterSerializer,
    ManufacturerInputSerializer,
    ManufacturerOutputSerializer,
    OrderFilterSerializer,
    OrderInputSerializer,
    OrderOutputSerializer,
    OrderStatusInputSerializer,
)
from marketplace.selectors import customer_account_get, manufacturer_list, order_list
from marketplace.services import (
    manufacturer_create,
    manufacturer_deactivate,
    manufacturer_update,
    order_create,
    order_transition,
)

ManufacturerPage = paginated(ManufacturerOutputSerializer, "PaginatedManufacturerSerializer")
OrderPage = paginated(OrderOutputSerializer, "PaginatedOrderSerializer")


class ManufacturerListApi(APIView):
    """The catalog: active manufacturers, filtered by process, region and certification (staff see all)."""

    permission_classes = [IsStaffOrReadOnly]

    @extend_schema(
        operation_id="manufacturers_list",
        parameters=[ManufacturerFilterSerializer],
        responses={200: ManufacturerPage, 400: ErrorSerializer, 401: ErrorSerializer},
    )
    def get(self, request: Request) -> Response:
        filters = ManufacturerFilterSerializer(data=request.query_params)
        filters.is_valid(raise_exception=True)
        params = {k: v for k, v in filters.validated_data.items() if k in ("process", "region", "certification")}
        queryset = manufacturer_list(include_inactive=request.user.is_staff, **params)
        return paginate(queryset=queryset, request=request, view=self, serializer_class=ManufacturerOutputSerializer)

    @extend_schema(
        request=ManufacturerInputSerializer,
        responses={201: ManufacturerOutputSerializer, 400: ErrorSerializer, 401: ErrorSerializer, 403: ErrorSerializer},
    )
    def post(self, request: Request) -> Response:
        data = ManufacturerInputSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        manufacturer = manufacturer_create(data=dict(data.validated_data))
        return Response(ManufacturerOutputSerializer(manufacturer).data, status=status.HTTP_201_CREATED)


class ManufacturerDetailApi(APIView):
    permission_classes = [IsStaffOrReadOnly]

    def _get(self, request: Request, manufacturer_id: int):
        return get_object_or_404(manufacturer_list(include_inactive=request.user.is_staff), pk=manufacturer_id)

    @extend_schema(responses={200: ManufacturerOutputSerializer, 401: ErrorSerializer, 404: ErrorSerializer})
    def get(self, request: Request, manufacturer_id: int) -> Response:
        return Response(ManufacturerOutputSerializer(self._get(request, manufacturer_id)).data)

    @extend_schema(
        request=ManufacturerInputSerializer(partial=True),
        responses={
            200: ManufacturerOutputSerializer,
            400: ErrorSerializer,
            401: ErrorSerializer,
            403: ErrorSerializer,
            404: ErrorSerializer,
        },
    )
    def patch(self, request: Request, manufacturer_id: int) -> Response:
        manufacturer = self._get(request, manufacturer_id)
        data = ManufacturerInputSerializer(data=request.data, partial=True)
        data.is_valid(raise_exception=True)
        manufacturer = manufacturer_update(manufacturer=manufacturer, data=dict(data.validated_data))
        return Response(ManufacturerOutputSerializer(manufacturer).data)

    @extend_schema(
        responses={204: None, 401: ErrorSerializer, 403: ErrorSerializer, 404: ErrorSerializer},
        description="Deactivates the manufacturer: it keeps its history and is no longer recommended.",
    )
    def delete(self, request: Request, manufacturer_id: int) -> Response:
        manufacturer_deactivate(manufacturer=self._get(request, manufacturer_id))
        return Response(status=status.HTTP_204_NO_CONTENT)


class OrderListApi(APIView):
    """A customer's own orders (staff read all); customers create orders."""

    @extend_schema(
        operation_id="orders_list",
        parameters=[OrderFilterSerializer],
        responses={200: OrderPage, 400: ErrorSerializer, 401: ErrorSerializer},
    )
    def get(self, request: Request) -> Response:
        filters = OrderFilterSerializer(data=request.query_params)
        filters.is_valid(raise_exception=True)
        customer = customer_account_get(user=request.user)
        if customer is None and not request.user.is_staff:
            raise PermissionDenied("Only customer accounts and staff have orders to read.")
        queryset = order_list(customer=None if request.user.is_staff else customer)
        if "status" in filters.validated_data:
            queryset = queryset.filter(status=filters.validated_data["status"])
        return paginate(queryset=queryset, request=request, view=self, serializer_class=OrderOutputSerializer)

    @extend_schema(
        request=OrderInputSerializer,
        responses={201: OrderOutputSerializer, 400: ErrorSerializer, 401: ErrorSerializer, 403: ErrorSerializer},
    )
    def post(self, request: Request) -> Response:
        customer = customer_account_get(user=request.user)
        if customer is None:
            raise PermissionDenied("Only customer accounts place orders.")
        data = OrderInputSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        validated = dict(data.validated_data)
        validated["process_id"] = validated.pop("process")
        validated["material_id"] = validated.pop("material", None)
        order = order_create(customer=customer, data=validated)
        return Response(OrderOutputSerializer(order).data, status=status.HTTP_201_CREATED)


def _readable_order(request: Request, order_id: int):
    customer = customer_account_get(user=request.user)
    queryset = order_list(customer=None if request.user.is_staff else customer)
    if customer is None and not request.user.is_staff:
        queryset = queryset.none()
    return get_object_or_404(queryset, pk=order_id)


class OrderDetailApi(APIView):
    @extend_schema(responses={200: OrderOutputSerializer, 401: ErrorSerializer, 404: ErrorSerializer})
    def get(self, request: Request, order_id: int) -> Response:
        return Response(OrderOutputSerializer(_readable_order(request, order_id)).data)


class OrderStatusApi(APIView):
    """Move an order along its lifecycle (staff: the platform reports matches, production and delivery)."""

    permission_classes = [IsStaff]

    @extend_schema(
        request=OrderStatusInputSerializer,
        responses={
            200: OrderOutputSerializer,
            400: ErrorSerializer,
            401: ErrorSerializer,
            403: ErrorSerializer,
            404: ErrorSerializer,
        },
    )
    def post(self, request: Request, order_id: int) -> Response:
        order = _readable_order(request, order_id)
        data = OrderStatusInputSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        order = order_transition(order=order, to_status=data.validated_data["status"])
        return Response(OrderOutputSerializer(order).data)
