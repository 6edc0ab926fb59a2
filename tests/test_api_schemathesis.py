"""Every API operation against its own OpenAPI document, by schemathesis (property-based, seeded).

For a customer and for staff, requests the document allows and requests it forbids (wrong types, values
out of range, missing or unknown fields, malformed path parameters, other media types). Every answer must
hold to the document: never a server error, a documented status code, content type, headers and body
shape, and a request the document forbids is refused with a 4xx. Only "a valid request succeeds" is left
out: the document cannot say that a session must exist or that 2 variants' weights must sum to 1.

The requests go through the real WSGI stack (middleware, authentication, throttling off), against
PostgreSQL when DATABASE_URL points there. `API_FUZZ_EXAMPLES` sets the examples per operation (default 25;
a deeper local run: 400).
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

from tests.factories import CustomerAccountFactory, UserFactory

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
