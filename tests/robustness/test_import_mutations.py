"""Mutation and property tests of the import: damaged DICOM files and hostile archives.

The corpus is real: pydicom's bundled sample files (every one up to 256 kB, 70-odd files of many
transfer syntaxes, with and without a preamble) and a series written by
``testsupport.dicom_data.generate_series``. Hypothesis truncates them, flips bytes, breaks the
length of elements, inserts and repeats chunks, and sends one to three of them, bare or in a ZIP.
Whatever it sends, the properties hold:

* the answer is 201, or a 4xx with per-file errors (never a 500);
* every received file is accounted for: imported, a duplicate, or listed in ``errors``;
* every file on disk is inside the import folder of an import that exists, under a server name;
  no temporary upload file outlives its request.

The bombs are separate tests, each under a memory bound measured with tracemalloc (every Python
allocation of the request; zlib and pydicom allocate through it): DICOM_MAX_INFLATED_HEADER_BYTES
(the one buffer allowed to grow, holding an inflated deflate data set) plus 32 MiB for everything
else, which reads in 1 MiB chunks.
"""

from __future__ import annotations

import io
import re
import struct
import tracemalloc
import uuid
import zipfile
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from django.conf import settings
from hypothesis import HealthCheck, given
from hypothesis import settings as hypothesis_settings
from hypothesis import strategies as st
from rest_framework.test import APIClient

from dicom_api.models import DicomInstance, ImportSession
from testsupport.dicom_data import deeply_nested, deflate_bomb, generate_series, instance, upload, zip_bytes
from testsupport.patients import sample_files

pytestmark = pytest.mark.django_db

MEMORY_SLACK = 32 * 1024**2
_VR = re.compile(rb"(?=(?:AE|CS|DA|DS|IS|LO|OB|OW|PN|SH|SQ|TM|UI|UL|UN|US|UT))")


@pytest.fixture(scope="module")
def corpus(tmp_path_factory: pytest.TempPathFactory) -> dict[str, bytes]:
    files = {p.name: p.read_bytes() for p in sample_files() if p.stat().st_size <= 256 * 1024}
    generated = generate_series(
        tmp_path_factory.mktemp("generated"), 3, patient_name="MUTANT^MARY", patient_id="MUT-0001"
    )
    files.update({p.name: p.read_bytes() for p in generated.files})
    assert len(files) > 60
    return files


def post(client: APIClient, files: list[tuple[str, bytes]]) -> Any:
    return client.post("/api/dicom/import/", {"files": [upload(name, content) for name, content in files]})


def assert_sane_answer(response: Any, sent: list[str]) -> None:
    """201, or a 4xx with per-file errors; every file accounted for."""
    assert response.status_code in (201, 400, 413), (response.status_code, response.content[:500])
    body = response.json()
    if response.status_code == 413:
        assert "detail" in body
        return
    assert isinstance(body["errors"], list)
    for error in body["errors"]:
        assert error["error"]
        assert any(error["filename"].startswith(name) for name in sent), error
    # An archive that held no DICOM is named too, beside its members' own errors.
    file_errors = [e for e in body["errors"] if e["error"] != "the ZIP archive holds no DICOM file"]
    if response.status_code == 400:
        assert body["errors"], body
        assert body["received_files"] == len(file_errors)
        return
    assert body["received_files"] == body["instance_count"] + body["duplicate_count"] + len(file_errors)


def assert_no_stray_files(root: Path) -> None:
    """Files only inside live imports' folders, under server names; no temporary file left."""
    imports_dir = Path(settings.IMPORTS_DIR)
    assert not list(Path(settings.FILE_UPLOAD_TEMP_DIR).iterdir())
    live = {str(pk) for pk in ImportSession.objects.values_list("pk", flat=True)}
    stored = set(DicomInstance.objects.values_list("import_session_id", "relative_path"))
    for path in root.rglob("*"):
        if path.is_dir():
            continue
        relative = path.relative_to(imports_dir)  # raises if outside the import folder
        assert len(relative.parts) == 2 and relative.parts[0] in live, path
        assert (uuid.UUID(relative.parts[0]), relative.parts[1]) in stored, path
        assert re.fullmatch(r"[0-9a-f]{32}\.dcm", relative.parts[1]), path


# --- Mutations ------------------------------------------------------------------------------------


@st.composite
def mutated(draw: st.DrawFn, corpus: dict[str, bytes]) -> tuple[str, bytes]:
    name = draw(st.sampled_from(sorted(corpus)))
    data = bytearray(corpus[name])
    for operation in draw(st.lists(st.sampled_from(["truncate", "flip", "length", "insert", "repeat"]), max_size=3)):
        size = len(data)
        if size < 8:
            break
        if operation == "truncate":
            del data[draw(st.integers(0, size - 1)) :]
        elif operation == "flip":
            for _ in range(draw(st.integers(1, 8))):
                data[draw(st.integers(0, size - 1))] ^= draw(st.integers(1, 255))
        elif operation == "length":
            # The length after a VR, or any 4 bytes: 0, odd, huge, undefined (0xFFFFFFFF).
            positions = [m.start() + 2 for m in _VR.finditer(data) if m.start() + 8 <= size]
            at = draw(st.sampled_from(positions)) if positions else draw(st.integers(0, size - 4))
            value = draw(st.sampled_from([0, 1, 3, 0xFFFE, 0xFFFF, 0x7FFFFFFF, 0xFFFFFFFE, 0xFFFFFFFF]))
            width = draw(st.sampled_from([2, 4])) if at + 4 <= size else 2
            struct.pack_into("<I" if width == 4 else "<H", data, at, value & (0xFFFFFFFF if width == 4 else 0xFFFF))
        elif operation == "insert":
            at = draw(st.integers(0, size))
            data[at:at] = draw(st.binary(min_size=1, max_size=64))
        else:
            start = draw(st.integers(0, size - 1))
            chunk = data[start : start + draw(st.integers(1, 256))]
            data[start:start] = chunk * draw(st.integers(1, 4))
    return f"m{draw(st.integers(0, 999))}_{name}", bytes(data)


@hypothesis_settings(
    max_examples=120,
    deadline=None,
    derandomize=True,
    database=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow, HealthCheck.data_too_large],
)
@given(data=st.data())
def test_mutated_files_import_or_fail_per_file(
    data: st.DataObject, corpus: dict[str, bytes], client_user: APIClient, tmp_path: Path
) -> None:
    files = data.draw(st.lists(mutated(corpus), min_size=1, max_size=3), label="files")
    if data.draw(st.booleans(), label="zipped"):
        files = [("mutants.zip", zip_bytes(dict(files)))]
    response = post(client_user, files)
    assert_sane_answer(response, [name for name, _ in files])
    assert_no_stray_files(tmp_path / "imports")


def test_every_intact_sample_imports_or_is_refused_per_file(corpus: dict[str, bytes], client_user: APIClient) -> None:
    files = sorted(corpus.items())
    response = post(client_user, files)
    assert response.status_code == 201, response.content[:500]
    body = response.json()
    assert body["received_files"] == len(files)
    # Many samples share their SOP Instance UID (one image in several syntaxes): duplicates. The
    # few that can't be imported (truncated on purpose, no UIDs, no meta at all) are named with a reason.
    assert body["instance_count"] + body["duplicate_count"] >= len(files) - 13
    assert_sane_answer(response, [name for name, _ in files])


# --- Bombs, nesting and hostile archives, under a memory bound ------------------------------------


def peak_during(call: Callable[[], Any]) -> tuple[Any, int]:
    tracemalloc.start()
    try:
        tracemalloc.reset_peak()
        result = call()
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    return result, peak


def memory_bound() -> int:
    return int(settings.DICOM_MAX_INFLATED_HEADER_BYTES) + MEMORY_SLACK


@pytest.fixture(scope="module")
def bomb(tmp_path_factory: pytest.TempPathFactory) -> bytes:
    """~1 MB on disk, 1 GiB once inflated."""
    return deflate_bomb(tmp_path_factory.mktemp("bomb") / "bomb.dcm").read_bytes()


def test_a_deflated_data_set_inflating_to_a_gigabyte_is_refused_within_the_memory_bound(
    bomb: bytes, client_user: APIClient, tmp_path: Path
) -> None:
    response, peak = peak_during(lambda: post(client_user, [("bomb.dcm", bomb), ("ok.dcm", instance())]))
    assert response.status_code == 201
    assert response.json()["instance_count"] == 1
    (error,) = response.json()["errors"]
    assert error["filename"] == "bomb.dcm" and "inflates to more than" in error["error"]
    assert peak < memory_bound(), f"peak {peak / 1024**2:.0f} MiB"
    assert_no_stray_files(tmp_path / "imports")


def test_a_deflate_bomb_inside_nested_zips_is_refused_within_the_memory_bound(
    bomb: bytes, client_user: APIClient, tmp_path: Path
) -> None:
    inner = zip_bytes({"bomb.dcm": bomb})
    middle = zip_bytes({"inner.zip": inner, "bomb.dcm": bomb})
    outer = zip_bytes({"middle.zip": middle, "bomb.dcm": bomb})
    response, peak = peak_during(lambda: post(client_user, [("outer.zip", outer)]))
    assert response.status_code == 400
    errors = {e["filename"]: e["error"] for e in response.json()["errors"]}
    assert "inflates to more than" in errors["outer.zip/bomb.dcm"]
    assert errors["outer.zip/middle.zip"] == (
        "an archive inside an archive is not opened: unpack it and upload its files"
    )
    assert peak < memory_bound(), f"peak {peak / 1024**2:.0f} MiB"
    assert_no_stray_files(tmp_path / "imports")


def test_a_zip_member_inflating_to_a_gigabyte_is_refused_with_413_within_the_memory_bound(
    client_user: APIClient, tmp_path: Path
) -> None:
    buffer = io.BytesIO()
    block = bytes(16 * 1024**2)
    with (
        zipfile.ZipFile(buffer, "w", compression=zipfile.ZIP_DEFLATED, compresslevel=9) as archive,
        archive.open("zeros.dcm", "w", force_zip64=True) as member,
    ):
        for _ in range(64):
            member.write(block)
    response, peak = peak_during(lambda: post(client_user, [("bomb.zip", buffer.getvalue())]))
    assert response.status_code == 413
    assert "ZIP_MAX_RATIO" in response.json()["detail"]
    assert peak < memory_bound(), f"peak {peak / 1024**2:.0f} MiB"
    assert not ImportSession.objects.exists()
    assert_no_stray_files(tmp_path / "imports")


@pytest.mark.parametrize("depth", [5_000, 50_000])
def test_sequences_nested_thousands_deep_are_a_per_file_error(
    depth: int, client_user: APIClient, tmp_path: Path
) -> None:
    files = [("deep.dcm", deeply_nested(depth)), ("ok.dcm", instance())]
    response, peak = peak_during(lambda: post(client_user, files))
    assert response.status_code == 201
    (error,) = response.json()["errors"]
    assert error["filename"] == "deep.dcm" and "nested too deeply" in error["error"]
    assert peak < memory_bound(), f"peak {peak / 1024**2:.0f} MiB"
    assert_no_stray_files(tmp_path / "imports")


def overlapping_zip(content: bytes) -> bytes:
    """Two central directory entries (``a.dcm``, ``b.dcm``) that point at the same local file."""
    original = zip_bytes({"a.dcm": content})
    eocd_at = original.rfind(b"PK\x05\x06")
    (cd_size, cd_offset) = struct.unpack("<II", original[eocd_at + 12 : eocd_at + 20])
    entry = original[cd_offset : cd_offset + cd_size]
    twin = entry.replace(b"a.dcm", b"b.dcm")
    directory = entry + twin
    eocd = bytearray(original[eocd_at:])
    struct.pack_into("<HHII", eocd, 8, 2, 2, len(directory), cd_offset)
    return original[:cd_offset] + directory + bytes(eocd)


def test_overlapping_zip_entries_are_per_file_errors(client_user: APIClient, tmp_path: Path) -> None:
    response = post(client_user, [("overlap.zip", overlapping_zip(instance()))])
    assert response.status_code == 201
    body = response.json()
    assert body["received_files"] == 2
    assert body["instance_count"] == 1
    assert [e["filename"] for e in body["errors"]] == ["overlap.zip/b.dcm"]
    assert_no_stray_files(tmp_path / "imports")


def test_duplicate_and_hostile_member_names_never_become_paths(client_user: APIClient, tmp_path: Path) -> None:
    first, second = instance(), instance()
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive, pytest.warns(UserWarning, match="Duplicate name"):
        archive.writestr("same.dcm", first)
        archive.writestr("same.dcm", second)
        archive.writestr("same.dcm", first)
        archive.writestr("../../../../escape.dcm", instance())
        archive.writestr("/etc/absolute.dcm", instance())
        archive.writestr("dir/\x1b[31mred\r\n.dcm", instance())
    response = post(client_user, [("names.zip", buffer.getvalue())])
    assert response.status_code == 201
    body = response.json()
    assert (body["received_files"], body["instance_count"], body["duplicate_count"]) == (6, 5, 1)
    assert not (tmp_path / "escape.dcm").exists() and not Path("/etc/absolute.dcm").exists()
    assert_no_stray_files(tmp_path / "imports")
