"""Serializer fields that refuse what JSON lets through but our data must not hold.

(DRF's CharField already refuses NUL characters, which PostgreSQL cannot store.)
"""

import math

from rest_framework import serializers


class FiniteFloatField(serializers.FloatField):
    """A float that is neither NaN nor infinite (DRF's FloatField accepts the strings "nan" and "inf")."""

    default_error_messages = {"not_finite": "A finite number is required."}

    def to_internal_value(self, data: object) -> float:
        value = super().to_internal_value(data)
        if not math.isfinite(value):
            self.fail("not_finite")
        return value


class CodeListField(serializers.ListField):
    """The codes of a many-to-many relation to a code-keyed reference table (read-only)."""

    def __init__(self, **kwargs) -> None:
        super().__init__(child=serializers.CharField(), read_only=True, **kwargs)

    def to_representation(self, manager) -> list[str]:
        return [item.pk for item in manager.all()]
