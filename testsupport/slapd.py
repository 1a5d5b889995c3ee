"""A real OpenLDAP ``slapd`` for the tests: its own configuration and database in a temporary
folder, listening on 127.0.0.1 on a free port, stopped (and its folder removed) afterwards."""

from __future__ import annotations

import contextlib
import shutil
import signal
import subprocess
import tempfile
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

from testsupport.peers import LOOPBACK, free_port, wait_for_port

SLAPD = "/usr/sbin/slapd"
SCHEMA = Path("/etc/ldap/schema")
MODULES = Path("/usr/lib/ldap")
SUFFIX = "dc=hospital,dc=test"
ROOT_DN = f"cn=admin,{SUFFIX}"
ROOT_PASSWORD = "slapd-root-secret"  # noqa: S105 (a throwaway test directory)


@dataclass(frozen=True)
class Directory:
    uri: str
    suffix: str
    root_dn: str
    root_password: str


def missing() -> str:
    """Why a directory can't be started here ("" when it can)."""
    if not Path(SLAPD).exists():
        return f"{SLAPD} is missing (Debian package 'slapd'; `make test` installs it)"
    if not (MODULES / "back_mdb.so").exists():
        return f"{MODULES}/back_mdb.so is missing (Debian package 'slapd')"
    try:
        import django_auth_ldap  # noqa: F401
        import ldap  # noqa: F401
    except ImportError as e:
        return f"python-ldap / django-auth-ldap are not installed ({e}): pip install -r requirements-ldap.txt"
    return ""


def _config(folder: Path) -> str:
    schemas = "\n".join(f"include {SCHEMA / name}.schema" for name in ("core", "cosine", "inetorgperson", "nis"))
    return f"""{schemas}
pidfile {folder / "slapd.pid"}
argsfile {folder / "slapd.args"}
modulepath {MODULES}
moduleload back_mdb
database mdb
maxsize 10485760
suffix "{SUFFIX}"
rootdn "{ROOT_DN}"
rootpw {ROOT_PASSWORD}
directory {folder / "db"}
access to attrs=userPassword by self write by anonymous auth by * none
access to * by * read
"""


@contextlib.contextmanager
def slapd() -> Iterator[Directory]:
    folder = Path(tempfile.mkdtemp(prefix="slapd-"))
    folder.chmod(0o700)  # mkdtemp makes it 0700 already; said here for the reader
    (folder / "db").mkdir(mode=0o700)
    (folder / "slapd.conf").write_text(_config(folder))
    port = free_port()
    uri = f"ldap://{LOOPBACK}:{port}/"
    log = (folder / "slapd.log").open("wb")
    # -d 0: stay in the foreground (no daemon to chase), log nothing but errors.
    process = subprocess.Popen(
        [SLAPD, "-d", "0", "-f", str(folder / "slapd.conf"), "-h", uri], stdout=log, stderr=subprocess.STDOUT
    )
    try:
        try:
            wait_for_port(port, timeout=15)
        except TimeoutError:
            process.poll()
            raise RuntimeError(f"slapd did not start: {(folder / 'slapd.log').read_text()[-2000:]}") from None
        yield Directory(uri=uri, suffix=SUFFIX, root_dn=ROOT_DN, root_password=ROOT_PASSWORD)
    finally:
        process.send_signal(signal.SIGTERM)
        try:
            process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()
        log.close()
        shutil.rmtree(folder, ignore_errors=True)


def load(directory: Directory, entries: list[tuple[str, dict[str, list[bytes]]]]) -> None:
    """Add entries (dn, attributes) as the directory's root, with python-ldap."""
    import ldap
    import ldap.modlist

    connection = ldap.initialize(directory.uri)
    try:
        connection.simple_bind_s(directory.root_dn, directory.root_password)
        for dn, attributes in entries:
            connection.add_s(dn, ldap.modlist.addModlist(attributes))
    finally:
        connection.unbind_s()
