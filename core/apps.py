import gc

from django.apps import AppConfig
from django.conf import settings
from django.core.exceptions import ImproperlyConfigured


def gc_configure(thresholds: tuple[int, ...]) -> None:
    """Set the cyclic garbage collector's thresholds of this process (settings.GC_THRESHOLDS)."""
    if len(thresholds) != 3 or min(thresholds) < 0:
        raise ImproperlyConfigured(
            f"PYTHON_GC_THRESHOLDS needs three non-negative integers (generations 0, 1, 2), not {thresholds}"
        )
    gc.set_threshold(*thresholds)


class CoreConfig(AppConfig):
    name = "core"
    verbose_name = "Core"

    def ready(self) -> None:
        from core.api import schema  # noqa: F401 - registers the OpenAPI extension of strict serializers

        gc_configure(settings.GC_THRESHOLDS)
