import time

import pytest
from django.test import override_settings

from core.api.throttling import parse_rate

RATES = {"user_burst": "3/min", "user_sustained": "100/hour", "anonymous": "2/min"}


def test_rates_parse_into_count_and_period():
    assert parse_rate("120/min") == (120, 60)
    assert parse_rate("10000/hour") == (10000, 3600)
    with pytest.raises(ValueError, match="120/min"):
        parse_rate("lots/min")


@pytest.mark.django_db
@override_settings(API_THROTTLE_RATES=RATES)
def test_a_user_past_the_burst_rate_gets_429_with_retry_after(api_client):
    statuses = [api_client.get("/api/v1/auth/me").status_code for _ in range(4)]

    assert statuses == [200, 200, 200, 429]
    response = api_client.get("/api/v1/auth/me")
    assert response.status_code == 429
    assert 1 <= int(response["Retry-After"]) <= 61
    assert response.json()["message"].startswith("Request was throttled.")
    assert response.json()["extra"] == {}


@pytest.mark.django_db
@override_settings(API_THROTTLE_RATES={**RATES, "user_burst": "100/min", "user_sustained": "2/hour"})
def test_a_user_past_the_sustained_rate_waits_for_the_hour_window(api_client):
    statuses = [api_client.get("/api/v1/auth/me").status_code for _ in range(3)]

    assert statuses == [200, 200, 429]
    assert 1 <= int(api_client.get("/api/v1/auth/me")["Retry-After"]) <= 3601


@pytest.mark.django_db
@override_settings(API_THROTTLE_RATES={**RATES, "user_burst": "2/min", "user_sustained": "2/hour"})
def test_a_user_past_both_rates_waits_for_the_longer_window(api_client):
    def wait_at(t: float) -> int:  # until both the minute's and the hour's windows have turned
        return max(int((t // period + 1) * period - t) + 1 for period in (60, 3600))

    for _ in range(2):
        api_client.get("/api/v1/auth/me")
    before = time.time()
    response = api_client.get("/api/v1/auth/me")
    after = time.time()

    assert response.status_code == 429
    assert wait_at(after) - 1 <= int(response["Retry-After"]) <= wait_at(before) + 1


@pytest.mark.django_db
@override_settings(API_THROTTLE_RATES=RATES)
def test_users_are_limited_separately(api_client, staff_client):
    for _ in range(3):
        api_client.get("/api/v1/auth/me")

    assert api_client.get("/api/v1/auth/me").status_code == 429
    assert staff_client.get("/api/v1/auth/me").status_code == 200


@pytest.mark.django_db
@override_settings(API_THROTTLE_RATES=RATES)
def test_anonymous_calls_are_limited_per_address(anonymous_client):
    body = {"username": "nobody", "password": "wrong-password"}
    statuses = [anonymous_client.post("/api/v1/auth/token", body, format="json").status_code for _ in range(3)]

    assert statuses == [400, 400, 429]


@pytest.mark.django_db
def test_requests_are_served_when_the_rate_limit_cache_is_down(api_client, caplog):
    unreachable = {"BACKEND": "django.core.cache.backends.redis.RedisCache", "LOCATION": "redis://127.0.0.1:1/0"}
    with override_settings(CACHES={"default": unreachable}, API_THROTTLE_RATES=RATES):
        statuses = [api_client.get("/api/v1/auth/me").status_code for _ in range(5)]

    assert statuses == [200] * 5
    assert "rate limit not applied" in caplog.text


@pytest.mark.redis
@pytest.mark.django_db
@override_settings(API_THROTTLE_RATES=RATES)
def test_on_redis_a_window_counter_expires_with_its_window(api_client, customer):
    from django.core.cache import caches

    cache = caches["default"]
    api_client.get("/api/v1/auth/me")
    api_client.get("/api/v1/auth/me")

    client = cache._cache.get_client(None)
    names = client.keys(cache.make_key(f"throttle:user_burst:{customer.user.pk}:*"))
    assert len(names) == 1
    assert int(client.get(names[0])) == 2  # a plain counter: one INCR per request
    assert 0 < client.ttl(names[0]) <= 61  # set by the window's first request, not pushed on by the second


@pytest.mark.redis
@pytest.mark.django_db
@override_settings(API_THROTTLE_RATES=RATES)
def test_on_redis_the_counters_client_is_made_once_per_connection_pool(api_client):
    """Django's get_client makes a client on every call; the throttle keeps one per pool, and a new pool (the
    cache made again) gets its own."""
    from django.core.cache import caches

    from core.api.throttling import _redis_client

    cache = caches["default"]
    first = _redis_client(cache)
    assert _redis_client(cache) is first
    assert first.connection_pool is cache._cache._get_connection_pool(write=True)
    assert [api_client.get("/api/v1/auth/me").status_code for _ in range(4)] == [200, 200, 200, 429]

    cache._cache._pools.clear()  # as when the cache backend is made anew
    assert _redis_client(cache) is not first
    assert api_client.get("/api/v1/auth/me").status_code == 429  # the same counters, through the new pool
