import pytest
from django.core.exceptions import PermissionDenied as DjangoPermissionDenied
from django.core.exceptions import RequestDataTooBig
from django.core.exceptions import ValidationError as DjangoValidationError
from django.http import Http404
from rest_framework import exceptions, serializers

from core.api.exception_handler import api_exception_handler, flatten_errors
from core.errors import DomainError


def handle(exc: Exception):
    return api_exception_handler(exc, {})


def test_flatten_keeps_a_flat_dict_of_field_messages():
    assert flatten_errors({"quantity": ["Too small."], "process": ["Unknown."]}) == {
        "quantity": ["Too small."],
        "process": ["Unknown."],
    }


def test_flatten_joins_nested_dicts_with_dots():
    detail = {"order_context": {"timeline_urgency": ["Too big."], "budget": {"max": ["Required."]}}}

    assert flatten_errors(detail) == {
        "order_context.timeline_urgency": ["Too big."],
        "order_context.budget.max": ["Required."],
    }


def test_flatten_numbers_list_items_and_skips_the_valid_ones():
    detail = {"items": [{}, {"quantity": ["Too small."]}, {}, {"process": ["Unknown."], "material": ["Bad."]}]}

    assert flatten_errors(detail) == {
        "items.1.quantity": ["Too small."],
        "items.3.process": ["Unknown."],
        "items.3.material": ["Bad."],
    }


def test_flatten_names_list_field_children_by_index():
    # DRF's ListField reports a bad child as {index: [messages]}, with an integer key
    detail = {"processes": {1: ['"welding" is not a valid choice.']}}

    assert flatten_errors(detail) == {"processes.1": ['"welding" is not a valid choice.']}


def test_flatten_keeps_top_level_non_field_errors_as_they_are():
    assert flatten_errors({"non_field_errors": ["Bad combination."]}) == {"non_field_errors": ["Bad combination."]}


def test_flatten_puts_nested_non_field_errors_under_their_parent():
    detail = {"order_context": {"non_field_errors": ["Bad combination."]}}

    assert flatten_errors(detail) == {"order_context.non_field_errors": ["Bad combination."]}


def test_flatten_of_a_top_level_list_of_objects_numbers_them_from_zero():
    assert flatten_errors([{"a": ["x"]}, {"b": ["y"]}]) == {"0.a": ["x"], "1.b": ["y"]}


def test_flatten_of_bare_messages_is_non_field_errors():
    assert flatten_errors(["Something is wrong."]) == {"non_field_errors": ["Something is wrong."]}
    assert flatten_errors("Something is wrong.") == {"non_field_errors": ["Something is wrong."]}


def test_flatten_of_a_list_mixing_messages_and_objects_numbers_each():
    assert flatten_errors({"rows": ["Bad.", {"x": ["Worse."]}]}) == {"rows.0": ["Bad."], "rows.1.x": ["Worse."]}


def test_flatten_turns_error_details_into_plain_strings():
    detail = exceptions.ValidationError({"a": {"b": ["Nope."]}}).detail

    flat = flatten_errors(detail)

    assert flat == {"a.b": ["Nope."]}
    assert type(flat["a.b"][0]) is str


def test_flatten_of_no_errors_is_empty():
    assert flatten_errors({}) == {}


def test_validation_error_message_names_the_first_field():
    response = handle(exceptions.ValidationError({"quantity": ["Too small."], "process": ["Unknown."]}))

    assert response.status_code == 400
    assert response.data == {
        "message": "Invalid input: quantity: Too small.",
        "extra": {"fields": {"quantity": ["Too small."], "process": ["Unknown."]}},
    }


def test_validation_error_message_names_the_dotted_path_of_a_nested_field():
    response = handle(exceptions.ValidationError({"order_context": {"timeline_urgency": ["Too big."]}}))

    assert response.data["message"] == "Invalid input: order_context.timeline_urgency: Too big."
    assert response.data["extra"] == {"fields": {"order_context.timeline_urgency": ["Too big."]}}


def test_validation_error_without_a_field_uses_its_first_message():
    response = handle(exceptions.ValidationError("Pick a process or a material."))

    assert response.status_code == 400
    assert response.data == {
        "message": "Pick a process or a material.",
        "extra": {"fields": {"non_field_errors": ["Pick a process or a material."]}},
    }


def test_serializer_errors_reach_the_client_flattened_in_field_order():
    class Line(serializers.Serializer):
        quantity = serializers.IntegerField(min_value=1)

    class Body(serializers.Serializer):
        name = serializers.CharField()
        lines = Line(many=True)

    body = Body(data={"name": "", "lines": [{"quantity": 1}, {"quantity": 0}]})
    assert not body.is_valid()

    response = handle(exceptions.ValidationError(body.errors))

    assert response.data == {
        "message": "Invalid input: name: This field may not be blank.",
        "extra": {
            "fields": {
                "name": ["This field may not be blank."],
                "lines.1.quantity": ["Ensure this value is greater than or equal to 1."],
            }
        },
    }


def test_django_validation_error_from_full_clean_is_a_400_naming_the_field():
    response = handle(DjangoValidationError({"current_load": ["Current load cannot exceed the monthly capacity."]}))

    assert response.status_code == 400
    assert response.data == {
        "message": "Invalid input: current_load: Current load cannot exceed the monthly capacity.",
        "extra": {"fields": {"current_load": ["Current load cannot exceed the monthly capacity."]}},
    }


def test_django_validation_error_all_becomes_non_field_errors():
    response = handle(DjangoValidationError({"__all__": ["Inconsistent."], "material": ["Not worked."]}))

    assert response.data["extra"] == {"fields": {"non_field_errors": ["Inconsistent."], "material": ["Not worked."]}}
    assert response.data["message"] == "Inconsistent."


def test_django_validation_error_without_fields_is_non_field_errors():
    response = handle(DjangoValidationError(["First.", "Second."]))

    assert response.status_code == 400
    assert response.data == {"message": "First.", "extra": {"fields": {"non_field_errors": ["First.", "Second."]}}}


def test_domain_error_keeps_its_message_and_extra_and_names_its_field():
    error = DomainError("Cannot become open.", extra={"allowed": []}, field="status")

    response = handle(error)

    assert response.status_code == 400
    assert response.data == {
        "message": "Cannot become open.",
        "extra": {"allowed": [], "fields": {"status": ["Cannot become open."]}},
    }


def test_domain_error_without_extra_has_an_empty_extra():
    response = handle(DomainError("Not allowed."))

    assert response.data == {"message": "Not allowed.", "extra": {}}


def test_django_http404_is_not_found_in_the_shape():
    response = handle(Http404("No Order matches the given query."))

    assert response.status_code == 404
    assert response.data == {"message": "Not found.", "extra": {}}


def test_django_permission_denied_is_a_403_in_the_shape():
    response = handle(DjangoPermissionDenied())

    assert response.status_code == 403
    assert response.data == {"message": "You do not have permission to perform this action.", "extra": {}}


@pytest.mark.parametrize(
    ("exc", "status_code", "message"),
    [
        (exceptions.NotAuthenticated(), 401, "Authentication credentials were not provided."),
        (exceptions.PermissionDenied("Only staff may do this."), 403, "Only staff may do this."),
        (exceptions.MethodNotAllowed("PUT"), 405, 'Method "PUT" not allowed.'),
        (exceptions.ParseError(), 400, "Malformed request."),
    ],
)
def test_other_api_exceptions_keep_their_status_and_message(exc, status_code, message):
    response = handle(exc)

    assert response.status_code == status_code
    assert response.data == {"message": message, "extra": {}}


def test_request_body_too_large_is_a_400():
    response = handle(RequestDataTooBig("too big"))

    assert response.status_code == 400
    assert response.data == {"message": "Request body too large.", "extra": {}}


def test_an_unexpected_error_is_left_to_django_as_a_500():
    assert handle(RuntimeError("boom")) is None
