import factory
from django.contrib.auth import get_user_model

from marketplace.models import CustomerAccount, Manufacturer, Order


class UserFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = get_user_model()
        skip_postgeneration_save = True

    username = factory.Sequence(lambda n: f"user{n}")
    email = factory.LazyAttribute(lambda u: f"{u.username}@example.com")
    password = factory.django.Password("correct-horse-battery")


class CustomerAccountFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = CustomerAccount

    user = factory.SubFactory(UserFactory)
    company_name = factory.Sequence(lambda n: f"Buyer {n} Ltd")
    industry = "industrial_machinery"
    company_size = "medium"
    region = "western_europe"
    segment = "balanced"


class ManufacturerFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Manufacturer
        skip_postgeneration_save = True

    name = factory.Sequence(lambda n: f"Maker {n:04d}")
    country = "DE"
    region = "western_europe"
    latitude = 50.0
    longitude = 8.0
    monthly_capacity = 10_000
    current_load = 1_000
    min_order_value = 0
    cost_index = 1.0
    quality_score = 0.8
    avg_lead_time_days = 14.0
    on_time_delivery_rate = 0.9
    completed_orders = 10
    is_active = True

    @factory.post_generation
    def processes(self, create, extracted, **kwargs):
        if create:
            self.processes.set(extracted if extracted is not None else ["cnc_machining"])

    @factory.post_generation
    def materials(self, create, extracted, **kwargs):
        if create:
            self.materials.set(extracted if extracted is not None else ["aluminium"])

    @factory.post_generation
    def certifications(self, create, extracted, **kwargs):
        if create and extracted:
            self.certifications.set(extracted)


class OrderFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Order

    customer = factory.SubFactory(CustomerAccountFactory)
    process_id = "cnc_machining"
    material_id = "aluminium"
    quantity = 100
    complexity_level = "moderate"
    estimated_value = 5000
    quality_requirements = 0.6
    timeline_urgency = 0.5
    delivery_region = "western_europe"
