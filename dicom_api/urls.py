from django.urls import path

from dicom_api.views import logs as log_views
from dicom_api.views import pseudonyms, transfers
from dicom_api.views.dashboard import DashboardView
from dicom_api.views.import_batches import ImportCompleteView, ImportFilesView, ImportListView
from dicom_api.views.import_chunks import ImportUploadDetailView, ImportUploadsView
from dicom_api.views.imports import ImportDetailView, ImportView, SeriesThumbnailView
from dicom_transfer import converters  # noqa: F401 (registers the <id:...> converter)

urlpatterns = [
    path("import/", ImportView.as_view(), name="dicom-import"),
    path("imports/", ImportListView.as_view(), name="dicom-import-list"),
    path("imports/<uuid:import_id>/", ImportDetailView.as_view(), name="dicom-import-detail"),
    path("imports/<uuid:import_id>/files/", ImportFilesView.as_view(), name="dicom-import-files"),
    path("imports/<uuid:import_id>/uploads/", ImportUploadsView.as_view(), name="dicom-import-uploads"),
    path(
        "imports/<uuid:import_id>/uploads/<uuid:upload_id>/",
        ImportUploadDetailView.as_view(),
        name="dicom-import-upload-detail",
    ),
    path("imports/<uuid:import_id>/complete/", ImportCompleteView.as_view(), name="dicom-import-complete"),
    path(
        "imports/<uuid:import_id>/series/<str:series_instance_uid>/thumbnail",
        SeriesThumbnailView.as_view(),
        name="dicom-series-thumbnail",
    ),
    path("send/", transfers.SendView.as_view(), name="dicom-send"),
    path("status/", transfers.StatusView.as_view(), name="dicom-status"),
    path("transfers/<id:pk>/cancel/", transfers.CancelView.as_view(), name="dicom-transfer-cancel"),
    path("transfers/<id:pk>/retry/", transfers.RetryView.as_view(), name="dicom-transfer-retry"),
    path("transfers/<id:pk>/instances/", transfers.InstancesView.as_view(), name="dicom-transfer-instances"),
    path("transfers/<id:pk>/verify/", transfers.VerifyView.as_view(), name="dicom-transfer-verify"),
    path("dashboard/", DashboardView.as_view(), name="dicom-dashboard"),
    path("pseudonyms/<str:pseudonym>/", pseudonyms.PseudonymView.as_view(), name="dicom-pseudonym"),
    # Audit log: read-only, so only GET is routed and every write answers 405.
    path("logs/", log_views.TransferLogViewSet.as_view({"get": "list"}), name="log-list"),
    path("logs/deleted-destinations/", log_views.DeletedDestinationsView.as_view(), name="log-deleted-destinations"),
    path("logs/<id:pk>/", log_views.TransferLogViewSet.as_view({"get": "retrieve"}), name="log-detail"),
]
