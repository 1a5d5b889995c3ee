"""Start-up refuses bad configuration with a message naming the variable."""

from __future__ import annotations

import os
import shlex
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def start(tmp_path: Path, command: str = "check", **env: str) -> subprocess.CompletedProcess[str]:
    environment = {
        key: value
        for key, value in os.environ.items()
        if key not in {"SECRET_KEY", "DEBUG", "DATABASE_URL", "DJANGO_SETTINGS_MODULE"}
    }
    environment.update({"DATA_DIR": str(tmp_path), "ENV_FILE": str(tmp_path / "none.env"), **env})
    return subprocess.run(
        [sys.executable, "manage.py", *shlex.split(command)],
        cwd=ROOT,
        env=environment,
        capture_output=True,
        text=True,
        timeout=60,
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


# The production configuration of README.md ("Production"), behind a TLS-terminating proxy.
PRODUCTION = {
    "DEBUG": "0",
    "SECRET_KEY": "k" * 30 + "-Zq8vN2#xT5@pL7!wR4$mY9&bH3",
    "ALLOWED_HOSTS": "dicom.hospital.example",
    "TRUSTED_PROXY_COUNT": "1",
    "SECURE_SSL_REDIRECT": "1",
    "SECURE_HSTS_SECONDS": "31536000",
    "SECURE_HSTS_INCLUDE_SUBDOMAINS": "1",
    "SECURE_HSTS_PRELOAD": "1",
    "SESSION_COOKIE_SECURE": "1",
    "CSRF_COOKIE_SECURE": "1",
}


def test_deploy_check_is_clean_in_the_documented_production_configuration(tmp_path: Path) -> None:
    result = start(tmp_path, **PRODUCTION, command="check --deploy")
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "System check identified no issues (0 silenced)."
    assert "WARNING" not in result.stderr


def test_deploy_check_warns_without_the_https_settings(tmp_path: Path) -> None:
    result = start(tmp_path, DEBUG="0", SECRET_KEY=PRODUCTION["SECRET_KEY"], command="check --deploy")
    for warning in ("security.W004", "security.W008", "security.W012", "security.W016"):
        assert warning in result.stderr + result.stdout


def test_manage_py_reads_the_key_make_run_keeps_in_data_dir(tmp_path: Path) -> None:
    (tmp_path / "secret_key").write_text("s" * 30 + "-a-key-of-this-installation\n")
    result = start(tmp_path, DEBUG="0")
    assert result.returncode == 0, result.stderr
    result = start(
        tmp_path,
        DEBUG="0",
        command="shell -v 0 -c 'from django.conf import settings; print(settings.SECRET_KEY)'",
    )
    assert result.stdout.strip() == "s" * 30 + "-a-key-of-this-installation"


def test_debug_without_a_key_signs_with_a_new_random_key_each_start(tmp_path: Path) -> None:
    command = "shell -v 0 -c 'from django.conf import settings; print(settings.SECRET_KEY)'"
    first = start(tmp_path, DEBUG="1", command=command).stdout.strip()
    second = start(tmp_path, DEBUG="1", command=command).stdout.strip()
    assert len(first) >= 50 and len(second) >= 50
    assert first != second
    assert "insecure" not in first
