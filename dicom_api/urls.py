from django.urls import path

from dicom_api.views import transfers
from dicom_api.views.imports import ImportDetailView, ImportView

urlpatterns = [
    path("import/", ImportView.as_view(), name="dicom-import"),
    path("imports/<uuid:import_id>/", ImportDetailView.as_view(), name="dicom-import-detail"),
    path("send/", transfers.SendView.as_view(), name="dicom-send"),
    path("status/", transfers.StatusView.as_view(), name="dicom-status"),
    path("transfers/<int:pk>/cancel/", transfers.CancelView.as_view(), name="dicom-transfer-cancel"),
    path("transfers/<int:pk>/retry/", transfers.RetryView.as_view(), name="dicom-transfer-retry"),
]
