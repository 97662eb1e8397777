"""Settings for every environment, read from the environment (django-environ).

With nothing set, the system runs on an embedded default that needs no server:
SQLite (WAL mode) under ``var/`` and Celery's filesystem broker, also under ``var/``.
Production behaviour is switched by environment variables, never by another module.
"""

from __future__ import annotations

import logging
from datetime import timedelta
from pathlib import Path

import environ
from django.core.exceptions import ImproperlyConfigured
from kombu import Exchange, Queue

from shop.queues import all_queues

BASE_DIR = Path(__file__).resolve().parent.parent.parent
VAR_DIR = Path(environ.Env().str("SHOP_VAR_DIR", default=str(BASE_DIR / "var")))

env = environ.Env()
VAR_DIR.mkdir(parents=True, exist_ok=True)
if env.bool("DJANGO_READ_DOT_ENV_FILE", default=False):
    env.read_env(str(BASE_DIR / ".env"))

DEBUG = env.bool("DEBUG", default=False)
SECRET_KEY = env.str("SECRET_KEY", default="")
if not SECRET_KEY:
    if not DEBUG:
        raise ImproperlyConfigured("SECRET_KEY must be set when DEBUG is off.")
    SECRET_KEY = "dev-only-insecure-secret-key-do-not-use-in-production"  # noqa: S105
ALLOWED_HOSTS = env.list("ALLOWED_HOSTS", default=["localhost", "127.0.0.1", "[::1]", "testserver"])
CSRF_TRUSTED_ORIGINS = env.list("CSRF_TRUSTED_ORIGINS", default=[])

# --- HTTPS (docs/deploy.md "HTTPS") -----------------------------------------------------
# Production sits behind a proxy that ends TLS and says so in X-Forwarded-Proto. HTTPS=1:
# the admin's and the console's cookies travel over HTTPS only, browsers are told to use
# HTTPS only (HSTS), and plain HTTP is redirected unless the proxy already does it.
HTTPS = env.bool("HTTPS", default=False)
if HTTPS:
    SECURE_PROXY_SSL_HEADER = ("HTTP_X_FORWARDED_PROTO", "https")
    SESSION_COOKIE_SECURE = CSRF_COOKIE_SECURE = True
    SECURE_HSTS_SECONDS = env.int("SECURE_HSTS_SECONDS", default=31_536_000)
    SECURE_HSTS_INCLUDE_SUBDOMAINS = env.bool("SECURE_HSTS_INCLUDE_SUBDOMAINS", default=False)
    SECURE_HSTS_PRELOAD = env.bool("SECURE_HSTS_PRELOAD", default=False)
    SECURE_SSL_REDIRECT = env.bool("SECURE_SSL_REDIRECT", default=True)
    # Asked over plain HTTP from inside (the proxy's health check, Prometheus on loopback):
    # never redirected to an HTTPS that gunicorn does not speak.
    SECURE_REDIRECT_EXEMPT = [r"^healthz$", r"^metrics$"]

# --- Sandbox switch (docs/design.md "Sandbox switch") -----------------------------------
# One switch for every sandbox path: sandbox login codes, the sandbox payment gateway
# and its pay endpoint, clear-text chat group ids.
SANDBOX = env.bool("SANDBOX", default=DEBUG)
SANDBOX_IN_PRODUCTION_I_MEAN_IT = env.bool("SANDBOX_IN_PRODUCTION_I_MEAN_IT", default=False)
if SANDBOX and not DEBUG:
    if not SANDBOX_IN_PRODUCTION_I_MEAN_IT:
        raise ImproperlyConfigured(
            "SANDBOX is on while DEBUG is off: anyone could log in as anyone and pay with fake money. "
            "Set SANDBOX_IN_PRODUCTION_I_MEAN_IT=1 only for benchmarks."
        )
    logging.getLogger("shop.settings").warning(
        "!!! SANDBOX IS ON WITH DEBUG OFF: sandbox logins and fake payments are accepted. !!!"
    )

INSTALLED_APPS = [
    "shop.admin_config.OpsAdminConfig",  # django.contrib.admin, with the ops overview on its index
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "django.contrib.staticfiles",
    "rest_framework",
    "django_filters",
    "drf_spectacular",
    "drf_spectacular_sidecar",
    "shop",
    "shop.ledger",
    "shop.payments",
    "shop.notifications",
    "shop.audit",
    "accounts",
    "products",
    "merchants",
    "groupstore",
    "orders",
    "rebates",
    "assistant",
    "console",
    "django_htmx",
    "demo",
]

MIDDLEWARE = [
    "shop.api.request_id.RequestIdMiddleware",
    "shop.api.metrics.MetricsMiddleware",
    "shop.api.headers.HeaderControlCharsMiddleware",  # before anything reads a header value
    "django.middleware.security.SecurityMiddleware",
    "orders.api.flash_early.FlashSoldOutMiddleware",  # a sold-out flash crowd, before the rest
    "whitenoise.middleware.WhiteNoiseMiddleware",  # admin and API docs assets, also under gunicorn
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
    "django_htmx.middleware.HtmxMiddleware",  # request.htmx (the merchant console)
    "console.middleware.ConsoleLanguageMiddleware",  # zh-hans for /console/ only
]
if env.list("DATABASE_REPLICA_URLS", default=[]):
    MIDDLEWARE.insert(1, "shop.replicas.ReplicaMiddleware")

ROOT_URLCONF = "shop.urls"
WSGI_APPLICATION = "shop.wsgi.application"
ASGI_APPLICATION = "shop.asgi.application"
AUTH_USER_MODEL = "accounts.User"
DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"

TEMPLATES = [
    {
        "BACKEND": "django.template.backends.django.DjangoTemplates",
        "DIRS": [],
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

# --- Database -------------------------------------------------------------------
DATABASES = {
    "default": env.db_url("DATABASE_URL", default=f"sqlite:///{VAR_DIR / 'shop.sqlite3'}"),
}
if DATABASES["default"]["ENGINE"] == "django.db.backends.sqlite3":
    # WAL lets the web process read while the worker writes; the busy timeout makes
    # writers queue instead of failing with "database is locked".
    DATABASES["default"]["OPTIONS"] = {
        "timeout": 20,
        "transaction_mode": "IMMEDIATE",
        "init_command": "PRAGMA journal_mode=WAL; PRAGMA synchronous=NORMAL;",
    }
else:
    # Persistent connections: measured 5x more requests/s than reconnecting (LIMITS.md).
    DATABASES["default"]["CONN_MAX_AGE"] = env.int("CONN_MAX_AGE", default=60)
    # Django's health check costs every request one more round trip (``SELECT 1`` before its
    # first query): 12 % of a sold-out flash answer (bench/results/orders.md). Without it, a
    # connection the server dropped (a PostgreSQL restart) fails one request per worker,
    # rolled back like any failed request, and is then replaced. Set it on where idle
    # connections are cut more often (a proxy with a short idle timeout).
    DATABASES["default"]["CONN_HEALTH_CHECKS"] = env.bool("CONN_HEALTH_CHECKS", default=False)
# Behind a pooler in transaction mode (PgBouncer, docs/deploy.md), a client moves between
# server sessions from one transaction to the next: nothing may outlive a transaction on the
# server. One switch turns off what would: SQL-level prepared statements (shop/db.py; the
# hottest hand-written statements run prepared otherwise) and server-side cursors
# (``.iterator()``, Django's own advice for transaction pooling).
DB_TRANSACTION_POOLER = env.bool("DB_TRANSACTION_POOLER", default=False)
DB_PREPARED_STATEMENTS = env.bool("DB_PREPARED_STATEMENTS", default=not DB_TRANSACTION_POOLER)
if DB_TRANSACTION_POOLER:
    DATABASES["default"]["DISABLE_SERVER_SIDE_CURSORS"] = True
DATABASES["default"]["ATOMIC_REQUESTS"] = False  # services own their transactions

# Read replicas (shop/replicas.py): lag-tolerant views' reads go there; none by default.
for _i, _url in enumerate(env.list("DATABASE_REPLICA_URLS", default=[])):
    DATABASES[f"replica_{_i}"] = {
        **env.db_url_config(_url),
        "CONN_MAX_AGE": DATABASES["default"].get("CONN_MAX_AGE", 0),
        "CONN_HEALTH_CHECKS": True,  # a replica that went away is noticed and skipped
        "ATOMIC_REQUESTS": False,
        "TEST": {"MIRROR": "default"},
    }
REPLICA_PIN_SECONDS = env.int("REPLICA_PIN_SECONDS", default=10)  # a writer reads the primary this long
REPLICA_RETRY_SECONDS = env.int("REPLICA_RETRY_SECONDS", default=30)  # a silent replica is skipped this long
DATABASE_ROUTERS = ["shop.replicas.ReplicaRouter"] if len(DATABASES) > 1 else []

# --- Cache / Redis --------------------------------------------------------------
REDIS_URL = env.str("REDIS_URL", default="")
if REDIS_URL:
    # Django's Redis backend, one client per pool (shop/cache_redis.py: a client per operation
    # was half of a shared checkout's Python time).
    CACHES = {"default": {"BACKEND": "shop.cache_redis.ReusingRedisCache", "LOCATION": REDIS_URL}}
    # Processes that must see one cache (an end-to-end test and its worker) share a prefix.
    CACHES["default"]["KEY_PREFIX"] = env.str("CACHE_KEY_PREFIX", default="")
else:
    # The bare-machine demo: web, worker and beat are separate processes and must see one
    # cache (the e-commerce sandbox keeps "WeChat's" state there), so files under var/.
    CACHES = {
        "default": {
            "BACKEND": "django.core.cache.backends.filebased.FileBasedCache",
            "LOCATION": str(VAR_DIR / "cache"),
        }
    }
# Shoppers' list/search pages cached this long in Redis, invalidated by a catalog version
# (products/cache.py); 0 = off. Needs REDIS_URL.
CATALOG_PAGE_CACHE_SECONDS = env.int("CATALOG_PAGE_CACHE_SECONDS", default=0)

# --- Celery ---------------------------------------------------------------------
CELERY_BROKER_URL = env.str("CELERY_BROKER_URL", default=REDIS_URL or "filesystem://localhost/")
CELERY_BROKER_TRANSPORT_OPTIONS: dict = {}
if CELERY_BROKER_URL.startswith("filesystem://"):
    _broker_dir = VAR_DIR / "broker"
    CELERY_BROKER_TRANSPORT_OPTIONS = {
        "data_folder_in": str(_broker_dir / "queue"),
        "data_folder_out": str(_broker_dir / "queue"),
        "processed_folder": str(_broker_dir / "processed"),
        "control_folder": str(_broker_dir / "control"),
        "store_processed": False,
    }
else:
    # Longer than any countdown/ETA we use, so a slow task is not redelivered early.
    # The throttle makes kombu scan for unacked messages every restore interval (instead of
    # every 10th): with a low CELERY_VISIBILITY_TIMEOUT (the settlement fault test, an ops
    # drill) the tasks of a killed worker come back within seconds, not ~100 s.
    CELERY_BROKER_TRANSPORT_OPTIONS = {
        "visibility_timeout": env.int("CELERY_VISIBILITY_TIMEOUT", default=3600),
        "unacked_restore_interval": env.int("CELERY_UNACKED_RESTORE_INTERVAL", default=10),
        "unacked_restore_throttle": env.int("CELERY_UNACKED_RESTORE_THROTTLE", default=10),
    }
CELERY_RESULT_BACKEND = None
CELERY_TASK_IGNORE_RESULT = True
CELERY_TASK_SERIALIZER = "json"
CELERY_ACCEPT_CONTENT = ["json"]
CELERY_TIMEZONE = "UTC"
CELERY_WORKER_PREFETCH_MULTIPLIER = 1
CELERY_TASK_TIME_LIMIT = 300
CELERY_TASK_SOFT_TIME_LIMIT = 240
CELERY_TASK_DEFAULT_QUEUE = env.str("CELERY_TASK_DEFAULT_QUEUE", default="shop")
# One queue per workload (shop/queues.py); a worker without -Q consumes them all. Each has
# its own exchange and routing key: queues sharing the default key would each get a copy.
CELERY_TASK_QUEUES = [Queue(q, Exchange(q), routing_key=q) for q in all_queues(CELERY_TASK_DEFAULT_QUEUE)]
CELERY_TASK_ROUTES = ("shop.queues.route_task",)
CELERY_TASK_ALWAYS_EAGER = env.bool("CELERY_TASK_ALWAYS_EAGER", default=False)
CELERY_TASK_EAGER_PROPAGATES = True
CELERY_WORKER_HIJACK_ROOT_LOGGER = False
CELERY_BEAT_SCHEDULE = {
    "run-sweepers": {"task": "shop.tasks.sweepers_run_task", "schedule": timedelta(seconds=60)},
}
# Celery's Django fixup closes the DB connection around every task unless this is set
# (measured 3x slower settlement, LIMITS.md).
CELERY_DB_REUSE_MAX = env.int("CELERY_DB_REUSE_MAX", default=1000)

# --- REST framework -------------------------------------------------------------
# Request bodies. A JSON body over DATA_UPLOAD_MAX_MEMORY_SIZE is a 413 (the exception
# handler); file parts of a multipart upload do not count towards it (Django counts only the
# form fields), so stock uploads keep their own limit (merchants/services/stock_upload.py,
# MAX_BYTES, 20 MB) and spill to a temporary file past FILE_UPLOAD_MAX_MEMORY_SIZE.
DATA_UPLOAD_MAX_MEMORY_SIZE = env.int("DATA_UPLOAD_MAX_MEMORY_SIZE", default=2_621_440)  # 2.5 MB
FILE_UPLOAD_MAX_MEMORY_SIZE = env.int("FILE_UPLOAD_MAX_MEMORY_SIZE", default=2_621_440)
# Arrays and objects nested deeper than this are a 400 (shop/api/parsers.py).
API_JSON_MAX_DEPTH = env.int("API_JSON_MAX_DEPTH", default=32)

REST_FRAMEWORK = {
    "DEFAULT_AUTHENTICATION_CLASSES": ["accounts.authentication.BearerTokenAuthentication"],
    "DEFAULT_PERMISSION_CLASSES": ["rest_framework.permissions.IsAuthenticated"],
    "DEFAULT_PAGINATION_CLASS": "shop.api.pagination.Pagination",
    "PAGE_SIZE": 20,
    "EXCEPTION_HANDLER": "shop.api.exception_handler.exception_handler",
    "DEFAULT_SCHEMA_CLASS": "shop.api.schema.AutoSchema",
    "DEFAULT_FILTER_BACKENDS": ["django_filters.rest_framework.DjangoFilterBackend"],
    "DEFAULT_RENDERER_CLASSES": ["rest_framework.renderers.JSONRenderer"],
    # JSON only (docs/api.md), nested at most API_JSON_MAX_DEPTH deep; a view that takes a file
    # names its multipart parser itself (the stock upload), so the schema offers form bodies
    # only there.
    "DEFAULT_PARSER_CLASSES": ["shop.api.parsers.JSONParser"],
    "TEST_REQUEST_DEFAULT_FORMAT": "json",
    "UNAUTHENTICATED_USER": "django.contrib.auth.models.AnonymousUser",
}
# Per-user anti-spam throttles (the seeds warn of chat groups bombarded with store links),
# counted in the default cache (Redis in production). DRF rate syntax: "<n>/<second|minute|hour|day>".
REST_FRAMEWORK["DEFAULT_THROTTLE_RATES"] = {
    **REST_FRAMEWORK.get("DEFAULT_THROTTLE_RATES", {}),
    "login": env.str("THROTTLE_RATE_LOGIN", default="30/minute"),  # per client address
    "store_create": env.str("THROTTLE_RATE_STORE_CREATE", default="20/hour"),
    "share_link_create": env.str("THROTTLE_RATE_SHARE_LINK_CREATE", default="60/hour"),
    "store_join": env.str("THROTTLE_RATE_STORE_JOIN", default="120/hour"),
    "leader_register": env.str("THROTTLE_RATE_LEADER_REGISTER", default="10/hour"),
    "webhook_create": env.str("THROTTLE_RATE_WEBHOOK_CREATE", default="20/hour"),
    "envelope_claim": env.str("THROTTLE_RATE_ENVELOPE_CLAIM", default="60/hour"),
    "coupon_redeem": env.str("THROTTLE_RATE_COUPON_REDEEM", default="30/hour"),
    "subscribe_report": env.str("THROTTLE_RATE_SUBSCRIBE_REPORT", default="300/hour"),
    "withdrawal_create": env.str("THROTTLE_RATE_WITHDRAWAL_CREATE", default="10/hour"),
    # A poster is drawn once per link and product version, then served from the cache.
    "share_poster": env.str("THROTTLE_RATE_SHARE_POSTER", default="120/hour"),
    # A scanned mini-program code: a cap on guessing scenes.
    "share_scene": env.str("THROTTLE_RATE_SHARE_SCENE", default="300/hour"),
    # Customer service: a buyer's questions to the assistant, and staff's answers.
    "assistant_message": env.str("THROTTLE_RATE_ASSISTANT_MESSAGE", default="20/minute"),
    "conversation_reply": env.str("THROTTLE_RATE_CONVERSATION_REPLY", default="120/hour"),
}
SPECTACULAR_SETTINGS = {
    "TITLE": "Group-buy shop API",
    "DESCRIPTION": "REST API of the group-buy mini-program store (see docs/api.md). Money in integer fen.",
    "VERSION": "1.0.0",
    "SERVE_INCLUDE_SCHEMA": False,
    "SWAGGER_UI_DIST": "SIDECAR",
    "SWAGGER_UI_FAVICON_HREF": "SIDECAR",
    "REDOC_DIST": "SIDECAR",
    "COMPONENT_SPLIT_REQUEST": True,
    "GET_LIB_DOC_EXCLUDES": "shop.api.schema.lib_doc_excludes",
    "POSTPROCESSING_HOOKS": [
        "drf_spectacular.hooks.postprocess_schema_enums",
        "shop.api.schema.postprocess_error_responses",
        "shop.api.schema_tags.postprocess_tags",  # tags by audience and area, a summary each
    ],
}

# --- Business rules (docs/design.md), all configurable -------------------------------
SHOP_RULES = {
    # Commission split of the merchant's per-SKU commission, in bps of the commission.
    "MEMBER_REBATE_SHARE_BPS": env.int("MEMBER_REBATE_SHARE_BPS", default=3000),
    "OWNER_COMMISSION_SHARE_BPS": env.int("OWNER_COMMISSION_SHARE_BPS", default=6000),
    "UNPAID_ORDER_TIMEOUT": timedelta(minutes=env.int("UNPAID_ORDER_TIMEOUT_MINUTES", default=15)),
    "AUTO_RECEIPT_AFTER": timedelta(days=env.int("AUTO_RECEIPT_DAYS", default=10)),
    # A parcel at a leader's pickup point nobody collects is received this long after it arrived.
    "PICKUP_AUTO_RECEIPT_AFTER": timedelta(days=env.int("PICKUP_AUTO_RECEIPT_DAYS", default=7)),
    # Wrong pickup codes a leader may try in an hour (guessing 6 digits must not pay).
    "PICKUP_WRONG_CODES_PER_HOUR": env.int("PICKUP_WRONG_CODES_PER_HOUR", default=5),
    "AFTER_SALES_WINDOW": timedelta(days=env.int("AFTER_SALES_WINDOW_DAYS", default=7)),
    "TOKEN_TTL": timedelta(days=30),
    "MAX_ORDER_QTY": 999,
    "FLASH_UNLOCK_THRESHOLD_FEN": env.int("FLASH_UNLOCK_THRESHOLD_FEN", default=10_000),
    "SETTLEMENT_BATCH_SIZE": env.int("SETTLEMENT_BATCH_SIZE", default=200),
}

SHOP_RULES.update(
    {
        # Share reward (docs/design.md): the owner's coupon when the store's first link-joined member
        # completes a first order of at least the minimum; once per store, capped per owner a day.
        "SHARE_REWARD_FEN": env.int("SHARE_REWARD_FEN", default=500),
        "SHARE_REWARD_MIN_ORDER_FEN": env.int("SHARE_REWARD_MIN_ORDER_FEN", default=1_000),
        "SHARE_REWARD_DAILY_CAP": env.int("SHARE_REWARD_DAILY_CAP", default=3),
        # The coupon orders issues for a granted share reward: valid this long, this minimum spend.
        "SHARE_REWARD_COUPON_TTL": timedelta(days=env.int("SHARE_REWARD_COUPON_TTL_DAYS", default=30)),
        "SHARE_REWARD_COUPON_MIN_SPEND_FEN": env.int("SHARE_REWARD_COUPON_MIN_SPEND_FEN", default=0),
        # Team purchase (docs/design.md): a team's window from opening.
        "TEAM_WINDOW": timedelta(hours=env.int("TEAM_WINDOW_HOURS", default=24)),
        # Flash sales: the Redis gate in front of the database (off without REDIS_URL).
        "FLASH_GATE": env.bool("FLASH_GATE", default=bool(REDIS_URL)),
    }
)

SHOP_RULES.update(
    {
        # Red envelopes (docs/design.md): a completed order in a store funds one envelope of this
        # many shares, from this part (bps) of the order's platform remainder, or from an
        # active campaign's budget; unclaimed money goes back to its source after the TTL.
        "ENVELOPE_PLATFORM_SHARE_BPS": env.int("ENVELOPE_PLATFORM_SHARE_BPS", default=5000),
        "ENVELOPE_SHARES": env.int("ENVELOPE_SHARES", default=10),
        "ENVELOPE_TTL": timedelta(hours=env.int("ENVELOPE_TTL_HOURS", default=24)),
        # Merchant settlement: the platform's service fee on a completed order's goods value.
        "MERCHANT_PLATFORM_FEE_BPS": env.int("MERCHANT_PLATFORM_FEE_BPS", default=60),
        # Profit sharing: commission + platform fee never exceed this part of a sub-order
        # (WeChat's default maximum share ratio, 30 %; a merchant's own cap may be lower).
        "MERCHANT_MAX_SHARE_BPS": env.int("MERCHANT_MAX_SHARE_BPS", default=3000),
        # Withdrawals: at least ¥1; at most this much a day (Asia/Shanghai day) per user.
        "WITHDRAWAL_MIN_FEN": env.int("WITHDRAWAL_MIN_FEN", default=100),
        "WITHDRAWAL_DAILY_LIMIT_FEN": env.int("WITHDRAWAL_DAILY_LIMIT_FEN", default=200_000),
        # WeChat's merchant transfer waits this long for the user's confirmation.
        "PAYOUT_CONFIRM_TTL": timedelta(hours=env.int("PAYOUT_CONFIRM_TTL_HOURS", default=24)),
        # After-sales deadlines (docs/design.md "After-sales never blocks forever"): the merchant
        # answers a request, the buyer posts an approved return, the merchant refunds a posted
        # return, a rejected buyer asks ops — each within this long, or the sweeper decides;
        # the merchant is warned this long before each of its deadlines.
        "AFTER_SALE_RESPOND_WITHIN": timedelta(hours=env.int("AFTER_SALE_RESPOND_HOURS", default=48)),
        "AFTER_SALE_RETURN_POST_WITHIN": timedelta(days=env.int("AFTER_SALE_RETURN_POST_DAYS", default=7)),
        "AFTER_SALE_REFUND_WITHIN": timedelta(days=env.int("AFTER_SALE_REFUND_DAYS", default=10)),
        "AFTER_SALE_ESCALATE_WITHIN": timedelta(days=env.int("AFTER_SALE_ESCALATE_DAYS", default=7)),
        "AFTER_SALE_WARN_AHEAD": timedelta(hours=env.int("AFTER_SALE_WARN_AHEAD_HOURS", default=12)),
        # A leaving merchant's deposit is refunded this long after it asked to leave.
        "DEPOSIT_REFUND_COOL_OFF": timedelta(days=env.int("DEPOSIT_REFUND_COOL_OFF_DAYS", default=15)),
        # An owner's staff invitation can be accepted this long (docs/api.md: 72 h).
        "STAFF_INVITATION_TTL": timedelta(hours=env.int("STAFF_INVITATION_TTL_HOURS", default=72)),
    }
)

# --- Webhooks (shop/notifications) ----------------------------------------------
WEBHOOK_MAX_ATTEMPTS = env.int("WEBHOOK_MAX_ATTEMPTS", default=8)
WEBHOOK_BACKOFF_BASE_SECONDS = env.int("WEBHOOK_BACKOFF_BASE_SECONDS", default=30)  # 30 s, 1 min, 2 min …
WEBHOOK_BACKOFF_MAX_SECONDS = env.int("WEBHOOK_BACKOFF_MAX_SECONDS", default=6 * 3600)
WEBHOOK_TIMEOUT_SECONDS = env.int("WEBHOOK_TIMEOUT_SECONDS", default=10)

# --- WeChat subscribe messages (shop/notifications/subscribe.py) -------------------
# "wechat" (subscribeMessage.send) or, in the sandbox, "sandbox" (records what would be sent).
WECHAT_SUBSCRIBE_SENDER = env.str("WECHAT_SUBSCRIBE_SENDER", default="sandbox" if SANDBOX else "wechat")
# formal | trial | developer: which build of the mini-program a message's page opens.
WECHAT_SUBSCRIBE_MINIPROGRAM_STATE = env.str("WECHAT_SUBSCRIBE_MINIPROGRAM_STATE", default="formal")
SUBSCRIBE_MAX_ATTEMPTS = env.int("SUBSCRIBE_MAX_ATTEMPTS", default=6)
SUBSCRIBE_BACKOFF_BASE_SECONDS = env.int("SUBSCRIBE_BACKOFF_BASE_SECONDS", default=30)  # 30 s, 1 min, 2 min …
SUBSCRIBE_BACKOFF_MAX_SECONDS = env.int("SUBSCRIBE_BACKOFF_MAX_SECONDS", default=3600)


def _subscribe_template(kind: str, *, page: str, data: dict[str, str]) -> dict:
    """One event's template: its id (``WECHAT_TEMPLATE_<KIND>``, from the mini-program's
    console; a made-up one in the sandbox; empty = no subscribe message for the event), the
    page a tap opens and its fields. Field values are ``str.format`` patterns over the
    notification's ``data`` plus ``title``, ``body`` and ``time``; the field keys are the
    template's own (thing1, amount2 …: a key's prefix sets WeChat's length limit)."""
    default = f"sandbox-{kind}" if SANDBOX else ""
    return {
        "template_id": env.str(f"WECHAT_TEMPLATE_{kind.upper()}", default=default),
        "page": page,
        "data": data,
    }


# Notification kind → its subscribe message (docs/subscribe-messages.md).
WECHAT_SUBSCRIBE_TEMPLATES = {
    "order_paid": _subscribe_template(
        "order_paid",
        page="pages/order/detail?id={order_id}",
        data={
            "character_string1": "{order_id}",
            "amount2": "{amount}",
            "thing3": "{items}",
            "time4": "{time}",
        },
    ),
    "order_shipped": _subscribe_template(
        "order_shipped",
        page="pages/order/detail?id={order_id}",
        data={
            "character_string1": "{order_id}",
            "thing2": "{items}",
            "thing3": "{carrier}",
            "character_string4": "{tracking_no}",
        },
    ),
    "pickup_ready": _subscribe_template(
        "pickup_ready",
        page="pages/order/detail?id={order_id}",
        data={"character_string1": "{order_id}", "thing2": "{pickup_point_name}", "time3": "{time}"},
    ),
    "team_succeeded": _subscribe_template(
        "team_succeeded",
        page="pages/order/detail?id={order_id}",
        data={"thing1": "{items}", "number2": "{team_size}", "time3": "{time}"},
    ),
    "team_failed": _subscribe_template(
        "team_failed",
        page="pages/order/detail?id={order_id}",
        data={"thing1": "{items}", "thing2": "{body}", "time3": "{time}"},
    ),
    "refund_made": _subscribe_template(
        "refund_made",
        page="pages/order/detail?id={order_id}",
        data={"character_string1": "{order_id}", "amount2": "{amount}", "time3": "{time}"},
    ),
    "rebate_settled": _subscribe_template(
        "rebate_settled",
        page="pages/wallet/index",
        data={"amount1": "{amount}", "thing2": "{body}", "time3": "{time}"},
    ),
    "envelope_waiting": _subscribe_template(
        "envelope_waiting",
        page="pages/store/index?id={store_id}",
        data={"thing1": "{store_name}", "thing2": "{body}", "time3": "{time}"},
    ),
}

# --- Payments and WeChat --------------------------------------------------------
PAYMENT_GATEWAY = env.str("PAYMENT_GATEWAY", default="sandbox" if SANDBOX else "wechatpay")
# The e-commerce gateway (平台收付通) whose bills are reconciled daily (shop/payments/reconciliation.py).
ECOMMERCE_GATEWAY = env.str("ECOMMERCE_GATEWAY", default="sandbox" if SANDBOX else "wechatpay")
# A payment still unpaid this long after creation is queried at the gateway (a lost callback).
PAYMENT_QUERY_AFTER = timedelta(minutes=env.int("PAYMENT_QUERY_AFTER_MINUTES", default=3))
# How new checkouts are paid (docs/merchant-money.md): ``profit_sharing`` (straight into the
# merchants' frozen funds at WeChat Pay's e-commerce product, shared and unfrozen later: the
# default, as the rules against pooling merchants' money (二清) require) or ``platform`` (into
# our own account, the old payable path). Deposits are always ``platform``; a payment made
# keeps its own ``funds`` whatever this says later.
MERCHANT_FUNDS = env.str("MERCHANT_FUNDS", default="profit_sharing")
if MERCHANT_FUNDS not in ("profit_sharing", "platform"):
    raise ImproperlyConfigured("MERCHANT_FUNDS must be profit_sharing or platform")
# The platform's own merchant account: the receiver of every share (never a person's openid).
ECOMMERCE_PLATFORM_MCHID = env.str("ECOMMERCE_PLATFORM_MCHID", default="")
# Profit-sharing calls per second per secondary merchant, across all workers: WeChat allows
# 300 QPS per sub_mchid for the share request (pay.weixin.qq.com/doc/v3/partner/4012691594);
# we keep 50 for the queries and finishing requests of the same merchant.
FUNDS_STEP_RATE_PER_S = env.int("FUNDS_STEP_RATE_PER_S", default=250)
# How long a sender owns the funds steps it claimed (shop/payments/steps.py): a killed
# sender's steps come back to the sweeper after it. Longer than a claimed batch takes.
FUNDS_STEP_LEASE_S = env.int("FUNDS_STEP_LEASE_S", default=60)
# The e-commerce sandbox's state namespace in the cache (tests give each run its own).
SANDBOX_ECOMMERCE_NAMESPACE = env.str("SANDBOX_ECOMMERCE_NAMESPACE", default="")
SANDBOX_PAYMENT_SECRET = env.str("SANDBOX_PAYMENT_SECRET", default="sandbox-callback-secret")
WECHAT_APPID = env.str("WECHAT_APPID", default="")
WECHAT_APP_SECRET = env.str("WECHAT_APP_SECRET", default="")
# The merchant console's sign-in (accounts/web_login.py): WeChat's website login (a 网站应用
# on open.weixin.qq.com, its own appid and secret, not the mini-program's) or, in the
# sandbox, a form taking a sandbox code ``sandbox:<unionid>``.
WECHAT_WEB_LOGIN = env.str("WECHAT_WEB_LOGIN", default="sandbox" if SANDBOX else "wechat")
WECHAT_WEB_APPID = env.str("WECHAT_WEB_APPID", default="")
WECHAT_WEB_APP_SECRET = env.str("WECHAT_WEB_APP_SECRET", default="")
# Share posters (groupstore/posters.py): the mini-program code comes from WeChat's
# getwxacodeunlimit ("wechat") or, in the sandbox, is a plain QR code drawn here ("sandbox").
MINI_PROGRAM_CODE = env.str("MINI_PROGRAM_CODE", default="sandbox" if SANDBOX else "wechat")
# The mini-program page a scanned code opens; it reads ``scene`` and calls GET /share-scenes/{scene}.
MINI_PROGRAM_SHARE_PAGE = env.str("MINI_PROGRAM_SHARE_PAGE", default="pages/share/index")
# release | trial | develop: which build of the mini-program the code opens.
MINI_PROGRAM_ENV_VERSION = env.str("MINI_PROGRAM_ENV_VERSION", default="release")
# The CJK font posters are drawn with: the first that exists (Debian's fonts-wqy-microhei,
# installed by .ci/run and the Dockerfile; the others where a machine has them instead).
POSTER_FONT_PATHS = env.list(
    "POSTER_FONT_PATHS",
    default=[
        "/usr/share/fonts/truetype/wqy/wqy-microhei.ttc",
        "/usr/share/fonts/truetype/wqy/wqy-zenhei.ttc",
        "/usr/share/fonts/opentype/noto/NotoSansCJK-Regular.ttc",
    ],
)
# Hosts a product picture may be fetched from for a poster (https only; merchants type image
# URLs, so any other host is never fetched: the poster shows the product's title instead).
POSTER_IMAGE_HOSTS = env.list("POSTER_IMAGE_HOSTS", default=[])
POSTER_CACHE_S = env.int("POSTER_CACHE_S", default=7 * 24 * 3600)
WECHATPAY = {
    "MCHID": env.str("WECHATPAY_MCHID", default=""),
    "PRIVATE_KEY_PATH": env.str("WECHATPAY_PRIVATE_KEY_PATH", default=""),
    "CERT_SERIAL_NO": env.str("WECHATPAY_CERT_SERIAL_NO", default=""),
    "APIV3_KEY": env.str("WECHATPAY_APIV3_KEY", default=""),
    "NOTIFY_URL": env.str("WECHATPAY_NOTIFY_URL", default=""),
    # Where WeChat posts refund results: https://<host>/api/v1/payments/wechatpay/refund-notify
    "REFUND_NOTIFY_URL": env.str("WECHATPAY_REFUND_NOTIFY_URL", default=""),
    "PUBLIC_KEY_PATH": env.str("WECHATPAY_PUBLIC_KEY_PATH", default=""),
    "PUBLIC_KEY_ID": env.str("WECHATPAY_PUBLIC_KEY_ID", default=""),
}

# --- i18n, static ---------------------------------------------------------------
# The admin and the API speak English (LANGUAGE_CODE; there is no LocaleMiddleware). The
# merchant console alone speaks Chinese by default, English on request: console/middleware.py.
LANGUAGE_CODE = "en"
LANGUAGES = [("zh-hans", "简体中文"), ("en", "English")]
# The console's catalogue first: Django's own (admin's "Today" → "今天") would win otherwise,
# since apps listed earlier in INSTALLED_APPS take precedence.
LOCALE_PATHS = [BASE_DIR / "console" / "locale"]
TIME_ZONE = "Asia/Shanghai"
USE_I18N = True
USE_TZ = True
STATIC_URL = "static/"
STATIC_ROOT = VAR_DIR / "static"
STORAGES = {
    "default": {"BACKEND": "django.core.files.storage.FileSystemStorage"},
    "staticfiles": {"BACKEND": "whitenoise.storage.CompressedStaticFilesStorage"},
}
WHITENOISE_USE_FINDERS = DEBUG

# --- Logging --------------------------------------------------------------------
# One JSON object a line (shop/api/logging.py), each with the request id and, in a Celery
# task, the task id; LOG_FORMAT=plain for a developer's terminal.
LOG_FORMAT = env.str("LOG_FORMAT", default="json")
LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "filters": {"request_id": {"()": "shop.api.request_id.RequestIdLogFilter"}},
    "formatters": {
        "json": {"()": "shop.api.logging.JsonFormatter"},
        "plain": {"format": "%(asctime)s %(levelname)s %(name)s [req=%(request_id)s] %(message)s"},
    },
    "handlers": {
        "console": {
            "class": "logging.StreamHandler",
            "formatter": "plain" if LOG_FORMAT == "plain" else "json",
            "filters": ["request_id"],
        },
    },
    "root": {"handlers": ["console"], "level": env.str("LOG_LEVEL", default="INFO")},
    "loggers": {
        "django.server": {"level": "WARNING"},
        # Django logs every 4xx answer as a warning: a sold-out flash crowd wrote thousands
        # of lines a second. Clients' mistakes and refusals are counted by /metrics (by view
        # and status); 5xx are still logged, with their traceback.
        "django.request": {"level": env.str("LOG_LEVEL_REQUESTS", default="ERROR")},
    },
}

# --- Metrics (GET /metrics, shop/api/metrics.py) ------------------------------------
# Scrapers on the same host need nothing; from elsewhere, send "Authorization: Bearer <token>".
METRICS_TOKEN = env.str("METRICS_TOKEN", default="")
METRICS_ALLOW_LOOPBACK = env.bool("METRICS_ALLOW_LOOPBACK", default=True)
METRICS_QUEUES = env.list("METRICS_QUEUES", default=[])  # more queues than CELERY_TASK_QUEUES

# --- Demo data (development only) -----------------------------------------------
DEMO_OPS_PASSWORD = env.str("DEMO_OPS_PASSWORD", default="shop-ops-demo")
