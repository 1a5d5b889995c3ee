"""At import, of files with one SOP Instance UID the one kept is one DCMTK can send."""

from __future__ import annotations

from pathlib import Path

import pytest
from django.conf import settings
from pydicom.data import get_testdata_file
from rest_framework.test import APIClient

from dicom_api.models import DicomInstance, ImportSession
from dicomnet import dcmsend
from dicomnet.association import AssociationRequest
from testsupport.dicom_data import DAMAGE_AFTER_PIXEL_DATA as DAMAGE
from testsupport.dicom_data import instance, upload
from testsupport.peers import LOOPBACK, storescp

pytestmark = pytest.mark.django_db


@pytest.mark.parametrize("damaged_first", [True, False], ids=["damaged-first", "damaged-second"])
def test_of_two_files_with_one_sop_instance_uid_the_sendable_one_is_kept_and_arrives(
    client_user: APIClient, tmp_path: Path, damaged_first: bool
) -> None:
    good = instance(sop_instance_uid="1.2.826.0.1.77.1")
    damaged = good + DAMAGE
    parts = [upload("damaged.dcm", damaged), upload("good.dcm", good)]
    response = client_user.post(
        "/api/dicom/import/", {"files": parts if damaged_first else parts[::-1]}, format="multipart"
    )
    assert response.status_code == 201
    body = response.json()
    assert body["instance_count"] == 1
    assert [(e["filename"], "damaged" in e["error"]) for e in body["errors"]] == [("damaged.dcm", True)]
    stored = DicomInstance.objects.get()
    path = ImportSession.objects.get().directory / stored.relative_path
    assert path.read_bytes() == good
    with storescp(tmp_path / "rx") as scp:
        request = AssociationRequest(
            called_ae=scp.ae_title,
            host=LOOPBACK,
            port=scp.port,
            calling_ae=settings.DICOM_CALLING_AE,
            connect_timeout=2,
            acse_timeout=2,
            dimse_timeout=2,
        )
        report = dcmsend.send_files(files=[path], request=request, program=settings.DCMSEND_PATH)
        assert list(scp.received()) == ["1.2.826.0.1.77.1"]
    assert report.success


def test_a_file_dcmtk_cannot_send_is_an_error_of_the_import_naming_it(client_user: APIClient) -> None:
    response = client_user.post(
        "/api/dicom/import/", {"files": [upload("only.dcm", instance() + DAMAGE)]}, format="multipart"
    )
    assert response.status_code == 400
    body = response.json()
    assert ImportSession.objects.count() == 0
    assert body["errors"] == [
        {"filename": "only.dcm", "error": "damaged DICOM file (an element after the pixel data runs past its end)"}
    ]


def test_a_bare_data_set_without_file_meta_information_is_imported_and_arrives(
    client_user: APIClient, tmp_path: Path
) -> None:
    """The import takes a data set with no preamble and no file meta header (old archives write
    them; pydicom's rtstruct.dcm is one); dcmsend reads only Part 10 files unless told otherwise."""
    bare = Path(get_testdata_file("rtstruct.dcm"))
    assert bare.read_bytes()[128:132] != b"DICM"
    response = client_user.post(
        "/api/dicom/import/", {"files": [upload("rtstruct.dcm", bare.read_bytes())]}, format="multipart"
    )
    assert response.status_code == 201, response.json()
    stored = DicomInstance.objects.get()
    path = ImportSession.objects.get().directory / stored.relative_path
    with storescp(tmp_path / "rx") as scp:
        request = AssociationRequest(
            called_ae=scp.ae_title,
            host=LOOPBACK,
            port=scp.port,
            calling_ae=settings.DICOM_CALLING_AE,
            connect_timeout=2,
            acse_timeout=2,
            dimse_timeout=2,
        )
        report = dcmsend.send_files(files=[path], request=request, program=settings.DCMSEND_PATH)
        assert list(scp.received()) == [stored.sop_instance_uid]
    assert report.success
