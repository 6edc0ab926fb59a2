"""What the tests share: a valid order (as the API takes it, and as the engine scores it), and the checks of
the one error shape."""

from marketplace.scoring import OrderContext

ORDER_CONTEXT = {
    "process": "cnc_machining",
    "quantity": 100,
    "complexity_level": "complex",
    "estimated_value": 12000,
    "quality_requirements": 0.8,
    "timeline_urgency": 0.5,
    "region": "western_europe",
}
ORDER = OrderContext(  # the same order, as the services take it
    **{key: value for key, value in ORDER_CONTEXT.items() if key not in ("region", "estimated_value")},
    estimated_value=float(ORDER_CONTEXT["estimated_value"]),
    delivery_region=ORDER_CONTEXT["region"],
)


def assert_field_error(response, field: str) -> list[str]:
    """A 400 in the one error shape, naming `field` (and only it); returns its messages."""
    assert response.status_code == 400, response.content
    body = response.json()
    assert set(body) == {"message", "extra"}
    assert list(body["extra"]["fields"]) == [field], body
    messages = body["extra"]["fields"][field]
    assert messages
    assert all(isinstance(m, str) and m for m in messages)
    expected = messages[0] if field == "non_field_errors" else f"Invalid input: {field}: {messages[0]}"
    assert body["message"] == expected
    return messages


def assert_domain_error(response, field: str, message: str) -> None:
    """A rule of the domain refused the request: a 400 naming `field` with `message`."""
    assert response.status_code == 400, response.content
    assert response.json() == {"message": message, "extra": {"fields": {field: [message]}}}
