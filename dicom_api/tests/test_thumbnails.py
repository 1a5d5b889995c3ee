"""GET /api/dicom/imports/{id}/series/{uid}/thumbnail: a PNG of the series' middle image.

pydicom's samples are sorted into fixed lists, as in ``test_import_header_fidelity``: every
importable sample renders, but those named here as having no image or an image no decoder from
PyPI reads (with the reason).
"""

from __future__ import annotations

import io
import itertools
import shutil
import stat
import tempfile
from pathlib import Path

import numpy as np
import pydicom
import pytest
from django.conf import settings
from django.contrib.auth.models import User
from PIL import Image
from rest_framework.test import APIClient

from dicom_api.models import DicomInstance, ImportSession
from dicom_api.services.imports import Upload, import_create
from dicom_api.tests.test_import_header_fidelity import FOLDERS, IMPORTABLE
from testsupport.dicom_data import import_files, instance

pytestmark = pytest.mark.django_db

NO_IMAGE = {
    "chrJapMulti.dcm",
    "chrJapMultiExplicitIR6.dcm",
    "chrKoreanMulti.dcm",
    "ExplVR_BigEndNoMeta.dcm",
    "ExplVR_LitEndNoMeta.dcm",
    "reportsi.dcm",
    "reportsi_with_empty_number_tags.dcm",
    "rtplan.dcm",
    "rtstruct.dcm",
    "test-SR.dcm",
    "waveform_ecg.dcm",
}
UNREADABLE = {
    # 12-bit lossy JPEG (process 4): libjpeg refuses its scan header, Pillow has no 12-bit JPEG.
    "JPEG-lossy.dcm",
    # A sequence delimiter inside the JPEG 2000 code stream (the sample is damaged on purpose).
    "JPEG2000-embedded-sequence-delimiter.dcm",
    # Its Rows value is "1A".
    "badVR.dcm",
}
# These pictures are nearly white (pydicom's own decoding gives the same): not expected to vary.
NEARLY_UNIFORM = {
    "SC_jpeg_no_color_transform.dcm",
    "SC_jpeg_no_color_transform_2.dcm",
    "SC_rgb_jpeg.dcm",
    "SC_rgb_jpeg_app14_dcmd.dcm",
    "SC_rgb_jpeg_dcmd.dcm",
}
RENDERED = [path for path in IMPORTABLE if path.name not in NO_IMAGE | UNREADABLE]
COLOUR = {"RGB", "YBR_FULL", "YBR_FULL_422", "YBR_ICT", "YBR_RCT", "PALETTE COLOR"}


def url(import_id: object, series_uid: str) -> str:
    return f"/api/dicom/imports/{import_id}/series/{series_uid}/thumbnail"


def only_series(session: ImportSession) -> str:
    (uid,) = set(session.instances.values_list("series_instance_uid", flat=True))
    return str(uid)


def picture(response: object) -> Image.Image:
    assert response.status_code == 200, getattr(response, "content", b"")[:300]  # type: ignore[attr-defined]
    assert response["Content-Type"] == "image/png"  # type: ignore[index]
    content = response.content  # type: ignore[attr-defined]
    assert content.startswith(b"\x89PNG\r\n\x1a\n")
    image = Image.open(io.BytesIO(content))
    image.load()
    return image


def test_the_lists_name_only_importable_samples() -> None:
    assert {path.name for path in IMPORTABLE} >= NO_IMAGE | UNREADABLE | NEARLY_UNIFORM


@pytest.mark.parametrize("path", RENDERED, ids=lambda p: p.name)
def test_every_sample_with_pixel_data_renders(path: Path, user: User, client_user: APIClient) -> None:
    session = import_files(user, [path])
    image = picture(client_user.get(url(session.pk, only_series(session))))
    dataset = pydicom.dcmread(path, stop_before_pixels=True, force=True)
    rows, columns = int(dataset.Rows), int(dataset.Columns)
    # At most 128 px a side, the longer side at 128 (or the image's own size), the aspect kept.
    assert max(image.size) == min(128, max(rows, columns))
    assert abs(image.size[0] / image.size[1] - columns / rows) < 0.1 + 2 / min(image.size)
    assert image.mode == ("RGB" if str(dataset.PhotometricInterpretation) in COLOUR else "L")
    if path.name not in NEARLY_UNIFORM:
        assert np.asarray(image).std() > 2, "a picture, not a blank"


def test_the_compressed_syntaxes_are_among_the_rendered() -> None:
    syntaxes = {str(pydicom.dcmread(p, stop_before_pixels=True).file_meta.TransferSyntaxUID) for p in RENDERED}
    for uid, name in [
        ("1.2.840.10008.1.2.4.50", "JPEG baseline"),
        ("1.2.840.10008.1.2.4.51", "JPEG extended"),
        ("1.2.840.10008.1.2.4.70", "JPEG lossless"),
        ("1.2.840.10008.1.2.4.80", "JPEG-LS lossless"),
        ("1.2.840.10008.1.2.4.90", "JPEG 2000 lossless"),
        ("1.2.840.10008.1.2.4.91", "JPEG 2000"),
        ("1.2.840.10008.1.2.5", "RLE"),
        ("1.2.840.10008.1.2.1.99", "deflated"),
    ]:
        assert uid in syntaxes, name


@pytest.mark.parametrize("name", sorted(NO_IMAGE), ids=str)
def test_a_series_without_an_image_answers_422_no_image(name: str, user: User, client_user: APIClient) -> None:
    (path,) = [p for p in IMPORTABLE if p.name == name]
    session = import_files(user, [path])
    response = client_user.get(url(session.pk, only_series(session)))
    assert response.status_code == 422
    assert response.json()["reason"] == "no_image"
    assert response.json()["detail"].startswith("This series has no image")


@pytest.mark.parametrize("name", sorted(UNREADABLE), ids=str)
def test_an_image_no_decoder_reads_answers_422_unreadable(name: str, user: User, client_user: APIClient) -> None:
    (path,) = [p for p in IMPORTABLE if p.name == name]
    session = import_files(user, [path])
    response = client_user.get(url(session.pk, only_series(session)))
    assert response.status_code == 422
    assert response.json()["reason"] == "unreadable"
    assert response.json()["detail"].startswith("The image of this series can't be shown: ")


def test_every_series_of_all_of_pydicoms_samples_in_one_import(user: User, client_user: APIClient) -> None:
    """pydicom's test files in one upload: every series answers a picture or a 422, never a 500.

    The files shipped in the package (``get_testdata_files`` would also try to download pydicom's
    external data set, and no test here reaches the Internet)."""
    staging = Path(tempfile.mkdtemp(dir=settings.FILE_UPLOAD_TEMP_DIR))
    try:
        uploads = []
        for number, name in enumerate(sorted(FOLDERS["test_files"].glob("*.dcm"))):
            copy = staging / f"{number:04d}"
            shutil.copyfile(name, copy)
            uploads.append(Upload(name=Path(name).name, path=copy))
        session = import_create(owner=user, uploads=uploads)
    finally:
        shutil.rmtree(staging, ignore_errors=True)
    answers: dict[str, int] = {}
    reasons: dict[str, str] = {}
    for uid in set(session.instances.values_list("series_instance_uid", flat=True)):
        response = client_user.get(url(session.pk, uid))
        answers[uid] = response.status_code
        if response.status_code == 422:
            reasons[uid] = response.json()["reason"]
        else:
            picture(response)
    assert set(answers.values()) == {200, 422}
    assert list(answers.values()).count(200) > list(answers.values()).count(422)
    sr_series = DicomInstance.objects.filter(import_session=session, modality="SR").values_list(
        "series_instance_uid", flat=True
    )
    assert sr_series and all(reasons[uid] == "no_image" for uid in sr_series)


def test_another_users_import_an_unknown_series_and_anonymous(
    user: User, client_user: APIClient, client_other: APIClient, client_admin: APIClient, anon_client: APIClient
) -> None:
    (path,) = [p for p in IMPORTABLE if p.name == "CT_small.dcm"]
    session = import_files(user, [path])
    uid = only_series(session)
    for client in (client_other, client_admin):
        response = client.get(url(session.pk, uid))
        assert response.status_code == 404
        assert response["Content-Type"] == "application/json"
    assert client_user.get(url(session.pk, "1.2.3.999")).status_code == 404
    assert client_user.get(url(session.pk, "not-a-uid")).status_code == 404
    assert client_user.get(url("b2a8b6f4-8f3b-4a55-9c49-2f0c1c2b9d10", uid)).status_code == 404
    assert anon_client.get(url(session.pk, uid)).status_code == 401
    assert not (session.directory / "thumbnails").exists(), "nothing rendered for anyone else"
    # Asking for a PNG changes nothing: an error is still JSON.
    answer = client_other.get(url(session.pk, uid), HTTP_ACCEPT="image/png")
    assert (answer.status_code, answer["Content-Type"]) == (404, "application/json")


def test_it_renders_once_and_keeps_the_picture_private(user: User, client_user: APIClient) -> None:
    (path,) = [p for p in IMPORTABLE if p.name == "MR_small.dcm"]
    session = import_files(user, [path])
    uid = only_series(session)
    first = client_user.get(url(session.pk, uid))
    picture(first)
    folder = session.directory / "thumbnails"
    (cached,) = folder.iterdir()
    assert stat.S_IMODE(folder.stat().st_mode) == 0o700
    assert stat.S_IMODE(cached.stat().st_mode) == 0o600
    # The instance is damaged now: the picture still comes, from the cache.
    instance_path = session.instances.get().path
    instance_path.write_bytes(instance_path.read_bytes()[:400])
    again = client_user.get(url(session.pk, uid))
    assert again.content == first.content
    assert list(folder.iterdir()) == [cached]


def test_no_image_is_remembered_too(user: User, client_user: APIClient) -> None:
    (path,) = [p for p in IMPORTABLE if p.name == "test-SR.dcm"]
    session = import_files(user, [path])
    uid = only_series(session)
    assert client_user.get(url(session.pk, uid)).status_code == 422
    (remembered,) = (session.directory / "thumbnails").iterdir()
    assert stat.S_IMODE(remembered.stat().st_mode) == 0o600
    session.instances.get().path.unlink()
    response = client_user.get(url(session.pk, uid))
    assert (response.status_code, response.json()["reason"]) == (422, "no_image")


def test_deleting_the_import_removes_its_thumbnails(user: User, client_user: APIClient) -> None:
    (path,) = [p for p in IMPORTABLE if p.name == "CT_small.dcm"]
    session = import_files(user, [path])
    picture(client_user.get(url(session.pk, only_series(session))))
    assert client_user.delete(f"/api/dicom/imports/{session.pk}/").status_code == 204
    assert not session.directory.exists()


# --- What the picture shows ----------------------------------------------------------------------


def write(directory: Path, name: str, content: bytes, **changes: object) -> Path:
    dataset = pydicom.dcmread(io.BytesIO(content))
    for keyword, value in changes.items():
        if value is None:
            delattr(dataset, keyword)
        else:
            setattr(dataset, keyword, value)
    path = directory / name
    dataset.save_as(path, enforce_file_format=True)
    return path


def marked(position: int, *, frames: int = 1) -> bytes:
    """64 × 64 16-bit frames of 100 with a 16 × 16 square of 1000; frame k has it at column 16·k
    (k = ``position`` for a single frame)."""
    out = []
    for k in range(frames):
        frame = np.full((64, 64), 100, dtype=np.uint16)
        column = 16 * (position if frames == 1 else k)
        frame[24:40, column : column + 16] = 1000
        out.append(frame.tobytes())
    return b"".join(out)


def square_column(image: Image.Image) -> int:
    grey = np.asarray(image.convert("L"), dtype=float)
    return int(np.argmax(grey[grey.shape[0] // 2]) // (grey.shape[1] // 4))


def test_the_middle_image_by_instance_number(tmp_path: Path, user: User, client_user: APIClient) -> None:
    # Five instances numbered 1..5 whose square sits at 5 - n (so the middle, number 3, has it at
    # column 2), written in an order that is neither, and one without a number (it comes last).
    paths = [
        write(tmp_path, f"{n}.dcm", instance(instance_number=n, pixel_data=marked(position=(5 - n) % 4)))
        for n in (4, 1, 5, 3, 2)
    ]
    unnumbered = write(tmp_path, "x.dcm", instance(pixel_data=marked(position=0)), InstanceNumber=None)
    session = import_files(user, [*paths, unnumbered])
    image = picture(client_user.get(url(session.pk, only_series(session))))
    # Six instances: the fourth of 1, 2, 3, 4, 5, (none) is number 4, its square at column 1.
    assert square_column(image) == 1


def test_the_middle_frame_of_a_multi_frame_instance(tmp_path: Path, user: User, client_user: APIClient) -> None:
    path = write(tmp_path, "mf.dcm", instance(pixel_data=marked(0, frames=4), rows=64), NumberOfFrames=4, Columns=64)
    session = import_files(user, [path])
    image = picture(client_user.get(url(session.pk, only_series(session))))
    assert square_column(image) == 2  # frame index 4 // 2


def test_the_window_of_the_header_and_monochrome1(tmp_path: Path, user: User, client_user: APIClient) -> None:
    ramp = np.tile(np.arange(0, 2048, 32, dtype=np.uint16), (64, 1))  # 0 .. 2016 left to right
    data = instance(pixel_data=ramp.tobytes(), rows=64)
    windowed = write(tmp_path, "w.dcm", data, WindowCenter=1000, WindowWidth=400, RescaleSlope=1, RescaleIntercept=0)
    inverted = write(tmp_path, "i.dcm", windowed.read_bytes(), PhotometricInterpretation="MONOCHROME1")
    shifted = write(tmp_path, "s.dcm", windowed.read_bytes(), RescaleIntercept=-1000, WindowCenter=0)
    for path, at_800, at_1200 in [(windowed, 0, 255), (inverted, 255, 0), (shifted, 0, 255)]:
        session = import_files(user, [path])
        grey = np.asarray(picture(client_user.get(url(session.pk, only_series(session)))), dtype=int)
        row = grey[32]
        assert row[:20].max() == at_800  # values up to 608: below the window
        assert row[45:].min() == at_1200  # values from 1440: above it
        middle = row[31]  # value 992: the middle of the window
        assert 100 < middle < 155


def test_a_percentile_window_without_one_in_the_header(tmp_path: Path, user: User, client_user: APIClient) -> None:
    ramp = np.tile(np.arange(3000, 3064, dtype=np.uint16), (64, 1))
    session = import_files(user, [write(tmp_path, "p.dcm", instance(pixel_data=ramp.tobytes(), rows=64))])
    row = np.asarray(picture(client_user.get(url(session.pk, only_series(session)))), dtype=int)[32]
    assert row[0] == 0 and row[-1] == 255  # the data's own range, not 0 .. 65535
    assert all(b >= a for a, b in itertools.pairwise(row))


def test_ycbcr_is_shown_as_the_rgb_picture_it_encodes(user: User, client_user: APIClient) -> None:
    def rendered(name: str) -> np.ndarray:
        (path,) = [p for p in IMPORTABLE if p.name == name]
        session = import_files(user, [path])
        return np.asarray(picture(client_user.get(url(session.pk, only_series(session)))), dtype=int)

    reference = rendered("SC_rgb_rle.dcm")
    for name in ("SC_rgb_dcmtk_+eb+cy+np.dcm", "SC_ybr_full_422_uncompressed.dcm", "SC_rgb_jpeg_dcmtk.dcm"):
        assert np.abs(rendered(name) - reference).mean() < 4, name
