from __future__ import annotations

from pathlib import Path

import pytest

from testsupport import dicom_data


@pytest.fixture(scope="session")
def deflate_bomb(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """~1 MB on disk, 1 GB once inflated."""
    return dicom_data.deflate_bomb(tmp_path_factory.mktemp("bomb") / "bomb.dcm")
