from django.urls import path

from marketplace.api.views import (
    ManufacturerDetailApi,
    ManufacturerListApi,
    OrderDetailApi,
    OrderListApi,
    OrderStatusApi,
)

urlpatterns = [
    path("manufacturers", ManufacturerListApi.as_view(), name="manufacturer-list"),
    path("manufacturers/<int:manufacturer_id>", ManufacturerDetailApi.as_view(), name="manufacturer-detail"),
    path("orders", OrderListApi.as_view(), name="order-list"),
    path("orders/<int:order_id>", OrderDetailApi.as_view(), name="order-detail"),
    path("orders/<int:order_id>/status", OrderStatusApi.as_view(), name="order-status"),
]
