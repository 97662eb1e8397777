"""Where an order request's time goes, in one process: the WSGI app called directly
(no gunicorn, no sockets), with cProfile, for the requests of bench/orders_http.py.

    /work/main/.venv/bin/python bench/profile_orders.py [--requests 300] [--top 25]

Prepares a database the way bench/orders_http.py does (same settings, same data, fewer
buyers), sells out the flash offer and opens a second one, then for each kind of request —
the DRF hello, the minimal buy, an ordinary ``POST /api/v1/orders``, a flash winner, a
flash buyer told ``flash_sold_out`` — prints the mean wall time per request without the
profiler (and how much of it was this process's CPU: the rest is PostgreSQL and waiting),
then the functions that took the most of this process's CPU with it (cProfile on CPU
time; or ``--sort py-spy`` to sample wall time instead). The times are relative: compare
the kinds, and a change against the last run.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench.orders_http import PREPARE, PYTHON, ROOT, django_env, order_body, psql, run, shell  # noqa: E402

PROFILE = r"""
import cProfile, io, json, os, pstats, sys, time
from django.core.wsgi import get_wsgi_application
from django.db import connection
app = get_wsgi_application()
setup = json.loads(open(sys.argv[1]).read())
n, top, sort, only = int(sys.argv[2]), int(sys.argv[3]), sys.argv[4], sys.argv[5:]

def environ(method, path, token=None, body=b""):
    env = {"REQUEST_METHOD": method, "PATH_INFO": path, "SERVER_NAME": "127.0.0.1", "SERVER_PORT": "80",
           "wsgi.url_scheme": "http", "wsgi.input": io.BytesIO(body), "CONTENT_LENGTH": str(len(body)),
           "CONTENT_TYPE": "application/json", "HTTP_HOST": "127.0.0.1", "wsgi.errors": sys.stderr}
    if token:
        env["HTTP_AUTHORIZATION"] = f"Bearer {token}"
    return env

def call(env, want):
    status = []
    body = b"".join(app(env, lambda s, h, *a: status.append(s)))
    assert status[0].startswith(want), (status, body[:300])

tokens, ORDERS = iter(setup["tokens"]), "/api/v1/orders"
def post(body, want):
    return lambda: call(environ("POST", ORDERS, next(tokens), setup[body].encode()), want)

kinds = {
    "hello": lambda: call(environ("GET", "/bench/hello"), "200"),
    "buy": lambda: call(environ("POST", "/bench/buy", body=b'{"item_id": 7}'), "201"),
    "order": post("order_body", "201"),
    "flash_win": post("flash_win_body", "201"),
    "flash_sold_out": post("flash_body", "409"),
}
for name, fn in kinds.items():
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
    stats.print_stats(top)
    if os.environ.get("PROFILE_CALLERS"):  # who calls the functions matching this pattern
        stats.print_callers(os.environ["PROFILE_CALLERS"])
    print("\n".join(out.getvalue().splitlines()[6:]))
"""


SECOND_OFFER = """
import json
from datetime import timedelta
from django.utils import timezone
from orders.models import FlashOffer
FlashOffer.objects.filter(pk=OFFER).update(sold_count=1)
now = timezone.now()
FlashOffer.objects.create(sku_id=SKU, flash_price_fen=990,
    status="approved", starts_at=now - timedelta(minutes=1),
    ends_at=now + timedelta(hours=2), quantity=1_000_000, per_user_limit=1)
print(json.dumps({"sku_id": SKU}))
"""


def print_stacks(raw: Path, top: int) -> None:
    """py-spy's collapsed stacks as two tables: samples in a function itself, and under it."""
    own: dict[str, int] = {}
    under: dict[str, int] = {}
    total = 0
    for line in raw.read_text().splitlines():
        stack, _, count = line.rpartition(" ")
        frames = [f.split(" (")[0] + " " + f.rsplit("/", 1)[-1].rstrip(")") for f in stack.split(";")]
        total += int(count)
        own[frames[-1]] = own.get(frames[-1], 0) + int(count)
        for frame in set(frames):
            under[frame] = under.get(frame, 0) + int(count)
    for title, table in (("in the function itself", own), ("in it and what it calls", under)):
        print(f"--- share of samples {title} ({total} samples)")
        for frame, count in sorted(table.items(), key=lambda kv: -kv[1])[:top]:
            print(f"{100 * count / total:6.1f}%  {frame}")


def main() -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--database", default="bench_profile")
    parser.add_argument("--requests", type=int, default=300)
    parser.add_argument("--keep", action="store_true", help="keep the database (to time pieces by hand)")
    parser.add_argument("--top", type=int, default=25)
    parser.add_argument(
        "--sort",
        default="tottime",
        help="pstats order (tottime, cumulative, ...), or py-spy to sample instead",
    )
    parser.add_argument("--callers", default="", help="also print who calls the functions matching this")
    parser.add_argument("only", nargs="*", help="hello, buy, order, flash_win, flash_sold_out (default: all)")
    args = parser.parse_args()
    buyers = 3 * (2 * args.requests + 20) + 10
    psql(f'DROP DATABASE IF EXISTS "{args.database}" WITH (FORCE)')
    psql(f'CREATE DATABASE "{args.database}"')
    try:
        env = django_env(args.database)
        setup_env = {**env, "DEBUG": "1"}
        run([PYTHON, "manage.py", "migrate", "--run-syncdb", "-v0"], env=setup_env, cwd=ROOT)
        code = (
            PREPARE.replace("BUYERS", str(buyers))
            .replace("FLASH_STOCK", "1")
            .replace("FLASH_TRIALS", "1")
            .replace("SKUS", "20")
        )
        setup = shell(setup_env, code)
        # Sold out: the offer's one unit gone, as after a crowd; and a second offer with units
        # for every winner.
        winning = shell(
            setup_env,
            SECOND_OFFER.replace("OFFER", str(setup["offer_ids"][0])).replace(
                "SKU", str(setup["sku_ids"][-1])
            ),
        )
        payload = {
            "tokens": setup["tokens"],
            "order_body": order_body(setup["store_id"], setup["sku_ids"][0]),
            "flash_body": order_body(setup["store_id"], setup["flash_sku_ids"][0]),
            "flash_win_body": order_body(setup["store_id"], winning["sku_id"]),
        }
        with tempfile.NamedTemporaryFile("w", suffix=".json") as data:
            json.dump(payload, data)
            data.flush()
            command = [
                PYTHON,
                "-c",
                PROFILE,
                data.name,
                str(args.requests),
                str(args.top),
                args.sort,
                *args.only,
            ]
            if args.sort == "py-spy":
                raw = Path(data.name).with_suffix(".stacks")
                command = ["py-spy", "record", "-r", "1000", "-f", "raw", "-o", str(raw), "--", *command]
            subprocess.run(  # noqa: S603 - the 4xx answers' log lines go to stderr, dropped here
                command,
                env={**env, "ALLOWED_HOSTS": "127.0.0.1", "PROFILE_CALLERS": args.callers},
                cwd=ROOT,
                check=True,
                stderr=subprocess.DEVNULL,
            )
        if args.sort == "py-spy":
            print_stacks(raw, args.top)
    finally:
        if not args.keep:
            psql(f'DROP DATABASE IF EXISTS "{args.database}" WITH (FORCE)')
    return 0


if __name__ == "__main__":
    sys.exit(main())
