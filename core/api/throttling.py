"""Rate limits per user (burst and sustained) and per address for anonymous calls.

Fixed-window counters in the cache: one atomic INCR per scope and request (DRF's own throttles keep and
rewrite the whole request history, which grows with the rate). On Redis the INCR and the window's expiry go
in one round trip; other caches take an ADD for a window's first request and an INCR for the rest. When the
cache is down the request is served and the failure logged: a rate limit must not take the API down with it.
"""

from __future__ import annotations

import logging
import time

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
    scope = ""

    def identity(self, request) -> str | None:
        raise NotImplementedError

    def allow_request(self, request, view) -> bool:
        rate = settings.API_THROTTLE_RATES.get(self.scope)
        ident = self.identity(request)
        if not rate or ident is None:
            return True
        limit, period = parse_rate(rate)
        now = time.time()
        window = int(now // period)
        key = f"throttle:{self.scope}:{ident}:{window}"
        try:
            count = self._count(key, timeout=period + 1)
        except Exception:  # any cache failure: serve the request, and say so in the log
            logger.warning("rate limit not applied: the cache is unavailable", exc_info=True)
            return True
        self.retry_after = max(1, int((window + 1) * period - now) + 1)
        return count <= limit

    @staticmethod
    def _count(key: str, *, timeout: int) -> int:
        """This request's number in its window."""
        cache = caches["default"]
        if isinstance(cache, RedisCache):
            # Django's RedisCache.incr checks EXISTS first (two round trips); its client does it in one.
            name = cache.make_and_validate_key(key)
            client = cache._cache.get_client(name, write=True)
            count, _ = client.pipeline().incr(name).expire(name, timeout, nx=True).execute()
            return int(count)
        if cache.add(key, 1, timeout=timeout):
            return 1
        try:
            return cache.incr(key)
        except ValueError:  # the key expired between add and incr
            return 1

    def wait(self) -> float | None:
        return getattr(self, "retry_after", None)


class UserBurstThrottle(FixedWindowThrottle):
    scope = "user_burst"

    def identity(self, request) -> str | None:
        return str(request.user.pk) if request.user and request.user.is_authenticated else None


class UserSustainedThrottle(UserBurstThrottle):
    scope = "user_sustained"


class AnonymousThrottle(FixedWindowThrottle):
    scope = "anonymous"

    def identity(self, request) -> str | None:
        if request.user and request.user.is_authenticated:
            return None
        return self.get_ident(request)
