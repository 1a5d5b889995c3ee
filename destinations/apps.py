from django.apps import AppConfig


class DestinationsConfig(AppConfig):
    name = "destinations"
    verbose_name = "DICOM destinations"

    def ready(self) -> None:
        from django.db.models.signals import post_delete

        from destinations import tls
        from destinations.models import Destination

        # However a destination is deleted (API, Django admin), its TLS files go with it.
        post_delete.connect(tls.remove_files_of_deleted, sender=Destination, dispatch_uid="destination-tls-files")
