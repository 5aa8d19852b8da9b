"""Settings shared by every deployment. Every value comes from an environment variable with a safe
default; the README's configuration table documents each one."""

import ipaddress
import math
import os
import re
from datetime import timedelta
from pathlib import Path
from urllib.parse import urlsplit

import environ
from csp.constants import NONCE, NONE, SELF
from django.core.exceptions import ImproperlyConfigured
from kombu import Exchange, Queue
from kombu.transport import resolve_transport

BASE_DIR = Path(__file__).resolve().parent.parent.parent


def _shown(url: str) -> str:
    """A URL for an error message: its password, if it names one, left out."""
    return re.sub(r"(//[^/@:]*:)[^/@]*@", r"\1***@", url)


class StrictEnv(environ.Env):
    """django-environ, reading numbers and booleans strictly: a malformed value (`NUM_PROXIES=abc`,
    `REDIS_SOCKET_TIMEOUT=5s`, `DEBUG=maybe`, a negative count) stops start-up with a message that
    names its variable, instead of a traceback deep inside or a value quietly read otherwise."""

    TRUE, FALSE = {"true", "yes", "on", "1"}, {"false", "no", "off", "0"}

    def bool(self, var, default=environ.Env.NOTSET):
        raw = os.environ.get(var)
        if raw is None:
            return super().bool(var, default=default)
        if raw.strip().lower() not in self.TRUE | self.FALSE:
            raise ImproperlyConfigured(f"{var}: {raw!r} is not true or false.")
        return raw.strip().lower() in self.TRUE

    def int(self, var, default=environ.Env.NOTSET, *, least=0):
        return self._number(var, default, int, "a whole number", least)

    def float(self, var, default=environ.Env.NOTSET, *, least=0):
        return self._number(var, default, float, "a number", least)

    def _number(self, var, default, kind, what, least):
        raw = os.environ.get(var)
        if raw is None:
            return super().get_value(var, cast=kind, default=default)
        try:
            value = kind(raw.strip())
        except ValueError:
            raise ImproperlyConfigured(f"{var}: {raw!r} is not {what}.") from None
        if not math.isfinite(value):
            raise ImproperlyConfigured(f"{var}: {raw!r} is not {what}.")
        if value < least:
            raise ImproperlyConfigured(f"{var}: {raw!r} must be {least} or more.")
        return value

    def db(self, var, default=environ.Env.NOTSET):
        config = super().db(var, default=default)
        if not config.get("ENGINE"):
            raise ImproperlyConfigured(
                f"{var}: {_shown(os.environ.get(var, default))!r} is not a database URL "
                f"(postgres://user:password@host:5432/name, or sqlite:///path)."
            )
        return config

    def email_url(self, var, default=environ.Env.NOTSET):
        try:
            return super().email_url(var, default=default)
        except ImproperlyConfigured as exc:
            raise ImproperlyConfigured(
                f"{var}: {_shown(os.environ.get(var, default))!r} is not an email URL ({exc}; "
                f"e.g. smtp+tls://user:password@host:587 or consolemail://)."
            ) from None

    def redis_url(self, var, default=environ.Env.NOTSET):
        value = self.str(var, default=default)
        if value and urlsplit(value).scheme not in ("redis", "rediss", "unix"):
            raise ImproperlyConfigured(
                f"{var}: {_shown(value)!r} is not a Redis URL (redis://host:6379/0, rediss:// or "
                f"unix://)."
            )
        return value

    def broker_url(self, var, default=environ.Env.NOTSET):
        value = self.str(var, default=default)
        try:
            resolve_transport((urlsplit(value).scheme or value).split("+")[0])
        except (KeyError, ValueError, ImportError):
            raise ImproperlyConfigured(
                f"{var}: {_shown(value)!r} is not a broker URL kombu knows (redis://, amqp://, "
                f"filesystem://…)."
            ) from None
        return value

    def choice(self, var, choices, default):
        value = self.str(var, default=default)
        if value not in choices:
            raise ImproperlyConfigured(f"{var}: {value!r} is not one of {', '.join(choices)}.")
        return value


def _drop_empty_variables() -> None:
    """A variable set to nothing (`DATABASE_URL=` in a copied .env.example, `SECRET_KEY= cmd` in a
    shell) means its default: .env's value, or else the setting's."""
    for name in [name for name, value in os.environ.items() if value == ""]:
        del os.environ[name]


env = StrictEnv()
_drop_empty_variables()
# Read from the environment only: the file of the other settings.
ENV_FILE = Path(os.environ.get("ENV_FILE", BASE_DIR / ".env"))
if ENV_FILE.is_file():
    env.read_env(str(ENV_FILE))
elif "ENV_FILE" in os.environ:
    raise ImproperlyConfigured(f"ENV_FILE: {str(ENV_FILE)!r} is not a file.")
_drop_empty_variables()


def _env_counts(name: str, *, least: int = 0) -> dict[str, int]:
    """A setting of the form `job_type=number,job_type=number` (in the README and .env.example),
    every number a whole one, `least` or more."""
    counts = {}
    for item in filter(None, (part.strip() for part in env.str(name, default="").split(","))):
        match = re.fullmatch(r"([\w.-]+)\s*=\s*(-?\d+)", item, re.ASCII)
        if match is None:
            raise ImproperlyConfigured(
                f"{name}: {item!r} is not job_type=number (e.g. story_generation=5,image_edit=2)."
            )
        key, number = match[1], int(match[2])
        if number < least:
            raise ImproperlyConfigured(f"{name}: {key} must be at least {least}.")
        counts[key] = number
    return counts


# The embedded default keeps its SQLite file, broker folders and media here.
VAR_DIR = Path(env("VAR_DIR", default=str(BASE_DIR / "var")))

DEBUG = env.bool("DEBUG", default=False)
SECRET_KEY = env("SECRET_KEY", default="insecure-development-key" if DEBUG else "")
if not SECRET_KEY:
    raise ImproperlyConfigured("SECRET_KEY must be set when DEBUG is off.")
# Earlier keys, still accepted for what they signed (sessions, list cursors, signed links) while a
# new SECRET_KEY takes over; drop them once those have expired.
SECRET_KEY_FALLBACKS = env.list("SECRET_KEY_FALLBACKS", default=[])

ALLOWED_HOSTS = env.list("ALLOWED_HOSTS", default=["127.0.0.1", "localhost"])
PUBLIC_BASE_URL = env("PUBLIC_BASE_URL", default="http://127.0.0.1:8000").rstrip("/")
_public = urlsplit(PUBLIC_BASE_URL)
if _public.scheme not in ("http", "https") or not _public.netloc:
    raise ImproperlyConfigured("PUBLIC_BASE_URL must be an absolute http(s) URL.")
CSRF_TRUSTED_ORIGINS = env.list(
    "CSRF_TRUSTED_ORIGINS", default=[f"{_public.scheme}://{_public.netloc}"]
)
# How many reverse proxies in front of the web processes append to X-Forwarded-For; the client
# address is read that many hops from the right, never from the raw header.
NUM_PROXIES = env.int("NUM_PROXIES", default=0)
# The networks those proxies connect from: X-Forwarded-For is read only on a connection from one
# of them (or on a Unix socket, from a local process), so a client reaching the web processes
# directly cannot name its own address.
TRUSTED_PROXIES = env.list(
    "TRUSTED_PROXIES",
    default=["127.0.0.0/8", "::1/128", "10.0.0.0/8", "172.16.0.0/12", "192.168.0.0/16", "fc00::/7"],
)
try:
    for _network in TRUSTED_PROXIES:
        ipaddress.ip_network(_network, strict=False)
except ValueError as exc:
    raise ImproperlyConfigured(f"TRUSTED_PROXIES: {exc}") from exc

# Served over https (an https PUBLIC_BASE_URL): session and CSRF cookies travel over https only.
# Behind proxies, a request is secure when the proxy says so in X-Forwarded-Proto, read only on
# a connection from TRUSTED_PROXIES (core.middleware.ForwardedProtoMiddleware).
SESSION_COOKIE_SECURE = CSRF_COOKIE_SECURE = _public.scheme == "https"
if NUM_PROXIES:
    SECURE_PROXY_SSL_HEADER = ("HTTP_X_FORWARDED_PROTO", "https")
SECURE_HSTS_SECONDS = env.int("SECURE_HSTS_SECONDS", default=0)
# Only once every subdomain is served over https too; preload asks browsers to ship the rule.
SECURE_HSTS_INCLUDE_SUBDOMAINS = env.bool("SECURE_HSTS_INCLUDE_SUBDOMAINS", default=False)
SECURE_HSTS_PRELOAD = env.bool("SECURE_HSTS_PRELOAD", default=False)
SECURE_SSL_REDIRECT = env.bool("SECURE_SSL_REDIRECT", default=False)
# Scrapers speak plain http inside the network (the probes are answered before any redirect).
SECURE_REDIRECT_EXEMPT = [r"^metrics$"]

INSTALLED_APPS = [
    "django.contrib.admin",
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "django.contrib.staticfiles",
    "rest_framework",
    "drf_spectacular",
    "drf_spectacular_sidecar",
    "django_celery_beat",
    "csp",
    "axes",
    "core",
    "accounts",
    "jobs",
    "generations",
    "budgets",
    "invoices",
    "sharelinks",
]

MIDDLEWARE = [
    # First: whatever comes after may ask whether the request is secure.
    "core.middleware.ForwardedProtoMiddleware",
    "core.middleware.RequestIdMiddleware",
    "core.middleware.ProbeMiddleware",
    "core.middleware.RateLimitHeadersMiddleware",
    "core.middleware.ApiPrivateMiddleware",
    "django.middleware.security.SecurityMiddleware",
    # Before whitenoise, so the static files it serves carry the policy too.
    "core.middleware.SitePolicyMiddleware",
    # Serves STATIC_ROOT (the admin's and the API docs' assets) from the web processes.
    "whitenoise.middleware.WhiteNoiseMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
    "core.middleware.NulQueryMiddleware",
    "core.middleware.ApiProblemMiddleware",
    # Last, as django-axes asks: it turns a login refused for a lockout into the lockout page.
    "axes.middleware.AxesMiddleware",
]

ROOT_URLCONF = "config.urls"
WSGI_APPLICATION = "config.wsgi.application"

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

# Content-Security-Policy of every answer that has none of its own (the public pages keep theirs):
# the admin and the API docs load nothing but the site's own scripts, styles, fonts and images.
# (Not named CSP_*: django-csp reads such settings as its old format and refuses to start.)
_csp_report_uri = env("CSP_REPORT_URI", default="")
_csp = {
    "DIRECTIVES": {
        "default-src": [SELF],
        # A nonce for the one inline script a page of a dependency keeps (django-celery-beat's).
        "script-src": [SELF, NONCE],
        "style-src": [SELF],
        "img-src": [SELF, "data:"],
        "object-src": [NONE],
        "base-uri": [NONE],
        "form-action": [SELF],
        "frame-ancestors": [NONE],
        "report-uri": [_csp_report_uri] if _csp_report_uri else None,
    }
}
if env.bool("CSP_REPORT_ONLY", default=False):
    CONTENT_SECURITY_POLICY, CONTENT_SECURITY_POLICY_REPORT_ONLY = None, _csp
else:
    CONTENT_SECURITY_POLICY, CONTENT_SECURITY_POLICY_REPORT_ONLY = _csp, None

# An invoice's admin page sends 7 fields a line, for up to 1,000 lines (Django's default of 1,000
# fields would refuse one of 140 lines).
DATA_UPLOAD_MAX_NUMBER_FIELDS = env.int("DATA_UPLOAD_MAX_NUMBER_FIELDS", default=10_000, least=1)

# Database: a SQLite file by default (the embedded mode), PostgreSQL through psycopg 3 in production.
DATABASES = {"default": env.db("DATABASE_URL", default=f"sqlite:///{VAR_DIR / 'offload.sqlite3'}")}
CONN_MAX_AGE = env.int("CONN_MAX_AGE", default=60)


def _tune_database(database: dict) -> dict:
    if database["ENGINE"] == "django.db.backends.sqlite3":
        database.setdefault("OPTIONS", {}).update(
            {
                "init_command": "PRAGMA journal_mode=WAL; PRAGMA synchronous=NORMAL;",
                "timeout": 20,
                "transaction_mode": "IMMEDIATE",
            }
        )
    elif database["ENGINE"] != "django.db.backends.postgresql":
        raise ImproperlyConfigured(
            f"DATABASE_URL: {database['ENGINE']} is not supported; use postgres:// or sqlite://."
        )
    else:
        database["ENGINE"] = "core.postgresql"
        database["CONN_MAX_AGE"] = CONN_MAX_AGE
        database["CONN_HEALTH_CHECKS"] = True
        # A server that accepts connections but never answers (hung, or behind a black-holed
        # route) would hold every request until gunicorn kills its process: a connection not
        # made within this many seconds is an error, answered 503. A URL's own wins.
        database.setdefault("OPTIONS", {}).setdefault(
            "connect_timeout", env.int("DATABASE_CONNECT_TIMEOUT", default=3, least=2)
        )
        # Server-side binding lets psycopg prepare the hot queries (job claims, polls) once per
        # connection instead of PostgreSQL planning them on every execution.
        if env.bool("DATABASE_PREPARED_STATEMENTS", default=True):
            database.setdefault("OPTIONS", {}).update(
                {"server_side_binding": True, "prepare_threshold": 2}
            )
        # A connection dropped in the middle of a query (a time limit landing inside a handler's
        # own transaction, a web request cut off) would leave the query running to its end, locks
        # and all: the server looks this often whether its client is still there, and stops it.
        if check := env.int("DATABASE_CLIENT_CHECK_SECONDS", default=10):
            options = database.setdefault("OPTIONS", {})
            options["options"] = " ".join(
                filter(
                    None, [options.get("options"), f"-c client_connection_check_interval={check}s"]
                )
            )
    return database


DATABASES["default"] = _tune_database(DATABASES["default"])
if DATABASES["default"]["ENGINE"] == "django.db.backends.sqlite3":
    # The jobs queue's covering index (INCLUDE) is a PostgreSQL refinement; SQLite indexes the keys.
    SILENCED_SYSTEM_CHECKS = ["models.W040"]
DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"

# Redis holds rate-limit counters, locks and the cache. Unset: the database does that work.
REDIS_URL = env.redis_url("REDIS_URL", default="")
# Seconds a process waits on Redis (and a Redis broker) before it counts as out of reach: a
# server that hangs then answers 503 with Retry-After, like one that refuses, instead of holding
# every request until gunicorn kills its worker.
REDIS_SOCKET_TIMEOUT = env.float("REDIS_SOCKET_TIMEOUT", default=5.0, least=0.1)
_REDIS_TIMEOUTS = {
    "socket_timeout": REDIS_SOCKET_TIMEOUT,
    "socket_connect_timeout": min(REDIS_SOCKET_TIMEOUT, 2.0),
}
# "local" is per process, for figures that may be a second or two old (queue lengths, means).
LOCAL_CACHE = {"BACKEND": "django.core.cache.backends.locmem.LocMemCache", "LOCATION": "local"}
if REDIS_URL:
    CACHES = {
        "default": {
            "BACKEND": "core.redis.RedisCache",
            "LOCATION": REDIS_URL,
            "OPTIONS": {**_REDIS_TIMEOUTS, "health_check_interval": 30},
        },
        "local": LOCAL_CACHE,
    }
else:
    CACHES = {
        "default": {"BACKEND": "django.core.cache.backends.locmem.LocMemCache"},
        "local": LOCAL_CACHE,
    }

# The admin login's brute-force protection (django-axes, its records in the database, so every web
# process counts alike, on the embedded default too): after ADMIN_LOGIN_FAILURE_LIMIT failed logins
# for one username from one client address, that username is refused from that address until
# ADMIN_LOGIN_LOCKOUT_SECONDS after the failure that locked it. Failures are forgotten that long
# after the last of them, and a successful login forgets them at once. Per username and address:
# an attacker can lock no one out from another address.
ADMIN_LOGIN_FAILURE_LIMIT = env.int("ADMIN_LOGIN_FAILURE_LIMIT", default=5, least=1)
ADMIN_LOGIN_LOCKOUT_SECONDS = env.int("ADMIN_LOGIN_LOCKOUT_SECONDS", default=900, least=1)
# The record of admin logins (axes' access log) is purged past this, with the hourly job purge.
ADMIN_LOGIN_LOG_DAYS = env.int("ADMIN_LOGIN_LOG_DAYS", default=90, least=1)
AUTHENTICATION_BACKENDS = [
    # Refuses a locked-out login before its password is checked; the API's keys never pass here.
    "axes.backends.AxesStandaloneBackend",
    "django.contrib.auth.backends.ModelBackend",
]
AXES_FAILURE_LIMIT = ADMIN_LOGIN_FAILURE_LIMIT
AXES_COOLOFF_TIME = timedelta(seconds=ADMIN_LOGIN_LOCKOUT_SECONDS)
AXES_LOCKOUT_PARAMETERS = [["username", "ip_address"]]
AXES_RESET_ON_SUCCESS = True
# Attempts refused during a lockout are not counted: they do not extend it.
AXES_RESET_COOL_OFF_ON_FAILURE_DURING_LOCKOUT = False
AXES_CLIENT_IP_CALLABLE = "accounts.login_lockout.login_address"
AXES_LOCKOUT_CALLABLE = "accounts.login_lockout.login_locked_out"
# Masked in the attempts' stored form data and in the log lines, as the password always is.
AXES_SENSITIVE_PARAMETERS = ["username", "ip_address", "csrfmiddlewaretoken"]
# No start-up line in every process and command.
AXES_VERBOSE = False

AUTH_PASSWORD_VALIDATORS = [
    {"NAME": "django.contrib.auth.password_validation.UserAttributeSimilarityValidator"},
    {"NAME": "django.contrib.auth.password_validation.MinimumLengthValidator"},
    {"NAME": "django.contrib.auth.password_validation.CommonPasswordValidator"},
    {"NAME": "django.contrib.auth.password_validation.NumericPasswordValidator"},
]

LANGUAGE_CODE = "en-us"
# Times in the admin name their zone (config/formats).
FORMAT_MODULE_PATH = ["config.formats"]
TIME_ZONE = env("TIME_ZONE", default="UTC")
USE_I18N = True
USE_TZ = True

STATIC_URL = "static/"
STATIC_ROOT = env("STATIC_ROOT", default=str(BASE_DIR / "staticfiles"))
STATICFILES_DIRS = [BASE_DIR / "static"]
MEDIA_URL = "media/"
MEDIA_ROOT = env("MEDIA_ROOT", default=str(VAR_DIR / "media"))

# Files: the local filesystem by default; any S3-compatible bucket (S3, R2, MinIO) when
# AWS_STORAGE_BUCKET_NAME is set, through django-storages.
AWS_STORAGE_BUCKET_NAME = env("AWS_STORAGE_BUCKET_NAME", default="")
if AWS_STORAGE_BUCKET_NAME:
    AWS_S3_ENDPOINT_URL = env("AWS_S3_ENDPOINT_URL", default=None)
    AWS_S3_REGION_NAME = env("AWS_S3_REGION_NAME", default=None)
    AWS_ACCESS_KEY_ID = env("AWS_ACCESS_KEY_ID", default=None)
    AWS_SECRET_ACCESS_KEY = env("AWS_SECRET_ACCESS_KEY", default=None)
    AWS_QUERYSTRING_AUTH = True
    AWS_QUERYSTRING_EXPIRE = env.int("AWS_QUERYSTRING_EXPIRE", default=3600)
    AWS_DEFAULT_ACL = None
    # As on the filesystem, a save never replaces an object: a new invoice PDF is stored beside
    # the one it replaces, which goes only once the new one is recorded.
    AWS_S3_FILE_OVERWRITE = False
    DEFAULT_FILE_STORAGE_BACKEND = "storages.backends.s3.S3Storage"
else:
    DEFAULT_FILE_STORAGE_BACKEND = "django.core.files.storage.FileSystemStorage"
STORAGES = {
    "default": {"BACKEND": DEFAULT_FILE_STORAGE_BACKEND},
    "staticfiles": {"BACKEND": "django.contrib.staticfiles.storage.StaticFilesStorage"},
}

EMAIL_CONFIG = env.email_url("EMAIL_URL", default="consolemail://")
vars().update(EMAIL_CONFIG)
DEFAULT_FROM_EMAIL = env("DEFAULT_FROM_EMAIL", default="Offload <offload@localhost>")

REST_FRAMEWORK = {
    "DEFAULT_AUTHENTICATION_CLASSES": [
        "accounts.authentication.ApiKeyAuthentication",
        "accounts.authentication.StaffSessionAuthentication",
    ],
    "DEFAULT_PERMISSION_CLASSES": ["accounts.permissions.IsTenantMember"],
    "DEFAULT_RENDERER_CLASSES": ["rest_framework.renderers.JSONRenderer"],
    "DEFAULT_PARSER_CLASSES": ["core.parsers.JSONParser"],
    "DEFAULT_PAGINATION_CLASS": "core.pagination.CursorPagination",
    "PAGE_SIZE": 50,
    "DEFAULT_THROTTLE_CLASSES": ["core.throttling.RequestRateThrottle"],
    "EXCEPTION_HANDLER": "core.errors.problem_exception_handler",
    "DEFAULT_SCHEMA_CLASS": "core.schema.AutoSchema",
    "UNAUTHENTICATED_USER": None,
}

SPECTACULAR_SETTINGS = {
    "TITLE": "Offload API",
    "DESCRIPTION": "Submit background work, poll it, cancel and retry it.",
    "VERSION": "1.0.0",
    "SERVE_INCLUDE_SCHEMA": False,
    "COMPONENT_SPLIT_REQUEST": True,
    # Swagger UI is served from the project's own static files, never from a CDN.
    "SWAGGER_UI_DIST": "SIDECAR",
    "SWAGGER_UI_FAVICON_HREF": "SIDECAR",
    "REDOC_DIST": "SIDECAR",
    # Job ids in paths are UUIDs in any case (core.converters).
    "PATH_CONVERTER_OVERRIDES": {"id": {"type": "string", "format": "uuid"}},
    "ENUM_NAME_OVERRIDES": {
        "JobStatusEnum": "jobs.models.Job.Status",
        "ProjectStatusEnum": "budgets.models.Project.Status",
        "StoryStatusEnum": "generations.models.Story.Status",
        "TypeEnum": "budgets.models.THRESHOLD_TYPES",
    },
}

# API limits (per API key). A per-key override on the key itself wins over these.
RATE_LIMIT_PER_MINUTE = env.int("RATE_LIMIT_PER_MINUTE", default=10, least=1)
RATE_LIMIT_PER_DAY = env.int("RATE_LIMIT_PER_DAY", default=100, least=1)
RATE_LIMIT_PER_HOUR_PER_TYPE = env.int("RATE_LIMIT_PER_HOUR_PER_TYPE", default=20, least=1)
RATE_LIMIT_READS_PER_MINUTE = env.int("RATE_LIMIT_READS_PER_MINUTE", default=600, least=1)
# Every other write (projects, entries, invoices, share links, keys, cancels): each may queue work
# (an invoice's PDF) or store rows, so a runaway client is bounded too.
RATE_LIMIT_WRITES_PER_MINUTE = env.int("RATE_LIMIT_WRITES_PER_MINUTE", default=300, least=1)
# Failed API authentications per client address (read through NUM_PROXIES) per minute, after
# which the address's keys are refused (429) without being looked up: keys cannot be tried at will.
RATE_LIMIT_AUTH_FAILURES_PER_MINUTE = env.int(
    "RATE_LIMIT_AUTH_FAILURES_PER_MINUTE", default=100, least=1
)
# Authentication caches each API key (by its hash) this long; saving a key or its tenant drops it.
# Only where the cache is shared by every process (Redis): the embedded default's cache is each
# process's own, where a key revoked by another process (a command, the worker) would outlive it.
API_KEY_CACHE_SECONDS = env.int("API_KEY_CACHE_SECONDS", default=60) if REDIS_URL else 0
IDEMPOTENCY_KEY_TTL_HOURS = env.int("IDEMPOTENCY_KEY_TTL_HOURS", default=24, least=1)
# A running request holds its Idempotency-Key this long at most: longer than any request runs
# (gunicorn replaces a worker silent for 30 s), so a key held longer was left by a dead process.
IDEMPOTENCY_IN_FLIGHT_SECONDS = env.int("IDEMPOTENCY_IN_FLIGHT_SECONDS", default=60, least=1)

# Celery: JSON only; the broker carries wake-ups, the jobs table is the truth.
# The filesystem transport ignores the host; naming one spares a warning on every connection.
CELERY_BROKER_URL = env.broker_url("CELERY_BROKER_URL", default="filesystem://localhost/")
if CELERY_BROKER_URL.startswith("filesystem://"):
    BROKER_DIR = VAR_DIR / "broker"
    BROKER_DIR.mkdir(parents=True, exist_ok=True)
    CELERY_BROKER_TRANSPORT_OPTIONS = {
        "data_folder_in": str(BROKER_DIR),
        "data_folder_out": str(BROKER_DIR),
        "control_folder": str(BROKER_DIR / "control"),
        "store_processed": False,
    }
    # Stops waiting for messages as soon as the worker is told to stop (core.filesystem_broker).
    CELERY_BROKER_TRANSPORT = "core.filesystem_broker:BrokerTransport"
    # Prefork, whose stop never waits for a lock a stopped pool process kept (core.prefork).
    CELERY_WORKER_POOL = "core.prefork:TaskPool"
else:
    CELERY_BROKER_TRANSPORT_OPTIONS = {
        # Longer than any countdown the project uses, so Redis never redelivers a scheduled
        # message early; the jobs sweeper covers the messages a crash lost.
        "visibility_timeout": env.int("CELERY_VISIBILITY_TIMEOUT", default=3 * 3600, least=1),
        "queue_order_strategy": "priority",
    }
if CELERY_BROKER_URL.startswith(("redis://", "rediss://")):
    CELERY_BROKER_TRANSPORT = "core.redis:BrokerTransport"
    CELERY_BROKER_TRANSPORT_OPTIONS.update(_REDIS_TIMEOUTS)
CELERY_TASK_SERIALIZER = "json"
CELERY_RESULT_SERIALIZER = "json"
CELERY_ACCEPT_CONTENT = ["json"]
CELERY_TASK_IGNORE_RESULT = True
CELERY_RESULT_BACKEND = None
# No results are kept, so none expire: beat gets no `celery.backend_cleanup` schedule of its own.
CELERY_RESULT_EXPIRES = None
CELERY_TASK_ACKS_LATE = True
CELERY_TASK_REJECT_ON_WORKER_LOST = True
# A worker whose broker connection drops stops the attempts in hand, which go back to pending (their
# attempt not spent) and run again: left running, an attempt would lose its time limit, and its
# message, put back on the queue, would hold a prefetch slot until it ended.
CELERY_WORKER_CANCEL_LONG_RUNNING_TASKS_ON_CONNECTION_LOSS = True
# One message a pool process at a time. Not on the filesystem broker: there a worker that holds
# all it may waits 2 s before it asks again (Celery's loop for transports without events), which
# held it to one job a second; each process holds up to 8 there.
CELERY_WORKER_PREFETCH_MULTIPLIER = 8 if CELERY_BROKER_URL.startswith("filesystem://") else 1
# Each queue has its own exchange and routing key: a message reaches exactly one queue. `system`
# carries the schedules (sweeper, reaper, checks, cleanups), the others the jobs of each priority.
# Workers consume them in this order (the -Q lists of the Procfile and compose say so too): with the
# Redis broker's priority strategy, maintenance never waits behind a backlog of jobs.
CELERY_TASK_QUEUES = tuple(
    Queue(name, Exchange(name, type="direct"), routing_key=name)
    for name in ("system", "urgent", "normal", "batch")
)
CELERY_TASK_DEFAULT_QUEUE = "normal"
CELERY_WORKER_CONCURRENCY = env.int("WORKER_CONCURRENCY", default=None)
# A pool process is replaced after this many tasks, or after a task that leaves it holding more
# than this much resident memory (KiB; 0: no memory limit), so a leaking renderer cannot grow.
CELERY_WORKER_MAX_TASKS_PER_CHILD = env.int("WORKER_MAX_TASKS_PER_CHILD", default=200)
CELERY_WORKER_MAX_MEMORY_PER_CHILD = (
    env.int("WORKER_MAX_MEMORY_PER_CHILD", default=1_048_576) or None
)
CELERY_BROKER_CONNECTION_RETRY_ON_STARTUP = True
# Celery closes the database connection after every task unless told to reuse it; workers
# instead follow CONN_MAX_AGE like web requests do (core.celery_signals).
CELERY_DB_REUSE_MAX = 1_000_000
CELERY_BEAT_SCHEDULER = "django_celery_beat.schedulers:DatabaseScheduler"
CELERY_TIMEZONE = TIME_ZONE
CELERY_WORKER_HIJACK_ROOT_LOGGER = False

# The job engine's clocks.
# At least a second: a processing job beats three times within it, and one with no beat for that
# long is taken from its worker.
JOBS_STALE_AFTER_SECONDS = env.int("JOBS_STALE_AFTER_SECONDS", default=300, least=1)
JOBS_SWEEP_INTERVAL_SECONDS = env.int("JOBS_SWEEP_INTERVAL_SECONDS", default=60, least=1)
JOBS_RETENTION_COMPLETED_HOURS = env.int("JOBS_RETENTION_COMPLETED_HOURS", default=24)
JOBS_RETENTION_FAILED_DAYS = env.int("JOBS_RETENTION_FAILED_DAYS", default=7)
# The sweeper and the reaper alone record some 2,900 runs a day.
JOBS_RETENTION_TASK_RUNS_DAYS = env.int("JOBS_RETENTION_TASK_RUNS_DAYS", default=30, least=1)
JOBS_ENABLE_DIAGNOSTICS = env.bool("JOBS_ENABLE_DIAGNOSTICS", default=DEBUG)
# Per-type caps on jobs processing at once across every worker, overriding the types' own,
# e.g. JOBS_MAX_CONCURRENCY=story_generation=5,image_generation=2.
JOBS_MAX_CONCURRENCY = _env_counts("JOBS_MAX_CONCURRENCY")
# Per-type caps on one workspace's jobs processing at once, overriding the types' own, e.g.
# JOBS_MAX_CONCURRENCY_PER_TENANT=story_generation=2,image_generation=1. Stories (5 at once across
# every worker) allow 2 per workspace unless set here, so that one workspace cannot take every slot.
JOBS_MAX_CONCURRENCY_PER_TENANT = {
    "story_generation": 2,
    **_env_counts("JOBS_MAX_CONCURRENCY_PER_TENANT"),
}
# Per-type time limits in seconds, overriding the types' own, e.g. JOBS_TIME_LIMITS=invoice_pdf=120.
JOBS_TIME_LIMITS = _env_counts("JOBS_TIME_LIMITS", least=1)

LOG_FORMAT = env.choice("LOG_FORMAT", ["text", "json"], default="text" if DEBUG else "json")
LOG_LEVEL = env.choice("LOG_LEVEL", ["DEBUG", "INFO", "WARNING", "ERROR", "CRITICAL"], "INFO")
# Django's dictConfig, and Python's warnings through it as log lines.
LOGGING_CONFIG = "core.logging.configure"
LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "filters": {
        "context": {"()": "core.logging.ContextFilter"},
        "redact": {"()": "core.logging.RedactSecretsFilter"},
    },
    "formatters": {
        # Each line names the process that wrote it (as gunicorn's own lines do): web processes,
        # a worker's pool processes and beat often share one journal.
        "text": {
            "format": "%(asctime)s [%(process)d] %(levelname)s %(name)s"
            " [%(request_id)s %(tenant)s %(task)s %(job_id)s] %(message)s"
        },
        "json": {
            "()": "pythonjsonlogger.json.JsonFormatter",
            "fmt": "%(asctime)s %(process)d %(levelname)s %(name)s %(message)s %(request_id)s %(tenant)s %(job_id)s %(task)s",
            "rename_fields": {"process": "pid"},
            # `asctime` is local time without an offset; `timestamp` is UTC, ISO 8601, to the ms.
            "timestamp": True,
        },
    },
    "handlers": {
        "console": {
            "class": "logging.StreamHandler",
            "formatter": LOG_FORMAT,
            "filters": ["context", "redact"],
        }
    },
    "root": {"handlers": ["console"], "level": LOG_LEVEL},
    "loggers": {
        # runserver's request log (the embedded default's web), through the redacting handler.
        "django.server": {"handlers": ["console"], "level": "INFO", "propagate": False},
        # Django's own lines (requests refused, ...) through it too: its default console handler,
        # on while DEBUG is, would print them as they are, share-link tokens and all.
        # At INFO at most, as Django's own default has it: its DEBUG lines are every SQL query.
        "django": {
            "handlers": ["console"],
            "level": "INFO" if LOG_LEVEL == "DEBUG" else LOG_LEVEL,
            "propagate": False,
        },
        # WeasyPrint narrates every rendering step at INFO.
        "weasyprint": {"level": "WARNING"},
        "fontTools": {"level": "WARNING"},
    },
}

# Platform alerts (not about one tenant) go to the active staff users with these addresses;
# unset, to every active superuser.
PLATFORM_ALERT_EMAILS = env.list("PLATFORM_ALERT_EMAILS", default=[])

# Monitoring: /metrics answers a bearer token, or the listed addresses/networks.
METRICS_TOKEN = env("METRICS_TOKEN", default="")
METRICS_ALLOWED_IPS = env.list("METRICS_ALLOWED_IPS", default=["127.0.0.1", "::1"])
try:
    for _network in METRICS_ALLOWED_IPS:
        ipaddress.ip_network(_network, strict=False)
except ValueError as exc:
    raise ImproperlyConfigured(f"METRICS_ALLOWED_IPS: {exc}") from exc
# The operations check (every 5 minutes) alerts platform staff when:
OPS_BUDGET_CHECK_MAX_AGE_MINUTES = env.int("OPS_BUDGET_CHECK_MAX_AGE_MINUTES", default=30)
OPS_PDF_FAILURE_RATE = env.float("OPS_PDF_FAILURE_RATE", default=0.10)
OPS_PDF_FAILURE_MIN_SAMPLE = env.int("OPS_PDF_FAILURE_MIN_SAMPLE", default=10)
OPS_CLEANUP_MAX_FAILURES = env.int("OPS_CLEANUP_MAX_FAILURES", default=100)
OPS_WORKER_SILENT_SECONDS = env.int("OPS_WORKER_SILENT_SECONDS", default=120)
OPS_MAX_PENDING_AGE_SECONDS = env.int("OPS_MAX_PENDING_AGE_SECONDS", default=600)
# When no worker has run the health check for this long (every worker down), beat runs it itself.
OPS_HEALTH_CHECK_FALLBACK_SECONDS = env.int("OPS_HEALTH_CHECK_FALLBACK_SECONDS", default=600)

# Credits each job type costs at submit, e.g. JOB_CREDIT_COSTS=story_generation=5,deck_generation=2.
# Types the product submits itself (invoice_pdf) are never charged.
JOB_CREDIT_COSTS = _env_counts("JOB_CREDIT_COSTS")

# Invoices: changes within this many seconds of each other give one PDF render.
INVOICE_PDF_DEBOUNCE_SECONDS = env.float("INVOICE_PDF_DEBOUNCE_SECONDS", default=2.0)

# Generations: which provider writes (offline needs no network), and the remote providers' settings.
GENERATION_PROVIDER = env.choice(
    "GENERATION_PROVIDER", ["offline", "openai", "anthropic"], default="offline"
)
GENERATION_HTTP_TIMEOUT = env.float("GENERATION_HTTP_TIMEOUT", default=60.0)
GENERATION_MAX_INPUT_CHARS = env.int("GENERATION_MAX_INPUT_CHARS", default=20_000, least=1)
GENERATION_VIEW_URL_MAX_AGE = env.int("GENERATION_VIEW_URL_MAX_AGE", default=7 * 24 * 3600, least=1)
GENERATION_IMAGE_MAX_BYTES = env.int(
    "GENERATION_IMAGE_MAX_BYTES", default=10 * 1024 * 1024, least=1
)
# A source or a model's answer is refused past this from its header, before its pixels are decoded.
GENERATION_IMAGE_MAX_PIXELS = env.int("GENERATION_IMAGE_MAX_PIXELS", default=16_000_000, least=1)
OPENAI_BASE_URL = env("OPENAI_BASE_URL", default="https://api.openai.com/v1")
OPENAI_API_KEYS = env.list("OPENAI_API_KEYS", default=[])
OPENAI_MODEL = env("OPENAI_MODEL", default="gpt-4o-mini")
OPENAI_IMAGE_MODEL = env("OPENAI_IMAGE_MODEL", default="gpt-image-1")
OPENAI_RPM = env.int("OPENAI_RPM", default=60, least=1)
ANTHROPIC_BASE_URL = env("ANTHROPIC_BASE_URL", default="https://api.anthropic.com")
ANTHROPIC_API_KEYS = env.list("ANTHROPIC_API_KEYS", default=[])
ANTHROPIC_MODEL = env("ANTHROPIC_MODEL", default="claude-sonnet-4-5")
ANTHROPIC_RPM = env.int("ANTHROPIC_RPM", default=50, least=1)
# The longest answer asked for (the Messages API needs a bound); one cut there fails the job.
ANTHROPIC_MAX_TOKENS = env.int("ANTHROPIC_MAX_TOKENS", default=8192, least=1)

# Share links: public pages per client address per minute, the longest a link may live, the cleanup.
SHARE_LINK_RATE_LIMIT_PER_MINUTE = env.int("SHARE_LINK_RATE_LIMIT_PER_MINUTE", default=60, least=1)
SHARE_LINK_MAX_DAYS = env.int("SHARE_LINK_MAX_DAYS", default=365, least=1)
SHARE_LINK_CLEANUP_BATCH = env.int("SHARE_LINK_CLEANUP_BATCH", default=100, least=1)
SHARE_LINK_EVENT_RETENTION_DAYS = env.int("SHARE_LINK_EVENT_RETENTION_DAYS", default=90)
