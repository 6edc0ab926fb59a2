"""Serializer fields that refuse what JSON lets through but our data must not hold.

DRF already refuses NUL characters in text (PostgreSQL cannot store them) and NaN or infinite floats.
"""

from rest_framework import serializers


class StrictFloatField(serializers.FloatField):
    """A number that is not a boolean: DRF's FloatField takes `true` as 1.0, which hides a client's mistake."""

    def to_internal_value(self, data: object) -> float:
        if isinstance(data, bool):
            self.fail("invalid")
        return super().to_internal_value(data)


class StrictIntegerField(serializers.IntegerField):
    """An integer sent as a JSON number: DRF's IntegerField also takes "12" and true, which hide a client's
    mistake in an id or a rank."""

    def to_internal_value(self, data: object) -> int:
        if isinstance(data, (str, bool)):
            self.fail("invalid")
        return super().to_internal_value(data)


class StrictBooleanField(serializers.BooleanField):
    """A JSON true or false: DRF's BooleanField also takes 1, "yes" and "on", which hide a client's mistake."""

    def to_internal_value(self, data: object) -> bool:
        if not isinstance(data, bool):
            self.fail("invalid", input=data)
        return data


class StrictUUIDField(serializers.UUIDField):
    """A UUID sent as a string: DRF's UUIDField also takes an integer as the UUID's 128-bit value."""

    def to_internal_value(self, data: object):
        if not isinstance(data, str):
            self.fail("invalid", value=data)
        return super().to_internal_value(data)


class CodeListField(serializers.ListField):
    """The codes of a many-to-many relation to a code-keyed reference table (read-only)."""

    def __init__(self, **kwargs) -> None:
        super().__init__(child=serializers.CharField(), read_only=True, **kwargs)

    def to_representation(self, manager) -> list[str]:
        return [item.pk for item in manager.all()]
