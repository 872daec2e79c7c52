"""Domain errors; each surface maps `status` to its own response once."""
from __future__ import annotations

from typing import Any


class AftercareError(Exception):
    """Base class; `status` is an HTTP-like hint for the surfaces."""

    status = 400

    def __init__(self, message: str, **details: Any) -> None:
        super().__init__(message)
        self.message = message
        self.details = details


class NotFound(AftercareError):
    """The thing asked for does not exist."""

    status = 404


class Conflict(AftercareError):
    """The case moved on: the task is no longer open, or someone else saved first."""

    status = 409


class Forbidden(AftercareError):
    """The actor's role may not do this."""

    status = 403


class Unauthorized(AftercareError):
    """No or wrong credentials."""

    status = 401


class ValidationFailed(AftercareError):
    """Input does not match the form; `errors` lists {field, message}."""

    status = 422

    def __init__(self, message: str, errors: list[dict[str, Any]]) -> None:
        super().__init__(message, errors=errors)
        self.errors = errors


class InvalidProcess(AftercareError):
    """A deployment was refused; `problems` lists {file, element_id, line, message}."""

    status = 422

    def __init__(self, problems: list[dict[str, Any]]) -> None:
        super().__init__(f"{len(problems)} problem(s) in the uploaded processes", problems=problems)
        self.problems = problems


class LinkError(AftercareError):
    """A customer link that is unknown, tampered, expired or used; `reason` says which."""

    status = 410

    def __init__(self, reason: str, message: str) -> None:
        super().__init__(message, reason=reason)
        self.reason = reason


class CaseError(AftercareError):
    """The diagram failed while running (a script or expression error); the request changed nothing."""

    status = 500
