"""Shared fixtures, and the rule for tests that need PostgreSQL or Redis.

Such tests are marked `postgres` or `redis`. Where the service is absent they are skipped; with
REQUIRE_SERVICES=1 (as `.ci/run` sets) an absent service fails the run instead, so CI cannot pass by skipping.
"""

import os
import shutil

import pytest
import redis
from django.conf import settings
from django.core.cache import cache
from django.db import connection
from knox.models import AuthToken
from rest_framework.test import APIClient

from marketplace.selectors import _catalog_cache
from marketplace.services import reference_data_ensure
from tests.factories import CustomerAccountFactory, UserFactory


def redis_available() -> bool:
    if not settings.REDIS_URL:
        return False
    try:
        return bool(redis.Redis.from_url(settings.REDIS_URL, socket_connect_timeout=0.5).ping())
    except redis.RedisError:
        return False


def chromium_path() -> str | None:
    """The machine's Chromium for the browser tests (CHROMIUM_PATH, else chromium on the PATH)."""
    return os.environ.get("CHROMIUM_PATH") or shutil.which("chromium") or shutil.which("chromium-browser")


def pytest_collection_modifyitems(config, items) -> None:
    required = {
        "postgres": os.environ.get("REQUIRE_SERVICES") == "1",
        "redis": os.environ.get("REQUIRE_SERVICES") == "1",
        "browser": os.environ.get("REQUIRE_BROWSER") == "1",
    }
    missing = {
        "postgres": None if connection.vendor == "postgresql" else "PostgreSQL is not configured (DATABASE_URL)",
        "redis": None if redis_available() else "Redis is not reachable (REDIS_URL)",
        "browser": None if chromium_path() else "Chromium is not installed (apt-get install chromium)",
    }
    for marker, reason in missing.items():
        if reason is None:
            continue
        if required[marker] and any(marker in item.keywords for item in items):
            raise pytest.UsageError(f"{marker} is required here but {reason}")
        for item in items:
            if marker in item.keywords:
                item.add_marker(pytest.mark.skip(reason=reason))


@pytest.fixture(autouse=True)
def _reference_data(request):
    """Transactional tests flush the database, and with it the vocabulary that migration 0002 seeded."""
    marker = request.node.get_closest_marker("django_db")
    if marker is not None and marker.kwargs.get("transaction"):
        request.getfixturevalue("transactional_db")
        reference_data_ensure()


@pytest.fixture(autouse=True)
def _fresh_caches():
    """Each test sees the catalog of its own database state, and rate-limit counters of its own."""
    _catalog_cache.clear()
    cache.clear()
    yield
    _catalog_cache.clear()


@pytest.fixture
def customer(db):
    return CustomerAccountFactory()


@pytest.fixture
def other_customer(db):
    return CustomerAccountFactory()


@pytest.fixture
def staff_user(db):
    return UserFactory(is_staff=True)


def token_client(user) -> APIClient:
    _, token = AuthToken.objects.create(user)
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Token {token}")
    return client


@pytest.fixture
def api_client(customer):
    """A client authenticated with the token of `customer`."""
    return token_client(customer.user)


@pytest.fixture
def staff_client(staff_user):
    return token_client(staff_user)


@pytest.fixture
def anonymous_client():
    return APIClient()
