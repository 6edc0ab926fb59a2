"""The OpenAPI document says what the API really does (drf-spectacular hooks and extensions).

- A strict input serializer refuses unknown fields, so its request schema has `additionalProperties: false`.
- Every operation can answer 429 (rate limits, with Retry-After); one that takes a body can answer 415 (the
  API reads JSON only); a paginated list answers 404 for a page past the end. All in the one error shape.
- An optional query parameter sent empty (`?region=`, `?page_size=`) is taken as left out (DRF reads a
  query string as a form does).

`tests/test_api_schemathesis.py` holds the API to this document, request by request.
"""

from __future__ import annotations

from typing import Any

from drf_spectacular.extensions import OpenApiSerializerExtension

ERROR_REF = {"$ref": "#/components/schemas/Error"}


class StrictSerializerExtension(OpenApiSerializerExtension):
    target_class = "core.api.serializers.StrictSerializer"
    match_subclasses = True

    def map_serializer(self, auto_schema, direction):
        schema = auto_schema._map_serializer(self.target, direction, bypass_extensions=True)
        if direction == "request":
            schema["additionalProperties"] = False
        return schema


def _error(description: str, headers: dict[str, Any] | None = None) -> dict[str, Any]:
    response: dict[str, Any] = {"description": description, "content": {"application/json": {"schema": ERROR_REF}}}
    if headers:
        response["headers"] = headers
    return response


def document_common_responses(result: dict[str, Any], generator, request, public) -> dict[str, Any]:
    """POSTPROCESSING_HOOKS: the responses and parameters every operation shares."""
    for operations in result.get("paths", {}).values():
        for operation in operations.values():
            responses = operation.setdefault("responses", {})
            parameters = operation.get("parameters", [])
            responses.setdefault(
                "429",
                _error(
                    "Too many requests.",
                    {
                        "Retry-After": {
                            "schema": {"type": "integer"},
                            "description": "Seconds until a retry is allowed.",
                        }
                    },
                ),
            )
            if "requestBody" in operation:
                responses.setdefault("415", _error("The body is not JSON."))
            if any(p["in"] == "query" and p["name"] == "page" for p in parameters):
                responses.setdefault("404", _error("No such page."))
            for parameter in parameters:
                if parameter["in"] == "query" and not parameter.get("required"):
                    parameter["allowEmptyValue"] = True  # `?days=` is `days` left out
    return result
