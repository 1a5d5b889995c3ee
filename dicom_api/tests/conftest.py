from __future__ import annotations

from pathlib import Path

import pytest
from django.contrib.auth.models import User

from destinations.models import Destination
from dicom_api.models import ImportSession
from testsupport import dicom_data
from testsupport.dicom_data import GeneratedSeries, generate_series, import_files


@pytest.fixture(scope="session")
def deflate_bomb(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """~1 MB on disk, 1 GB once inflated."""
    return dicom_data.deflate_bomb(tmp_path_factory.mktemp("bomb") / "bomb.dcm")


@pytest.fixture
def series(tmp_path: Path) -> GeneratedSeries:
    return generate_series(tmp_path / "src", 3, patient_name="TEST^API")


@pytest.fixture
def imported(user: User, series: GeneratedSeries) -> ImportSession:
    return import_files(user, series.files)


@pytest.fixture
def destination(admin_user: User) -> Destination:
    return Destination.objects.create(name="PACS", ae_title="PACS", host="127.0.0.1", port=11112)
