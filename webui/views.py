"""The web page: one HTML document; its scripts talk to the REST API with JWT, like any client."""

from __future__ import annotations

from django.http import HttpRequest, HttpResponse
from django.shortcuts import render
from django.views.decorators.cache import never_cache
from django.views.decorators.http import require_GET

# Only our own scripts, styles and API: no inline script, no third-party origin, no framing. Data
# from the API reaches the page through textContent only, and this policy is the second fence.
CONTENT_SECURITY_POLICY = "; ".join(
    [
        "default-src 'self'",
        "script-src 'self'",
        "style-src 'self'",
        "img-src 'self' data: blob:",  # blob: the thumbnails, fetched with the JWT
        "connect-src 'self'",
        "object-src 'none'",
        "base-uri 'none'",
        "form-action 'self'",
        "frame-ancestors 'none'",
    ]
)


@require_GET
@never_cache
def index(request: HttpRequest) -> HttpResponse:
    response = render(request, "webui/index.html")
    response["Content-Security-Policy"] = CONTENT_SECURITY_POLICY
    response["Referrer-Policy"] = "same-origin"
    return response
