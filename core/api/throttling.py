"""Rate limits per user (burst and sustained) and per address for anonymous calls.

Fixed-window counters in the cache: one atomic INCR per scope and request (DRF's own throttles keep and
rewrite the whole request history, which grows with the rate). On Redis every scope's INCR and its window's
expiry go in one round trip; other caches take an ADD for a window's first request and an INCR for the rest.
When the cache is down the request is served and the failure logged: a rate limit must not take the API down
with it.
"""

from __future__ import annotations

import logging
import time
import weakref

from django.conf import settings
from django.core.cache import caches
from django.core.cache.backends.redis import RedisCache
from rest_framework.throttling import BaseThrottle

logger = logging.getLogger(__name__)

PERIODS = {
    "s": 1,
    "sec": 1,
    "second": 1,
    "m": 60,
    "min": 60,
    "minute": 60,
    "h": 3600,
    "hour": 3600,
    "d": 86400,
    "day": 86400,
}


def parse_rate(rate: str) -> tuple[int, int]:
    """'120/min' -> (120, 60)."""
    count, _, period = rate.partition("/")
    if period not in PERIODS or not count.isdigit():
        raise ValueError(f"a rate looks like '120/min', got {rate!r}")
    return int(count), PERIODS[period]


class FixedWindowThrottle(BaseThrottle):
    """Counts the request in a window of each of its `scopes` (their rates in API_THROTTLE_RATES), all in one
    round trip to the cache; the request is refused when any window is over its limit."""

    scopes: tuple[str, ...] = ()

    def identity(self, request) -> str | None:
        raise NotImplementedError

    def allow_request(self, request, view) -> bool:
        ident = self.identity(request)
        rates = [(scope, settings.API_THROTTLE_RATES.get(scope)) for scope in self.scopes]
        windows = [(scope, *parse_rate(rate)) for scope, rate in rates if rate]
        if ident is None or not windows:
            return True
        now = time.time()
        keys = [(f"throttle:{scope}:{ident}:{int(now // period)}", period + 1) for scope, _, period in windows]
        try:
            counts = self._count(keys)
        except Exception:  # any cache failure: serve the request, and say so in the log
            logger.warning("rate limit not applied: the cache is unavailable", exc_info=True)
            return True
        over = [period for (_, limit, period), count in zip(windows, counts, strict=True) if count > limit]
        if over:  # the wait until every full window has turned
            self.retry_after = max(max(1, int((now // period + 1) * period - now) + 1) for period in over)
        return not over

    @staticmethod
    def _count(keys: list[tuple[str, int]]) -> list[int]:
        """This request's number in each window: (key, timeout) -> count."""
        cache = caches["default"]
        if isinstance(cache, RedisCache):
            # Django's RedisCache.incr checks EXISTS first (two round trips per key); its client does every
            # key in one. The writes of Django's Redis cache all go to its first server, whatever the key.
            pipeline = _redis_client(cache).pipeline()
            for key, timeout in keys:
                name = cache.make_and_validate_key(key)
                pipeline.incr(name).expire(name, timeout, nx=True)
            return [int(count) for count in pipeline.execute()[::2]]
        return [FixedWindowThrottle._count_one(cache, key, timeout) for key, timeout in keys]

    @staticmethod
    def _count_one(cache, key: str, timeout: int) -> int:
        if cache.add(key, 1, timeout=timeout):
            return 1
        try:
            return cache.incr(key)
        except ValueError:  # the key expired between add and incr
            return 1

    def wait(self) -> float | None:
        return getattr(self, "retry_after", None)


_CLIENTS: weakref.WeakKeyDictionary = weakref.WeakKeyDictionary()  # a connection pool -> its client


def _redis_client(cache: RedisCache):
    """A client of the cache's write connections, made once per connection pool. Django's `get_client` makes a new
    one on every call (about 60 us: a client copies its table of reply parsers when made); a client is thread-safe,
    since each command takes a connection from the pool."""
    pool = cache._cache._get_connection_pool(write=True)
    client = _CLIENTS.get(pool)
    if client is None:
        client = _CLIENTS[pool] = cache._cache._client(connection_pool=pool)
    return client


class UserThrottle(FixedWindowThrottle):
    """Per authenticated user: a burst rate and a sustained rate."""

    scopes = ("user_burst", "user_sustained")

    def identity(self, request) -> str | None:
        return str(request.user.pk) if request.user and request.user.is_authenticated else None


class AnonymousThrottle(FixedWindowThrottle):
    scopes = ("anonymous",)

    def identity(self, request) -> str | None:
        if request.user and request.user.is_authenticated:
            return None
        return self.get_ident(request)
