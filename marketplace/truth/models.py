"""The hidden truth of a simulated marketplace, stored for tests and benchmarks.

The engine (personalization, experiments, predictions, and the marketplace's own services, selectors and
API) never reads these tables: an import-linter contract forbids importing this package there, and every
relation has `related_name="+"` so that no reverse accessor leads here from a public model.
"""

from django.db import models

from marketplace.models import CustomerAccount, Manufacturer, Order


class SimulatedWorld(models.Model):
    seed = models.BigIntegerField()
    config = models.JSONField(help_text="The WorldConfig the world was drawn from")
    start = models.DateTimeField(help_text="Day 0 of the simulation")
    summary = models.JSONField(default=dict, help_text="Counts and rates of the simulated history")
    created_at = models.DateTimeField(auto_now_add=True)

    def __str__(self) -> str:
        return f"World seed={self.seed} ({self.config.get('n_customers')} customers)"


class SimulatedManufacturer(models.Model):
    world = models.ForeignKey(SimulatedWorld, on_delete=models.CASCADE, related_name="manufacturers")
    index = models.PositiveIntegerField(help_text="Row in the world's catalog")
    manufacturer = models.OneToOneField(Manufacturer, on_delete=models.CASCADE, related_name="+")

    class Meta:
        constraints = [models.UniqueConstraint(fields=["world", "index"], name="simulated_manufacturer_index_unique")]

    def __str__(self) -> str:
        return f"catalog row {self.index} = manufacturer {self.manufacturer_id}"


class CustomerTruthRecord(models.Model):
    world = models.ForeignKey(SimulatedWorld, on_delete=models.CASCADE, related_name="customers")
    index = models.PositiveIntegerField(help_text="Position in the world's customers")
    customer = models.OneToOneField(CustomerAccount, on_delete=models.CASCADE, related_name="+")
    true_weights = models.JSONField(help_text="factor -> true weight (summing to 1)")
    region_affinity = models.JSONField(help_text="region -> match quality added there")
    utility_scale = models.FloatField()
    walk_away_threshold = models.FloatField()
    price_sensitivity = models.FloatField()
    quality_sensitivity = models.FloatField()
    order_rate = models.FloatField(help_text="Orders per day while active")
    base_churn_hazard = models.FloatField(help_text="Daily churn probability with no bad experience")
    churned_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        constraints = [models.UniqueConstraint(fields=["world", "index"], name="customer_truth_index_unique")]

    def __str__(self) -> str:
        return f"truth of customer {self.customer_id}"


class OrderTruth(models.Model):
    world = models.ForeignKey(SimulatedWorld, on_delete=models.CASCADE, related_name="orders")
    order = models.OneToOneField(Order, on_delete=models.CASCADE, related_name="+")
    choice_probabilities = models.JSONField(help_text="[walk away, position 1, ...] by the true utility")
    p_convert = models.FloatField(null=True, blank=True)
    p_on_time = models.FloatField(null=True, blank=True)
    expected_satisfaction = models.FloatField(null=True, blank=True)
    bad_experience_score = models.FloatField()

    def __str__(self) -> str:
        return f"truth of order {self.order_id}"
