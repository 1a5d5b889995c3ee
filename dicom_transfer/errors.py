"""Errors answered as JSON in DRF's shape (``{"detail": ...}``), wherever they arise.

Services raise the domain errors of ``dicom_transfer.exceptions``; ``api_exception_handler`` is
the one place that turns them into an HTTP status (``_STATUS``) and a body.

Two kinds of failure escape DRF's own handler and would otherwise get Django's HTML pages:

* exceptions raised while Django parses the body (a JSON body over ``DATA_UPLOAD_MAX_MEMORY_SIZE``,
  i.e. JSON_MAX_BYTES; too many form fields or files): ``api_exception_handler`` turns them into
  413 (or 400 for any other malformed request) with a message naming the limit;
* a URL that matches no route (``/api/destinations/abc/``), and errors outside any view: the
  ``handler400/403/404/500`` views answer JSON under ``/api/`` and Django's pages elsewhere (the
  admin).
"""

from __future__ import annotations

import logging
from typing import Any

from django.conf import settings
from django.core.exceptions import (
    RequestDataTooBig,
    SuspiciousOperation,
    TooManyFieldsSent,
    TooManyFilesSent,
)
from django.http import HttpRequest, HttpResponse, JsonResponse
from django.views import defaults
from rest_framework import status
from rest_framework.response import Response
from rest_framework.views import exception_handler

from dicom_transfer.exceptions import (
    ConflictError,
    InvalidInputError,
    NotAuthenticatedError,
    NotFoundError,
    PermissionDeniedError,
    ServiceError,
    StorageFullError,
    ThrottledError,
    TooLargeError,
    UnprocessableError,
)

logger = logging.getLogger(__name__)


def _too_large_detail(e: Exception) -> str:
    if isinstance(e, RequestDataTooBig):
        return f"The request body exceeds the limit of {settings.DATA_UPLOAD_MAX_MEMORY_SIZE} bytes (JSON_MAX_BYTES)."
    if isinstance(e, TooManyFilesSent):
        return f"The request has more than {settings.DATA_UPLOAD_MAX_NUMBER_FILES} files."
    return f"The request has more than {settings.DATA_UPLOAD_MAX_NUMBER_FIELDS} fields."


_STATUS: dict[type[ServiceError], int] = {
    InvalidInputError: status.HTTP_400_BAD_REQUEST,
    NotAuthenticatedError: status.HTTP_401_UNAUTHORIZED,
    PermissionDeniedError: status.HTTP_403_FORBIDDEN,
    NotFoundError: status.HTTP_404_NOT_FOUND,
    ConflictError: status.HTTP_409_CONFLICT,
    TooLargeError: status.HTTP_413_REQUEST_ENTITY_TOO_LARGE,
    UnprocessableError: status.HTTP_422_UNPROCESSABLE_ENTITY,
    StorageFullError: status.HTTP_507_INSUFFICIENT_STORAGE,
    ThrottledError: status.HTTP_429_TOO_MANY_REQUESTS,
}


def service_error_headers(exc: ServiceError) -> dict[str, str]:
    if isinstance(exc, ThrottledError):
        return {"Retry-After": str(exc.retry_after)}
    if isinstance(exc, NotAuthenticatedError):
        return {"WWW-Authenticate": 'Bearer realm="api"'}
    return {}


def service_error_status(exc: ServiceError) -> int:
    """The HTTP status of a domain error (its nearest mapped class; 400 for an unmapped one)."""
    for klass in type(exc).__mro__:
        if klass in _STATUS:
            return _STATUS[klass]
    return status.HTTP_400_BAD_REQUEST


def service_error_body(exc: ServiceError) -> dict[str, Any]:
    body: dict[str, Any] = {exc.field: [exc.message]} if exc.field else {"detail": exc.message}
    body.update(exc.extra)
    return body


def api_exception_handler(exc: Exception, context: dict[str, Any]) -> Response | None:
    """Domain errors, DRF's own, and the request-parsing exceptions Django raises as SuspiciousOperation."""
    if isinstance(exc, ServiceError):
        return Response(service_error_body(exc), status=service_error_status(exc), headers=service_error_headers(exc))
    if isinstance(exc, RequestDataTooBig | TooManyFieldsSent | TooManyFilesSent):
        return Response({"detail": _too_large_detail(exc)}, status=status.HTTP_413_REQUEST_ENTITY_TOO_LARGE)
    if isinstance(exc, SuspiciousOperation):
        logger.warning("malformed request refused: %s", type(exc).__name__)
        return Response({"detail": "Malformed request."}, status=status.HTTP_400_BAD_REQUEST)
    return exception_handler(exc, context)


def _is_api(request: HttpRequest) -> bool:
    return request.path.startswith("/api/")


def bad_request(request: HttpRequest, exception: Exception, template_name: str = "400.html") -> HttpResponse:
    if _is_api(request):
        if isinstance(exception, RequestDataTooBig | TooManyFieldsSent | TooManyFilesSent):
            return JsonResponse({"detail": _too_large_detail(exception)}, status=413)
        return JsonResponse({"detail": "Malformed request."}, status=400)
    return defaults.bad_request(request, exception, template_name)


def permission_denied(request: HttpRequest, exception: Exception, template_name: str = "403.html") -> HttpResponse:
    if _is_api(request):
        return JsonResponse({"detail": "You do not have permission to perform this action."}, status=403)
    return defaults.permission_denied(request, exception, template_name)


def page_not_found(request: HttpRequest, exception: Exception, template_name: str = "404.html") -> HttpResponse:
    if _is_api(request):
        return JsonResponse({"detail": "Not found."}, status=404)
    return defaults.page_not_found(request, exception, template_name)


def server_error(request: HttpRequest, template_name: str = "500.html") -> HttpResponse:
    if _is_api(request):
        return JsonResponse({"detail": "Internal server error; it has been logged."}, status=500)
    return defaults.server_error(request, template_name)
