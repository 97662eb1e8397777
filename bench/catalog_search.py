"""Chinese product search over 100,000 products, through the API (issue 3).

    .venv/bin/python bench/catalog_search.py --database bench_search --seed --drop

What it does, step by step (each step prints what it did):
1. ``--seed``: creates the PostgreSQL database, migrates it, bulk-inserts ``--products``
   products (one SKU each) with realistic Chinese titles built from word lists
   (brand, modifier, product word, spec; eight categories), all on sale, then builds
   every search vector with the real service (``product_refresh_search``: jieba in
   Python, one ``UPDATE ... FROM (VALUES ...)`` per 1,000 products), timing both, and
   runs ``VACUUM ANALYZE``.
2. Prints the plan of one two-word query (``EXPLAIN ANALYZE``) and how many products
   each query of the mix matches.
3. Starts gunicorn as in production (``gunicorn.conf.py``: sync workers, 2×cores+1,
   persistent connections) with DEBUG=0, SANDBOX off, on that database; worker
   recycling off for the run (a recycle re-imports Django and reloads jieba's
   dictionary mid-measurement).
4. For each endpoint — search with a two-word Chinese query (``q`` drawn at random from
   ``QUERIES``, default best-match order), the same with ``ordering=-sales``, and the
   plain first page of the catalog (no ``q``) as the reference of the same run — a 5 s
   warm-up (which also loads jieba in every worker), then wrk with ``--connections``
   (16) for ``--duration`` seconds; prints requests/s, p50/p90/p95/p99 and non-2xx.
   Then one connection alone, for the per-request cost.
5. Does 3-4 twice: with the catalog page cache off (every request runs the search
   query) and on (``CATALOG_PAGE_CACHE_SECONDS=60``, Redis; after the warm-up every
   page of the 30-query mix is a hit), then stops gunicorn; with ``--drop`` drops the
   database.

Needs ``wrk`` (``apt-get install wrk``); the load generator runs on the same 2 cores
as the server and PostgreSQL, as in LIMITS.md.
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


def wrk(port: int, paths: Path, *, connections: int, seconds: int) -> dict:
    return harness.wrk(port, "paths", connections=connections, seconds=seconds, args=[str(paths)])


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
    parser.add_argument("--workers", type=int, default=(os.cpu_count() or 1) * 2 + 1)
    parser.add_argument("--port", type=int, default=8793)
    args = parser.parse_args()

    env = harness.django_env(args.database)
    report: dict = {"database": args.database, "connections": args.connections, "workers": args.workers}
    try:
        if args.seed:
            print(f"creating and filling {args.database} with {args.products:,} products …", flush=True)
            harness.database_create(args.database, replace=False)
            harness.migrate(env)
            report["seed"] = harness.in_django(env, "bench.setup.catalog_search:seed", count=args.products)
            print(f"  {report['seed']}", flush=True)
        inspected = harness.in_django(env, "bench.setup.catalog_search:inspect")
        print(f"matches per query: {inspected['matches']}", flush=True)
        print(f"plan of {QUERIES[0]!r}, first page:\n{inspected['plan']}", flush=True)
        report["matches_per_query"] = inspected["matches"]
        report["gin_index_size"] = inspected["gin_index_size"]
        with tempfile.TemporaryDirectory() as tmp:
            endpoints = {
                "search_best_match": [f"/api/v1/products?q={urllib.parse.quote(q)}" for q in QUERIES],
                "search_by_sales": [
                    f"/api/v1/products?q={urllib.parse.quote(q)}&ordering=-sales" for q in QUERIES
                ],
                "list_no_query": ["/api/v1/products?ordering=-sales", "/api/v1/products?ordering=price_fen"],
            }
            report["load_before"] = os.getloadavg()
            report["results"] = {}
            for variant, cache_seconds in (("uncached", 0), ("cached", 60)):
                server = harness.start_gunicorn(
                    {**env, "CATALOG_PAGE_CACHE_SECONDS": str(cache_seconds), "REDIS_URL": harness.REDIS},
                    args.port,
                    args.workers,
                )
                try:
                    for name, paths in endpoints.items():
                        if variant == "cached" and name == "search_by_sales":
                            continue
                        path_file = Path(tmp) / f"{name}.txt"
                        path_file.write_text("\n".join(paths) + "\n")
                        wrk(args.port, path_file, connections=args.connections, seconds=5)  # warm-up
                        loaded = wrk(
                            args.port, path_file, connections=args.connections, seconds=args.duration
                        )
                        alone = wrk(args.port, path_file, connections=1, seconds=max(5, args.duration // 2))
                        report["results"][f"{variant}:{name}"] = {f"c{args.connections}": loaded, "c1": alone}
                        print(
                            f"{variant} {name}: {args.connections} conns {loaded}\n"
                            f"{variant} {name}: 1 conn {alone}",
                            flush=True,
                        )
                finally:
                    server.stop()
            report["load_after"] = os.getloadavg()
    finally:
        if args.drop:
            harness.database_drop(args.database)
            print(f"dropped {args.database}", flush=True)
    harness.emit(report)
    return 0


if __name__ == "__main__":
    sys.exit(main())
