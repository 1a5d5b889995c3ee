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
        # However a destination is deleted (the API, the admin, the ORM), its entries keep its id.
        from django.db.models.signals import pre_delete

        from destinations.models import Destination
        from dicom_api.audit import keep_destination_key

        pre_delete.connect(
            keep_destination_key, sender=Destination, dispatch_uid="dicom_api.audit.keep_destination_key"
        )
