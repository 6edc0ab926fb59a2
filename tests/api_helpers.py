"""What the API tests share: a valid order context, and the checks of the one error shape."""

ORDER_CONTEXT = {
    "process": "cnc_machining",
    "quantity": 100,
    "complexity_level": "complex",
    "estimated_value": 12000,
    "quality_requirements": 0.8,
    "timeline_urgency": 0.5,
    "region": "western_europe",
}


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
