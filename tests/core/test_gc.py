import gc

import pytest
from django.conf import settings
from django.core.exceptions import ImproperlyConfigured

from core.apps import gc_configure


def test_the_process_runs_with_the_configured_gc_thresholds():
    assert gc.get_threshold() == settings.GC_THRESHOLDS
    assert settings.GC_THRESHOLDS != (700, 10, 10)  # not Python's default: the setting is applied at start-up


@pytest.mark.parametrize("thresholds", [(50_000, 20), (50_000, -1, 20), (1, 2, 3, 4)])
def test_malformed_gc_thresholds_stop_the_start_naming_the_variable(thresholds):
    before = gc.get_threshold()

    with pytest.raises(ImproperlyConfigured, match="PYTHON_GC_THRESHOLDS"):
        gc_configure(thresholds)

    assert gc.get_threshold() == before
