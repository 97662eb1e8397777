"""The catalog's requests profiled in one Django process (``bench/catalog_search.py --profile``):
the WSGI application called directly, no server, no network — what each request costs in this
process's CPU, its SQL statements, and where the time goes (cProfile). CPU seconds and
statement counts hold on a busy machine, where wall-clock rates do not."""

from __future__ import annotations

import cProfile
import io
import pstats
import sys
import time


def _environ(path: str, token: str) -> dict:
    route, _, query = path.partition("?")
    return {
        "REQUEST_METHOD": "GET",
        "PATH_INFO": route,
        "QUERY_STRING": query,
        "SERVER_NAME": "127.0.0.1",
        "SERVER_PORT": "80",
        "wsgi.url_scheme": "http",
        "wsgi.input": io.BytesIO(b""),
        "wsgi.errors": sys.stderr,
        "HTTP_HOST": "127.0.0.1",
        "HTTP_AUTHORIZATION": f"Bearer {token}",
    }


def profile(*, endpoints: dict[str, list[str]], tokens: str, requests: int = 300, top: int = 20) -> dict:
    """For each endpoint (its paths taken in turn): CPU µs per request (after a warm-up round),
    SQL statements per request, and cProfile's top functions by own time."""
    from django.core.wsgi import get_wsgi_application
    from django.db import connection

    app = get_wsgi_application()
    with open(tokens) as lines:
        token_list = lines.read().split()

    def call(path: str, i: int) -> None:
        status: list[str] = []
        body = b"".join(
            app(_environ(path, token_list[i % len(token_list)]), lambda s, h, *a: status.append(s))
        )
        assert status[0].startswith("200"), (path, status, body[:300])

    out = {}
    for name, paths in endpoints.items():
        for i in range(len(paths) * 2):  # warm-up: jieba, the filter cache, connections
            call(paths[i % len(paths)], i)
        statements: list[str] = []

        def record(execute, sql, params, many, context, statements=statements):
            statements.append(sql)
            return execute(sql, params, many, context)

        with connection.execute_wrapper(record):  # (Django resets its query log per request)
            for i, path in enumerate(paths):
                call(path, i)
        started = time.process_time()
        for i in range(requests):
            call(paths[i % len(paths)], i)
        cpu = time.process_time() - started
        profiler = cProfile.Profile()
        profiler.enable()
        for i in range(requests):
            call(paths[i % len(paths)], i)
        profiler.disable()
        text = io.StringIO()
        pstats.Stats(profiler, stream=text).sort_stats("tottime").print_stats(top)
        out[name] = {
            "cpu_us_per_request": round(cpu / requests * 1e6),
            "statements_per_request": round(len(statements) / len(paths), 2),
            "statements": sorted({sql[:160] for sql in statements})[:6],
            "profile": text.getvalue(),
        }
    return out
