from django.contrib import admin
from django.urls import include, path
from drf_spectacular.views import SpectacularAPIView, SpectacularSwaggerSplitView

from dicom_api.views.connection import DestinationTestConnectionView
from dicom_transfer import converters  # noqa: F401 (registers the <id:...> converter)
from dicom_transfer.health import health
from dicom_transfer.metrics.views import metrics
from webui.views import index

urlpatterns = [
    path("", index, name="webui"),
    path("admin/", admin.site.urls),
    path("api/health/", health, name="health"),
    path("metrics", metrics, name="metrics"),
    path("api/auth/", include("authentication.urls")),
    # An audited operation on a destination: dicom_api's (it may import destinations, not the reverse).
    path(
        "api/destinations/<id:id>/test_connection/",
        DestinationTestConnectionView.as_view(),
        name="destination-test-connection",
    ),
    path("api/destinations/", include("destinations.urls")),
    path("api/dicom/", include("dicom_api.urls")),
    path("api/schema/", SpectacularAPIView.as_view(), name="schema"),
    path("api/docs/", SpectacularSwaggerSplitView.as_view(url_name="schema"), name="docs"),
]

# JSON errors under /api/ (a URL no route matches, a malformed request), Django's pages elsewhere.
handler400 = "dicom_transfer.errors.bad_request"
handler403 = "dicom_transfer.errors.permission_denied"
handler404 = "dicom_transfer.errors.page_not_found"
handler500 = "dicom_transfer.errors.server_error"
