import pytest
from rest_framework import serializers

from core.api.serializers import StrictSerializer


class Example(StrictSerializer):
    name = serializers.CharField()
    tags = serializers.ListField(child=serializers.CharField(), required=False)
    note = serializers.CharField(required=False, allow_null=True)


def errors(data: dict) -> dict:
    serializer = Example(data=data)
    assert not serializer.is_valid()
    return serializer.errors


def test_text_fields_take_strings_and_null_where_allowed():
    serializer = Example(data={"name": "Acme", "tags": ["a", "b"], "note": None})

    assert serializer.is_valid(), serializer.errors
    assert serializer.validated_data == {"name": "Acme", "tags": ["a", "b"], "note": None}


@pytest.mark.parametrize("value", [2.5, 7, True, False])
def test_a_number_or_boolean_for_text_is_refused_not_turned_into_text(value):
    assert errors({"name": value}) == {"name": ["Not a valid string."]}


def test_a_number_inside_a_list_of_text_is_refused():
    assert errors({"name": "Acme", "tags": ["a", 3]}) == {"tags": ["Not a valid string."]}


def test_unknown_fields_are_named_before_anything_else():
    assert errors({"name": 1, "nmae": "Acme"}) == {"nmae": ["Unknown field."]}
