"""WSGI entry point (gunicorn ``dicom_transfer.wsgi:application``)."""

import os

from django.core.wsgi import get_wsgi_application

# Everything the service writes (database, imports, logs, temporary uploads) is private.
os.umask(0o077)
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "dicom_transfer.settings")
application = get_wsgi_application()
