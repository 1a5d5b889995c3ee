from django.urls import path

from dicom_api.views import transfers

urlpatterns = [
    path("send/", transfers.SendView.as_view(), name="dicom-send"),
    path("status/", transfers.StatusView.as_view(), name="dicom-status"),
    path("transfers/<int:pk>/cancel/", transfers.CancelView.as_view(), name="dicom-transfer-cancel"),
    path("transfers/<int:pk>/retry/", transfers.RetryView.as_view(), name="dicom-transfer-retry"),
]
