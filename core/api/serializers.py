from rest_framework import serializers


class ErrorSerializer(serializers.Serializer):
    """The one error body: a message, and `extra.fields` mapping dotted field paths to messages."""

    message = serializers.CharField()
    extra = serializers.DictField()


def _not_text(field: serializers.Field, value: object) -> bool:
    """A text field (or a list of text) given something other than a string: DRF's CharField turns the
    number 2.5 into "2.5", which hides a client's mistake."""
    if value is None:
        return False
    if isinstance(field, serializers.ListField) and isinstance(value, list):
        return any(_not_text(field.child, item) for item in value)
    return isinstance(field, serializers.CharField) and not isinstance(value, str)


class StrictSerializer(serializers.Serializer):
    """An input serializer that refuses unknown fields, so that a misspelt optional field is not ignored, and
    a number or a boolean where text belongs."""

    def to_internal_value(self, data):
        if isinstance(data, dict):
            unknown = sorted(set(data) - set(self.fields))
            if unknown:
                raise serializers.ValidationError({name: ["Unknown field."] for name in unknown})
            not_text = [name for name, field in self.fields.items() if name in data and _not_text(field, data[name])]
            if not_text:
                raise serializers.ValidationError({name: ["Not a valid string."] for name in not_text})
        return super().to_internal_value(data)
