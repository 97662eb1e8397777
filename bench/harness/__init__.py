"""What every bench under ``bench/`` needs, done one way (issue 17, step 5).

- **Databases**: ``database_create`` / ``database_drop`` on the local PostgreSQL (``BENCH_PG``),
  ``migrate``; ``psql`` and ``psql_value`` for the odd statement.
- **Settings**: ``django_env`` builds the environment of every Django process a bench starts
  (its own database, ``DEBUG``/``SANDBOX`` off unless asked, a throw-away secret).
- **Setup code** is real Python in ``bench/setup/`` (or the bench's own module), run in a
  fresh Django process by ``in_django("bench.setup.x:function", **kwargs)`` through
  ``python -m bench.in_django``; the function returns a JSON-able value.
- **Gunicorn** as in production (``gunicorn.conf.py``: sync workers, persistent connections,
  ``DEBUG=0``) with worker recycling off, under ``shop.settings.bench``; ``Server.wait_ready``
  proves the server answering is the one we started: a random token is passed in its
  environment and ``GET /bench/ready`` (``bench/reference_app``) must echo it. Another program
  on the port is an error, never mistaken for ours.
- **wrk** runs with the Lua scripts of ``bench/lua/`` (``report.lua`` appended when a script
  has no report of its own), parsed from the one JSON line the report writes.
- **CPU accounting** per part (the server's process group, PostgreSQL, Redis, the client).
- **Measured phases**: ``measured_phase`` runs one on a settled database (a checkpoint, no
  autovacuum running: ``settle_database``) and waits until the server has answered what it
  left queued (``Server.drain``); ``minimal_buy`` measures ``POST /bench/buy`` (``BUY``), the
  reference every write bench gives its ratio to (``ratio_to_mean`` of the buys around a phase).
- **Result records**: ``emit`` prints a report as JSON, ``loadavg`` the load it ran under.
"""

from .measure import cpu_by_process, cpu_per_request, emit, load, loadavg, lua_source, percentile_ms, wrk
from .phases import BUY, HELLO, measured_phase, minimal_buy, ratio_to_mean
from .processes import (
    BIN,
    CELERY,
    GUNICORN,
    LUA,
    PG,
    PYTHON,
    REDIS,
    ROOT,
    celery_workers,
    database_create,
    database_drop,
    django_env,
    in_django,
    migrate,
    psql,
    psql_value,
    run,
    settle_database,
    spawn,
    stop,
)
from .server import NotOurServer, Server, free_port, start_gunicorn

__all__ = [
    "BIN",
    "BUY",
    "CELERY",
    "GUNICORN",
    "HELLO",
    "LUA",
    "PG",
    "PYTHON",
    "REDIS",
    "ROOT",
    "NotOurServer",
    "Server",
    "celery_workers",
    "cpu_by_process",
    "cpu_per_request",
    "database_create",
    "database_drop",
    "django_env",
    "emit",
    "free_port",
    "in_django",
    "load",
    "loadavg",
    "lua_source",
    "measured_phase",
    "migrate",
    "minimal_buy",
    "percentile_ms",
    "psql",
    "psql_value",
    "ratio_to_mean",
    "run",
    "settle_database",
    "spawn",
    "start_gunicorn",
    "stop",
    "wrk",
]
