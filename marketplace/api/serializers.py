from decimal import Decimal

from rest_framework import serializers

from core.api.fields import CodeListField, StrictFloatField
from core.api.serializers import StrictSerializer
from marketplace.models import CompanySize, ComplexityLevel, Industry, OrderStatus, Region, Segment
from marketplace.vocabulary import (
    CERTIFICATIONS,
    COST_INDEX_MAX,
    COST_INDEX_MIN,
    MATERIALS,
    PROCESS_MATERIALS,
    PROCESSES,
)


def validate_material_for_process(attrs: dict, *, instance_process: str | None = None) -> None:
    process = attrs.get("process", instance_process)
    material = attrs.get("material")
    if process and material and material not in PROCESS_MATERIALS[process]:
        raise serializers.ValidationError({"material": [f"{material} is not worked by {process}."]})


class ManufacturerOutputSerializer(serializers.Serializer):
    id = serializers.IntegerField()
    name = serializers.CharField()
    country = serializers.CharField()
    region = serializers.CharField()
    latitude = serializers.FloatField()
    longitude = serializers.FloatField()
    processes = CodeListField()
    materials = CodeListField()
    certifications = CodeListField()
    monthly_capacity = serializers.IntegerField()
    current_load = serializers.IntegerField()
    min_order_value = serializers.DecimalField(max_digits=14, decimal_places=2, coerce_to_string=False)
    cost_index = serializers.FloatField()
    quality_score = serializers.FloatField()
    avg_lead_time_days = serializers.FloatField()
    on_time_delivery_rate = serializers.FloatField()
    completed_orders = serializers.IntegerField()
    is_active = serializers.BooleanField()
    created_at = serializers.DateTimeField()
    updated_at = serializers.DateTimeField()


class ManufacturerInputSerializer(StrictSerializer):
    name = serializers.CharField(max_length=200)
    country = serializers.RegexField(r"^[A-Z]{2}$", help_text="ISO 3166-1 alpha-2 code, e.g. DE")
    region = serializers.ChoiceField(choices=Region.choices)
    latitude = StrictFloatField(min_value=-90, max_value=90)
    longitude = StrictFloatField(min_value=-180, max_value=180)
    processes = serializers.ListField(
        child=serializers.ChoiceField(choices=list(PROCESSES)), min_length=1, max_length=len(PROCESSES)
    )
    materials = serializers.ListField(
        child=serializers.ChoiceField(choices=list(MATERIALS)), required=False, max_length=len(MATERIALS)
    )
    certifications = serializers.ListField(
        child=serializers.ChoiceField(choices=list(CERTIFICATIONS)), required=False, max_length=len(CERTIFICATIONS)
    )
    monthly_capacity = serializers.IntegerField(min_value=1, max_value=2_000_000_000)
    current_load = serializers.IntegerField(min_value=0, max_value=2_000_000_000, required=False)
    min_order_value = serializers.DecimalField(max_digits=14, decimal_places=2, min_value=Decimal("0"), required=False)
    cost_index = StrictFloatField(min_value=COST_INDEX_MIN, max_value=COST_INDEX_MAX)
    quality_score = StrictFloatField(min_value=0, max_value=1)
    avg_lead_time_days = StrictFloatField(min_value=0.1, max_value=365)
    on_time_delivery_rate = StrictFloatField(min_value=0, max_value=1)
    completed_orders = serializers.IntegerField(min_value=0, max_value=2_000_000_000, required=False)
    is_active = serializers.BooleanField(required=False)

    def validate(self, attrs: dict) -> dict:
        for name in ("processes", "materials", "certifications"):
            if name in attrs and len(set(attrs[name])) != len(attrs[name]):
                raise serializers.ValidationError({name: ["Each code may appear once."]})
        return attrs


class ListQuerySerializer(StrictSerializer):
    """Query parameters every list accepts: the page."""

    page = serializers.IntegerField(min_value=1, required=False)
    page_size = serializers.IntegerField(min_value=1, max_value=100, required=False)


class ManufacturerFilterSerializer(ListQuerySerializer):
    process = serializers.ChoiceField(choices=list(PROCESSES), required=False)
    region = serializers.ChoiceField(choices=Region.choices, required=False)
    certification = serializers.ChoiceField(choices=list(CERTIFICATIONS), required=False)


class CustomerAccountOutputSerializer(serializers.Serializer):
    id = serializers.IntegerField()
    company_name = serializers.CharField()
    industry = serializers.ChoiceField(choices=Industry.choices)
    company_size = serializers.ChoiceField(choices=CompanySize.choices)
    region = serializers.ChoiceField(choices=Region.choices)
    segment = serializers.ChoiceField(choices=Segment.choices)


class OrderOutputSerializer(serializers.Serializer):
    id = serializers.IntegerField()
    customer_id = serializers.IntegerField()
    process = serializers.CharField(source="process_id")
    material = serializers.CharField(source="material_id", allow_null=True)
    quantity = serializers.IntegerField()
    complexity_level = serializers.ChoiceField(choices=ComplexityLevel.choices)
    estimated_value = serializers.DecimalField(max_digits=14, decimal_places=2, coerce_to_string=False)
    quality_requirements = serializers.FloatField()
    timeline_urgency = serializers.FloatField()
    delivery_region = serializers.ChoiceField(choices=Region.choices)
    status = serializers.ChoiceField(choices=OrderStatus.choices)
    created_at = serializers.DateTimeField()
    updated_at = serializers.DateTimeField()
    matched_at = serializers.DateTimeField(allow_null=True)
    production_started_at = serializers.DateTimeField(allow_null=True)
    delivered_at = serializers.DateTimeField(allow_null=True)
    cancelled_at = serializers.DateTimeField(allow_null=True)


class OrderInputSerializer(StrictSerializer):
    process = serializers.ChoiceField(choices=list(PROCESSES))
    material = serializers.ChoiceField(choices=list(MATERIALS), required=False, allow_null=True)
    quantity = serializers.IntegerField(min_value=1, max_value=100_000_000)
    complexity_level = serializers.ChoiceField(choices=ComplexityLevel.choices)
    estimated_value = serializers.DecimalField(max_digits=14, decimal_places=2, min_value=Decimal("0.01"))
    quality_requirements = StrictFloatField(min_value=0, max_value=1)
    timeline_urgency = StrictFloatField(min_value=0, max_value=1)
    delivery_region = serializers.ChoiceField(choices=Region.choices)

    def validate(self, attrs: dict) -> dict:
        validate_material_for_process(attrs)
        return attrs


class OrderFilterSerializer(ListQuerySerializer):
    status = serializers.ChoiceField(choices=OrderStatus.choices, required=False)


class OrderStatusInputSerializer(StrictSerializer):
    status = serializers.ChoiceField(choices=OrderStatus.choices)
