from datetime import timedelta
from decimal import Decimal

import pytest
from django.core.exceptions import ValidationError
from django.db import IntegrityError, transaction

from marketplace.models import Manufacturer, MatchOutcome, Order
from tests.factories import CustomerAccountFactory, ManufacturerFactory, OrderFactory


def assert_refused_by_the_database(queryset, **values) -> None:
    with pytest.raises(IntegrityError), transaction.atomic():
        queryset.update(**values)


def outcome(**overrides) -> MatchOutcome:
    values = {
        "order": OrderFactory(),
        "manufacturer": ManufacturerFactory(),
        "converted": True,
        "contract_value": Decimal("5000.00"),
        "time_to_match": timedelta(hours=6),
    }
    values.update(overrides)
    return MatchOutcome(**values)


def field_errors(instance) -> dict[str, list[str]]:
    with pytest.raises(ValidationError) as caught:
        instance.full_clean()
    return caught.value.message_dict


# --- manufacturers ---------------------------------------------------------------------------------------------


@pytest.mark.django_db
@pytest.mark.parametrize(
    "values",
    [
        {"quality_score": 2},
        {"quality_score": -0.1},
        {"on_time_delivery_rate": 1.5},
        {"cost_index": 0.1},
        {"cost_index": 5.0},
        {"avg_lead_time_days": 0},
        {"avg_lead_time_days": 400},
        {"latitude": 91},
        {"longitude": -181},
        {"min_order_value": Decimal("-1")},
        {"current_load": 10_001},  # above the monthly capacity of 10 000
        {"monthly_capacity": 999},  # below the current load of 1 000
        {"region": "atlantis"},
        {"current_load": -1},
    ],
)
def test_manufacturer_constraints_hold_when_validation_is_bypassed(values):
    maker = ManufacturerFactory(monthly_capacity=10_000, current_load=1_000)

    assert_refused_by_the_database(Manufacturer.objects.filter(pk=maker.pk), **values)

    maker.refresh_from_db()
    assert maker.monthly_capacity == 10_000
    assert maker.current_load == 1_000
    assert maker.quality_score == 0.8


@pytest.mark.django_db
def test_manufacturer_load_equal_to_capacity_is_allowed_by_the_database():
    maker = ManufacturerFactory(monthly_capacity=10_000, current_load=1_000)

    Manufacturer.objects.filter(pk=maker.pk).update(current_load=10_000)

    maker.refresh_from_db()
    assert maker.current_load == 10_000


@pytest.mark.django_db
def test_manufacturer_full_clean_names_the_fields_out_of_range():
    maker = ManufacturerFactory.build(quality_score=1.5, latitude=-95, cost_index=3.0, region="atlantis")

    errors = field_errors(maker)

    assert {"quality_score", "latitude", "cost_index", "region"} <= set(errors)
    assert errors["quality_score"] == ["Ensure this value is less than or equal to 1.0."]


@pytest.mark.django_db
def test_manufacturer_full_clean_refuses_a_load_above_capacity_on_current_load():
    maker = ManufacturerFactory.build(monthly_capacity=100, current_load=101)

    errors = field_errors(maker)

    assert errors == {"current_load": ["Current load cannot exceed the monthly capacity."]}


@pytest.mark.django_db
def test_a_valid_manufacturer_passes_full_clean():
    ManufacturerFactory().full_clean()


# --- customer accounts -----------------------------------------------------------------------------------------


@pytest.mark.django_db
@pytest.mark.parametrize(
    "values",
    [{"industry": "piracy"}, {"company_size": "huge"}, {"region": "atlantis"}, {"segment": "whales"}],
)
def test_customer_account_choices_hold_in_the_database(values):
    account = CustomerAccountFactory()

    assert_refused_by_the_database(type(account).objects.filter(pk=account.pk), **values)


# --- orders ----------------------------------------------------------------------------------------------------


@pytest.mark.django_db
@pytest.mark.parametrize(
    "values",
    [
        {"quantity": 0},
        {"estimated_value": Decimal("0")},
        {"estimated_value": Decimal("-10")},
        {"quality_requirements": 1.2},
        {"quality_requirements": -0.01},
        {"timeline_urgency": 2},
        {"complexity_level": "trivial"},
        {"delivery_region": "atlantis"},
        {"status": "shipped"},
    ],
)
def test_order_constraints_hold_when_validation_is_bypassed(values):
    order = OrderFactory(quantity=100)

    assert_refused_by_the_database(Order.objects.filter(pk=order.pk), **values)

    order.refresh_from_db()
    assert order.quantity == 100
    assert order.status == "open"


@pytest.mark.django_db
def test_order_with_quantity_zero_cannot_be_inserted():
    customer = CustomerAccountFactory()

    with pytest.raises(IntegrityError), transaction.atomic():
        OrderFactory(customer=customer, quantity=0)

    assert not Order.objects.exists()


@pytest.mark.django_db
def test_order_full_clean_names_the_fields_out_of_range():
    order = OrderFactory.build(
        customer=CustomerAccountFactory(),
        quantity=0,
        estimated_value=Decimal("0"),
        quality_requirements=1.5,
        timeline_urgency=-0.5,
        complexity_level="trivial",
    )

    errors = field_errors(order)

    assert {"quantity", "estimated_value", "quality_requirements", "timeline_urgency", "complexity_level"} <= set(
        errors
    )
    assert errors["quantity"] == ["Ensure this value is greater than or equal to 1."]


@pytest.mark.django_db
def test_order_full_clean_refuses_a_material_the_process_does_not_work():
    order = OrderFactory.build(customer=CustomerAccountFactory(), process_id="pcb_assembly", material_id="titanium")

    errors = field_errors(order)

    assert errors == {"material": ["titanium is not worked by pcb_assembly."]}


@pytest.mark.django_db
def test_a_valid_order_passes_full_clean():
    OrderFactory(process_id="injection_moulding", material_id="polycarbonate").full_clean()
    OrderFactory(material_id=None).full_clean()


# --- match outcomes --------------------------------------------------------------------------------------------


@pytest.mark.django_db
def test_a_converted_outcome_with_a_contract_value_is_stored():
    stored = outcome(satisfaction=4, delivered_on_time=True)
    stored.full_clean()
    stored.save()

    assert MatchOutcome.objects.get().contract_value == Decimal("5000.00")


@pytest.mark.django_db
def test_a_lost_outcome_without_contract_is_stored():
    stored = outcome(converted=False, contract_value=None)
    stored.full_clean()
    stored.save()

    assert MatchOutcome.objects.get().converted is False


@pytest.mark.django_db
@pytest.mark.parametrize(
    "values",
    [
        {"converted": False, "contract_value": Decimal("100.00")},
        {"converted": False, "contract_value": None, "satisfaction": 5},
        {"converted": False, "contract_value": None, "delivered_on_time": True},
        {"converted": True, "contract_value": None},
        {"converted": True, "contract_value": Decimal("0")},
        {"satisfaction": 0},
        {"satisfaction": 6},
    ],
)
def test_outcome_constraints_hold_when_validation_is_bypassed(values):
    with pytest.raises(IntegrityError), transaction.atomic():
        outcome(**values).save()

    assert not MatchOutcome.objects.exists()


@pytest.mark.django_db
def test_outcome_update_that_drops_the_contract_of_a_converted_match_is_refused():
    stored = outcome()
    stored.save()

    assert_refused_by_the_database(MatchOutcome.objects.filter(pk=stored.pk), contract_value=None)

    stored.refresh_from_db()
    assert stored.contract_value == Decimal("5000.00")


@pytest.mark.django_db
def test_outcome_full_clean_wants_a_contract_value_for_a_converted_match():
    errors = field_errors(outcome(contract_value=None))

    assert errors == {"contract_value": ["A converted match needs its contract value."]}


@pytest.mark.django_db
@pytest.mark.parametrize(
    ("values", "field"),
    [
        ({"contract_value": Decimal("100.00")}, "contract_value"),
        ({"contract_value": None, "satisfaction": 3}, "satisfaction"),
        ({"contract_value": None, "delivered_on_time": False}, "delivered_on_time"),
    ],
)
def test_outcome_full_clean_refuses_a_contract_on_a_lost_match(values, field):
    errors = field_errors(outcome(converted=False, **values))

    assert errors[field] == ["Only a converted match has a contract, a delivery and a rating."]


@pytest.mark.django_db
def test_outcome_full_clean_names_a_satisfaction_out_of_range():
    errors = field_errors(outcome(satisfaction=6))

    assert errors["satisfaction"] == ["Ensure this value is less than or equal to 5."]


@pytest.mark.django_db
def test_an_order_has_at_most_one_outcome():
    first = outcome()
    first.save()

    with pytest.raises(IntegrityError), transaction.atomic():
        outcome(order=first.order).save()
