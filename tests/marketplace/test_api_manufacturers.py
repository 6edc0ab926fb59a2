import pytest

from marketplace.models import Manufacturer
from tests.factories import ManufacturerFactory

LIST_URL = "/api/v1/manufacturers"


def detail_url(manufacturer_id: int) -> str:
    return f"/api/v1/manufacturers/{manufacturer_id}"


def new_manufacturer(**overrides) -> dict:
    body = {
        "name": "Precision Parts GmbH",
        "country": "DE",
        "region": "western_europe",
        "latitude": 48.1,
        "longitude": 11.6,
        "processes": ["sheet_metal", "cnc_machining"],
        "materials": ["stainless_steel", "aluminium"],
        "certifications": ["iso_9001", "as9100"],
        "monthly_capacity": 5000,
        "current_load": 1200,
        "min_order_value": "250.00",
        "cost_index": 1.2,
        "quality_score": 0.92,
        "avg_lead_time_days": 12.5,
        "on_time_delivery_rate": 0.95,
        "completed_orders": 40,
    }
    body.update(overrides)
    return body


def ids(response) -> list[int]:
    return [item["id"] for item in response.json()["results"]]


# --- reading the catalog -------------------------------------------------------------------------------------


@pytest.mark.django_db
def test_list_is_paginated_with_count_next_previous_and_results(api_client):
    makers = [ManufacturerFactory() for _ in range(3)]

    response = api_client.get(LIST_URL, {"page_size": 2})

    assert response.status_code == 200
    body = response.json()
    assert set(body) == {"count", "next", "previous", "results"}
    assert body["count"] == 3
    assert body["previous"] is None
    assert "page=2" in body["next"]
    assert "page_size=2" in body["next"]
    assert ids(response) == [makers[0].id, makers[1].id]  # ordered by name

    second = api_client.get(LIST_URL, {"page_size": 2, "page": 2})

    assert second.status_code == 200
    assert ids(second) == [makers[2].id]
    assert second.json()["next"] is None
    assert second.json()["previous"] is not None


@pytest.mark.django_db
def test_list_item_shows_the_manufacturer_with_capability_codes(api_client):
    maker = ManufacturerFactory(
        name="Acme",
        processes=["cnc_machining", "casting"],
        materials=["brass", "aluminium"],
        certifications=["iso_9001"],
    )

    response = api_client.get(LIST_URL)

    assert response.status_code == 200
    [item] = response.json()["results"]
    assert item["id"] == maker.id
    assert item["name"] == "Acme"
    assert item["region"] == "western_europe"
    assert item["processes"] == ["casting", "cnc_machining"]
    assert item["materials"] == ["aluminium", "brass"]
    assert item["certifications"] == ["iso_9001"]
    assert item["monthly_capacity"] == 10_000
    assert item["current_load"] == 1_000
    assert item["quality_score"] == 0.8
    assert item["is_active"] is True


@pytest.mark.django_db
def test_list_uses_twenty_per_page_by_default(api_client):
    ManufacturerFactory.create_batch(21)

    body = api_client.get(LIST_URL).json()

    assert body["count"] == 21
    assert len(body["results"]) == 20
    assert body["next"] is not None


@pytest.mark.django_db
def test_list_accepts_the_largest_page_size(api_client):
    ManufacturerFactory.create_batch(3)

    response = api_client.get(LIST_URL, {"page_size": 100})

    assert response.status_code == 200
    assert len(response.json()["results"]) == 3


@pytest.mark.django_db
@pytest.mark.parametrize("page_size", [0, 101, -1, "many"])
def test_list_refuses_a_page_size_out_of_bounds_naming_it(api_client, page_size):
    response = api_client.get(LIST_URL, {"page_size": page_size})

    assert response.status_code == 400
    body = response.json()
    assert list(body["extra"]["fields"]) == ["page_size"]
    assert body["message"].startswith("Invalid input: page_size: ")


@pytest.mark.django_db
def test_list_page_beyond_the_last_is_404_in_the_error_shape(api_client):
    ManufacturerFactory()

    response = api_client.get(LIST_URL, {"page": 5})

    assert response.status_code == 404
    assert set(response.json()) == {"message", "extra"}


@pytest.mark.django_db
def test_list_filters_by_process(api_client):
    casting = ManufacturerFactory(processes=["casting"])
    both = ManufacturerFactory(processes=["casting", "cnc_machining"])
    ManufacturerFactory(processes=["cnc_machining"])

    response = api_client.get(LIST_URL, {"process": "casting"})

    assert response.status_code == 200
    assert response.json()["count"] == 2
    assert sorted(ids(response)) == sorted([casting.id, both.id])


@pytest.mark.django_db
def test_list_filters_by_region(api_client):
    asian = ManufacturerFactory(region="east_asia", country="CN", latitude=31.0, longitude=121.0)
    ManufacturerFactory(region="western_europe")

    response = api_client.get(LIST_URL, {"region": "east_asia"})

    assert response.status_code == 200
    assert ids(response) == [asian.id]


@pytest.mark.django_db
def test_list_filters_by_certification(api_client):
    certified = ManufacturerFactory(certifications=["as9100", "iso_9001"])
    ManufacturerFactory(certifications=["iso_9001"])
    ManufacturerFactory()

    response = api_client.get(LIST_URL, {"certification": "as9100"})

    assert response.status_code == 200
    assert ids(response) == [certified.id]


@pytest.mark.django_db
def test_list_combines_filters(api_client):
    match = ManufacturerFactory(processes=["casting", "cnc_machining"], certifications=["iso_9001", "as9100"])
    ManufacturerFactory(processes=["casting"], certifications=["iso_13485"])
    ManufacturerFactory(processes=["sheet_metal"], certifications=["iso_9001"])

    response = api_client.get(LIST_URL, {"process": "casting", "certification": "iso_9001", "region": "western_europe"})

    assert response.status_code == 200
    assert response.json()["count"] == 1
    assert ids(response) == [match.id]


@pytest.mark.django_db
@pytest.mark.parametrize(
    ("name", "value"),
    [("process", "welding"), ("region", "atlantis"), ("certification", "iso_0000")],
)
def test_list_refuses_an_invalid_filter_value_naming_it(api_client, name, value):
    response = api_client.get(LIST_URL, {name: value})

    assert response.status_code == 400
    assert response.json() == {
        "message": f'Invalid input: {name}: "{value}" is not a valid choice.',
        "extra": {"fields": {name: [f'"{value}" is not a valid choice.']}},
    }


@pytest.mark.django_db
def test_list_refuses_an_unknown_query_parameter(api_client):
    response = api_client.get(LIST_URL, {"proces": "casting"})

    assert response.status_code == 400
    assert response.json()["extra"] == {"fields": {"proces": ["Unknown field."]}}


@pytest.mark.django_db
def test_list_hides_inactive_manufacturers_from_customers(api_client):
    active = ManufacturerFactory()
    ManufacturerFactory(is_active=False)

    response = api_client.get(LIST_URL)

    assert response.json()["count"] == 1
    assert ids(response) == [active.id]


@pytest.mark.django_db
def test_list_shows_inactive_manufacturers_to_staff(staff_client):
    active = ManufacturerFactory()
    inactive = ManufacturerFactory(is_active=False)

    response = staff_client.get(LIST_URL)

    assert response.json()["count"] == 2
    assert sorted(ids(response)) == sorted([active.id, inactive.id])
    assert {item["id"]: item["is_active"] for item in response.json()["results"]} == {
        active.id: True,
        inactive.id: False,
    }


@pytest.mark.django_db
def test_list_needs_authentication(anonymous_client):
    response = anonymous_client.get(LIST_URL)

    assert response.status_code == 401
    assert response.json() == {"message": "Authentication credentials were not provided.", "extra": {}}


@pytest.mark.django_db
def test_detail_shows_an_active_manufacturer(api_client):
    maker = ManufacturerFactory(name="Acme", certifications=["iso_9001"])

    response = api_client.get(detail_url(maker.id))

    assert response.status_code == 200
    body = response.json()
    assert body["id"] == maker.id
    assert body["name"] == "Acme"
    assert body["processes"] == ["cnc_machining"]
    assert body["certifications"] == ["iso_9001"]


@pytest.mark.django_db
def test_detail_of_an_unknown_manufacturer_is_404(api_client):
    response = api_client.get(detail_url(999_999))

    assert response.status_code == 404
    assert response.json() == {"message": "Not found.", "extra": {}}


@pytest.mark.django_db
def test_detail_of_an_inactive_manufacturer_is_404_for_a_customer(api_client):
    maker = ManufacturerFactory(is_active=False)

    response = api_client.get(detail_url(maker.id))

    assert response.status_code == 404
    assert response.json() == {"message": "Not found.", "extra": {}}


@pytest.mark.django_db
def test_detail_of_an_inactive_manufacturer_is_shown_to_staff(staff_client):
    maker = ManufacturerFactory(is_active=False)

    response = staff_client.get(detail_url(maker.id))

    assert response.status_code == 200
    assert response.json()["is_active"] is False


# --- customers cannot change the catalog -----------------------------------------------------------------------


@pytest.mark.django_db
def test_customer_cannot_create_a_manufacturer(api_client):
    response = api_client.post(LIST_URL, new_manufacturer(), format="json")

    assert response.status_code == 403
    assert response.json() == {"message": "Only staff may change this.", "extra": {}}
    assert not Manufacturer.objects.exists()


@pytest.mark.django_db
def test_customer_cannot_patch_a_manufacturer(api_client):
    maker = ManufacturerFactory(quality_score=0.5)

    response = api_client.patch(detail_url(maker.id), {"quality_score": 1.0}, format="json")

    assert response.status_code == 403
    assert response.json() == {"message": "Only staff may change this.", "extra": {}}
    maker.refresh_from_db()
    assert maker.quality_score == 0.5


@pytest.mark.django_db
def test_customer_cannot_delete_a_manufacturer(api_client):
    maker = ManufacturerFactory()

    response = api_client.delete(detail_url(maker.id))

    assert response.status_code == 403
    assert response.json() == {"message": "Only staff may change this.", "extra": {}}
    maker.refresh_from_db()
    assert maker.is_active is True


@pytest.mark.django_db
def test_anonymous_cannot_create_a_manufacturer(anonymous_client):
    response = anonymous_client.post(LIST_URL, new_manufacturer(), format="json")

    assert response.status_code == 401
    assert not Manufacturer.objects.exists()


@pytest.mark.django_db
def test_put_is_not_allowed(staff_client):
    maker = ManufacturerFactory()

    response = staff_client.put(detail_url(maker.id), new_manufacturer(), format="json")

    assert response.status_code == 405
    assert response.json() == {"message": 'Method "PUT" not allowed.', "extra": {}}


# --- staff create ----------------------------------------------------------------------------------------------


@pytest.mark.django_db
def test_staff_creates_a_manufacturer_and_its_codes_round_trip(staff_client):
    response = staff_client.post(LIST_URL, new_manufacturer(), format="json")

    assert response.status_code == 201, response.json()
    body = response.json()
    maker = Manufacturer.objects.get(pk=body["id"])
    assert body["name"] == "Precision Parts GmbH"
    assert body["processes"] == ["cnc_machining", "sheet_metal"]
    assert body["materials"] == ["aluminium", "stainless_steel"]
    assert body["certifications"] == ["as9100", "iso_9001"]
    assert body["min_order_value"] == 250.0
    assert body["current_load"] == 1200
    assert body["is_active"] is True
    assert sorted(maker.processes.values_list("code", flat=True)) == ["cnc_machining", "sheet_metal"]
    assert sorted(maker.certifications.values_list("code", flat=True)) == ["as9100", "iso_9001"]

    again = staff_client.get(detail_url(maker.id)).json()
    assert again["processes"] == body["processes"]
    assert again["materials"] == body["materials"]
    assert again["certifications"] == body["certifications"]


@pytest.mark.django_db
def test_staff_create_applies_defaults_for_optional_fields(staff_client):
    body = new_manufacturer()
    for name in ("materials", "certifications", "current_load", "min_order_value", "completed_orders"):
        del body[name]

    response = staff_client.post(LIST_URL, body, format="json")

    assert response.status_code == 201, response.json()
    created = response.json()
    assert created["materials"] == []
    assert created["certifications"] == []
    assert created["current_load"] == 0
    assert created["min_order_value"] == 0.0
    assert created["completed_orders"] == 0


@pytest.mark.django_db
def test_staff_create_names_each_missing_required_field(staff_client):
    response = staff_client.post(LIST_URL, {"name": "Half a maker"}, format="json")

    assert response.status_code == 400
    fields = response.json()["extra"]["fields"]
    assert set(fields) == {
        "country",
        "region",
        "latitude",
        "longitude",
        "processes",
        "monthly_capacity",
        "cost_index",
        "quality_score",
        "avg_lead_time_days",
        "on_time_delivery_rate",
    }
    assert fields["country"] == ["This field is required."]
    assert not Manufacturer.objects.exists()


@pytest.mark.django_db
@pytest.mark.parametrize(
    ("overrides", "field"),
    [
        ({"current_load": 6000}, "current_load"),  # above the monthly capacity of 5000
        ({"processes": []}, "processes"),
        ({"processes": ["welding"]}, "processes.0"),
        ({"materials": ["aluminium", "unobtainium"]}, "materials.1"),
        ({"certifications": ["iso_9001", "iso_9001"]}, "certifications"),
        ({"country": "Germany"}, "country"),
        ({"latitude": 91}, "latitude"),
        ({"cost_index": 0.1}, "cost_index"),
        ({"quality_score": "NaN"}, "quality_score"),
        ({"on_time_delivery_rate": "inf"}, "on_time_delivery_rate"),
        ({"monthly_capacity": 0}, "monthly_capacity"),
        ({"min_order_value": "-1"}, "min_order_value"),
        ({"is_deleted": False}, "is_deleted"),
        ({"name": 2.5}, "name"),  # DRF's CharField would store "2.5"
        ({"country": True}, "country"),
    ],
)
def test_staff_create_refuses_bad_input_naming_the_field(staff_client, overrides, field):
    response = staff_client.post(LIST_URL, new_manufacturer(**overrides), format="json")

    assert response.status_code == 400
    body = response.json()
    assert list(body["extra"]["fields"]) == [field]
    assert body["message"].startswith(f"Invalid input: {field}: ")
    assert not Manufacturer.objects.exists()


# --- staff update ----------------------------------------------------------------------------------------------


@pytest.mark.django_db
def test_staff_patch_changes_only_the_given_fields(staff_client):
    maker = ManufacturerFactory(name="Old name", quality_score=0.5, certifications=["iso_9001"])

    response = staff_client.patch(detail_url(maker.id), {"quality_score": 0.9}, format="json")

    assert response.status_code == 200, response.json()
    body = response.json()
    assert body["quality_score"] == 0.9
    assert body["name"] == "Old name"
    assert body["processes"] == ["cnc_machining"]
    assert body["certifications"] == ["iso_9001"]
    maker.refresh_from_db()
    assert maker.quality_score == 0.9
    assert maker.name == "Old name"


@pytest.mark.django_db
def test_staff_patch_replaces_capability_codes(staff_client):
    maker = ManufacturerFactory(processes=["cnc_machining"], materials=["aluminium"], certifications=["iso_9001"])

    response = staff_client.patch(
        detail_url(maker.id),
        {"processes": ["injection_moulding", "3d_printing"], "materials": ["nylon"], "certifications": []},
        format="json",
    )

    assert response.status_code == 200, response.json()
    body = response.json()
    assert body["processes"] == ["3d_printing", "injection_moulding"]
    assert body["materials"] == ["nylon"]
    assert body["certifications"] == []
    assert sorted(maker.processes.values_list("code", flat=True)) == ["3d_printing", "injection_moulding"]
    assert not maker.certifications.exists()


@pytest.mark.django_db
def test_staff_patch_moves_updated_at(staff_client):
    maker = ManufacturerFactory()
    before = maker.updated_at

    response = staff_client.patch(detail_url(maker.id), {"name": "Renamed"}, format="json")

    assert response.status_code == 200
    maker.refresh_from_db()
    assert maker.updated_at > before


@pytest.mark.django_db
def test_staff_patch_refuses_a_load_above_capacity_naming_current_load(staff_client):
    maker = ManufacturerFactory(monthly_capacity=10_000, current_load=1_000)

    response = staff_client.patch(detail_url(maker.id), {"current_load": 10_001}, format="json")

    assert response.status_code == 400
    assert response.json() == {
        "message": "Invalid input: current_load: Current load cannot exceed the monthly capacity.",
        "extra": {"fields": {"current_load": ["Current load cannot exceed the monthly capacity."]}},
    }
    maker.refresh_from_db()
    assert maker.current_load == 1_000


@pytest.mark.django_db
def test_staff_patch_refuses_a_capacity_below_the_load_naming_current_load(staff_client):
    maker = ManufacturerFactory(monthly_capacity=10_000, current_load=5_000)

    response = staff_client.patch(detail_url(maker.id), {"monthly_capacity": 4_000}, format="json")

    assert response.status_code == 400
    assert list(response.json()["extra"]["fields"]) == ["current_load"]
    maker.refresh_from_db()
    assert maker.monthly_capacity == 10_000


@pytest.mark.django_db
def test_staff_patch_accepts_a_load_equal_to_capacity(staff_client):
    maker = ManufacturerFactory(monthly_capacity=10_000, current_load=1_000)

    response = staff_client.patch(detail_url(maker.id), {"current_load": 10_000}, format="json")

    assert response.status_code == 200
    assert response.json()["current_load"] == 10_000


@pytest.mark.django_db
def test_staff_patch_refuses_an_unknown_process_code_and_keeps_the_old_ones(staff_client):
    maker = ManufacturerFactory(processes=["cnc_machining"])

    response = staff_client.patch(detail_url(maker.id), {"processes": ["casting", "welding"]}, format="json")

    assert response.status_code == 400
    assert response.json() == {
        "message": 'Invalid input: processes.1: "welding" is not a valid choice.',
        "extra": {"fields": {"processes.1": ['"welding" is not a valid choice.']}},
    }
    assert list(maker.processes.values_list("code", flat=True)) == ["cnc_machining"]


@pytest.mark.django_db
def test_staff_patch_refuses_a_process_list_given_as_a_string(staff_client):
    maker = ManufacturerFactory()

    response = staff_client.patch(detail_url(maker.id), {"processes": "casting"}, format="json")

    assert response.status_code == 400
    assert list(response.json()["extra"]["fields"]) == ["processes"]


@pytest.mark.django_db
@pytest.mark.parametrize("value", ["NaN", "nan", "inf", "-inf", "Infinity"])
@pytest.mark.parametrize("field", ["quality_score", "cost_index", "latitude", "avg_lead_time_days"])
def test_staff_patch_refuses_non_finite_numbers(staff_client, field, value):
    maker = ManufacturerFactory()

    response = staff_client.patch(detail_url(maker.id), {field: value}, format="json")

    assert response.status_code == 400
    body = response.json()
    assert list(body["extra"]["fields"]) == [field]
    assert body["message"].startswith(f"Invalid input: {field}: ")
    maker.refresh_from_db()
    assert getattr(maker, field) == getattr(ManufacturerFactory.build(), field)


@pytest.mark.django_db
@pytest.mark.parametrize("value", ["NaN", "Infinity", "-inf"])
def test_staff_patch_refuses_non_finite_min_order_value(staff_client, value):
    maker = ManufacturerFactory()

    response = staff_client.patch(detail_url(maker.id), {"min_order_value": value}, format="json")

    assert response.status_code == 400
    assert list(response.json()["extra"]["fields"]) == ["min_order_value"]


@pytest.mark.django_db
@pytest.mark.parametrize(
    "body",
    [
        {"processes": ["casting", "casting"]},
        {"materials": ["aluminium", "brass", "aluminium"]},
        {"certifications": ["iso_9001", "iso_9001"]},
    ],
)
def test_staff_patch_refuses_duplicate_codes(staff_client, body):
    maker = ManufacturerFactory()
    [name] = body

    response = staff_client.patch(detail_url(maker.id), body, format="json")

    assert response.status_code == 400
    assert response.json() == {
        "message": f"Invalid input: {name}: Each code may appear once.",
        "extra": {"fields": {name: ["Each code may appear once."]}},
    }


@pytest.mark.django_db
def test_staff_patch_refuses_an_unknown_field(staff_client):
    maker = ManufacturerFactory()

    response = staff_client.patch(detail_url(maker.id), {"rating": 5, "name": "Renamed"}, format="json")

    assert response.status_code == 400
    assert response.json() == {
        "message": "Invalid input: rating: Unknown field.",
        "extra": {"fields": {"rating": ["Unknown field."]}},
    }
    maker.refresh_from_db()
    assert maker.name != "Renamed"


@pytest.mark.django_db
@pytest.mark.parametrize("field", ["id", "created_at", "updated_at"])
def test_staff_patch_refuses_server_set_fields(staff_client, field):
    maker = ManufacturerFactory()

    response = staff_client.patch(detail_url(maker.id), {field: 1}, format="json")

    assert response.status_code == 400
    assert response.json()["extra"] == {"fields": {field: ["Unknown field."]}}


@pytest.mark.django_db
def test_staff_patch_of_an_unknown_manufacturer_is_404(staff_client):
    response = staff_client.patch(detail_url(999_999), {"name": "Ghost"}, format="json")

    assert response.status_code == 404
    assert response.json() == {"message": "Not found.", "extra": {}}


@pytest.mark.django_db
def test_staff_patch_can_reactivate_a_manufacturer(staff_client, api_client):
    maker = ManufacturerFactory(is_active=False)

    response = staff_client.patch(detail_url(maker.id), {"is_active": True}, format="json")

    assert response.status_code == 200
    assert response.json()["is_active"] is True
    assert api_client.get(detail_url(maker.id)).status_code == 200


# --- staff delete ----------------------------------------------------------------------------------------------


@pytest.mark.django_db
def test_staff_delete_deactivates_and_keeps_the_row(staff_client, api_client):
    maker = ManufacturerFactory()

    response = staff_client.delete(detail_url(maker.id))

    assert response.status_code == 204
    assert response.content == b""
    maker.refresh_from_db()
    assert maker.is_active is False
    assert api_client.get(detail_url(maker.id)).status_code == 404
    assert api_client.get(LIST_URL).json()["count"] == 0
    assert staff_client.get(detail_url(maker.id)).json()["is_active"] is False


@pytest.mark.django_db
def test_staff_delete_of_an_unknown_manufacturer_is_404(staff_client):
    response = staff_client.delete(detail_url(999_999))

    assert response.status_code == 404
    assert response.json() == {"message": "Not found.", "extra": {}}


@pytest.mark.django_db
def test_staff_cannot_give_a_manufacturer_a_material_none_of_its_processes_works(staff_client):
    body = new_manufacturer(processes=["pcb_assembly"], materials=["fr4", "titanium"])

    response = staff_client.post("/api/v1/manufacturers", body, format="json")

    assert response.status_code == 400
    assert response.json()["extra"]["fields"] == {"materials": ["No process of this manufacturer works titanium."]}
    assert not Manufacturer.objects.filter(name=body["name"]).exists()


@pytest.mark.django_db
def test_patching_processes_away_from_a_material_is_refused_and_changes_nothing(staff_client):
    manufacturer = ManufacturerFactory(processes=["cnc_machining"], materials=["aluminium"])

    response = staff_client.patch(detail_url(manufacturer.id), {"processes": ["pcb_assembly"]}, format="json")

    assert response.status_code == 400
    assert "materials" in response.json()["extra"]["fields"]
    assert list(manufacturer.processes.values_list("code", flat=True)) == ["cnc_machining"]
