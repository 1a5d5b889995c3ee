"""Domain errors: what a service raises when a request can't be carried out.

Services raise these (never an HTTP type); ``dicom_transfer.errors.api_exception_handler`` is the
one place that maps them to an HTTP status and a JSON body. ``message`` is written for the person
who made the request; ``field`` names the input at fault (the body is then ``{field: [message]}``,
as DRF answers a serializer error); ``extra`` adds members to the body (``errors``,
``already_delivered``...).
"""

from __future__ import annotations

from typing import Any


class ServiceError(Exception):
    """Base of every domain error."""

    def __init__(self, message: str, *, field: str | None = None, extra: dict[str, Any] | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.field = field
        self.extra = dict(extra or {})


class InvalidInputError(ServiceError):
    """The request names something wrong or impossible (400)."""


class NotFoundError(ServiceError):
    """What the request names does not exist, or is not the caller's (404)."""


class ConflictError(ServiceError):
    """The request is valid but the current state forbids it (409)."""


class UnprocessableError(ServiceError):
    """What the request names exists, but can't be made into what is asked for (422)."""


class TooLargeError(ServiceError):
    """The request is beyond a configured limit (413)."""


class StorageFullError(ServiceError):
    """The server has not enough free storage to carry out the request (507)."""

    def __init__(
        self,
        message: str = "The server has not enough free storage for this upload; nothing was imported. Try again later.",
        **kwargs: Any,
    ) -> None:
        super().__init__(message, **kwargs)


class NotAuthenticatedError(ServiceError):
    """Wrong credentials, or a token or session that is no longer valid (401)."""


class PermissionDeniedError(ServiceError):
    """The caller is known but may not do this (403)."""


class ThrottledError(ServiceError):
    """Too many attempts; ``retry_after`` seconds until the next one is evaluated (429)."""

    def __init__(self, message: str, *, retry_after: int, **kwargs: Any) -> None:
        super().__init__(message, **kwargs)
        self.retry_after = retry_after
