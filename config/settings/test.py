"""The test suite: fast hashing, tasks run eagerly unless a test starts a real worker."""

from urllib.parse import urlsplit, urlunsplit

from config.settings.base import *  # noqa: F403
from config.settings.base import REDIS_URL, env

SECRET_KEY = "insecure-test-key"
DEBUG = False
PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]
CELERY_TASK_ALWAYS_EAGER = env.bool("CELERY_TASK_ALWAYS_EAGER", default=True)
CELERY_TASK_EAGER_PROPAGATES = True
CATALOG_VERSION_CHECK_SECONDS = 0.0  # every request checks: tests change the catalog between calls
PREDICTION_CACHE_CHECK_SECONDS = 0.0  # ... and the deployed models and the customers' rows
STORAGES = {
    "default": {"BACKEND": "django.core.files.storage.FileSystemStorage"},
    "staticfiles": {"BACKEND": "django.contrib.staticfiles.storage.StaticFilesStorage"},
}
LOGGING = {"version": 1, "disable_existing_loggers": False}

if REDIS_URL:
    # The suite clears its cache between tests: give it a Redis database of its own (15), never the broker's.
    CACHES = {
        "default": {
            "BACKEND": "django.core.cache.backends.redis.RedisCache",
            "LOCATION": urlunsplit(urlsplit(REDIS_URL)._replace(path="/15")),
        }
    }
