import pytest
from django.utils import timezone

from marketplace.models import Order, OrderStatus
from tests.api_helpers import assert_field_error
from tests.conftest import token_client
from tests.factories import CustomerAccountFactory, OrderFactory, UserFactory

LIST_URL = "/api/v1/orders"


def detail_url(order_id: int) -> str:
    return f"/api/v1/orders/{order_id}"


def status_url(order_id: int) -> str:
    return f"/api/v1/orders/{order_id}/status"


def new_order(**overrides) -> dict:
    body = {
        "process": "cnc_machining",
        "material": "titanium",
        "quantity": 250,
        "complexity_level": "complex",
        "estimated_value": "18500.50",
        "quality_requirements": 0.9,
        "timeline_urgency": 0.3,
        "delivery_region": "north_america",
    }
    body.update(overrides)
    return body


def ids(response) -> list[int]:
    return [item["id"] for item in response.json()["results"]]


# --- creating --------------------------------------------------------------------------------------------------


@pytest.mark.django_db
def test_customer_creates_an_open_order_of_its_own(api_client, customer):
    response = api_client.post(LIST_URL, new_order(), format="json")

    assert response.status_code == 201, response.json()
    body = response.json()
    order = Order.objects.get(pk=body["id"])
    assert order.customer == customer
    assert body["customer_id"] == customer.id
    assert body["status"] == "open"
    assert body["process"] == "cnc_machining"
    assert body["material"] == "titanium"
    assert body["quantity"] == 250
    assert body["complexity_level"] == "complex"
    assert body["estimated_value"] == 18500.5
    assert body["quality_requirements"] == 0.9
    assert body["timeline_urgency"] == 0.3
    assert body["delivery_region"] == "north_america"
    for stamp in ("matched_at", "production_started_at", "delivered_at", "cancelled_at"):
        assert body[stamp] is None
    assert order.status == OrderStatus.OPEN
    assert str(order.estimated_value) == "18500.50"


@pytest.mark.django_db
def test_customer_creates_an_order_without_a_material(api_client):
    body = new_order()
    del body["material"]

    response = api_client.post(LIST_URL, body, format="json")

    assert response.status_code == 201, response.json()
    assert response.json()["material"] is None
    assert Order.objects.get().material_id is None


@pytest.mark.django_db
def test_customer_creates_an_order_with_a_null_material(api_client):
    response = api_client.post(LIST_URL, new_order(material=None), format="json")

    assert response.status_code == 201, response.json()
    assert response.json()["material"] is None


@pytest.mark.django_db
@pytest.mark.parametrize(
    ("field", "value"),
    [
        ("status", "delivered"),
        ("customer", 1),
        ("customer_id", 1),
        ("matched_at", "2024-01-01T00:00:00Z"),
        ("id", 1),
    ],
)
def test_server_set_fields_are_refused_as_unknown(api_client, other_customer, field, value):
    response = api_client.post(LIST_URL, new_order(**{field: value}), format="json")

    assert response.status_code == 400
    assert response.json() == {
        "message": f"Invalid input: {field}: Unknown field.",
        "extra": {"fields": {field: ["Unknown field."]}},
    }
    assert not Order.objects.exists()


@pytest.mark.django_db
def test_order_cannot_be_placed_for_another_customer(api_client, customer, other_customer):
    response = api_client.post(LIST_URL, new_order(customer_id=other_customer.id), format="json")

    assert response.status_code == 400
    assert not other_customer.orders.exists()
    assert not customer.orders.exists()


@pytest.mark.django_db
@pytest.mark.parametrize(
    ("overrides", "field"),
    [
        ({"complexity_level": "trivial"}, "complexity_level"),
        ({"quality_requirements": 1.01}, "quality_requirements"),
        ({"quality_requirements": -0.1}, "quality_requirements"),
        ({"timeline_urgency": 1.5}, "timeline_urgency"),
        ({"timeline_urgency": -1}, "timeline_urgency"),
        ({"quality_requirements": "NaN"}, "quality_requirements"),
        ({"timeline_urgency": "inf"}, "timeline_urgency"),
        ({"quality_requirements": "high"}, "quality_requirements"),
        ({"estimated_value": -100}, "estimated_value"),
        ({"estimated_value": 0}, "estimated_value"),
        ({"estimated_value": "lots"}, "estimated_value"),
        ({"estimated_value": "NaN"}, "estimated_value"),
        ({"estimated_value": "Infinity"}, "estimated_value"),
        ({"estimated_value": "10.005"}, "estimated_value"),
        ({"estimated_value": "1e20"}, "estimated_value"),
        ({"material": "fr4"}, "material"),  # FR-4 is not CNC machined
        ({"material": "unobtainium"}, "material"),
        ({"process": "welding"}, "process"),
        ({"quantity": 0}, "quantity"),
        ({"quantity": -5}, "quantity"),
        ({"quantity": 2.5}, "quantity"),
        ({"quantity": 100_000_001}, "quantity"),
        ({"delivery_region": "mars"}, "delivery_region"),
        ({"delivery_region": None}, "delivery_region"),
    ],
)
def test_bad_order_input_is_a_400_naming_the_field(api_client, overrides, field):
    response = api_client.post(LIST_URL, new_order(**overrides), format="json")

    assert response.status_code == 400, response.json()
    body = response.json()
    assert list(body["extra"]["fields"]) == [field]
    assert body["message"] == f"Invalid input: {field}: {body['extra']['fields'][field][0]}"
    assert not Order.objects.exists()


@pytest.mark.django_db
def test_a_nan_literal_in_the_json_body_is_refused(api_client):
    raw = '{"process": "cnc_machining", "quantity": 10, "complexity_level": "simple", "estimated_value": 100, '
    raw += '"quality_requirements": NaN, "timeline_urgency": 0.5, "delivery_region": "east_asia"}'

    response = api_client.post(LIST_URL, data=raw, content_type="application/json")

    assert response.status_code == 400
    assert response.json()["message"].startswith("JSON parse error")
    assert not Order.objects.exists()


@pytest.mark.django_db
def test_material_not_worked_by_the_process_names_both(api_client):
    response = api_client.post(LIST_URL, new_order(process="pcb_assembly", material="aluminium"), format="json")

    assert response.status_code == 400
    assert response.json() == {
        "message": "Invalid input: material: aluminium is not worked by pcb_assembly.",
        "extra": {"fields": {"material": ["aluminium is not worked by pcb_assembly."]}},
    }


@pytest.mark.django_db
@pytest.mark.parametrize("field", ["process", "quantity", "complexity_level", "estimated_value", "delivery_region"])
def test_missing_required_order_field_is_named(api_client, field):
    body = new_order()
    del body[field]

    response = api_client.post(LIST_URL, body, format="json")

    assert response.status_code == 400
    assert response.json()["extra"] == {"fields": {field: ["This field is required."]}}


@pytest.mark.django_db
def test_user_without_a_customer_account_cannot_place_an_order(db):
    client = token_client(UserFactory())

    response = client.post(LIST_URL, new_order(), format="json")

    assert response.status_code == 403
    assert response.json() == {"message": "Only customer accounts place orders.", "extra": {}}
    assert not Order.objects.exists()


@pytest.mark.django_db
def test_anonymous_cannot_place_an_order(anonymous_client):
    response = anonymous_client.post(LIST_URL, new_order(), format="json")

    assert response.status_code == 401
    assert response.json() == {"message": "Authentication credentials were not provided.", "extra": {}}


# --- reading ---------------------------------------------------------------------------------------------------


@pytest.mark.django_db
def test_customer_lists_only_its_own_orders(api_client, customer, other_customer):
    mine = [OrderFactory(customer=customer) for _ in range(2)]
    OrderFactory(customer=other_customer)

    response = api_client.get(LIST_URL)

    assert response.status_code == 200
    body = response.json()
    assert body["count"] == 2
    assert body["previous"] is None
    assert body["next"] is None
    assert ids(response) == [mine[1].id, mine[0].id]  # newest first
    assert {item["customer_id"] for item in body["results"]} == {customer.id}


@pytest.mark.django_db
def test_customer_filters_its_orders_by_status(api_client, customer, other_customer):
    matched = OrderFactory(customer=customer, status=OrderStatus.MATCHED)
    OrderFactory(customer=customer)
    OrderFactory(customer=other_customer, status=OrderStatus.MATCHED)

    response = api_client.get(LIST_URL, {"status": "matched"})

    assert response.status_code == 200
    assert ids(response) == [matched.id]


@pytest.mark.django_db
def test_order_list_refuses_an_unknown_status_filter(api_client):
    response = api_client.get(LIST_URL, {"status": "shipped"})

    assert response.status_code == 400
    assert response.json() == {
        "message": 'Invalid input: status: "shipped" is not a valid choice.',
        "extra": {"fields": {"status": ['"shipped" is not a valid choice.']}},
    }


@pytest.mark.django_db
def test_order_list_is_paginated(api_client, customer):
    OrderFactory.create_batch(3, customer=customer)

    response = api_client.get(LIST_URL, {"page_size": 2})

    body = response.json()
    assert body["count"] == 3
    assert len(body["results"]) == 2
    assert "page=2" in body["next"]


@pytest.mark.django_db
def test_customer_reads_its_own_order(api_client, customer):
    order = OrderFactory(customer=customer, quantity=42)

    response = api_client.get(detail_url(order.id))

    assert response.status_code == 200
    body = response.json()
    assert body["id"] == order.id
    assert body["quantity"] == 42
    assert body["customer_id"] == customer.id


@pytest.mark.django_db
def test_customer_cannot_read_another_customers_order(api_client, other_customer):
    order = OrderFactory(customer=other_customer, quantity=7)
    before = Order.objects.filter(pk=order.pk).values().get()

    response = api_client.get(detail_url(order.id))

    assert response.status_code == 404
    assert response.json() == {"message": "Not found.", "extra": {}}
    assert Order.objects.filter(pk=order.pk).values().get() == before


@pytest.mark.django_db
def test_unknown_order_is_404(api_client):
    response = api_client.get(detail_url(999_999))

    assert response.status_code == 404
    assert response.json() == {"message": "Not found.", "extra": {}}


@pytest.mark.django_db
def test_user_without_a_customer_account_reads_no_orders(db):
    order = OrderFactory()
    client = token_client(UserFactory())

    assert client.get(detail_url(order.id)).status_code == 404
    listing = client.get(LIST_URL)
    assert listing.status_code == 403
    assert listing.json() == {"message": "Only customer accounts and staff have orders to read.", "extra": {}}


@pytest.mark.django_db
def test_staff_lists_every_customers_orders(staff_client, customer, other_customer):
    orders = [OrderFactory(customer=customer), OrderFactory(customer=other_customer)]

    response = staff_client.get(LIST_URL)

    assert response.status_code == 200
    assert response.json()["count"] == 2
    assert sorted(ids(response)) == sorted(o.id for o in orders)


@pytest.mark.django_db
def test_staff_with_a_customer_account_still_reads_all_orders(other_customer):
    staff_buyer = CustomerAccountFactory(user=UserFactory(is_staff=True))
    foreign = OrderFactory(customer=other_customer)
    OrderFactory(customer=staff_buyer)
    client = token_client(staff_buyer.user)

    assert client.get(LIST_URL).json()["count"] == 2
    assert client.get(detail_url(foreign.id)).status_code == 200


@pytest.mark.django_db
def test_staff_reads_any_order(staff_client, other_customer):
    order = OrderFactory(customer=other_customer)

    response = staff_client.get(detail_url(order.id))

    assert response.status_code == 200
    assert response.json()["customer_id"] == other_customer.id


# --- the lifecycle ---------------------------------------------------------------------------------------------


@pytest.mark.django_db
def test_staff_moves_an_order_from_open_to_delivered_setting_each_timestamp(staff_client):
    order = OrderFactory()
    started = timezone.now()

    matched = staff_client.post(status_url(order.id), {"status": "matched"}, format="json")

    assert matched.status_code == 200, matched.json()
    assert matched.json()["status"] == "matched"
    assert matched.json()["matched_at"] is not None
    assert matched.json()["production_started_at"] is None
    order.refresh_from_db()
    assert order.status == OrderStatus.MATCHED
    assert order.matched_at >= started

    producing = staff_client.post(status_url(order.id), {"status": "in_production"}, format="json")

    assert producing.status_code == 200
    assert producing.json()["status"] == "in_production"
    assert producing.json()["production_started_at"] is not None
    assert producing.json()["matched_at"] == matched.json()["matched_at"]

    delivered = staff_client.post(status_url(order.id), {"status": "delivered"}, format="json")

    assert delivered.status_code == 200
    body = delivered.json()
    assert body["status"] == "delivered"
    assert body["delivered_at"] is not None
    assert body["cancelled_at"] is None
    order.refresh_from_db()
    assert order.status == OrderStatus.DELIVERED
    assert order.matched_at <= order.production_started_at <= order.delivered_at


@pytest.mark.django_db
@pytest.mark.parametrize("start", [OrderStatus.OPEN, OrderStatus.MATCHED, OrderStatus.IN_PRODUCTION])
def test_staff_cancels_an_unfinished_order(staff_client, start):
    order = OrderFactory(status=start)

    response = staff_client.post(status_url(order.id), {"status": "cancelled"}, format="json")

    assert response.status_code == 200
    assert response.json()["status"] == "cancelled"
    assert response.json()["cancelled_at"] is not None


@pytest.mark.django_db
def test_a_matched_order_can_be_reopened(staff_client):
    order = OrderFactory(status=OrderStatus.MATCHED, matched_at=timezone.now())

    response = staff_client.post(status_url(order.id), {"status": "open"}, format="json")

    assert response.status_code == 200
    assert response.json()["status"] == "open"
    assert response.json()["matched_at"] is None  # the earlier match no longer holds


@pytest.mark.django_db
def test_illegal_transition_is_a_400_with_the_allowed_list(staff_client):
    order = OrderFactory(status=OrderStatus.DELIVERED)

    response = staff_client.post(status_url(order.id), {"status": "open"}, format="json")

    assert response.status_code == 400
    assert response.json() == {
        "message": "An order that is delivered cannot become open.",
        "extra": {
            "status": "delivered",
            "allowed": [],
            "fields": {"status": ["An order that is delivered cannot become open."]},
        },
    }
    order.refresh_from_db()
    assert order.status == OrderStatus.DELIVERED


@pytest.mark.django_db
def test_skipping_a_step_is_refused_with_the_allowed_next_steps(staff_client):
    order = OrderFactory()

    response = staff_client.post(status_url(order.id), {"status": "delivered"}, format="json")

    assert response.status_code == 400
    extra = response.json()["extra"]
    assert extra["status"] == "open"
    assert extra["allowed"] == ["matched", "cancelled"]
    assert list(extra["fields"]) == ["status"]
    order.refresh_from_db()
    assert order.status == OrderStatus.OPEN
    assert order.delivered_at is None


@pytest.mark.django_db
def test_a_transition_to_the_same_status_is_refused(staff_client):
    order = OrderFactory(status=OrderStatus.MATCHED)

    response = staff_client.post(status_url(order.id), {"status": "matched"}, format="json")

    assert response.status_code == 400
    assert response.json()["extra"]["allowed"] == ["in_production", "cancelled", "open"]


@pytest.mark.django_db
def test_a_cancelled_order_stays_cancelled(staff_client):
    order = OrderFactory(status=OrderStatus.CANCELLED)

    response = staff_client.post(status_url(order.id), {"status": "matched"}, format="json")

    assert response.status_code == 400
    assert response.json()["extra"]["allowed"] == []


@pytest.mark.django_db
@pytest.mark.parametrize(
    ("body", "field"), [({"status": "shipped"}, "status"), ({}, "status"), ({"status": "matched", "note": "x"}, "note")]
)
def test_bad_status_input_is_a_400_naming_the_field(staff_client, body, field):
    order = OrderFactory()

    response = staff_client.post(status_url(order.id), body, format="json")

    assert response.status_code == 400
    assert list(response.json()["extra"]["fields"]) == [field]
    order.refresh_from_db()
    assert order.status == OrderStatus.OPEN


@pytest.mark.django_db
def test_customer_cannot_change_the_status_of_its_own_order(api_client, customer):
    order = OrderFactory(customer=customer)

    response = api_client.post(status_url(order.id), {"status": "matched"}, format="json")

    assert response.status_code == 403
    assert response.json() == {"message": "Only staff may do this.", "extra": {}}
    order.refresh_from_db()
    assert order.status == OrderStatus.OPEN
    assert order.matched_at is None


@pytest.mark.django_db
def test_status_of_an_unknown_order_is_404(staff_client):
    response = staff_client.post(status_url(999_999), {"status": "matched"}, format="json")

    assert response.status_code == 404
    assert response.json() == {"message": "Not found.", "extra": {}}


@pytest.mark.django_db
def test_a_boolean_is_not_taken_for_a_number(api_client):
    response = api_client.post(LIST_URL, new_order(quality_requirements=True), format="json")

    assert response.status_code == 400
    assert list(response.json()["extra"]["fields"]) == ["quality_requirements"]


@pytest.mark.django_db
def test_the_format_follows_the_accept_header_and_a_format_parameter_is_unknown(api_client):
    assert api_client.get(LIST_URL, HTTP_ACCEPT="application/json")["Content-Type"] == "application/json"
    assert_field_error(api_client.get(LIST_URL, {"format": "json"}), "format")
