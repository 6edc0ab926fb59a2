"""Every API operation against its own OpenAPI document, by schemathesis (property-based, seeded).

For a customer and for staff, requests the document allows and requests it forbids (wrong types, values
out of range, missing or unknown fields, malformed path parameters, other media types). Every answer must
hold to the document: never a server error, a documented status code, content type, headers and body
shape, and a request the document forbids is refused with a 4xx. Only "a valid request succeeds" is left
out: the document cannot say that a session must exist or that 2 variants' weights must sum to 1.

The requests go through the real WSGI stack (middleware, authentication, throttling off), against
PostgreSQL when DATABASE_URL points there. `API_FUZZ_EXAMPLES` sets the examples per operation (default 25;
a deeper local run: 300).
"""

import os

import pytest
import schemathesis
from django.core.signals import request_finished, request_started
from django.core.wsgi import get_wsgi_application
from django.db import close_old_connections
from drf_spectacular.generators import SchemaGenerator
from hypothesis import HealthCheck, given, settings
from knox.models import AuthToken
from schemathesis import GenerationMode
from schemathesis.specs.openapi.checks import positive_data_acceptance
from werkzeug.test import Client as WerkzeugClient

from tests.api_helpers import ORDER_CONTEXT
from tests.factories import CustomerAccountFactory, ManufacturerFactory, UserFactory

EXAMPLES = int(os.environ.get("API_FUZZ_EXAMPLES", "25"))
WSGI = get_wsgi_application()
SCHEMA = schemathesis.openapi.from_dict(SchemaGenerator().get_schema(request=None, public=True))
SCHEMA.app = WSGI
OPERATIONS = {op.label: op for op in (result.ok() for result in SCHEMA.get_all_operations())}
# An operation without parameters or body has no invalid request to make.
TAKES_INPUT = sorted(
    label for label, op in OPERATIONS.items() if len(op.body) or len(op.query) or len(op.path_parameters)
)


@pytest.fixture(autouse=True)
def _served_like_the_test_client(settings):
    """Hundreds of requests per test: no rate limits. And, as Django's test client does, the database
    connection stays open across requests (the handler closes it at the end of each one)."""
    settings.API_THROTTLE_RATES = {"user_burst": None, "user_sustained": None, "anonymous": None}
    request_started.disconnect(close_old_connections)
    request_finished.disconnect(close_old_connections)
    yield
    request_started.connect(close_old_connections)
    request_finished.connect(close_old_connections)


def conforms(label: str, role: str, mode: GenerationMode) -> None:
    user = CustomerAccountFactory().user if role == "customer" else UserFactory(is_staff=True)
    _, token = AuthToken.objects.create(user)

    @given(case=OPERATIONS[label].as_strategy(generation_mode=mode))
    @settings(
        max_examples=EXAMPLES, deadline=None, derandomize=True, database=None, suppress_health_check=list(HealthCheck)
    )
    def run(case):
        case.call_and_validate(
            base_url="http://testserver",
            headers={"Authorization": f"Token {token}"},
            excluded_checks=[positive_data_acceptance],
        )

    run()


@pytest.mark.django_db
@pytest.mark.parametrize("role", ["customer", "staff"])
@pytest.mark.parametrize("label", sorted(OPERATIONS))
def test_requests_the_document_allows_get_documented_answers(label, role):
    conforms(label, role, GenerationMode.POSITIVE)


@pytest.mark.django_db
@pytest.mark.parametrize("role", ["customer", "staff"])
@pytest.mark.parametrize("label", TAKES_INPUT)
def test_requests_the_document_forbids_are_refused_with_a_documented_4xx(label, role):
    conforms(label, role, GenerationMode.NEGATIVE)


# --- the successes of the main flows ------------------------------------------------------------------------
# Random requests rarely succeed where success needs a catalog, a session or an experiment; these do, and
# each answer is checked against the document the same way.

PREFIX = "/api/v1/advanced-personalization"
ORDER_BODY = {  # POST /orders takes the delivery region as delivery_region
    **{key: value for key, value in ORDER_CONTEXT.items() if key != "region"},
    "delivery_region": ORDER_CONTEXT["region"],
}
EXPERIMENT = {
    "name": "quality first",
    "variants": [
        {"key": "control", "weight": 0.5, "is_control": True, "config": {"strategy": "balanced"}},
        {"key": "quality", "weight": 0.5, "config": {"strategy": "quality_focused"}},
    ],
}


class DocumentedClient:
    """A WSGI client whose every answer must match the operation's document (status, headers, body)."""

    def __init__(self, user) -> None:
        _, self.token = AuthToken.objects.create(user)
        self.client = WerkzeugClient(WSGI)

    def call(self, method: str, template: str, status: int, body=None, **path) -> dict:
        response = self.client.open(
            template.format(**path), method=method, json=body, headers={"Authorization": f"Token {self.token}"}
        )
        assert response.status_code == status, response.get_data(as_text=True)
        OPERATIONS[f"{method} {template}"].validate_response(response)
        return response.get_json() if response.data else {}


@pytest.mark.django_db
def test_the_main_flows_answer_as_documented():
    for index in range(8):
        ManufacturerFactory(quality_score=0.5 + index / 20)
    customer = DocumentedClient(CustomerAccountFactory().user)
    staff = DocumentedClient(UserFactory(is_staff=True))

    customer.call("GET", "/api/v1/auth/me", 200)
    customer.call("GET", "/api/v1/manufacturers", 200)
    order = customer.call("POST", "/api/v1/orders", 201, ORDER_BODY)
    customer.call("GET", "/api/v1/orders", 200)
    customer.call("GET", "/api/v1/orders/{order_id}", 200, order_id=order["id"])
    shown = customer.call("POST", f"{PREFIX}/recommendations/personalized", 200, {"order_id": order["id"]})
    chosen = shown["recommendations"][1]["manufacturer"]["id"]
    feedback = {
        "event_id": "choice-1",
        "session_id": shown["session_id"],
        "interaction_data": {"viewed_manufacturer_ids": [chosen], "time_to_decision_seconds": 120},
        "choice_data": {"chosen_manufacturer_id": chosen, "chosen_rank": 2, "feedback": "clear quote"},
    }
    customer.call("POST", f"{PREFIX}/profile/update", 200, feedback)
    outcome = {
        "event_id": "outcome-1",
        "session_id": shown["session_id"],
        "manufacturer_id": chosen,
        "converted": True,
        "contract_value": "9000.00",
        "satisfaction": 5,
        "delivered_on_time": True,
    }
    staff.call("POST", f"{PREFIX}/outcomes", 200, outcome)
    customer.call("GET", f"{PREFIX}/profile/personal", 200)
    customer.call("GET", f"{PREFIX}/insights", 200)
    staff.call("GET", f"{PREFIX}/insights", 200)
    customer.call("POST", f"{PREFIX}/predictions", 200, {"order_context": ORDER_CONTEXT})
    staff.call("GET", f"{PREFIX}/models/performance", 200)

    staff.call("GET", "/api/v1/manufacturers/{manufacturer_id}", 200, manufacturer_id=chosen)
    staff.call("PATCH", "/api/v1/manufacturers/{manufacturer_id}", 200, {"quality_score": 0.9}, manufacturer_id=chosen)
    staff.call("POST", "/api/v1/orders/{order_id}/status", 200, {"status": "matched"}, order_id=order["id"])

    experiment = staff.call("POST", f"{PREFIX}/experiments", 201, EXPERIMENT)
    staff.call("POST", f"{PREFIX}/experiments/{{experiment_id}}/start", 200, {}, experiment_id=experiment["id"])
    staff.call("GET", f"{PREFIX}/experiments/active", 200)
    staff.call("GET", f"{PREFIX}/experiments/{{experiment_id}}/results", 200, experiment_id=experiment["id"])
    staff.call("POST", f"{PREFIX}/experiments/{{experiment_id}}/stop", 200, {}, experiment_id=experiment["id"])
    staff.call("DELETE", "/api/v1/manufacturers/{manufacturer_id}", 204, manufacturer_id=chosen)
    customer.call("POST", "/api/v1/auth/logout", 204)
