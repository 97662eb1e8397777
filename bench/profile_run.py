"""The in-process half of ``bench/profile_orders.py``: the WSGI app called directly, each kind
of request timed without the profiler, then profiled (cProfile on this process's CPU), or just
run again for py-spy sampling from outside.

    python -m bench.profile_run DATA.json REQUESTS TOP SORT [KIND ...]
"""

from __future__ import annotations

import cProfile
import io
import json
import os
import pstats
import sys
import time


def environ(method: str, path: str, token: str | None = None, body: bytes = b"") -> dict:
    env = {
        "REQUEST_METHOD": method,
        "PATH_INFO": path,
        "SERVER_NAME": "127.0.0.1",
        "SERVER_PORT": "80",
        "wsgi.url_scheme": "http",
        "wsgi.input": io.BytesIO(body),
        "CONTENT_LENGTH": str(len(body)),
        "CONTENT_TYPE": "application/json",
        "HTTP_HOST": "127.0.0.1",
        "wsgi.errors": sys.stderr,
    }
    if token:
        env["HTTP_AUTHORIZATION"] = f"Bearer {token}"
    return env


def kinds_of_requests(app, setup: dict) -> dict:
    """Each kind of request, as a function that sends one and checks its answer's status."""

    def call(env: dict, want: str) -> None:
        status: list[str] = []
        body = b"".join(app(env, lambda s, h, *a: status.append(s)))
        assert status[0].startswith(want), (status, body[:300])

    tokens, orders = iter(setup["tokens"]), "/api/v1/orders"

    def post(body: str, want: str):
        return lambda: call(environ("POST", orders, next(tokens), setup[body].encode()), want)

    return {
        "hello": lambda: call(environ("GET", "/bench/hello"), "200"),
        "buy": lambda: call(environ("POST", "/bench/buy", body=b'{"item_id": 7}'), "201"),
        "order": post("order_body", "201"),
        "flash_win": post("flash_win_body", "201"),
        "flash_sold_out": post("flash_body", "409"),
    }


def main(data: str, requests: str, top: str, sort: str, *only: str) -> None:
    from django.core.wsgi import get_wsgi_application

    app = get_wsgi_application()
    with open(data) as stream:
        setup = json.load(stream)
    n, top_n = int(requests), int(top)
    for name, fn in kinds_of_requests(app, setup).items():
        if only and name not in only:
            continue
        for _ in range(20):
            fn()  # warm: connection, caches, imports
        plain = cpu = float("inf")
        for _ in range(3):  # the best of three: other work on the box only ever adds time
            started, started_cpu = time.perf_counter(), time.process_time()
            for _ in range(n // 3):
                fn()
            plain = min(plain, (time.perf_counter() - started) / (n // 3) * 1e6)
            cpu = min(cpu, (time.process_time() - started_cpu) / (n // 3) * 1e6)
        print(f"===== {name}: {plain:.0f} us per request, {cpu:.0f} us of it in this process (no profiler)")
        if sort == "py-spy":  # sampled from outside (the parent runs py-spy): just run again
            for _ in range(n):
                fn()
            continue
        profile = cProfile.Profile(time.process_time)  # this process's CPU only, not waits
        profile.enable()
        for _ in range(n):
            fn()
        profile.disable()
        out = io.StringIO()
        stats = pstats.Stats(profile, stream=out).sort_stats(sort)
        # Calls counted, not timed: the same from run to run, where times on a shared box are not.
        print(f"===== {name}: {stats.total_calls / n:.0f} Python function calls per request")
        stats.print_stats(top_n)
        if os.environ.get("PROFILE_CALLERS"):  # who calls the functions matching this pattern
            stats.print_callers(os.environ["PROFILE_CALLERS"])
        print("\n".join(out.getvalue().splitlines()[6:]))


if __name__ == "__main__":
    main(*sys.argv[1:])
