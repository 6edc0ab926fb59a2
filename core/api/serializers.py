from rest_framework import serializers


class ErrorSerializer(serializers.Serializer):
    """The one error body: a message, and `extra.fields` mapping dotted field paths to messages."""

    message = serializers.CharField()
    extra = serializers.DictField()
