"""The log check of testsupport/logcheck.py can fail: it knows the names and finds them in log lines."""

from __future__ import annotations

import logging
import uuid
from pathlib import Path

from django.conf import settings

from testsupport.patients import leaks_in, registry


def test_the_registry_holds_the_names_of_the_samples_and_of_the_test_code() -> None:
    values = registry()
    # pydicom's CT_small.dcm and MR_small.dcm; testsupport.dicom_data.generate_series' defaults.
    assert {"CompressedSamples^CT1", "1CT1", "CompressedSamples^MR1", "4MR1"} <= set(values)
    assert {"DOE^JANE", "PID-0001"} <= set(values)
    assert "204" not in values  # too likely to be a row id or a count


def test_a_name_in_a_line_is_found_as_a_whole_word_only() -> None:
    values = ("DOE^JANE", "PID-0001")
    text = "INFO import 7 of DOE^JANE\nINFO ok\nINFO import of PID-00012\nWARN patient PID-0001."
    assert leaks_in(text, values) == [
        ("INFO import 7 of DOE^JANE", "DOE^JANE"),
        ("WARN patient PID-0001.", "PID-0001"),
    ]


def test_application_logs_reach_the_file_the_check_reads() -> None:
    marker = f"log-check-marker-{uuid.uuid4().hex}"
    logger = logging.getLogger("dicom_api.tests")
    logger.warning("%s", marker)
    for handler in logging.getLogger("dicom_api").handlers:
        handler.flush()
    assert marker in (Path(settings.LOG_DIR) / "dicom_transfer.log").read_text("utf-8")
