"""The patient names and ids the tests use, so the log check can look for them.

Two sources, both read at run time so a new test or sample can't be forgotten:

* pydicom's bundled sample files (the tests import them): their Patient's Name and Patient ID;
* the literals of our test code: ``patient_name=``/``patient_id=`` arguments and defaults and
  ``PatientName``/``PatientID`` assignments in testsupport/ and every tests/ folder.

Values that would match log lines by accident are left out: shorter than 3 characters, with no
letter or digit (``^^^^``), or all digits and shorter than 6 (ids like ``204`` collide with row
ids and counts).
"""

from __future__ import annotations

import functools
import re
import warnings
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
_LITERAL = re.compile(r"""patient_?(?:name|id)\b[^=\n]{0,20}=\s*f?["']([^"'{}]+)["']""", re.IGNORECASE)


def sample_files() -> list[Path]:
    import pydicom

    return sorted((Path(pydicom.__file__).parent / "data" / "test_files").glob("*.dcm"))


def _from_samples() -> set[str]:
    import pydicom

    values: set[str] = set()
    for path in sample_files():
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            try:
                ds = pydicom.dcmread(path, force=True, specific_tags=["PatientName", "PatientID"])
            except Exception:  # noqa: S112  # a damaged sample has no name to leak
                continue
        values.update(str(ds.get(keyword, "")) for keyword in ("PatientName", "PatientID"))
    return values


def _from_test_code() -> set[str]:
    sources = [*ROOT.glob("testsupport/*.py"), *ROOT.glob("*/tests/**/*.py"), *ROOT.glob("tests/**/*.py")]
    values: set[str] = set()
    for source in sources:
        values.update(match.group(1) for match in _LITERAL.finditer(source.read_text("utf-8")))
    return values


def _distinctive(value: str) -> bool:
    value = value.strip()
    if len(value) < 3 or not any(ch.isalnum() for ch in value):
        return False
    return not (value.isdigit() and len(value) < 6)


@functools.cache
def registry() -> tuple[str, ...]:
    """Every distinctive patient name and id the tests use, longest first."""
    values = {v.strip() for v in _from_samples() | _from_test_code() if _distinctive(v)}
    return tuple(sorted(values, key=lambda v: (-len(v), v)))


def leaks_in(text: str, values: tuple[str, ...]) -> list[tuple[str, str]]:
    """(line, value) for each line of ``text`` holding one of ``values`` as a whole word."""
    patterns = [(value, re.compile(rf"(?<![\w-])(?<!\w\.){re.escape(value)}(?![\w-]|\.\w)")) for value in values]
    found = []
    for line in text.splitlines():
        for value, pattern in patterns:
            if pattern.search(line):
                found.append((line, value))
                break
    return found
