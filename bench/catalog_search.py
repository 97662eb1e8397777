"""Chinese product search and the plain listing over 100,000 (or 1,000,000) products, through
the API, against the authenticated floor ``GET /bench/read_1`` in the same run (issues 3, 18).

    .venv/bin/python bench/catalog_search.py --database bench_cat_100k --seed
    .venv/bin/python bench/catalog_search.py --database bench_cat_1m --seed --products 1000000
    .venv/bin/python bench/catalog_search.py --database bench_cat_100k --profile

What it does, step by step (each step prints what it did):
1. ``--seed``: creates the PostgreSQL database, migrates it and loads ``--products`` products
   (one SKU each) with realistic Chinese titles built from word lists (brand, modifier,
   product word, spec; eight categories), all on sale, each with its search vector (the real
   jieba segmentation and vector expression), by ``COPY`` with the indexes rebuilt after
   (``bench/setup/catalog_load.py``: about 4 minutes for 1,000,000 on a busy 2-core box);
   ``VACUUM ANALYZE``.
2. Issues bearer tokens for ``--shoppers`` bench shoppers (every request carries one, as the
   mini-program sends its token on every call); prints how many products each query
   matches and the plan (``EXPLAIN (ANALYZE, BUFFERS)``) of every statement of the first
   page of each listing variant and of one two-word search.
3. ``--profile``: instead of the load, each endpoint in one Django process
   (``bench/setup/catalog_profile.py``): CPU per request, SQL statements per request and
   cProfile's top functions; stops there. CPU and statements hold on a busy machine.
4. Starts gunicorn as in production (``gunicorn.conf.py``: sync workers, 2×cores+1,
   persistent connections, jieba loaded in the master) under ``shop.settings.bench`` (the
   reference endpoints in front), DEBUG=0, SANDBOX off; worker recycling off for the run.
5. For each endpoint — ``read_1`` (token + one SELECT by primary key: the run's reference),
   search with a two-word Chinese query (``q`` drawn at random from ``QUERIES``, best match
   first), the same by ``-sales``, the plain listing (``GET /products``: the shop's home
   page) and its variants (``ordering=-sales``, ``ordering=price_fen``, each category, each
   category by price) — a 5 s warm-up, then wrk with ``--connections`` (16) for
   ``--duration`` seconds; prints requests/s, p50/p90/p95/p99 and non-2xx; then one
   connection alone, for the per-request cost.
6. Does 4-5 twice: with the catalog page cache off (every request runs its query) and on
   (``CATALOG_PAGE_CACHE_SECONDS=60``, Redis; search and the home page only), then prints
   each endpoint's requests/s as a ratio to ``read_1``'s (uncached run); with ``--drop``
   drops the database.

Needs ``wrk`` (``apt-get install wrk``); the load generator runs on the same 2 cores as
the server and PostgreSQL, as in LIMITS.md.
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
import urllib.parse
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
from bench import harness  # noqa: E402
from bench.setup.catalog_search import QUERIES  # noqa: E402


def wrk(port: int, tokens: Path, paths: Path, *, connections: int, seconds: int) -> dict:
    return harness.wrk(
        port, "token_paths", connections=connections, seconds=seconds, args=[str(tokens), str(paths)]
    )


def endpoints(categories: list[int]) -> dict[str, list[str]]:
    """Each measured endpoint as the paths its requests pick from at random."""
    quoted = [urllib.parse.quote(q) for q in QUERIES]
    return {
        "read_1": ["/bench/read_1"],  # the floor the others are measured against
        "search_best_match": [f"/api/v1/products?q={q}" for q in quoted],
        "search_by_sales": [f"/api/v1/products?q={q}&ordering=-sales" for q in quoted],
        "list_home": ["/api/v1/products"],  # the shop's home page: no query, default order
        # What else the mini-program's catalog tabs ask for without a query.
        "list_variants": [
            "/api/v1/products?ordering=-sales",
            "/api/v1/products?ordering=price_fen",
            *(f"/api/v1/products?category={c}" for c in categories),
            *(f"/api/v1/products?category={c}&ordering=price_fen" for c in categories),
        ],
    }


def measure(
    server_env: dict, args: argparse.Namespace, tokens: Path, paths: dict[str, list[str]], tmp: Path
) -> dict:
    """One gunicorn on ``server_env``; each endpoint: 5 s warm-up, ``--connections`` for
    ``--duration`` s, then one connection alone."""
    results = {}
    server = harness.start_gunicorn(server_env, args.port, args.workers)
    try:
        for name, endpoint_paths in paths.items():
            path_file = tmp / f"{name}.txt"
            path_file.write_text("\n".join(endpoint_paths) + "\n")
            wrk(args.port, tokens, path_file, connections=args.connections, seconds=5)  # warm-up
            loaded = wrk(args.port, tokens, path_file, connections=args.connections, seconds=args.duration)
            alone = wrk(args.port, tokens, path_file, connections=1, seconds=max(5, args.duration // 2))
            results[name] = {f"c{args.connections}": loaded, "c1": alone}
            print(f"{name}: {args.connections} conns {loaded}\n{name}: 1 conn {alone}", flush=True)
    finally:
        server.stop()
    return results


def main() -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--database", required=True)
    parser.add_argument("--seed", action="store_true", help="create, migrate and fill the database first")
    parser.add_argument("--products", type=int, default=100_000)
    parser.add_argument("--drop", action="store_true", help="drop the database at the end")
    parser.add_argument("--duration", type=int, default=20)
    parser.add_argument("--connections", type=int, default=16)
    parser.add_argument("--shoppers", type=int, default=200, help="distinct bearer tokens the load uses")
    parser.add_argument("--workers", type=int, default=(os.cpu_count() or 1) * 2 + 1)
    parser.add_argument("--port", type=int, default=8793)
    parser.add_argument(
        "--profile",
        action="store_true",
        help="profile each endpoint in one process (CPU per request, statements, cProfile) and stop",
    )
    args = parser.parse_args()

    env = harness.django_env(args.database)
    # The bench settings add the reference endpoints (bench/reference_app) in front.
    server_env = {**env, "DJANGO_SETTINGS_MODULE": "shop.settings.bench", "REDIS_URL": harness.REDIS}
    report: dict = {"database": args.database, "connections": args.connections, "workers": args.workers}
    try:
        if args.seed:
            print(f"creating and filling {args.database} with {args.products:,} products …", flush=True)
            harness.database_create(args.database, replace=False)
            harness.migrate(env)
            report["seed"] = harness.in_django(env, "bench.setup.catalog_search:seed", count=args.products)
            print(f"  {report['seed']}", flush=True)
        with tempfile.TemporaryDirectory() as tmp_dir:
            tmp = Path(tmp_dir)
            tokens = tmp / "tokens.txt"
            inspected = harness.in_django(
                env, "bench.setup.catalog_search:inspect", shoppers=args.shoppers, tokens=str(tokens)
            )
            plans = inspected.pop("plans")
            print(f"catalog: {inspected}", flush=True)
            for name, plan in plans.items():
                print(f"plan of {name}:\n{plan}", flush=True)
            report["data"] = inspected
            paths = endpoints(inspected["categories"])
            if args.profile:
                profiled = harness.in_django(
                    {**server_env, "CATALOG_PAGE_CACHE_SECONDS": "0"},
                    "bench.setup.catalog_profile:profile",
                    endpoints=paths,
                    tokens=str(tokens),
                )
                for name, figures in profiled.items():
                    print(f"{name}:\n{figures.pop('profile')}", flush=True)
                report["profile"] = profiled
                floor = profiled["read_1"]["cpu_us_per_request"]
                report["cpu_ratio_to_read_1"] = {
                    name: round(floor / figures["cpu_us_per_request"], 2)
                    for name, figures in profiled.items()
                }
                print(f"read_1's CPU per request / each one's: {report['cpu_ratio_to_read_1']}", flush=True)
                harness.emit(report)
                return 0
            report["load_before"] = os.getloadavg()
            report["results"] = {}
            for variant, cache_seconds, names in (
                ("uncached", 0, list(paths)),
                ("cached", 60, ["search_best_match", "list_home"]),
            ):
                results = measure(
                    {**server_env, "CATALOG_PAGE_CACHE_SECONDS": str(cache_seconds)},
                    args,
                    tokens,
                    {name: paths[name] for name in names},
                    tmp,
                )
                report["results"].update({f"{variant}:{name}": r for name, r in results.items()})
            report["load_after"] = os.getloadavg()
            key = f"c{args.connections}"
            floor = report["results"]["uncached:read_1"][key]["rps"]
            report["ratio_to_read_1"] = {
                name: round(r[key]["rps"] / floor, 2) for name, r in report["results"].items()
            }
            print(
                f"ratio to read_1 at {args.connections} connections: {report['ratio_to_read_1']}", flush=True
            )
    finally:
        if args.drop:
            harness.database_drop(args.database)
            print(f"dropped {args.database}", flush=True)
    harness.emit(report)
    return 0


if __name__ == "__main__":
    sys.exit(main())
