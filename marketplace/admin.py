from django.contrib import admin, messages
from django.db import transaction

from core.errors import DomainError
from marketplace.models import Certification, CustomerAccount, Manufacturer, MatchOutcome, Material, Order, Process
from marketplace.selectors import catalog_invalidate
from marketplace.services import order_transition


@admin.register(Process, Certification)
class CapabilityCodeAdmin(admin.ModelAdmin):
    list_display = ("code", "name")
    search_fields = ("code", "name")


@admin.register(Material)
class MaterialAdmin(admin.ModelAdmin):
    list_display = ("code", "name")
    search_fields = ("code", "name")
    filter_horizontal = ("processes",)


@admin.register(Manufacturer)
class ManufacturerAdmin(admin.ModelAdmin):
    list_display = (
        "name",
        "country",
        "region",
        "quality_score",
        "on_time_delivery_rate",
        "cost_index",
        "avg_lead_time_days",
        "current_load",
        "monthly_capacity",
        "is_active",
    )
    list_filter = ("is_active", "region", "processes", "certifications")
    search_fields = ("name", "country")
    filter_horizontal = ("processes", "materials", "certifications")
    readonly_fields = ("created_at", "updated_at")
    list_per_page = 50

    def save_related(self, request, form, formsets, change) -> None:
        super().save_related(request, form, formsets, change)
        transaction.on_commit(catalog_invalidate)  # this process serves the edit at once; others within a second


@admin.register(CustomerAccount)
class CustomerAccountAdmin(admin.ModelAdmin):
    list_display = ("company_name", "user", "industry", "company_size", "region", "segment", "created_at")
    list_filter = ("segment", "industry", "company_size", "region")
    search_fields = ("company_name", "user__username", "user__email")
    raw_id_fields = ("user",)
    list_select_related = ("user",)


@admin.action(description="Cancel the selected orders")
def cancel_orders(modeladmin, request, queryset):
    for order in queryset:
        try:
            order_transition(order=order, to_status=Order.Status.CANCELLED)
        except DomainError as error:
            modeladmin.message_user(request, f"{order}: {error}", level=messages.ERROR)


@admin.register(Order)
class OrderAdmin(admin.ModelAdmin):
    list_display = (
        "id",
        "customer",
        "process",
        "quantity",
        "complexity_level",
        "estimated_value",
        "status",
        "created_at",
    )
    list_filter = ("status", "complexity_level", "process", "delivery_region")
    search_fields = ("customer__company_name", "=id")
    raw_id_fields = ("customer",)
    list_select_related = ("customer", "process")
    readonly_fields = (
        "created_at",
        "updated_at",
        "matched_at",
        "production_started_at",
        "delivered_at",
        "cancelled_at",
    )
    date_hierarchy = "created_at"
    actions = [cancel_orders]


@admin.register(MatchOutcome)
class MatchOutcomeAdmin(admin.ModelAdmin):
    list_display = (
        "order",
        "manufacturer",
        "converted",
        "contract_value",
        "satisfaction",
        "delivered_on_time",
        "time_to_match",
        "created_at",
    )
    list_filter = ("converted", "satisfaction", "delivered_on_time")
    search_fields = ("manufacturer__name", "order__customer__company_name", "=order__id")
    raw_id_fields = ("order", "manufacturer")
    list_select_related = ("order", "manufacturer")
