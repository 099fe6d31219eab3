"""Business rules as plain functions. They flush, never commit: the caller (request, job, CLI) commits once."""
from dataclasses import dataclass


class ServiceError(Exception):
    """A rule refused the action. `message` is translated and fit to show to the person who asked."""

    def __init__(self, message: str, code: str = "invalid") -> None:
        super().__init__(message)
        self.message = message
        self.code = code


@dataclass(frozen=True)
class Actor:
    """Who acts: a member of an organization (None for the platform or the API key), from which address."""

    organization_id: int
    member_id: int | None
    ip: str | None = None


def whole_number(raw: str | int | None, low: int, high: int) -> int | None:
    """`raw` as a whole number within low..high, or None when it is not one (the caller says why)."""
    try:
        value = int(str(raw).strip())
    except ValueError:
        return None
    return value if low <= value <= high else None
