from django.apps import AppConfig


class DicomApiConfig(AppConfig):
    name = "dicom_api"
    verbose_name = "DICOM import, transfer and audit"

    def ready(self) -> None:
        from authentication.audit import account_event
        from destinations.audit import destination_event
        from dicom_api.audit import record_account_event, record_destination_event

        account_event.connect(record_account_event, dispatch_uid="dicom_api.audit.record_account_event")
        destination_event.connect(record_destination_event, dispatch_uid="dicom_api.audit.record_destination_event")
