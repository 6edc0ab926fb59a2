"""The marketplace: manufacturers and their capabilities, buying companies, orders and match outcomes."""

from decimal import Decimal

from django.conf import settings
from django.core.exceptions import ValidationError
from django.core.validators import MaxValueValidator, MinValueValidator
from django.db import models
from django.db.models import Q

from core.models import TimeStampedModel
from marketplace.vocabulary import (
    COMPANY_SIZES,
    COMPLEXITY_LEVELS,
    COST_INDEX_MAX,
    COST_INDEX_MIN,
    INDUSTRIES,
    REGIONS,
    SEGMENTS,
)


def text_choices(name: str, items: list[tuple[str, str]]) -> type[models.TextChoices]:
    """TextChoices whose values are the vocabulary's codes and whose labels are its labels."""
    return models.TextChoices(name, [(code.upper(), (code, label)) for code, label in items])


Region = text_choices("Region", [(code, label) for code, (label, _, _) in REGIONS.items()])
Industry = text_choices("Industry", list(INDUSTRIES.items()))
CompanySize = text_choices("CompanySize", list(COMPANY_SIZES.items()))
Segment = text_choices("Segment", list(SEGMENTS.items()))
ComplexityLevel = text_choices("ComplexityLevel", [(c, c.replace("_", " ").capitalize()) for c in COMPLEXITY_LEVELS])

unit_interval = [MinValueValidator(0.0), MaxValueValidator(1.0)]


class CapabilityCode(models.Model):
    """A reference row (process, material, certification) keyed by its stable code."""

    code = models.SlugField(max_length=40, primary_key=True)
    name = models.CharField(max_length=100)

    class Meta:
        abstract = True
        ordering = ["code"]

    def __str__(self) -> str:
        return self.name


class Process(CapabilityCode):
    class Meta(CapabilityCode.Meta):
        verbose_name_plural = "processes"


class Material(CapabilityCode):
    processes = models.ManyToManyField(Process, related_name="materials", blank=True)


class Certification(CapabilityCode):
    pass


class Manufacturer(TimeStampedModel):
    name = models.CharField(max_length=200, db_index=True)
    country = models.CharField(max_length=2, help_text="ISO 3166-1 alpha-2 code")
    region = models.CharField(max_length=32, choices=Region.choices, db_index=True)
    latitude = models.FloatField(validators=[MinValueValidator(-90.0), MaxValueValidator(90.0)])
    longitude = models.FloatField(validators=[MinValueValidator(-180.0), MaxValueValidator(180.0)])
    processes = models.ManyToManyField(Process, related_name="manufacturers")
    materials = models.ManyToManyField(Material, related_name="manufacturers", blank=True)
    certifications = models.ManyToManyField(Certification, related_name="manufacturers", blank=True)
    monthly_capacity = models.PositiveIntegerField(help_text="Units per month")
    current_load = models.PositiveIntegerField(default=0, help_text="Units already booked this month")
    min_order_value = models.DecimalField(
        max_digits=14, decimal_places=2, default=Decimal("0"), validators=[MinValueValidator(Decimal("0"))]
    )
    cost_index = models.FloatField(
        validators=[MinValueValidator(COST_INDEX_MIN), MaxValueValidator(COST_INDEX_MAX)],
        help_text="Price level relative to the market (1.0 = market average)",
    )
    quality_score = models.FloatField(validators=unit_interval)
    avg_lead_time_days = models.FloatField(validators=[MinValueValidator(0.1), MaxValueValidator(365.0)])
    on_time_delivery_rate = models.FloatField(validators=unit_interval)
    completed_orders = models.PositiveIntegerField(default=0, help_text="Track record: orders delivered")
    is_active = models.BooleanField(default=True, db_index=True)

    class Meta:
        ordering = ["name", "id"]
        constraints = [
            models.CheckConstraint(
                condition=Q(latitude__gte=-90) & Q(latitude__lte=90), name="manufacturer_latitude_range"
            ),
            models.CheckConstraint(
                condition=Q(longitude__gte=-180) & Q(longitude__lte=180), name="manufacturer_longitude_range"
            ),
            models.CheckConstraint(
                condition=Q(current_load__lte=models.F("monthly_capacity")), name="manufacturer_load_within_capacity"
            ),
            models.CheckConstraint(
                condition=Q(min_order_value__gte=0), name="manufacturer_min_order_value_non_negative"
            ),
            models.CheckConstraint(
                condition=Q(cost_index__gte=COST_INDEX_MIN) & Q(cost_index__lte=COST_INDEX_MAX),
                name="manufacturer_cost_index_range",
            ),
            models.CheckConstraint(
                condition=Q(quality_score__gte=0) & Q(quality_score__lte=1), name="manufacturer_quality_score_range"
            ),
            models.CheckConstraint(
                condition=Q(avg_lead_time_days__gt=0) & Q(avg_lead_time_days__lte=365),
                name="manufacturer_lead_time_range",
            ),
            models.CheckConstraint(
                condition=Q(on_time_delivery_rate__gte=0) & Q(on_time_delivery_rate__lte=1),
                name="manufacturer_on_time_rate_range",
            ),
            models.CheckConstraint(condition=Q(region__in=Region.values), name="manufacturer_region_valid"),
        ]

    def __str__(self) -> str:
        return self.name

    def clean(self) -> None:
        if (
            self.monthly_capacity is not None
            and self.current_load is not None
            and self.current_load > self.monthly_capacity
        ):
            raise ValidationError({"current_load": "Current load cannot exceed the monthly capacity."})


class CustomerAccount(TimeStampedModel):
    """The Django user of a buying company."""

    user = models.OneToOneField(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="customer_account")
    company_name = models.CharField(max_length=200)
    industry = models.CharField(max_length=32, choices=Industry.choices)
    company_size = models.CharField(max_length=16, choices=CompanySize.choices)
    region = models.CharField(max_length=32, choices=Region.choices)
    segment = models.CharField(max_length=32, choices=Segment.choices, db_index=True)

    class Meta:
        ordering = ["company_name", "id"]
        constraints = [
            models.CheckConstraint(condition=Q(industry__in=Industry.values), name="customer_industry_valid"),
            models.CheckConstraint(
                condition=Q(company_size__in=CompanySize.values), name="customer_company_size_valid"
            ),
            models.CheckConstraint(condition=Q(region__in=Region.values), name="customer_region_valid"),
            models.CheckConstraint(condition=Q(segment__in=Segment.values), name="customer_segment_valid"),
        ]

    def __str__(self) -> str:
        return self.company_name


class OrderStatus(models.TextChoices):
    OPEN = "open", "Open"
    MATCHED = "matched", "Matched"
    IN_PRODUCTION = "in_production", "In production"
    DELIVERED = "delivered", "Delivered"
    CANCELLED = "cancelled", "Cancelled"


class Order(TimeStampedModel):
    Status = OrderStatus

    customer = models.ForeignKey(CustomerAccount, on_delete=models.CASCADE, related_name="orders")
    process = models.ForeignKey(Process, on_delete=models.PROTECT, related_name="orders")
    material = models.ForeignKey(Material, on_delete=models.PROTECT, related_name="orders", null=True, blank=True)
    quantity = models.PositiveIntegerField(validators=[MinValueValidator(1)])
    complexity_level = models.CharField(max_length=16, choices=ComplexityLevel.choices)
    estimated_value = models.DecimalField(
        max_digits=14, decimal_places=2, validators=[MinValueValidator(Decimal("0.01"))]
    )
    quality_requirements = models.FloatField(validators=unit_interval)
    timeline_urgency = models.FloatField(validators=unit_interval)
    delivery_region = models.CharField(max_length=32, choices=Region.choices)
    status = models.CharField(max_length=16, choices=OrderStatus.choices, default=OrderStatus.OPEN, db_index=True)
    matched_at = models.DateTimeField(null=True, blank=True)
    production_started_at = models.DateTimeField(null=True, blank=True)
    delivered_at = models.DateTimeField(null=True, blank=True)
    cancelled_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-created_at", "-id"]
        indexes = [models.Index(fields=["customer", "-created_at"])]
        constraints = [
            models.CheckConstraint(condition=Q(quantity__gte=1), name="order_quantity_positive"),
            models.CheckConstraint(condition=Q(estimated_value__gt=0), name="order_estimated_value_positive"),
            models.CheckConstraint(
                condition=Q(quality_requirements__gte=0) & Q(quality_requirements__lte=1),
                name="order_quality_requirements_range",
            ),
            models.CheckConstraint(
                condition=Q(timeline_urgency__gte=0) & Q(timeline_urgency__lte=1), name="order_timeline_urgency_range"
            ),
            models.CheckConstraint(
                condition=Q(complexity_level__in=ComplexityLevel.values), name="order_complexity_valid"
            ),
            models.CheckConstraint(condition=Q(delivery_region__in=Region.values), name="order_region_valid"),
            models.CheckConstraint(condition=Q(status__in=OrderStatus.values), name="order_status_valid"),
        ]

    def __str__(self) -> str:
        return f"Order {self.pk} ({self.process_id}, {self.quantity} units)"

    def clean(self) -> None:
        if (
            self.material_id
            and self.process_id
            and not Material.processes.through.objects.filter(
                material_id=self.material_id, process_id=self.process_id
            ).exists()
        ):
            raise ValidationError({"material": f"{self.material_id} is not worked by {self.process_id}."})


class MatchOutcome(TimeStampedModel):
    """What happened after an order was matched: contract signed or not, then delivery and rating."""

    order = models.OneToOneField(Order, on_delete=models.CASCADE, related_name="outcome")
    manufacturer = models.ForeignKey(Manufacturer, on_delete=models.PROTECT, related_name="outcomes")
    converted = models.BooleanField(help_text="Contract signed")
    contract_value = models.DecimalField(
        max_digits=14, decimal_places=2, null=True, blank=True, validators=[MinValueValidator(Decimal("0.01"))]
    )
    satisfaction = models.PositiveSmallIntegerField(
        null=True, blank=True, validators=[MinValueValidator(1), MaxValueValidator(5)]
    )
    delivered_on_time = models.BooleanField(null=True, blank=True)
    time_to_match = models.DurationField(help_text="From the order's creation to the match")

    class Meta:
        ordering = ["-created_at", "-id"]
        constraints = [
            models.CheckConstraint(
                condition=Q(satisfaction__isnull=True) | (Q(satisfaction__gte=1) & Q(satisfaction__lte=5)),
                name="outcome_satisfaction_range",
            ),
            models.CheckConstraint(
                # contract_value > 0 is unknown, not false, for NULL: a CHECK passes it unless NULL is excluded
                condition=(Q(converted=True) & Q(contract_value__isnull=False) & Q(contract_value__gt=0))
                | (
                    Q(converted=False)
                    & Q(contract_value__isnull=True)
                    & Q(satisfaction__isnull=True)
                    & Q(delivered_on_time__isnull=True)
                ),
                name="outcome_contract_consistent",
            ),
        ]

    def __str__(self) -> str:
        return f"Outcome of order {self.order_id}: {'converted' if self.converted else 'not converted'}"

    def clean(self) -> None:
        if self.converted and self.contract_value is None:
            raise ValidationError({"contract_value": "A converted match needs its contract value."})
        if not self.converted:
            for name in ("contract_value", "satisfaction", "delivered_on_time"):
                if getattr(self, name) is not None:
                    raise ValidationError({name: "Only a converted match has a contract, a delivery and a rating."})
