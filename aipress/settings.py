"""One settings module for every environment, driven by environment variables (django-environ).

Defaults are safe for production; `make run` opts into DEBUG and console email explicitly.
"""

from pathlib import Path

import environ

BASE_DIR = Path(__file__).resolve().parent.parent
env = environ.Env()
environ.Env.read_env(BASE_DIR / "var" / "env", overwrite=False)

# --- Core: DEBUG is off unless asked for; the secret key must come from the environment in production.
DEBUG = env.bool("DJANGO_DEBUG", default=False)
SECRET_KEY = env("DJANGO_SECRET_KEY", default="" if not DEBUG else "dev-only-insecure-key")
if not SECRET_KEY:
    raise RuntimeError("DJANGO_SECRET_KEY must be set when DJANGO_DEBUG is off.")

# --- Hosts: one platform domain; tenants live on its subdomains, so every host check derives from it.
PLATFORM_DOMAIN = env("PLATFORM_DOMAIN", default="aipress.localhost")
PLATFORM_PORT = env("PLATFORM_PORT", default="8000" if DEBUG else "")
PLATFORM_SCHEME = env("PLATFORM_SCHEME", default="http" if DEBUG else "https")
ALLOWED_HOSTS = env.list(
    "DJANGO_ALLOWED_HOSTS", default=[PLATFORM_DOMAIN, f".{PLATFORM_DOMAIN}", "localhost", "127.0.0.1"]
)
RESERVED_TENANT_SLUGS = frozenset(
    env.list(
        "RESERVED_TENANT_SLUGS",
        default=[
            "www", "admin", "api", "app", "mail", "static", "media", "public", "template",
            "staff", "support", "help", "status", "docs", "blog", "accounts", "auth", "login",
            "ws", "cdn", "assets", "root", "system", "aipress",
        ],
    )
)  # fmt: skip

# --- Applications: SHARED_APPS live in the public schema, TENANT_APPS in each tenant's schema.
# TENANT_APPS stays small because each of its migrations runs once per tenant schema.
SHARED_APPS = [
    "django_tenants",
    "tenants",
    "sites.inventory",
    "dns",
    "billing",
    # Staff conversations live in the public schema, members' in their tenant's: both have the tables.
    "chat",
    # Doors above chat: tenant definitions (tenants as code) and the MCP server.
    "definitions",
    "mcpserver",
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "django.contrib.staticfiles",
    "django.contrib.admin",
    "allauth",
    "allauth.account",
    "allauth.mfa",
    "allauth.socialaccount",
    "allauth.socialaccount.providers.google",
    "allauth.socialaccount.providers.apple",
    "rest_framework",
    "drf_spectacular",
    "drf_spectacular_sidecar",
    "django_celery_beat",
    "channels",
]
TENANT_APPS = [
    "django.contrib.contenttypes",
    "sites",
    "chat",
]
INSTALLED_APPS = SHARED_APPS + [app for app in TENANT_APPS if app not in SHARED_APPS]

TENANT_MODEL = "tenants.Tenant"
TENANT_DOMAIN_MODEL = "tenants.Domain"
# New tenants clone this migrated schema instead of running every migration (see tenants/schema.py).
TENANT_BASE_SCHEMA = "tenant_template"
TENANT_CREATION_FAKES_MIGRATIONS = True
# `SET search_path` once per connection and schema change, not before every query: it was half of the
# round trips of a site PATCH (issue 14). django-tenants re-issues it after a rollback, a savepoint
# rollback, a reconnect and every change of tenant; tenants/schema.py's clone, which sets the path by
# hand, switches back through use_public_schema() for the same reason.
TENANT_LIMIT_SET_CALLS = True
# Unknown hosts (load balancer probes, the bare IP) get the public site rather than an error page.
SHOW_PUBLIC_IF_NO_TENANT_FOUND = True
PUBLIC_SCHEMA_URLCONF = "aipress.urls_public"
ROOT_URLCONF = "aipress.urls_tenant"
AUTH_USER_MODEL = "tenants.User"

# The chain, and why it is in this order, is in docs/architecture.md ("A request's path"). The
# kernel.browser_middleware classes are Django's own, stepping aside for API calls with a key.
MIDDLEWARE = [
    "kernel.request_context.RequestIdMiddleware",
    "aipress.health.HealthMiddleware",  # /healthz and /readyz, before tenancy, sessions or a key
    "tenants.middleware.TenantResolutionMiddleware",  # an API key decides the tenant and the user
    "django.middleware.security.SecurityMiddleware",
    "kernel.browser_middleware.BrowserStaticFiles",
    "kernel.browser_middleware.BrowserSessions",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "kernel.browser_middleware.BrowserAuthentication",
    "allauth.account.middleware.AccountMiddleware",
    "kernel.browser_middleware.BrowserMessages",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
    "kernel.request_context.RequestUserMiddleware",
    "tenants.middleware.SuspendedTenantMiddleware",
]

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
                "tenants.context_processors.portal",
            ],
        },
    },
]
WSGI_APPLICATION = "aipress.wsgi.application"
ASGI_APPLICATION = "aipress.asgi.application"

# --- Database: PostgreSQL through django-tenants' backend. Session pooling only (PgBouncer
# transaction mode would mix tenants' search paths). Under ASGI every request runs its sync code in
# a thread of its own, so per-thread persistent connections pile up until PostgreSQL refuses
# clients (measured by bench/api_throughput.py): a bounded psycopg pool per process instead. A pooled
# connection gets its search path set again on first use (django-tenants resets it on close).
DATABASE_URL = env("DATABASE_URL", default="postgres://postgres@127.0.0.1:5432/aipress")
DATABASES = {"default": env.db_url_config(DATABASE_URL)}
DATABASES["default"]["ENGINE"] = "django_tenants.postgresql_backend"
DATABASES["default"]["CONN_MAX_AGE"] = 0
if env.bool("DATABASE_POOL", default=True):
    DATABASES["default"].setdefault("OPTIONS", {})["pool"] = {
        "min_size": env.int("DATABASE_POOL_MIN", default=1),
        "max_size": env.int("DATABASE_POOL_MAX", default=8),
        "timeout": env.int("DATABASE_POOL_TIMEOUT", default=10),
    }
DATABASE_ROUTERS = ["django_tenants.routers.TenantSyncRouter"]
DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"

# --- Redis: one server for cache, throttling, Celery and Channels, on separate key spaces.
REDIS_URL = env("REDIS_URL", default="redis://127.0.0.1:6379/0")
CACHES = {
    "default": {
        "BACKEND": "aipress.cache.SharedPoolRedisCache",
        "LOCATION": REDIS_URL,
        "KEY_PREFIX": env("CACHE_KEY_PREFIX", default="aipress"),
    }
}
CHANNEL_LAYERS = {
    "default": {
        "BACKEND": "channels_redis.core.RedisChannelLayer",
        "CONFIG": {
            "hosts": [
                {
                    "address": REDIS_URL,
                    # redis-py's asyncio pool refuses (rather than waits) past its cap, 100 by default:
                    # 500 sockets closing at once each leave a group (bench/chat_ws.py).
                    "max_connections": env.int("CHANNELS_REDIS_MAX_CONNECTIONS", default=2000),
                    # redis-py 8 gives up a read after 5 s, which is exactly how long channels_redis
                    # blocks waiting for a message: a busy moment then kills a socket's consumer.
                    "socket_timeout": 30,
                }
            ],
            "prefix": env("CHANNELS_PREFIX", default="aipress:ch"),
            # All sockets of one process share one queue in Redis; past `capacity` waiting messages a
            # group send drops them silently. 100 (the default) lost chat events with 100 sockets.
            "capacity": env.int("CHANNELS_CAPACITY", default=10_000),
        },
    }
}

# --- Celery: tasks survive a killed worker (late acks, requeue on loss); beat schedules in the DB.
CELERY_BROKER_URL = env("CELERY_BROKER_URL", default=REDIS_URL)
CELERY_RESULT_BACKEND = None
CELERY_TASK_ACKS_LATE = True
CELERY_TASK_REJECT_ON_WORKER_LOST = True
CELERY_WORKER_PREFETCH_MULTIPLIER = 1
CELERY_TASK_DEFAULT_QUEUE = env("CELERY_QUEUE", default="aipress")
CELERY_BROKER_TRANSPORT_OPTIONS = {"visibility_timeout": 600}
CELERY_BEAT_SCHEDULER = "django_celery_beat.schedulers:DatabaseScheduler"
CELERY_TASK_SERIALIZER = "json"
CELERY_ACCEPT_CONTENT = ["json"]
CELERY_BEAT_SCHEDULE = {
    "tenants-reconcile": {"task": "tenants.tasks.tenants_reconcile", "schedule": 60.0},
    "sites-reconcile": {"task": "sites.tasks.sites_reconcile", "schedule": 60.0},
    "domains-verify": {"task": "dns.tasks.domains_verify_due", "schedule": 30.0},
    # A definition that created a tenant finishes once the tenant is active; this asks again if its task was lost.
    "definitions-resume": {"task": "definitions.tasks.definitions_resume_waiting", "schedule": 60.0},
    # Costs (docs/costs.md): the local meter every 15 minutes; the days so far re-aggregated hourly
    # (cheap, and the portal's month to date stays fresh); budgets and anomalies after each.
    "billing-meter": {"task": "billing.tasks.billing_meter", "schedule": 900.0},
    "billing-aggregate": {
        "task": "billing.tasks.billing_aggregate_recent",
        "schedule": env.float("BILLING_AGGREGATE_SECONDS", default=3600.0),
    },
    "billing-budgets": {"task": "billing.tasks.billing_budgets_undo_due", "schedule": 3600.0},
}
TENANT_PROVISION_STALE_SECONDS = env.int("TENANT_PROVISION_STALE_SECONDS", default=120)

# --- Drivers: for each concern, the driver that does it (a short name, or a class's dotted path).
# The app that owns a concern checks its driver at start-up (kernel/drivers.py).
DRIVERS = {
    "runtime": env("SITES_RUNTIME", default="local"),  # where sites run
    "secrets": env("SITES_SECRETS", default="local"),  # where their secrets are kept
    "assistant": env("ASSISTANT", default="local"),  # who reads the chat: offline rules, or Gemini
    "dns": env("DNS_PROVIDER", default="local"),  # who keeps the platform's zone: the database, or Cloudflare
    "costs": env("BILLING_SOURCE", default="local"),  # where billing-export rows come from: the meter, or BigQuery
}

# --- Costs (docs/costs.md). The local meter prices what sites use from this list, in BILLING_CURRENCY.
BILLING_CURRENCY = env("BILLING_CURRENCY", default="USD")
BILLING_ACCOUNT_ID = env("BILLING_ACCOUNT_ID", default="local-000000-000000")
BILLING_PRICES: dict[str, str] = {
    "requests_per_million": "0.40",  # per million requests answered
    "egress_per_gib": "0.12",  # per GiB of response bodies sent
    "php_per_hour": "0.0864",  # per hour of PHP request time (0.000024 per vCPU-second)
    "disk_per_gib_month": "0.17",  # per GiB-month of files and database
    **env.json("BILLING_PRICES_JSON", default={}),
}
# A day's cost is an anomaly above this many times the median of the days before it, and above the floor.
BILLING_ANOMALY_FACTOR = env.float("BILLING_ANOMALY_FACTOR", default=3.0)
BILLING_ANOMALY_FLOOR = env("BILLING_ANOMALY_FLOOR", default="1.00")
BILLING_ANOMALY_BASELINE_DAYS = env.int("BILLING_ANOMALY_BASELINE_DAYS", default=7)
# The billing export on BigQuery (BILLING_SOURCE=bigquery): `project.dataset.table`.
BIGQUERY_BILLING_TABLE = env("BIGQUERY_BILLING_TABLE", default="")
BIGQUERY_PROJECT = env("BIGQUERY_PROJECT", default="")  # the project that runs (and pays for) the query
BIGQUERY_LOCATION = env("BIGQUERY_LOCATION", default="")
BIGQUERY_ENDPOINT = env("BIGQUERY_ENDPOINT", default="")  # another base URL: an emulator, the tests
BIGQUERY_TIMEOUT_SECONDS = env.int("BIGQUERY_TIMEOUT_SECONDS", default=120)

# --- Chat: the assistant. Gemini runs on Vertex AI through the google-genai SDK.
GOOGLE_CLOUD_PROJECT = env("GOOGLE_CLOUD_PROJECT", default="")
GOOGLE_CLOUD_LOCATION = env("GOOGLE_CLOUD_LOCATION", default="us-central1")
GEMINI_MODEL = env("GEMINI_MODEL", default="gemini-2.5-flash")
GEMINI_ENDPOINT = env("GEMINI_ENDPOINT", default="")  # another base URL: an emulator, a proxy, the tests
GEMINI_TIMEOUT_SECONDS = env.int("GEMINI_TIMEOUT_SECONDS", default=30)
# USD per million tokens, by model; what the assistant's usage costs (billing.ai_quota).
AI_PRICES: dict[str, dict[str, float]] = {
    "local": {"in": 0.0, "out": 0.0},
    "gemini-2.5-flash": {"in": 0.30, "out": 2.50},
    "gemini-2.5-pro": {"in": 1.25, "out": 10.0},
    **env.json("AI_PRICES_JSON", default={}),
}
CHAT_MAX_MESSAGE_CHARS = env.int("CHAT_MAX_MESSAGE_CHARS", default=4000)
CHAT_HISTORY_MESSAGES = env.int("CHAT_HISTORY_MESSAGES", default=30)  # what the assistant reads back

# --- Sites: where they answer, and the local runtime's parts.
SITES_DOMAIN = env("SITES_DOMAIN", default="sites.localhost")
SITES_PORT = env.int("SITES_PORT", default=8080)
SITES_SCHEME = env("SITES_SCHEME", default="http")
SITES_ROOT = Path(env("SITES_ROOT", default=str(BASE_DIR / "var" / "sites")))
SITES_RUNTIME_DIR = Path(env("SITES_RUNTIME_DIR", default=str(BASE_DIR / "var" / "runtime")))
# The admin account the local runtime makes each site's database and user with. It must have a
# password (root without one would let any site's PHP in too); `make run` starts a private server
# and writes its URL, with `?unix_socket=` for a socket closed to sites.
SITES_MARIADB_URL = env("SITES_MARIADB_URL", default="")
# Where sites' PHP connects to its database (host:port); by default the host and port of the URL.
SITES_DB_HOST = env("SITES_DB_HOST", default="")
# Prefixes every site's database, user and folder name, so test runs never meet `make run`'s sites.
SITES_KEY_PREFIX = env("SITES_KEY_PREFIX", default="")
# The local sites' opcache (one shared memory for all of their PHP), in MB: each site's WordPress takes
# about 17 MB of it for its pages, more with its admin (docs/site-performance.md). Only what is used
# is taken from the machine's memory.
SITES_PHP_OPCACHE_MB = env.int("SITES_PHP_OPCACHE_MB", default=1024)
# An operation that showed no progress for this long is taken over by the reconciler (its worker died).
SITES_STEP_STALE_SECONDS = env.int("SITES_STEP_STALE_SECONDS", default=180)
# How often the reconciler asks the runtime whether every piece of a running site is still there.
SITES_DRIFT_CHECK_SECONDS = env.int("SITES_DRIFT_CHECK_SECONDS", default=900)
# --- Sites on Google Cloud (SITES_RUNTIME=cloudrun, SITES_SECRETS=secretmanager); docs/cloudrun.md.
# The project is GOOGLE_CLOUD_PROJECT (above).
SITES_CLOUDRUN_REGION = env("SITES_CLOUDRUN_REGION", default="")
SITES_CLOUDSQL_INSTANCE = env("SITES_CLOUDSQL_INSTANCE", default="")  # the shared instance's name
# The MySQL connection users are made with (the instance's admin user): mysql://USER:PASSWORD@HOST:PORT/
SITES_CLOUDSQL_ADMIN_URL = env("SITES_CLOUDSQL_ADMIN_URL", default="")
SITES_IMAGE = env("SITES_IMAGE", default="")  # the image built from wordpress-runtime/
SITES_CLOUDRUN_MAX_INSTANCES = env.int("SITES_CLOUDRUN_MAX_INSTANCES", default=4)
# How long the worker waits before asking again about a long-running cloud operation.
SITES_CLOUD_POLL_SECONDS = env.float("SITES_CLOUD_POLL_SECONDS", default=3.0)
# Endpoint overrides (emulators, private endpoints, the tests): http(s)://host:port; plain http gets
# anonymous credentials. STORAGE_EMULATOR_HOST is the storage client's own variable.
CLOUDRUN_ENDPOINT = env("CLOUDRUN_ENDPOINT", default="")
CLOUDSQL_ADMIN_ENDPOINT = env("CLOUDSQL_ADMIN_ENDPOINT", default="")
SECRETMANAGER_ENDPOINT = env("SECRETMANAGER_ENDPOINT", default="")
IAM_ENDPOINT = env("IAM_ENDPOINT", default="")
RESOURCEMANAGER_ENDPOINT = env("RESOURCEMANAGER_ENDPOINT", default="")
STORAGE_EMULATOR_HOST = env("STORAGE_EMULATOR_HOST", default="")
# Where sites' platform hostnames point (A and AAAA records) on the local runtime: this host's public
# addresses. Custom domains are told to point here too (or to the site's platform hostname by CNAME).
SITES_PUBLIC_IPV4 = env("SITES_PUBLIC_IPV4", default="127.0.0.1")
SITES_PUBLIC_IPV6 = env("SITES_PUBLIC_IPV6", default="")
# --- The full-page cache (docs/page-cache.md). Anonymous pages are kept this long by each local
# site's nginx, and by the CDN in front of sites (the s-maxage its must-use plugin sends); every
# change of content empties it sooner.
SITES_PAGE_CACHE = env.bool("SITES_PAGE_CACHE", default=True)
SITES_PAGE_CACHE_SECONDS = env.int("SITES_PAGE_CACHE_SECONDS", default=600)
SITES_PAGE_CACHE_MAX_MB = env.int("SITES_PAGE_CACHE_MAX_MB", default=256)  # on disk, per local site
SITES_PAGE_CACHE_KEYS_MB = env.int("SITES_PAGE_CACHE_KEYS_MB", default=1)  # shared memory per site: ~8,000 pages a MB
# Where a local site's nginx forwards its plugin's purges: the control plane as this host reaches it
# (the Procfile's web process). Sites' own PHP cannot connect there (docs/sandbox.md).
SITES_CACHE_PURGE_UPSTREAM = env(
    "SITES_CACHE_PURGE_UPSTREAM", default=f"http://127.0.0.1:{env('WEB_PORT', default='8000')}"
)
# How often one site's plugin may ask for a purge (the API's keys have their own budgets).
SITES_CACHE_PURGE_RATE = env("SITES_CACHE_PURGE_RATE", default="120/min")

# --- DNS and domains (docs/domains.md). DNS_PROVIDER (above) chooses local or cloudflare.
# The local provider's authoritative server (`manage.py dns serve`): the platform's zone, and any
# zone an operator adds to stand in for a registrar offline.
DNS_SERVER_HOST = env("DNS_SERVER_HOST", default="127.0.0.1")
DNS_SERVER_PORT = env.int("DNS_SERVER_PORT", default=5353)
# The resolvers domain verification asks, in order, as host:port (the first that answers counts): the
# platform's own server while the zone is local (it stands in for all of DNS offline), public ones
# once the zone is on Cloudflare.
DNS_RESOLVERS = env.list(
    "DNS_RESOLVERS",
    default=["1.1.1.1:53", "8.8.8.8:53"]
    if DRIVERS["dns"] == "cloudflare"
    else [f"{DNS_SERVER_HOST}:{DNS_SERVER_PORT}"],
)
DNS_QUERY_TIMEOUT_SECONDS = env.float("DNS_QUERY_TIMEOUT_SECONDS", default=2.0)
# A domain not verified within this long fails (its claim is released for anyone who can prove it).
DNS_VERIFY_GIVE_UP_HOURS = env.int("DNS_VERIFY_GIVE_UP_HOURS", default=72)
# Between checks of a pending domain: 30 s, doubling, at most this long.
DNS_VERIFY_MAX_INTERVAL_SECONDS = env.int("DNS_VERIFY_MAX_INTERVAL_SECONDS", default=3600)
# An active domain's records are checked again this often (a change is shown, never acted on).
DNS_RECHECK_ACTIVE_SECONDS = env.int("DNS_RECHECK_ACTIVE_SECONDS", default=86400)
DNS_MAX_DOMAINS_PER_SITE = env.int("DNS_MAX_DOMAINS_PER_SITE", default=20)
# Cloudflare (DNS_PROVIDER=cloudflare): a token with Zone DNS Edit and SSL and Certificates Edit on
# the platform's zone. CLOUDFLARE_BASE_URL is the SDK's own variable (another base URL: the tests).
CLOUDFLARE_API_TOKEN = env("CLOUDFLARE_API_TOKEN", default="")
CLOUDFLARE_ZONE_ID = env("CLOUDFLARE_ZONE_ID", default="")
CLOUDFLARE_BASE_URL = env("CLOUDFLARE_BASE_URL", default="")
CLOUDFLARE_PROXIED = env.bool("CLOUDFLARE_PROXIED", default=True)
WORDPRESS_CORE_DIR = Path(env("WORDPRESS_CORE_DIR", default="/usr/share/wordpress"))
# Site secrets (database passwords, salts, sensitive env vars) are encrypted at rest with these
# Fernet keys; the first encrypts, all decrypt, so a key can be rotated in without downtime.
SITES_SECRET_KEYS = env.list("SITES_SECRET_KEYS", default=[])

# --- Authentication: email is the identity; allauth does sign-up, verification, codes and TOTP.
AUTHENTICATION_BACKENDS = [
    "django.contrib.auth.backends.ModelBackend",
    "allauth.account.auth_backends.AuthenticationBackend",
]
AUTH_PASSWORD_VALIDATORS = [
    {"NAME": "django.contrib.auth.password_validation.UserAttributeSimilarityValidator"},
    {"NAME": "django.contrib.auth.password_validation.MinimumLengthValidator", "OPTIONS": {"min_length": 10}},
    {"NAME": "django.contrib.auth.password_validation.CommonPasswordValidator"},
    {"NAME": "django.contrib.auth.password_validation.NumericPasswordValidator"},
]
PASSWORD_HASHERS = env.list(
    "PASSWORD_HASHERS",
    default=["django.contrib.auth.hashers.PBKDF2PasswordHasher"],
)
ACCOUNT_LOGIN_METHODS = {"email"}
ACCOUNT_SIGNUP_FIELDS = ["email*", "password1*", "password2*"]
ACCOUNT_USER_MODEL_USERNAME_FIELD = None
ACCOUNT_EMAIL_VERIFICATION = "mandatory"
ACCOUNT_EMAIL_VERIFICATION_BY_CODE_ENABLED = True
ACCOUNT_LOGIN_BY_CODE_ENABLED = True
ACCOUNT_PASSWORD_RESET_BY_CODE_ENABLED = False
ACCOUNT_UNIQUE_EMAIL = True
ACCOUNT_ADAPTER = "tenants.accounts.AccountAdapter"
ACCOUNT_LOGOUT_ON_GET = False
MFA_SUPPORTED_TYPES = ["totp", "recovery_codes"]
MFA_TOTP_ISSUER = "AIPress"
LOGIN_URL = "account_login"
LOGIN_REDIRECT_URL = "/onboarding/"
SOCIALACCOUNT_EMAIL_AUTHENTICATION = True
SOCIALACCOUNT_PROVIDERS: dict[str, dict] = {}
if env("GOOGLE_CLIENT_ID", default=""):
    SOCIALACCOUNT_PROVIDERS["google"] = {
        "APPS": [{"client_id": env("GOOGLE_CLIENT_ID"), "secret": env("GOOGLE_CLIENT_SECRET"), "key": ""}],
        "SCOPE": ["profile", "email"],
    }
if env("APPLE_CLIENT_ID", default=""):
    SOCIALACCOUNT_PROVIDERS["apple"] = {
        "APPS": [
            {
                "client_id": env("APPLE_CLIENT_ID"),
                "secret": env("APPLE_KEY_ID"),
                "key": env("APPLE_TEAM_ID"),
                "settings": {"certificate_key": env("APPLE_PRIVATE_KEY")},
            }
        ]
    }

# --- Email: console for `make run`, SMTP when EMAIL_URL is given.
if env("EMAIL_URL", default=""):
    vars().update(env.email_url("EMAIL_URL"))
else:
    EMAIL_BACKEND = env("EMAIL_BACKEND", default="django.core.mail.backends.console.EmailBackend")
DEFAULT_FROM_EMAIL = env("DEFAULT_FROM_EMAIL", default=f"AIPress <noreply@{PLATFORM_DOMAIN}>")

# --- Cookies: shared by the public host and every tenant host so one sign-in covers them all.
SESSION_COOKIE_DOMAIN = env("SESSION_COOKIE_DOMAIN", default=f".{PLATFORM_DOMAIN}")
CSRF_COOKIE_DOMAIN = SESSION_COOKIE_DOMAIN
_origin_port = f":{PLATFORM_PORT}" if PLATFORM_PORT else ""
CSRF_TRUSTED_ORIGINS = env.list(
    "CSRF_TRUSTED_ORIGINS",
    default=[
        f"{PLATFORM_SCHEME}://{PLATFORM_DOMAIN}{_origin_port}",
        f"{PLATFORM_SCHEME}://*.{PLATFORM_DOMAIN}{_origin_port}",
    ],
)

# --- Security headers: strict by default; HTTPS-only cookies unless we are explicitly on plain HTTP.
_https = PLATFORM_SCHEME == "https"
SESSION_COOKIE_SECURE = _https
CSRF_COOKIE_SECURE = _https
SESSION_COOKIE_HTTPONLY = True
SECURE_PROXY_SSL_HEADER = ("HTTP_X_FORWARDED_PROTO", "https") if _https else None
# Proxies (addresses or networks) whose X-Forwarded-For is believed for audit and throttling; from
# anyone else the header is ignored. On Cloud Run, the range its front end connects from.
TRUSTED_PROXIES = env.list("TRUSTED_PROXIES", default=[])
SECURE_SSL_REDIRECT = env.bool("SECURE_SSL_REDIRECT", default=False)
SECURE_HSTS_SECONDS = env.int("SECURE_HSTS_SECONDS", default=31536000 if _https else 0)
SECURE_HSTS_INCLUDE_SUBDOMAINS = _https
SECURE_CONTENT_TYPE_NOSNIFF = True
SECURE_REFERRER_POLICY = "strict-origin-when-cross-origin"
X_FRAME_OPTIONS = "DENY"

# --- API: DRF with problem-JSON errors, API keys or session, throttled per key and per user.
REST_FRAMEWORK = {
    "DEFAULT_AUTHENTICATION_CLASSES": [
        "tenants.authentication.ApiKeyAuthentication",
        "rest_framework.authentication.SessionAuthentication",
    ],
    "DEFAULT_PERMISSION_CLASSES": ["rest_framework.permissions.IsAuthenticated"],
    "DEFAULT_RENDERER_CLASSES": [
        "rest_framework.renderers.JSONRenderer",
        "rest_framework.renderers.BrowsableAPIRenderer",
    ],
    "DEFAULT_PARSER_CLASSES": ["aipress.api.parsers.JSONParser"],
    "DEFAULT_THROTTLE_CLASSES": ["aipress.api.throttling.ApiThrottle"],
    "DEFAULT_THROTTLE_RATES": {
        "key_or_user": env("API_THROTTLE_RATE", default="1200/min"),
        "tenant": env("API_TENANT_THROTTLE_RATE", default="3000/min"),
    },
    "EXCEPTION_HANDLER": "kernel.problems.problem_exception_handler",
    "DEFAULT_SCHEMA_CLASS": "drf_spectacular.openapi.AutoSchema",
    "UNAUTHENTICATED_USER": "django.contrib.auth.models.AnonymousUser",
}
SPECTACULAR_SETTINGS = {
    "TITLE": "AIPress API",
    "DESCRIPTION": "Run WordPress sites on AIPress. Authenticate with `Authorization: Bearer <api key>`.",
    "VERSION": "1.0.0",
    "SERVE_INCLUDE_SCHEMA": False,
    "SWAGGER_UI_DIST": "SIDECAR",
    "SWAGGER_UI_FAVICON_HREF": "SIDECAR",
    "REDOC_DIST": "SIDECAR",
    "COMPONENT_SPLIT_REQUEST": True,
    "ENUM_NAME_OVERRIDES": {
        "SiteStatusEnum": "sites.models.SiteStatus.choices",
        "TenantStatusEnum": "tenants.models.TenantStatus.choices",
    },
    "POSTPROCESSING_HOOKS": [
        "drf_spectacular.hooks.postprocess_schema_enums",
        "aipress.api.schema.add_problems_and_patterns",
    ],
}

# --- Static files: WhiteNoise serves them from the app process (no separate web server to configure).
STATIC_URL = "/static/"
STATIC_ROOT = BASE_DIR / "var" / "static"
STORAGES = {
    "default": {"BACKEND": "django.core.files.storage.FileSystemStorage"},
    "staticfiles": {
        "BACKEND": "django.contrib.staticfiles.storage.StaticFilesStorage"
        if DEBUG
        else "whitenoise.storage.CompressedManifestStaticFilesStorage"
    },
}
# Front-end libraries come from npm (package.json) at install time: `make run` and `make test` run `npm ci`.
STATICFILES_DIRS = [BASE_DIR / "static", ("vendor/chart.js", BASE_DIR / "node_modules" / "chart.js" / "dist")]
WHITENOISE_USE_FINDERS = DEBUG

LANGUAGE_CODE = "en-us"
TIME_ZONE = "UTC"
USE_I18N = True
USE_TZ = True

# --- Logging: JSON lines with request id, tenant and user; secrets are scrubbed before output.
LOG_LEVEL = env("LOG_LEVEL", default="INFO")
LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "filters": {
        "context": {"()": "kernel.request_context.ContextFilter"},
        "redact": {"()": "kernel.logging.RedactSecretsFilter"},
    },
    "formatters": {"json": {"()": "kernel.logging.JsonFormatter"}},
    "handlers": {
        "console": {"class": "logging.StreamHandler", "formatter": "json", "filters": ["context", "redact"]},
    },
    "root": {"handlers": ["console"], "level": LOG_LEVEL},
    "loggers": {
        # Django's own defaults add plain-text console and mail handlers to these (the console one
        # with DEBUG on): removed, so every line reaches the root's JSON handler, which scrubs secrets.
        "django": {"handlers": [], "level": LOG_LEVEL, "propagate": True},
        "django.server": {"handlers": [], "level": LOG_LEVEL, "propagate": True},
        "django.db.backends": {"level": "WARNING"},
        "daphne": {"level": "WARNING"},
    },
}
# Celery would replace the root logger's handlers with its own, unscrubbed ones.
CELERY_WORKER_HIJACK_ROOT_LOGGER = False
