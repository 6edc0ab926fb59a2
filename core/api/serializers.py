from rest_framework import serializers


class ErrorSerializer(serializers.Serializer):
    """The one error body: a message, and `extra.fields` mapping dotted field paths to messages."""

    message = serializers.CharField()
    extra = serializers.DictField()


class StrictSerializer(serializers.Serializer):
    """An input serializer that refuses unknown fields, so that a misspelt optional field is not ignored."""

    def to_internal_value(self, data):
        if isinstance(data, dict):
            unknown = sorted(set(data) - set(self.fields))
            if unknown:
                raise serializers.ValidationError({name: ["Unknown field."] for name in unknown})
        return super().to_internal_value(data)
