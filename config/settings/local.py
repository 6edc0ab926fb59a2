"""The embedded demo and development: SQLite unless DATABASE_URL is set, debug on."""

from config.settings.base import *  # noqa: F403
from config.settings.base import env

DEBUG = env.bool("DJANGO_DEBUG", default=True)
SECRET_KEY = env("DJANGO_SECRET_KEY", default="insecure-local-development-key-not-for-production")
DEMO_PASSWORD = env("DEMO_PASSWORD", default="demo-password-2026")
