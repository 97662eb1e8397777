"""Gunicorn settings for the web container. Every value can be overridden by the environment."""

import multiprocessing
import os

bind = f"0.0.0.0:{os.environ.get('PORT', '8000')}"

# Sync workers: each request holds one PostgreSQL connection (CONN_MAX_AGE), so the
# worker count also bounds the connections one web container opens.
worker_class = "sync"
workers = int(os.environ.get("WEB_CONCURRENCY", multiprocessing.cpu_count() * 2 + 1))
timeout = 30
graceful_timeout = 30
keepalive = 5

# Request limits, set deliberately (issue 19, item 6). Gunicorn refuses what breaks them
# before Django runs, with its own HTML page, not our JSON error shape: so the proxy in
# front must refuse first, with stricter limits and JSON pages (docs/deploy.md, "The proxy
# in front"), and these are the backstop behind it.
# - The request line (method, path, query string, version): 414 past 8190 bytes (gunicorn's
#   maximum), twice the proxy's 4 KB, so the proxy's JSON answer always comes first. No call
#   of ours needs a query string anywhere near 4 KB.
limit_request_line = int(os.environ.get("GUNICORN_LIMIT_REQUEST_LINE", "8190"))
# - Header fields: 431 past 100 of them or past 8190 bytes in one (the proxy: 4 KB). A
#   token is 43 bytes.
limit_request_fields = int(os.environ.get("GUNICORN_LIMIT_REQUEST_FIELDS", "100"))
limit_request_field_size = int(os.environ.get("GUNICORN_LIMIT_REQUEST_FIELD_SIZE", "8190"))
# - A header name with an underscore is dropped, never mapped onto the dashed one (so
#   "X_Forwarded_For" cannot pose as "X-Forwarded-For"). A control character in a value
#   (NUL, ESC, …): gunicorn's 400 page; behind a server that lets one through, Django
#   answers 400 bad_header itself (shop/api/headers.py).
header_map = "drop"

# Recycle workers now and then so a slow leak cannot grow forever; jitter keeps them
# from all restarting at once.
max_requests = int(os.environ.get("GUNICORN_MAX_REQUESTS", "1000"))
max_requests_jitter = int(os.environ.get("GUNICORN_MAX_REQUESTS_JITTER", "100"))

# Heartbeat files in RAM: a container's overlay filesystem can stall them into false timeouts.
worker_tmp_dir = "/dev/shm"  # noqa: S108 - gunicorn's documented setting for containers

# No gunicornc control socket (gunicorn >= 25): nothing in the container uses it, and the
# app user's $HOME (/app) is read-only to it.
control_socket_disable = True

accesslog = "-"
errorlog = "-"
loglevel = os.environ.get("GUNICORN_LOG_LEVEL", "info")
# The response's X-Request-ID: the client's when it sent a valid one, else the one the
# middleware made, so an access line can always be joined to the application's log lines.
access_log_format = '%(h)s %(t)s "%(r)s" %(s)s %(b)s %(M)sms "%(a)s" req=%({x-request-id}o)s'

# Trust X-Forwarded-* only from the proxy in front; set to its address (or "*" on a private network).
forwarded_allow_ips = os.environ.get("FORWARDED_ALLOW_IPS", "127.0.0.1")


def child_exit(server, worker):
    """With PROMETHEUS_MULTIPROC_DIR set (README "Runbook"), drop a dead worker's live series."""
    if os.environ.get("PROMETHEUS_MULTIPROC_DIR"):
        from prometheus_client import multiprocess

        multiprocess.mark_process_dead(worker.pid)


def when_ready(server):
    """Load the search dictionary (jieba, about a second of CPU) once, in the master, before it
    forks the workers: each worker, and each one recycled later, starts with it instead of
    loading it on its first search while shoppers wait (products/search.py)."""
    from products.search import warm_up

    warm_up()
