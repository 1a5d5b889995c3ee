"""Settings of DICOM Transfer, read from the environment (and an optional ``.env`` file).

Every variable is listed in README.md ("Configuration"). A missing or malformed value stops
start-up with ``ImproperlyConfigured`` naming the variable.
"""

from __future__ import annotations

import contextlib
import os
import re
import secrets
import socket
import sys
from datetime import timedelta
from pathlib import Path

import dj_database_url
from django.core.exceptions import ImproperlyConfigured
from dotenv import load_dotenv

from dicom_transfer.env import (
    env_bool,
    env_bytes,
    env_duration,
    env_float,
    env_int,
    env_list,
    env_rate,
    env_str,
)

BASE_DIR = Path(__file__).resolve().parent.parent
# Values already in the environment win over the .env file.
load_dotenv(os.environ.get("ENV_FILE", BASE_DIR / ".env"), override=False)

DEBUG = env_bool("DEBUG", False)
DATA_DIR = Path(env_str("DATA_DIR", str(BASE_DIR / "var"))).resolve()
IMPORTS_DIR = DATA_DIR / "imports"
LOG_DIR = DATA_DIR / "logs"
UPLOAD_TEMP_DIR = DATA_DIR / "tmp"
# DICOM TLS destinations' client keys, DATA_DIR/tls/<destination id>/client.key (0600, in 0700).
TLS_DIR = DATA_DIR / "tls"
for _directory in (DATA_DIR, IMPORTS_DIR, LOG_DIR, UPLOAD_TEMP_DIR):
    # Private whatever the umask of the caller (mkdir's mode is masked by it, never widened).
    _directory.mkdir(mode=0o700, parents=True, exist_ok=True)


def _secret_key() -> str:
    """SECRET_KEY, else the key `make run` keeps in DATA_DIR/secret_key, else (DEBUG only) a
    random key for this start: never a known built-in one that would let anyone forge a token."""
    key = env_str("SECRET_KEY")
    if key:
        return key
    keyfile = DATA_DIR / "secret_key"
    try:
        key = keyfile.read_text(encoding="utf-8").strip()
    except FileNotFoundError:
        key = ""
    except OSError as e:
        raise ImproperlyConfigured(f"SECRET_KEY is unset and {keyfile} cannot be read: {e.strerror}.") from None
    if key:
        return key
    if DEBUG:
        return secrets.token_urlsafe(50)
    raise ImproperlyConfigured(
        f"SECRET_KEY must be set when DEBUG is off: set SECRET_KEY, put a key in {keyfile} "
        "(`make run` makes one), or set DEBUG=1 for development."
    )


SECRET_KEY = _secret_key()
if not DEBUG and len(SECRET_KEY) < 32:
    raise ImproperlyConfigured("SECRET_KEY must be at least 32 characters long when DEBUG is off.")

ALLOWED_HOSTS = env_list("ALLOWED_HOSTS", ["localhost", "127.0.0.1", "[::1]"])
CSRF_TRUSTED_ORIGINS = env_list("CSRF_TRUSTED_ORIGINS", [])

INSTALLED_APPS = [
    # The Django admin, with its login behind the API's throttle and audit (authentication/admin_site.py).
    "authentication.admin_config.AuditedAdminConfig",
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "django.contrib.staticfiles",
    "rest_framework",
    # Not SimpleJWT's token_blacklist app: it stores every refresh token in clear. A session
    # (authentication.models.LoginSession) keeps only the id of its current refresh token.
    "rest_framework_simplejwt",
    "django_filters",
    "drf_spectacular",
    "drf_spectacular_sidecar",
    # Our apps come before django_tasks_db: dicom_api's `db_worker` command extends the one of
    # django_tasks_db with a heartbeat and housekeeping, and Django picks the first it finds.
    "authentication",
    "destinations",
    "dicom_api",
    "webui",
    "django_tasks",
    "django_tasks_db",
]

MIDDLEWARE = [
    "dicom_transfer.metrics.http.RequestMetricsMiddleware",
    "django.middleware.security.SecurityMiddleware",
    "dicom_transfer.security.ContentSecurityPolicyMiddleware",
    "whitenoise.middleware.WhiteNoiseMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
]

ROOT_URLCONF = "dicom_transfer.urls"
WSGI_APPLICATION = "dicom_transfer.wsgi.application"

TEMPLATES = [
    {
        "BACKEND": "django.template.backends.django.DjangoTemplates",
        "DIRS": [BASE_DIR / "templates"],
        "APP_DIRS": True,
        "OPTIONS": {
            "context_processors": [
                "django.template.context_processors.request",
                "django.contrib.auth.context_processors.auth",
                "django.contrib.messages.context_processors.messages",
            ],
        },
    },
]


def _create_private_file(path: Path) -> None:
    """Create ``path`` empty with mode 0600 unless it exists."""
    with contextlib.suppress(FileExistsError):
        os.close(os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600))


# --- Database ------------------------------------------------------------------------------
def _database() -> dict[str, object]:
    url = env_str("DATABASE_URL")
    if url:
        try:
            config: dict[str, object] = dict(dj_database_url.parse(url, conn_max_age=60))
        except ValueError as e:
            raise ImproperlyConfigured(f"DATABASE_URL is not a valid database URL: {e}") from None
    elif env_str("DB_NAME"):
        # The variables of the original description (PostgreSQL).
        config = {
            "ENGINE": "django.db.backends.postgresql",
            "NAME": env_str("DB_NAME"),
            "USER": env_str("DB_USER", "postgres"),
            "PASSWORD": env_str("DB_PASSWORD"),
            "HOST": env_str("DB_HOST", "localhost"),
            "PORT": str(env_int("DB_PORT", 5432, minimum=1, maximum=65535)),
            "CONN_MAX_AGE": 60,
        }
    else:
        config = {"ENGINE": "django.db.backends.sqlite3", "NAME": str(DATA_DIR / "db.sqlite3")}
        # SQLite gives its -wal and -shm files the mode of the database file.
        _create_private_file(DATA_DIR / "db.sqlite3")
    engine = str(config.get("ENGINE", ""))
    options = dict(config.get("OPTIONS", {}) or {})  # type: ignore[call-overload]
    if engine.endswith("sqlite3"):
        # Web and workers write at once: WAL, a busy timeout, and IMMEDIATE transactions so a
        # writer waits for the lock instead of failing with "database is locked".
        options.setdefault("timeout", 30)
        options.setdefault("transaction_mode", "IMMEDIATE")
        options.setdefault(
            "init_command", "PRAGMA journal_mode=WAL; PRAGMA synchronous=NORMAL; PRAGMA foreign_keys=ON;"
        )
        config["CONN_MAX_AGE"] = 0
    elif engine.endswith("postgresql"):
        sslmode = env_str("DB_SSLMODE")
        if sslmode:
            options["sslmode"] = sslmode
        config["CONN_HEALTH_CHECKS"] = True
    config["OPTIONS"] = options
    return config


DATABASES = {"default": _database()}
DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"

CACHES = {
    # Shared by every web and worker process (login throttling must count across processes).
    "default": {"BACKEND": "django.core.cache.backends.db.DatabaseCache", "LOCATION": "django_cache"}
}

AUTH_PASSWORD_VALIDATORS = [
    {"NAME": "django.contrib.auth.password_validation.UserAttributeSimilarityValidator"},
    {"NAME": "django.contrib.auth.password_validation.MinimumLengthValidator"},
    {"NAME": "django.contrib.auth.password_validation.CommonPasswordValidator"},
    {"NAME": "django.contrib.auth.password_validation.NumericPasswordValidator"},
]

LANGUAGE_CODE = "en-us"
TIME_ZONE = "UTC"
USE_I18N = True
USE_TZ = True

STATIC_URL = "static/"
STATIC_ROOT = DATA_DIR / "static"
STATIC_ROOT.mkdir(mode=0o700, exist_ok=True)
STATICFILES_DIRS = [BASE_DIR / "static"] if (BASE_DIR / "static").is_dir() else []
STORAGES = {
    "default": {"BACKEND": "django.core.files.storage.FileSystemStorage"},
    "staticfiles": {"BACKEND": "whitenoise.storage.CompressedStaticFilesStorage"},
}
WHITENOISE_USE_FINDERS = True

# --- Proxies -------------------------------------------------------------------------------
# How many reverse proxies in front of us append to X-Forwarded-For. 0: the header is ignored
# (a client could write anything in it) and the socket's address is the client's.
TRUSTED_PROXY_COUNT = env_int("TRUSTED_PROXY_COUNT", 0, minimum=0, maximum=5)


def _proxy_ssl_header() -> tuple[str, str] | None:
    """The header by which the proxy says the client used HTTPS (``X-Forwarded-Proto: https``)."""
    name = env_str("SECURE_PROXY_SSL_HEADER", "X-Forwarded-Proto" if TRUSTED_PROXY_COUNT else "none")
    if name.lower() == "none":
        return None
    if not re.fullmatch(r"[A-Za-z0-9-]{1,64}", name):
        raise ImproperlyConfigured(f"SECURE_PROXY_SSL_HEADER must be a header name or 'none', got {name!r}.")
    return ("HTTP_" + name.upper().replace("-", "_"), "https")


# --- HTTPS (README "Production"): off by default, as `make run` serves plain HTTP on loopback ---
SECURE_PROXY_SSL_HEADER = _proxy_ssl_header()
SECURE_SSL_REDIRECT = env_bool("SECURE_SSL_REDIRECT", False)
# /api/health/ answers over plain HTTP too, for a load balancer's probe.
SECURE_REDIRECT_EXEMPT = [r"^api/health/$"]
SECURE_HSTS_SECONDS = env_int("SECURE_HSTS_SECONDS", 0, minimum=0)
SECURE_HSTS_INCLUDE_SUBDOMAINS = env_bool("SECURE_HSTS_INCLUDE_SUBDOMAINS", False)
SECURE_HSTS_PRELOAD = env_bool("SECURE_HSTS_PRELOAD", False)
SESSION_COOKIE_SECURE = env_bool("SESSION_COOKIE_SECURE", False)
CSRF_COOKIE_SECURE = env_bool("CSRF_COOKIE_SECURE", False)

# --- REST framework / JWT -----------------------------------------------------------------
REST_FRAMEWORK = {
    "DEFAULT_AUTHENTICATION_CLASSES": ["authentication.backends.SessionJWTAuthentication"],
    # Signed in, password changed when it must be, auditors read only (authentication/permissions.py).
    "DEFAULT_PERMISSION_CLASSES": ["authentication.permissions.RolePolicy"],
    "DEFAULT_SCHEMA_CLASS": "drf_spectacular.openapi.AutoSchema",
    "DEFAULT_FILTER_BACKENDS": ["django_filters.rest_framework.DjangoFilterBackend"],
    # DRF's own JSON and form parsers would read a body of any size (dicom_transfer/parsers.py).
    "DEFAULT_PARSER_CLASSES": [
        "dicom_transfer.parsers.LimitedJSONParser",
        "dicom_transfer.parsers.LimitedFormParser",
        "rest_framework.parsers.MultiPartParser",
    ],
    "NUM_PROXIES": TRUSTED_PROXY_COUNT,
    "UNAUTHENTICATED_USER": "django.contrib.auth.models.AnonymousUser",
    # Oversized or malformed bodies answer 413/400 in JSON, not Django's HTML page.
    "EXCEPTION_HANDLER": "dicom_transfer.errors.api_exception_handler",
}

# Login attempts (API and Django admin) per username and per client address: (attempts, seconds).
LOGIN_THROTTLE_USERNAME = env_rate("LOGIN_THROTTLE_RATE", "10/min")
LOGIN_THROTTLE_ADDRESS = env_rate("LOGIN_THROTTLE_ADDRESS_RATE", "100/min")

# Directory login (LDAP / Active Directory), off unless LDAP_SERVER_URI is set (dicom_transfer/ldap.py).
if env_str("LDAP_SERVER_URI"):
    from dicom_transfer.ldap import ldap_settings

    globals().update(ldap_settings())

SIMPLE_JWT = {
    "ACCESS_TOKEN_LIFETIME": timedelta(seconds=env_duration("JWT_ACCESS_LIFETIME", 15 * 60)),
    "REFRESH_TOKEN_LIFETIME": timedelta(seconds=env_duration("JWT_REFRESH_LIFETIME", 24 * 3600)),
    # Rotation is ours (authentication/sessions.py): one valid refresh token per session.
    "UPDATE_LAST_LOGIN": True,
    "ALGORITHM": "HS256",
    "SIGNING_KEY": SECRET_KEY,
    "AUTH_HEADER_TYPES": ("Bearer",),
}

SPECTACULAR_SETTINGS = {
    "TITLE": "DICOM Transfer API",
    "DESCRIPTION": "Import DICOM studies, send series to PACS nodes, and read the audit trail.",
    "VERSION": "1.0.0",
    "SERVE_INCLUDE_SCHEMA": False,
    "COMPONENT_SPLIT_REQUEST": True,
    # The docs page's assets are served by us, not fetched from a CDN (hospital networks).
    "SWAGGER_UI_DIST": "SIDECAR",
    "SWAGGER_UI_FAVICON_HREF": "SIDECAR",
    "REDOC_DIST": "SIDECAR",
    # One enum for an import's state wherever it appears.
    "ENUM_NAME_OVERRIDES": {"ImportStateEnum": "dicom_api.models.ImportState"},
    # Every operation also documents the errors it can answer (dicom_transfer/openapi.py).
    "POSTPROCESSING_HOOKS": [
        "drf_spectacular.hooks.postprocess_schema_enums",
        "dicom_transfer.openapi.add_error_responses",
        "dicom_transfer.openapi.add_metrics",
    ],
}

# --- Background jobs -------------------------------------------------------------------------
TASKS = {
    "default": {"BACKEND": "django_tasks_db.DatabaseBackend", "QUEUES": ["default"]},
}

# --- DICOM / DCMTK ---------------------------------------------------------------------------
ECHOSCU_PATH = env_str("ECHOSCU_PATH", "echoscu")
# Transfers use dcmsend: it proposes each file's own transfer syntax (see dicomnet/dcmsend.py).
DCMSEND_PATH = env_str("DCMSEND_PATH", "dcmsend")
# dcmsend 3.6.7 has no TLS: DICOM TLS destinations are sent to with storescu +tls (dicomnet/storescu.py).
STORESCU_PATH = env_str("STORESCU_PATH", "storescu")
DICOM_CALLING_AE = env_str("DICOM_CALLING_AE", "DICOMTRANSFER")
DICOM_CONNECT_TIMEOUT = env_float("DICOM_CONNECT_TIMEOUT", 10.0, minimum=1)
DICOM_ACSE_TIMEOUT = env_float("DICOM_ACSE_TIMEOUT", 30.0, minimum=1)
DICOM_DIMSE_TIMEOUT = env_float("DICOM_DIMSE_TIMEOUT", 60.0, minimum=1)
# "Test connection" runs in a web thread: at most this many at once per web process (one per user),
# so a hung PACS can't take every thread; and at most CONNECTION_TEST_RATE per user.
CONNECTION_TESTS_PER_PROCESS = env_int("CONNECTION_TESTS_PER_PROCESS", 2, minimum=1)
CONNECTION_TEST_RATE = env_rate("CONNECTION_TEST_RATE", "20/min")

# --- DICOMweb (STOW-RS destinations; dicomnet/stow.py) ---------------------------------------
# Instances per STOW-RS request: at most this many and this many bytes (one instance at least).
DICOMWEB_BATCH_INSTANCES = env_int("DICOMWEB_BATCH_INSTANCES", 50, minimum=1, maximum=10_000)
DICOMWEB_BATCH_BYTES = env_bytes("DICOMWEB_BATCH_BYTES", 64 * 1024**2)
# How long a server may take to answer one request (or to take one chunk of it).
DICOMWEB_TIMEOUT = env_float("DICOMWEB_TIMEOUT", 120.0, minimum=1)
# Also name each part's transfer syntax in its Content-Type (its Part 10 header always does);
# Orthanc's DICOMweb plugin 1.7 (Debian 12) refuses parts that carry the parameter.
DICOMWEB_NAME_TRANSFER_SYNTAX = env_bool("DICOMWEB_NAME_TRANSFER_SYNTAX", False)

# --- Import limits ---------------------------------------------------------------------------
# Defaults fit real studies: a 3 GB upload of 5,000 instances is accepted.
UPLOAD_MAX_BYTES = env_bytes("UPLOAD_MAX_BYTES", 4 * 1024**3)
UPLOAD_MAX_FILES = env_int("UPLOAD_MAX_FILES", 10_000, minimum=1)
ZIP_MAX_MEMBERS = env_int("ZIP_MAX_MEMBERS", 20_000, minimum=1)
ZIP_MAX_UNCOMPRESSED_BYTES = env_bytes("ZIP_MAX_UNCOMPRESSED_BYTES", 8 * 1024**3)
ZIP_MAX_RATIO = env_int("ZIP_MAX_RATIO", 200, minimum=1)
DICOM_MAX_INFLATED_HEADER_BYTES = env_bytes("DICOM_MAX_INFLATED_HEADER_BYTES", 64 * 1024**2)
IMPORT_TTL = env_duration("IMPORT_TTL", 24 * 3600)
STORAGE_MIN_FREE_BYTES = env_bytes("STORAGE_MIN_FREE_BYTES", 256 * 1024**2)
DATA_UPLOAD_MAX_MEMORY_SIZE = env_bytes("JSON_MAX_BYTES", 1024 * 1024)
FILE_UPLOAD_MAX_MEMORY_SIZE = 0  # every uploaded part goes straight to a temporary file
FILE_UPLOAD_TEMP_DIR = str(UPLOAD_TEMP_DIR)
# Django's file storage (collectstatic) chmods what it writes to these, whatever the umask.
FILE_UPLOAD_PERMISSIONS = 0o600
FILE_UPLOAD_DIRECTORY_PERMISSIONS = 0o700
DATA_UPLOAD_MAX_NUMBER_FIELDS = 1000
DATA_UPLOAD_MAX_NUMBER_FILES = UPLOAD_MAX_FILES

# --- Transfers -------------------------------------------------------------------------------
TRANSFER_MAX_ATTEMPTS = env_int("TRANSFER_MAX_ATTEMPTS", 4, minimum=1, maximum=20)
TRANSFER_RETRY_BACKOFF = env_float("TRANSFER_RETRY_BACKOFF", 10.0, minimum=0)
TRANSFER_RETRY_BACKOFF_MAX = env_duration("TRANSFER_RETRY_BACKOFF_MAX", 600.0)
TRANSFER_RETRY_FOR = env_duration("TRANSFER_RETRY_FOR", 24 * 3600.0)
TRANSFER_MAX_CONCURRENT_PER_DESTINATION = env_int("TRANSFER_MAX_CONCURRENT_PER_DESTINATION", 2, minimum=1)
TRANSFER_STALE_AFTER = env_float("TRANSFER_STALE_AFTER", 10.0, minimum=1)
TRANSFER_PROGRESS_INTERVAL = env_float("TRANSFER_PROGRESS_INTERVAL", 0.5, minimum=0.05)
WORKER_HEARTBEAT_INTERVAL = env_float("WORKER_HEARTBEAT_INTERVAL", 2.0, minimum=0.1)
WORKER_STALE_AFTER = env_float("WORKER_STALE_AFTER", 60.0, minimum=1)
HOUSEKEEPING_INTERVAL = env_float("HOUSEKEEPING_INTERVAL", 60.0, minimum=0.1)
# How old a destination's record of accepted transfer syntaxes may get before housekeeping probes
# it again (0: never; "Test connection" and sends still do).
DESTINATION_PROBE_INTERVAL = (
    0.0
    if os.environ.get("DESTINATION_PROBE_INTERVAL", "").strip().lower() in ("0", "off")
    else env_duration("DESTINATION_PROBE_INTERVAL", 24 * 3600.0)
)

# --- Metrics (GET /metrics, dicom_transfer/metrics) --------------------------------------------
METRICS_TOKEN = env_str("METRICS_TOKEN")  # unset: /metrics answers 404
# Each web process's request counts, one file per process (prometheus-client's multiprocess mode,
# chosen when prometheus_client is first imported: after this). Per machine: pids are per machine.
METRICS_DIR = Path(env_str("METRICS_DIR", str(DATA_DIR / "metrics" / socket.gethostname()))).resolve()
for _directory in (METRICS_DIR.parent, METRICS_DIR):
    _directory.mkdir(mode=0o700, parents=True, exist_ok=True)
os.environ["PROMETHEUS_MULTIPROC_DIR"] = str(METRICS_DIR)

# --- Logging -------------------------------------------------------------------------------
LOGGING_LEVEL = env_str("LOGGING_LEVEL", "INFO").upper()
if LOGGING_LEVEL not in {"DEBUG", "INFO", "WARNING", "ERROR", "CRITICAL"}:
    raise ImproperlyConfigured(f"LOGGING_LEVEL must be DEBUG, INFO, WARNING, ERROR or CRITICAL, got {LOGGING_LEVEL!r}.")

_create_private_file(LOG_DIR / "dicom_transfer.log")
LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "filters": {"safe_text": {"()": "dicom_transfer.logfilters.SafeTextFilter"}},
    "formatters": {
        "plain": {"format": "%(asctime)s %(levelname)s %(name)s %(process)d %(message)s"},
    },
    "handlers": {
        "console": {
            "class": "logging.StreamHandler",
            "formatter": "plain",
            "filters": ["safe_text"],
            "stream": sys.stderr,
        },
        "file": {
            "class": "logging.handlers.WatchedFileHandler",
            "filename": str(LOG_DIR / "dicom_transfer.log"),
            "formatter": "plain",
            "filters": ["safe_text"],
            "encoding": "utf-8",
        },
    },
    "loggers": {
        **{
            name: {"handlers": ["file", "console"], "level": LOGGING_LEVEL, "propagate": False}
            for name in ("dicom_transfer", "authentication", "destinations", "dicom_api")
        },
        "django": {"handlers": ["console"], "level": "WARNING"},
        "django_tasks_db": {"handlers": ["console"], "level": "INFO", "propagate": False},
        # httpx (DICOMweb) logs every request at INFO: URLs are ours to log, but a line per batch is noise.
        "httpx": {"handlers": ["console"], "level": "WARNING", "propagate": False},
        "httpcore": {"handlers": ["console"], "level": "WARNING", "propagate": False},
    },
}
