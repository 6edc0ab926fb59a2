"""Settings shared by every environment, read from the environment with django-environ.

Every variable is listed in `.env.example` and in the README. The environment modules (`local`, `test`,
`production`) only change what differs; production has no defaults for secrets.
"""

from datetime import timedelta
from pathlib import Path

import environ

BASE_DIR = Path(__file__).resolve().parent.parent.parent
VAR_DIR = BASE_DIR / "var"  # local state of the embedded demo: SQLite file, Celery's file broker

env = environ.Env()
environ.Env.read_env(BASE_DIR / ".env", overwrite=False)

SECRET_KEY = env("DJANGO_SECRET_KEY", default="")
DEBUG = env.bool("DJANGO_DEBUG", default=False)
ALLOWED_HOSTS = env.list("DJANGO_ALLOWED_HOSTS", default=["127.0.0.1", "localhost"])
CSRF_TRUSTED_ORIGINS = env.list("DJANGO_CSRF_TRUSTED_ORIGINS", default=[])

INSTALLED_APPS = [
    "django.contrib.admin",
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "django.contrib.staticfiles",
    "rest_framework",
    "knox",
    "drf_spectacular",
    "django_celery_beat",
    "core",
    "marketplace",
    "marketplace.truth",
    "personalization",
    "experiments",
    "predictions",
]

MIDDLEWARE = [
    "django.middleware.security.SecurityMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
]

ROOT_URLCONF = "config.urls"
WSGI_APPLICATION = "config.wsgi.application"
ASGI_APPLICATION = "config.asgi.application"

TEMPLATES = [
    {
        "BACKEND": "django.template.backends.django.DjangoTemplates",
        "DIRS": [BASE_DIR / "templates"],
        "APP_DIRS": True,
        "OPTIONS": {
            "context_processors": [
                "django.template.context_processors.request",
                "django.contrib.auth.context_processors.auth",
                "django.contrib.messages.context_processors.messages",
            ],
        },
    },
]

DATABASES = {"default": env.db("DATABASE_URL", default=f"sqlite:///{VAR_DIR / 'db.sqlite3'}")}
DATABASES["default"]["CONN_MAX_AGE"] = env.int("DJANGO_CONN_MAX_AGE", default=60)
DATABASES["default"]["CONN_HEALTH_CHECKS"] = True
DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"

# Redis is optional: without it the cache is per process and Celery uses a file broker in var/.
REDIS_URL = env("REDIS_URL", default="")
if REDIS_URL:
    CACHES = {"default": {"BACKEND": "django.core.cache.backends.redis.RedisCache", "LOCATION": REDIS_URL}}
else:
    CACHES = {"default": {"BACKEND": "django.core.cache.backends.locmem.LocMemCache"}}

AUTH_PASSWORD_VALIDATORS = [
    {"NAME": "django.contrib.auth.password_validation.UserAttributeSimilarityValidator"},
    {"NAME": "django.contrib.auth.password_validation.MinimumLengthValidator"},
    {"NAME": "django.contrib.auth.password_validation.CommonPasswordValidator"},
    {"NAME": "django.contrib.auth.password_validation.NumericPasswordValidator"},
]

LANGUAGE_CODE = "en-us"
TIME_ZONE = "UTC"
USE_I18N = True
USE_TZ = True

STATIC_URL = "static/"
STATIC_ROOT = BASE_DIR / "staticfiles"
STORAGES = {
    "default": {"BACKEND": "django.core.files.storage.FileSystemStorage"},
    "staticfiles": {"BACKEND": "whitenoise.storage.CompressedManifestStaticFilesStorage"},
}

# Request bodies above this size are refused with a 400 before they are parsed.
DATA_UPLOAD_MAX_MEMORY_SIZE = env.int("DJANGO_MAX_BODY_BYTES", default=256 * 1024)

REST_FRAMEWORK = {
    "DEFAULT_AUTHENTICATION_CLASSES": [
        "core.api.authentication.TokenAuthentication",
        "rest_framework.authentication.SessionAuthentication",
    ],
    "DEFAULT_PERMISSION_CLASSES": ["rest_framework.permissions.IsAuthenticated"],
    "DEFAULT_THROTTLE_CLASSES": [
        "core.api.throttling.UserThrottle",
        "core.api.throttling.AnonymousThrottle",
    ],
    "DEFAULT_PAGINATION_CLASS": "core.api.pagination.StandardPagination",
    "DEFAULT_SCHEMA_CLASS": "drf_spectacular.openapi.AutoSchema",
    "EXCEPTION_HANDLER": "core.api.exception_handler.api_exception_handler",
    "DEFAULT_RENDERER_CLASSES": [
        "rest_framework.renderers.JSONRenderer",
        "rest_framework.renderers.BrowsableAPIRenderer",
    ],
    "DEFAULT_PARSER_CLASSES": ["rest_framework.parsers.JSONParser"],  # a JSON API: no form or multipart bodies
    "URL_FORMAT_OVERRIDE": None,  # the format follows the Accept header, not a ?format= parameter
    "TEST_REQUEST_DEFAULT_FORMAT": "json",
}

# Requests per user (burst, sustained) and per address without a token; past them a 429 with Retry-After.
API_THROTTLE_RATES = {
    "user_burst": env("API_THROTTLE_USER_BURST", default="300/min"),
    "user_sustained": env("API_THROTTLE_USER_SUSTAINED", default="10000/hour"),
    "anonymous": env("API_THROTTLE_ANONYMOUS", default="60/min"),
}

REST_KNOX = {
    "TOKEN_TTL": timedelta(seconds=env.int("API_TOKEN_TTL_SECONDS", default=60 * 60 * 24 * 30)),
    "AUTO_REFRESH": False,
    "TOKEN_LIMIT_PER_USER": env.int("API_TOKEN_LIMIT_PER_USER", default=20),
}

SPECTACULAR_SETTINGS = {
    "TITLE": "Personalization engine API",
    "DESCRIPTION": (
        "Personal manufacturer recommendations for a production-outsourcing marketplace. "
        "Authenticate with `Authorization: Token <token>` from `POST /api/v1/auth/token`. "
        'Every 4xx has the shape `{"message": ..., "extra": {"fields": {...}}}`.'
    ),
    "VERSION": "1.0.0",
    "SERVE_INCLUDE_SCHEMA": False,
    "COMPONENT_SPLIT_REQUEST": True,
    "ENUM_NAME_OVERRIDES": {
        "ProcessEnum": "marketplace.vocabulary.PROCESSES",
        "MaterialEnum": "marketplace.vocabulary.MATERIALS",
        "CertificationEnum": "marketplace.vocabulary.CERTIFICATIONS",
        "RegionEnum": "marketplace.models.Region",
        "ExperimentStatusEnum": "experiments.models.ExperimentStatus",
        "OrderStatusEnum": "marketplace.models.OrderStatus",
    },
    "POSTPROCESSING_HOOKS": [
        "drf_spectacular.hooks.postprocess_schema_enums",
        "core.api.schema.document_common_responses",
    ],
}

# Celery: JSON only, bounded run time, late acks for idempotent tasks only (set per task).
CELERY_BROKER_URL = env("CELERY_BROKER_URL", default=REDIS_URL or "filesystem://")
CELERY_BROKER_TRANSPORT_OPTIONS: dict = {}
if CELERY_BROKER_URL == "filesystem://":
    _broker_dir = VAR_DIR / "celery-broker"
    CELERY_BROKER_TRANSPORT_OPTIONS = {
        "data_folder_in": str(_broker_dir),
        "data_folder_out": str(_broker_dir),
        "processed_folder": str(VAR_DIR / "celery-processed"),
        "store_processed": False,
    }
elif CELERY_BROKER_URL.startswith(("redis://", "rediss://")):
    # Longer than the longest task's hard time limit, so a slow task is not delivered twice.
    CELERY_BROKER_TRANSPORT_OPTIONS = {"visibility_timeout": 2 * 60 * 60}
CELERY_RESULT_BACKEND = None
CELERY_TASK_IGNORE_RESULT = True
CELERY_ACCEPT_CONTENT = ["json"]
CELERY_TASK_SERIALIZER = "json"
CELERY_RESULT_SERIALIZER = "json"
CELERY_TASK_TIME_LIMIT = env.int("CELERY_TASK_TIME_LIMIT", default=30 * 60)
CELERY_TASK_SOFT_TIME_LIMIT = env.int("CELERY_TASK_SOFT_TIME_LIMIT", default=25 * 60)
CELERY_TASK_ALWAYS_EAGER = env.bool("CELERY_TASK_ALWAYS_EAGER", default=False)
CELERY_BEAT_SCHEDULER = "django_celery_beat.schedulers:DatabaseScheduler"
CELERY_WORKER_HIJACK_ROOT_LOGGER = False
CELERY_BROKER_CONNECTION_RETRY_ON_STARTUP = True
CELERY_TIMEZONE = TIME_ZONE

# The cyclic garbage collector's thresholds (generations 0, 1, 2), set at start-up in every process
# (core.apps.gc_configure). Python's default, 700 / 10 / 10, collected about once per feedback request
# (0.3-0.6 ms each, the request's decoded JSON being young), and every tenth collection also swept
# generation 1 (2-3 ms): those set the endpoint's p95. A request frees almost all it allocates by reference
# counting, so a larger first threshold collects rarely and finds little; only cyclic garbage waits longer.
GC_THRESHOLDS = tuple(env.list("PYTHON_GC_THRESHOLDS", cast=int, default=[50_000, 20, 20]))

# How often a web process checks whether the manufacturer catalog changed (its in-memory copy is rebuilt then).
CATALOG_VERSION_CHECK_SECONDS = env.float("CATALOG_VERSION_CHECK_SECONDS", default=1.0)

# How often the segment preferences (the prior of new customers) are refitted from the decision log.
SEGMENT_PREFERENCES_SECONDS = env.int("SEGMENT_PREFERENCES_SECONDS", default=6 * 60 * 60)

# How often the profiles' stored recommendation acceptance rates are refreshed (the readable profile computes
# its own when read).
ACCEPTANCE_RATES_SECONDS = env.int("ACCEPTANCE_RATES_SECONDS", default=60 * 60)

# How often beat applies the experiments' stopping rules, and the cadence of a bandit's reweighting.
EXPERIMENT_CHECK_SECONDS = env.int("EXPERIMENT_CHECK_SECONDS", default=15 * 60)
BANDIT_REWEIGHT_SECONDS = env.int("BANDIT_REWEIGHT_SECONDS", default=6 * 60 * 60)
EXPERIMENT_RECONCILE_SECONDS = env.int("EXPERIMENT_RECONCILE_SECONDS", default=60 * 60)
# Predictions: how often beat looks for a model type due for retraining (each type has its own cadence),
# checks the deployed models for drift, and scans for at-risk customers.
MODEL_RETRAIN_CHECK_SECONDS = env.int("MODEL_RETRAIN_CHECK_SECONDS", default=6 * 60 * 60)
DRIFT_CHECK_SECONDS = env.int("DRIFT_CHECK_SECONDS", default=24 * 60 * 60)
INTERVENTIONS_SCAN_SECONDS = env.int("INTERVENTIONS_SCAN_SECONDS", default=24 * 60 * 60)
CHURN_ALERT_THRESHOLD = env.float("CHURN_ALERT_THRESHOLD", default=0.5)
# Serving: how often a process re-checks which model versions are deployed and whether a customer's rows
# changed (the estimators and each customer's own part are kept in the process in between).
PREDICTION_CACHE_CHECK_SECONDS = env.float("PREDICTION_CACHE_CHECK_SECONDS", default=5.0)

# How often beat deletes expired API tokens (a request checks only its own token).
EXPIRED_TOKENS_DELETE_SECONDS = env.int("EXPIRED_TOKENS_DELETE_SECONDS", default=24 * 60 * 60)

# How often Celery beat proves it and a worker are alive; /healthz reports a stale heartbeat.
CELERY_HEARTBEAT_SECONDS = env.int("CELERY_HEARTBEAT_SECONDS", default=60)

LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "formatters": {"plain": {"format": "%(asctime)s %(levelname)s %(name)s %(message)s"}},
    "handlers": {"console": {"class": "logging.StreamHandler", "formatter": "plain"}},
    "root": {"handlers": ["console"], "level": env("DJANGO_LOG_LEVEL", default="INFO")},
    "loggers": {"django.db.backends": {"level": "WARNING"}},
}

# The password `manage.py demo_accounts` gives the demo logins (local settings give it a default).
DEMO_PASSWORD = env("DEMO_PASSWORD", default="")
