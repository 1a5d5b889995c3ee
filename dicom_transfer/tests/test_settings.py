"""Start-up refuses bad configuration with a message naming the variable."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def start(tmp_path: Path, **env: str) -> subprocess.CompletedProcess[str]:
    environment = {
        key: value
        for key, value in os.environ.items()
        if key not in {"SECRET_KEY", "DEBUG", "DATABASE_URL", "DJANGO_SETTINGS_MODULE"}
    }
    environment.update({"DATA_DIR": str(tmp_path), "ENV_FILE": str(tmp_path / "none.env"), **env})
    return subprocess.run(
        [sys.executable, "manage.py", "check"], cwd=ROOT, env=environment, capture_output=True, text=True, timeout=60
    )


def test_startup_refuses_debug_off_without_secret_key(tmp_path: Path) -> None:
    result = start(tmp_path, DEBUG="0")
    assert result.returncode != 0
    assert "SECRET_KEY must be set when DEBUG is off" in result.stderr


def test_startup_names_a_malformed_variable(tmp_path: Path) -> None:
    result = start(tmp_path, DEBUG="1", DICOM_CONNECT_TIMEOUT="soon")
    assert result.returncode != 0
    assert "DICOM_CONNECT_TIMEOUT must be a number" in result.stderr
    result = start(tmp_path, DEBUG="maybe")
    assert "DEBUG must be a boolean" in result.stderr
    result = start(tmp_path, DEBUG="1", DATABASE_URL="nosuchdb://x")
    assert "DATABASE_URL" in result.stderr


def test_startup_works_with_a_secret_key(tmp_path: Path) -> None:
    result = start(tmp_path, DEBUG="0", SECRET_KEY="x" * 50)
    assert result.returncode == 0, result.stderr
    # Start-up made DATA_DIR's folders where DATA_DIR says (``check`` opens no database, so
    # there is no db.sqlite3 to look for).
    assert {"imports", "logs", "tmp"} <= {path.name for path in tmp_path.iterdir() if path.is_dir()}
