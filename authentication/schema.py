"""The OpenAPI description of our authentication class: SimpleJWT's bearer scheme."""

from drf_spectacular.contrib.rest_framework_simplejwt import SimpleJWTScheme


class SessionJWTScheme(SimpleJWTScheme):
    target_class = "authentication.backends.SessionJWTAuthentication"
