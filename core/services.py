from datetime import datetime

from django.contrib.auth.models import Group, Permission
from django.utils import timezone
from knox.models import AuthToken

from core.models import Heartbeat


def expired_tokens_delete(*, now: datetime | None = None) -> int:
    """Delete the API tokens that have expired (each request refuses its own expired token, see
    `core.api.authentication`); returns how many were deleted."""
    deleted, _ = AuthToken.objects.filter(expiry__lt=now or timezone.now()).delete()
    return deleted


def heartbeat_record(*, name: str) -> Heartbeat:
    heartbeat, _ = Heartbeat.objects.update_or_create(name=name, defaults={"beat_at": timezone.now()})
    return heartbeat


PRODUCT_MANAGER_GROUP = "product_managers"
PRODUCT_MANAGER_APPS = ("marketplace", "personalization", "experiments", "predictions", "django_celery_beat")


def product_manager_group_ensure() -> Group:
    """The staff group of product managers: every permission on the product's own apps. Idempotent."""
    group, _ = Group.objects.get_or_create(name=PRODUCT_MANAGER_GROUP)
    group.permissions.set(Permission.objects.filter(content_type__app_label__in=PRODUCT_MANAGER_APPS))
    return group
