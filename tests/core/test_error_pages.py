"""Errors outside the views: an unknown URL or a server error under /api/ answers in the API's error shape,
in JSON; elsewhere Django's pages stay. And the API reads JSON bodies only."""

import pytest
from django.test import RequestFactory

from core.views import server_error


@pytest.mark.django_db
def test_an_unknown_api_url_is_a_json_404_in_the_error_shape(api_client):
    response = api_client.get("/api/v1/no-such-thing")

    assert response.status_code == 404
    assert response["Content-Type"] == "application/json"
    assert response.json() == {"message": "Not found.", "extra": {}}


@pytest.mark.django_db
def test_a_path_parameter_that_is_not_a_number_is_a_json_404(api_client):
    response = api_client.get("/api/v1/orders/not-a-number")

    assert response.status_code == 404
    assert response.json() == {"message": "Not found.", "extra": {}}


@pytest.mark.django_db
def test_an_unknown_url_outside_the_api_is_still_an_html_page(client):
    response = client.get("/no-such-page")

    assert response.status_code == 404
    assert response["Content-Type"].startswith("text/html")


def test_a_server_error_under_the_api_is_json_and_elsewhere_html():
    api = server_error(RequestFactory().get("/api/v1/orders"))
    page = server_error(RequestFactory().get("/admin/"))

    assert (api.status_code, api["Content-Type"]) == (500, "application/json")
    assert api.content == b'{"message": "Server error.", "extra": {}}'
    assert page.status_code == 500
    assert page["Content-Type"].startswith("text/html")


@pytest.mark.django_db
def test_a_form_body_is_refused_with_415(api_client):
    response = api_client.post("/api/v1/orders", "process=casting", content_type="application/x-www-form-urlencoded")

    assert response.status_code == 415
    assert response.json()["message"] == 'Unsupported media type "application/x-www-form-urlencoded" in request.'
