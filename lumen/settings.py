"""Lumen settings, read from the environment.

Production is the default: DEBUG is off unless DEBUG=true says otherwise (bin/demo and
bin/test say so), and with DEBUG off Lumen refuses to start unless its secrets come from the
environment. Development (DEBUG=true) works on a fresh machine with nothing installed: SQLite
under var/, a broker that needs no server, and secrets generated once into var/ (mode 0600).
"""

import os
import secrets
from datetime import timedelta
from pathlib import Path
from urllib.parse import urlsplit
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

import dj_database_url
from cryptography.fernet import Fernet
from django.core.exceptions import ImproperlyConfigured

BASE_DIR = Path(__file__).resolve().parent.parent
VAR_DIR = Path(os.getenv("LUMEN_VAR_DIR", BASE_DIR / "var"))


def envbool(s, default):
    v = os.getenv(s, default=default)
    if v not in ("", "True", "False", "true", "false", "1", "0"):
        raise ImproperlyConfigured(f"{s} must be True or False, not {v!r}")
    return v in ("True", "true", "1")


def envint(s, default):
    v = os.getenv(s, default)
    try:
        return int(v)
    except ValueError:
        raise ImproperlyConfigured(f"{s} must be a whole number, not {v!r}") from None


def envfloat(s, default):
    v = os.getenv(s, default)
    try:
        return float(v)
    except ValueError:
        raise ImproperlyConfigured(f"{s} must be a number, not {v!r}") from None


def development_secret(name, make):
    """A secret for development: from the environment, else generated once into var/.

    With DEBUG off there is no fallback: a production secret that silently came from a file
    on one machine would differ between machines and lock every other worker out of the
    encrypted keys.
    """
    value = os.getenv(name)
    if value:
        return value
    if not DEBUG:
        raise ImproperlyConfigured(
            f"{name} is not set. With DEBUG off Lumen refuses to start without it "
            f"(see README, 'Production')."
        )
    path = VAR_DIR / name.lower()
    if not path.exists():
        VAR_DIR.mkdir(parents=True, exist_ok=True)
        # O_EXCL: two processes starting at once must not each write a different secret.
        try:
            fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        except FileExistsError:
            pass
        else:
            with os.fdopen(fd, "w") as f:
                f.write(make())
    return path.read_text().strip()


# Off unless asked for: a deployment that forgets the variable gets production's checks, not
# the debug page and generated secrets.
DEBUG = envbool("DEBUG", "False")

SECRET_KEY = development_secret("DJANGO_SECRET_KEY", lambda: secrets.token_urlsafe(50))
# Several keys, comma-separated, rotate it: new values are encrypted with the first, and any
# of them decrypts (Fernet keys never contain a comma).
FIELD_ENCRYPTION_KEY = development_secret(
    "FIELD_ENCRYPTION_KEY", lambda: Fernet.generate_key().decode()
).split(",")

# The audit log: the key of its HMAC chain, kept out of the database so that whoever holds
# the database alone cannot rewrite the log unseen. Changing it breaks every existing link.
AUDIT_CHAIN_KEY = development_secret("AUDIT_CHAIN_KEY", lambda: secrets.token_urlsafe(48))
if len(AUDIT_CHAIN_KEY) < 32:
    raise ImproperlyConfigured("AUDIT_CHAIN_KEY must be at least 32 characters long.")
# Anchors of the chain's head, one JSON line each, appended outside the database: what finds
# the removal of the newest events. Best on another machine or an append-only mount.
LUMEN_AUDIT_ANCHOR_PATH = Path(
    os.getenv("LUMEN_AUDIT_ANCHOR_PATH", VAR_DIR / "audit-anchors.jsonl")
)

ALLOWED_HOSTS = os.getenv("ALLOWED_HOSTS", "127.0.0.1,localhost").split(",")
CSRF_TRUSTED_ORIGINS = [o for o in os.getenv("CSRF_TRUSTED_ORIGINS", "").split(",") if o]

INSTALLED_APPS = [
    "lumen.admin.LumenAdminConfig",  # Django's admin, with Lumen's front page and second factor
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "django.contrib.staticfiles",
    "django_celery_beat",
    "django_celery_results",
    # Before import_export: its `export` and `import` commands are replaced by ones that
    # cannot output or write an encrypted field (safety.exports), and that record every
    # export of the audit log (audit.exports).
    "safety",
    "audit",
    "import_export",
    "axes",
    "django_otp",
    "django_otp.plugins.otp_totp",
    "connectors",
    "reports",
    "roles",
    "assistant",  # the MCP server for AI assistants, and its tokens
]

MIDDLEWARE = [
    "django.middleware.security.SecurityMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "django_otp.middleware.OTPMiddleware",  # request.user.is_verified(): the second factor
    "connectors.card_access.CardAccessMiddleware",  # card details only with full access
    "django.contrib.messages.middleware.MessageMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
    "axes.middleware.AxesMiddleware",  # answers a locked-out login (last, as axes asks)
]

ROOT_URLCONF = "lumen.urls"
WSGI_APPLICATION = "lumen.wsgi.application"

TEMPLATES = [
    {
        "BACKEND": "django.template.backends.django.DjangoTemplates",
        "DIRS": [BASE_DIR / "lumen" / "templates"],
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

# SQLite by default. IMMEDIATE transactions make a writer take the lock when it begins, so
# two processes appending to the audit chain cannot both read the same chain head.
_sqlite_default = f"sqlite:///{VAR_DIR / 'lumen.sqlite3'}"
DATABASES = {"default": dj_database_url.parse(os.getenv("DATABASE_URL", _sqlite_default))}
if DATABASES["default"]["ENGINE"] == "django.db.backends.sqlite3":
    # Django's, making var/ on the first connection rather than whenever settings are read.
    DATABASES["default"]["ENGINE"] = "lumen.sqlite"
    # The web server, the workers and beat share the file. In WAL mode readers never wait for
    # a writer, and a commit appends to the log instead of rewriting pages with several
    # fsyncs (synchronous=NORMAL: still safe if Lumen crashes; a power cut may lose the last
    # commits, never corrupt the file). Each commit of a report run cost about 10 ms before.
    # The log is copied back into the file (a checkpoint, with its fsyncs) once it holds
    # 20,000 pages (80 MB) rather than SQLite's 1,000: a sync rewrites the same index pages
    # page after page, and each checkpoint wrote them all again; 10% of a sync's time at
    # 20,000 charges (bench/sync.py). The log's file is cut back to 64 MB after one.
    DATABASES["default"]["OPTIONS"] = {
        "transaction_mode": "IMMEDIATE",
        "timeout": 30,
        "init_command": (
            "PRAGMA journal_mode=WAL; PRAGMA synchronous=NORMAL; "
            "PRAGMA wal_autocheckpoint=20000; PRAGMA journal_size_limit=67108864;"
        ),
    }
    # A file, not memory: a Celery worker process must see the test database too.
    DATABASES["default"]["TEST"] = {"NAME": str(VAR_DIR / f"test-lumen-{os.getpid()}.sqlite3")}
DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"

AUTH_PASSWORD_VALIDATORS = [
    {"NAME": "django.contrib.auth.password_validation.UserAttributeSimilarityValidator"},
    {"NAME": "django.contrib.auth.password_validation.MinimumLengthValidator"},
    {"NAME": "django.contrib.auth.password_validation.CommonPasswordValidator"},
    {"NAME": "django.contrib.auth.password_validation.NumericPasswordValidator"},
]

# Logging in. Axes counts failed logins per username and address, and refuses that pair for
# a while after LUMEN_LOGIN_FAILURE_LIMIT of them (its backend comes first so that a locked
# pair is refused before the password is even checked).
AUTHENTICATION_BACKENDS = [
    "axes.backends.AxesStandaloneBackend",
    "django.contrib.auth.backends.ModelBackend",
]
AXES_FAILURE_LIMIT = envint("LUMEN_LOGIN_FAILURE_LIMIT", "5")
AXES_COOLOFF_TIME = timedelta(minutes=envint("LUMEN_LOGIN_LOCKOUT_MINUTES", "30"))
AXES_LOCKOUT_PARAMETERS = [["username", "ip_address"]]
AXES_RESET_ON_SUCCESS = True
AXES_VERBOSE = False
AXES_LOCKOUT_CALLABLE = "lumen.logins.locked_out"
AXES_CLIENT_IP_CALLABLE = "lumen.logins.client_ip"
# Staff sessions: a working day at most, and never beyond the browser's life.
SESSION_COOKIE_AGE = 8 * 3600
SESSION_EXPIRE_AT_BROWSER_CLOSE = True
# A TOTP second factor: optional for every staff user, required of superusers and
# connection admins when LUMEN_REQUIRE_2FA is on (lumen.twofactor).
LUMEN_REQUIRE_2FA = envbool("LUMEN_REQUIRE_2FA", "False")
OTP_TOTP_ISSUER = "Lumen"

# What Django's error pages and error reports show is filtered even with DEBUG on
# (lumen.errors): the debug page is where a pasted key would otherwise appear.
DEFAULT_EXCEPTION_REPORTER_FILTER = "lumen.errors.AlwaysSafeExceptionReporterFilter"

LANGUAGE_CODE = "en-us"
TIME_ZONE = "UTC"
FORMAT_MODULE_PATH = ["lumen.formats"]  # one date format, with its zone (lumen/formats)
USE_I18N = True
USE_TZ = True
# Report periods are calendar dates in this time zone (an IANA name such as Europe/Berlin).
LUMEN_REPORT_TIMEZONE = os.getenv("LUMEN_REPORT_TIMEZONE", "UTC")
try:
    ZoneInfo(LUMEN_REPORT_TIMEZONE)
except (ZoneInfoNotFoundError, ValueError):
    raise ImproperlyConfigured(
        f"LUMEN_REPORT_TIMEZONE must be a time zone name such as Europe/Berlin, "
        f"not {LUMEN_REPORT_TIMEZONE!r}"
    ) from None

STATIC_URL = "static/"
STATIC_ROOT = Path(os.getenv("STATIC_ROOT", BASE_DIR / "static"))
# The admin's shared stylesheet (lumen/adminkit.py): the project package is not an app.
STATICFILES_DIRS = [BASE_DIR / "lumen" / "static"]
STATICFILES_FINDERS = [
    "django.contrib.staticfiles.finders.FileSystemFinder",
    "django.contrib.staticfiles.finders.AppDirectoriesFinder",
    "reports.staticfiles.PlotlyFinder",  # the charting library, from its package
]

# Stripe. The base address is a deployment setting, never a field staff can edit: a
# per-connection address would let anyone with admin access send the key anywhere. In
# production it is Stripe's own, unless LUMEN_ALLOW_OTHER_STRIPE_API_BASE=true says that
# another https address (an egress proxy, say) is meant.
STRIPE_API_BASE_DEFAULT = "https://api.stripe.com"
STRIPE_API_BASE = os.getenv("STRIPE_API_BASE", STRIPE_API_BASE_DEFAULT).rstrip("/")
LUMEN_ALLOW_OTHER_STRIPE_API_BASE = envbool("LUMEN_ALLOW_OTHER_STRIPE_API_BASE", "False")
if not DEBUG and STRIPE_API_BASE != STRIPE_API_BASE_DEFAULT:
    _base = urlsplit(STRIPE_API_BASE)
    if _base.scheme != "https" or not _base.hostname:
        raise ImproperlyConfigured(
            f"STRIPE_API_BASE must be an https:// address with DEBUG off, not "
            f"{STRIPE_API_BASE!r}: the key travels in every request."
        )
    if not LUMEN_ALLOW_OTHER_STRIPE_API_BASE:
        raise ImproperlyConfigured(
            f"STRIPE_API_BASE is {STRIPE_API_BASE!r}, not {STRIPE_API_BASE_DEFAULT}. With "
            f"DEBUG off, set LUMEN_ALLOW_OTHER_STRIPE_API_BASE=true too if the key is meant "
            f"to go there."
        )
STRIPE_TIMEOUT = envfloat("STRIPE_TIMEOUT", "30")
STRIPE_PAGE_SIZE = envint("STRIPE_PAGE_SIZE", "100")
STRIPE_MAX_RETRIES = envint("STRIPE_MAX_RETRIES", "5")
STRIPE_RETRY_BASE_DELAY = envfloat("STRIPE_RETRY_BASE_DELAY", "0.5")
STRIPE_RETRY_MAX_DELAY = envfloat("STRIPE_RETRY_MAX_DELAY", "20")
STRIPE_RATE_LIMIT_TEST = envfloat("STRIPE_RATE_LIMIT_TEST", "25")
STRIPE_RATE_LIMIT_LIVE = envfloat("STRIPE_RATE_LIMIT_LIVE", "100")
# The mirror: how much history the first sync reads, and how long a sync's claim on its
# connection lasts without being renewed (a sync renews it after every page).
LUMEN_SYNC_HISTORY_DAYS = envint("LUMEN_SYNC_HISTORY_DAYS", "365")
LUMEN_SYNC_LEASE_SECONDS = envint("LUMEN_SYNC_LEASE_SECONDS", "300")
# 0: each kind's history in one window (one request per 100 objects, the fewest); N: windows
# of N days, which cost a request each even when empty.
LUMEN_SYNC_WINDOW_DAYS = envint("LUMEN_SYNC_WINDOW_DAYS", "0")
# Readers of a backfill's windows at once (each kind's history is at least one window). Two
# on PostgreSQL, where two kinds' pages are written at once (connectors.sync.upsert.
# lock_mirror): a sync of 20,000 charges 38-40 s -> 33-35 s (bench/sync.py). SQLite has one
# writer at a time, and the second reader only waits on it.
_sync_workers = "2" if DATABASES["default"]["ENGINE"] == "django.db.backends.postgresql" else "1"
LUMEN_SYNC_WORKERS = envint("LUMEN_SYNC_WORKERS", _sync_workers)
# Stripe lists events of the last 30 days only; a cursor older than this is not trusted.
LUMEN_EVENTS_RETENTION_DAYS = envint("LUMEN_EVENTS_RETENTION_DAYS", "29")

# A queue of their own for webhook deliveries, so they never wait behind a long backfill
# (empty: the default queue).
LUMEN_WEBHOOK_QUEUE = os.getenv("LUMEN_WEBHOOK_QUEUE", "")
# A queue of their own for report runs asked for in the admin (empty: the default queue).
LUMEN_REPORT_QUEUE = os.getenv("LUMEN_REPORT_QUEUE", "")
# Verifications and syncs that staff ask for in the admin: a queue of their own, if named.
LUMEN_CONNECTION_QUEUE = os.getenv("LUMEN_CONNECTION_QUEUE", "")

# Shared state for the rate limit across worker processes. Empty: per-process limit.
REDIS_URL = os.getenv("REDIS_URL", "")

# Celery. The default broker is a SQLite file through kombu's SQLAlchemy transport, so a
# worker runs on a fresh machine with no server; production sets a redis:// URL.
CELERY_BROKER_URL = os.getenv(
    "CELERY_BROKER_URL", f"sqla+sqlite:///{VAR_DIR / 'celery-broker.sqlite3'}"
)
CELERY_RESULT_BACKEND = "django-db"
CELERY_RESULT_EXTENDED = True
CELERY_BEAT_SCHEDULER = "django_celery_beat.schedulers:DatabaseScheduler"
CELERY_TASK_ACKS_LATE = True
CELERY_TASK_REJECT_ON_WORKER_LOST = True
CELERY_WORKER_PREFETCH_MULTIPLIER = 1
CELERY_TASK_SERIALIZER = "json"
CELERY_ACCEPT_CONTENT = ["json"]
CELERY_TIMEZONE = "UTC"
CELERY_TASK_ALWAYS_EAGER = envbool("CELERY_TASK_ALWAYS_EAGER", "False")
CELERY_BROKER_CONNECTION_RETRY_ON_STARTUP = True

# Exports escape cells that a spreadsheet would run as a formula themselves (audit.export):
# import-export's own escaping strips only a leading "=", turns empty cells into "None", and
# grows with the square of the row count.
IMPORT_EXPORT_ESCAPE_FORMULAE_ON_EXPORT = False

# Email: the scheduled reports. Development prints it on the console; production sends it
# through SMTP. LUMEN_BASE_URL is where the links in an email point.
EMAIL_BACKEND = os.getenv(
    "EMAIL_BACKEND",
    "django.core.mail.backends.console.EmailBackend"
    if DEBUG
    else "django.core.mail.backends.smtp.EmailBackend",
)
EMAIL_HOST = os.getenv("EMAIL_HOST", "localhost")
EMAIL_PORT = envint("EMAIL_PORT", "587")
EMAIL_HOST_USER = os.getenv("EMAIL_HOST_USER", "")
EMAIL_HOST_PASSWORD = os.getenv("EMAIL_HOST_PASSWORD", "")
EMAIL_USE_TLS = envbool("EMAIL_USE_TLS", "True")
DEFAULT_FROM_EMAIL = os.getenv("DEFAULT_FROM_EMAIL", "Lumen <lumen@localhost>")
LUMEN_BASE_URL = os.getenv("LUMEN_BASE_URL", "http://127.0.0.1:8000").rstrip("/")

LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "handlers": {"console": {"class": "logging.StreamHandler"}},
    "root": {"handlers": ["console"], "level": os.getenv("LOG_LEVEL", "INFO")},
    # The stripe library logs request URLs at INFO; Lumen's own audit log says more, safely.
    "loggers": {"stripe": {"level": "WARNING"}},
}

# Only a proxy that removes any X-Forwarded-Proto from the client and sets its own may be
# trusted with it; without one, any client could claim a request came over https.
LUMEN_BEHIND_PROXY = envbool("LUMEN_BEHIND_PROXY", "False")
if LUMEN_BEHIND_PROXY:
    SECURE_PROXY_SSL_HEADER = ("HTTP_X_FORWARDED_PROTO", "https")

if not DEBUG:
    SECURE_SSL_REDIRECT = envbool("SECURE_SSL_REDIRECT", "True")
    SECURE_HSTS_SECONDS = envint("SECURE_HSTS_SECONDS", "31536000")
    SECURE_HSTS_INCLUDE_SUBDOMAINS = envbool("SECURE_HSTS_INCLUDE_SUBDOMAINS", "True")
    SECURE_HSTS_PRELOAD = envbool("SECURE_HSTS_PRELOAD", "False")
    SESSION_COOKIE_SECURE = True
    CSRF_COOKIE_SECURE = True
    SILENCED_SYSTEM_CHECKS = [] if SECURE_HSTS_PRELOAD else ["security.W021"]
