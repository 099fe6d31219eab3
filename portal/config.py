"""Settings, read once from the environment (and `.env`, loaded by `create_app`)."""
from __future__ import annotations

import os
from pathlib import Path

# Only for a developer's laptop: production refuses to start with it (see `validate`).
DEV_SECRET_KEY = "dev-only-insecure-secret-key-change-me"

SUPPORTED_LOCALES = ("ko", "en")


def _int(name: str, default: int) -> int:
    raw = os.environ.get(name)
    return int(raw) if raw not in (None, "") else default


def _float(name: str, default: float) -> float:
    raw = os.environ.get(name)
    return float(raw) if raw not in (None, "") else default


def _bool(name: str, default: bool) -> bool:
    raw = os.environ.get(name)
    if raw in (None, ""):
        return default
    return raw.strip().lower() in {"1", "true", "yes", "on"}


class Config:
    """Built from the environment each time, so tests can set variables before `create_app`."""

    def __init__(self, instance_path: str) -> None:
        self.PORTAL_ENV = os.environ.get("PORTAL_ENV", "development")
        self.SECRET_KEY = os.environ.get("SECRET_KEY", DEV_SECRET_KEY)
        default_db = "sqlite:///" + str(Path(instance_path) / "portal.db")
        self.SQLALCHEMY_DATABASE_URI = _normalise_db_url(os.environ.get("DATABASE_URL") or default_db)
        # A ping before each checkout survives database restarts; SQLite has no server to lose.
        self.SQLALCHEMY_ENGINE_OPTIONS = {"pool_pre_ping": not self.SQLALCHEMY_DATABASE_URI.startswith("sqlite")}
        self.REDIS_URL = os.environ.get("REDIS_URL", "redis://127.0.0.1:6379/0")
        self.RQ_QUEUES = ("default", "scheduled")
        self.PORTAL_BASE_DOMAIN = os.environ.get("PORTAL_BASE_DOMAIN", "localhost")
        # Where people reach the portal; used for links in e-mails sent outside a request (CLI, jobs).
        self.PORTAL_URL = os.environ.get("PORTAL_URL", "http://127.0.0.1:5000").rstrip("/")
        self.MAX_UPLOAD_MB = _int("MAX_UPLOAD_MB", 20)
        self.MAX_CONTENT_LENGTH = self.MAX_UPLOAD_MB * 1024 * 1024

        self.MAIL_SERVER = os.environ.get("MAIL_SERVER", "")
        self.MAIL_PORT = _int("MAIL_PORT", 25)
        self.MAIL_USE_TLS = _bool("MAIL_USE_TLS", False)
        self.MAIL_USERNAME = os.environ.get("MAIL_USERNAME", "")
        self.MAIL_PASSWORD = os.environ.get("MAIL_PASSWORD", "")
        self.MAIL_DEFAULT_SENDER = os.environ.get("MAIL_DEFAULT_SENDER", "no-reply@localhost")

        self.BABEL_DEFAULT_LOCALE = "ko"
        self.BABEL_DEFAULT_TIMEZONE = "Asia/Seoul"
        self.BABEL_TRANSLATION_DIRECTORIES = str(Path(__file__).parent / "translations")

        production = self.PORTAL_ENV == "production"
        self.SESSION_COOKIE_HTTPONLY = True
        self.SESSION_COOKIE_SAMESITE = "Lax"
        self.SESSION_COOKIE_SECURE = production
        self.REMEMBER_COOKIE_HTTPONLY = True
        self.REMEMBER_COOKIE_SAMESITE = "Lax"
        self.REMEMBER_COOKIE_SECURE = production
        self.WTF_CSRF_TIME_LIMIT = None  # the token lives as long as the session
        self.WTF_I18N_ENABLED = False  # portal.forms.Form translates WTForms' messages from a cached catalog

        self.RATELIMIT_STORAGE_URI = os.environ.get("RATELIMIT_STORAGE_URI", self.REDIS_URL)
        self.RATELIMIT_ENABLED = _bool("RATELIMIT_ENABLED", True)
        self.RATELIMIT_HEADERS_ENABLED = True
        # Redis down: the same limits are counted in each process's memory (Flask-Limiter logs a warning) instead
        # of every limited route answering 500; they go back to Redis once it answers again.
        self.RATELIMIT_IN_MEMORY_FALLBACK_ENABLED = True
        self.LOGIN_LIMIT_PER_ACCOUNT = os.environ.get("LOGIN_LIMIT_PER_ACCOUNT", "5 per 5 minutes")
        self.LOGIN_LIMIT_PER_IP = os.environ.get("LOGIN_LIMIT_PER_IP", "30 per 5 minutes")

        self.MIGRATION_MAX_ROWS = _int("MIGRATION_MAX_ROWS", 200_000)
        self.MIGRATION_MAX_UNPACKED_MB = _int("MIGRATION_MAX_UNPACKED_MB", 400)
        # A running job writes its heartbeat this often; one silent for JOB_STALE_SECONDS lost its worker (killed,
        # lost) and is run again by the reconciler at the next worker tick (PORTAL_WORKER_MAINTENANCE_SECONDS, also
        # read by jobs.worker): a killed job starts again within stale + tick, 1½ minutes by default.
        self.JOB_HEARTBEAT_SECONDS = _float("JOB_HEARTBEAT_SECONDS", 10)
        self.JOB_STALE_SECONDS = _float("JOB_STALE_SECONDS", 60)
        self.WORKER_TICK_SECONDS = _float("PORTAL_WORKER_MAINTENANCE_SECONDS", 30)
        self.CTI_INGEST_LIMIT = os.environ.get("CTI_INGEST_LIMIT", "600 per minute")
        # An event older than this is refused (the telephony's clock skew and retry backlog, not history).
        self.CTI_MAX_PAST_DAYS = _int("CTI_MAX_PAST_DAYS", 7)
        # Any JSON body: larger, deeper or odder (lone surrogates, NUL, numbers past 64 bits) is a 400.
        self.JSON_MAX_KB = _int("JSON_MAX_KB", 2048)
        self.API_RATE_LIMIT = os.environ.get("API_RATE_LIMIT", "120 per minute")  # per organization key
        # IETF RateLimit header names (Flask-Limiter's default is X-RateLimit-*).
        self.RATELIMIT_HEADER_LIMIT = "RateLimit-Limit"
        self.RATELIMIT_HEADER_REMAINING = "RateLimit-Remaining"
        self.RATELIMIT_HEADER_RESET = "RateLimit-Reset"
        # The Open API document (generated from the code by flask-smorest).
        self.API_TITLE = "Contact-center portal Open API"
        self.API_VERSION = "v1"
        self.OPENAPI_VERSION = "3.0.3"
        self.INVITATION_TTL_HOURS = _int("INVITATION_TTL_HOURS", 72)
        # Build templates, catalogs and name lists at start instead of in the first requests (portal.warm_up): the
        # Procfile's web processes (gunicorn --preload: once, in the master) set it.
        self.WARM_UP = _bool("PORTAL_WARM_UP", False)
        # "fast" trades KDF cost for speed; only the test suite sets it.
        self.PASSWORD_HASH_PROFILE = os.environ.get("PASSWORD_HASH_PROFILE", "default")



def validate(config) -> None:
    """Refuse settings that must never reach production."""
    if config["PORTAL_ENV"] == "production" and config["SECRET_KEY"] in ("", DEV_SECRET_KEY):
        raise RuntimeError("SECRET_KEY must be set when PORTAL_ENV=production")
    # A live job would be taken for a stopped one (and run twice) if a missed beat or two made it stale.
    if not 0 < 3 * config["JOB_HEARTBEAT_SECONDS"] <= config["JOB_STALE_SECONDS"]:
        raise RuntimeError("JOB_STALE_SECONDS must be at least three times JOB_HEARTBEAT_SECONDS (both positive)")


def _normalise_db_url(url: str) -> str:
    # Hosting platforms hand out postgres:// URLs; SQLAlchemy wants the driver spelled out.
    if url.startswith("postgres://"):
        return "postgresql+psycopg://" + url[len("postgres://"):]
    if url.startswith("postgresql://"):
        return "postgresql+psycopg://" + url[len("postgresql://"):]
    return url
