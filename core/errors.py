"""The domain errors that services raise; the API exception handler turns them into their status (400 or 503)."""

from typing import Any


class DomainError(Exception):
    """A request that is well-formed but not allowed by the rules of the domain."""

    status_code = 400

    def __init__(self, message: str, *, extra: dict[str, Any] | None = None, field: str | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.extra = dict(extra or {})
        if field is not None:
            self.extra.setdefault("fields", {})[field] = [message]


class ServiceUnavailable(DomainError):
    """The request is fine, but a service it needs (the task broker) is unreachable: try again later."""

    status_code = 503
