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
