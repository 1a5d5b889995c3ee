from django.urls import path

from dicom_api.views.imports import ImportDetailView, ImportView

urlpatterns: list[object] = []

urlpatterns += [
    path("import/", ImportView.as_view(), name="dicom-import"),
    path("imports/<uuid:import_id>/", ImportDetailView.as_view(), name="dicom-import-detail"),
]
