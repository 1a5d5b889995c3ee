from django.urls import path

from dicom_api.views import logs as log_views

urlpatterns: list[object] = []

# Audit log (issue 6): read-only, so only GET is routed and every write answers 405.
urlpatterns += [
    path("logs/", log_views.TransferLogViewSet.as_view({"get": "list"}), name="log-list"),
    path("logs/<int:pk>/", log_views.TransferLogViewSet.as_view({"get": "retrieve"}), name="log-detail"),
]
