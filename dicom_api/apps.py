from django.apps import AppConfig


class DicomApiConfig(AppConfig):
    name = "dicom_api"
    verbose_name = "DICOM import, transfer and audit"
