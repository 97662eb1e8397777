"""A flash sale of one SKU through the HTTP API under gunicorn (issue 5).

    .venv/bin/python bench/flash_sale.py --database bench_flash --stock 1000 --buyers 5000 \\
        --connections 256 --tries 2 --drop

1. Creates and migrates a bench database; makes one store with ``--buyers`` members
   (bulk), one SKU with ``--stock`` on hand, a flash offer of ``--stock`` units at one
   per buyer, and flash prices unlocked for every store; issues a token per buyer.
2. Starts gunicorn as in production (sync workers 2×cores+1, persistent database
   connections, ``DEBUG=0``, worker recycling off), ``SANDBOX=1`` so payments are
   the sandbox's (no network), with the Redis gate on (``--no-gate``: database only).
3. ``--connections`` client threads, spread over ``--processes`` processes, send
   ``POST /orders`` for every buyer ``--tries`` times in a shuffled order (a crowd
   that retries), as fast as answers come.
4. Prints attempts, answers by status code, orders created, requests/s, p50/p99
   latency, and checks in SQL: orders, units sold, final stock, nobody with two.
"""

from __future__ import annotations

import argparse
import http.client
import json
import multiprocessing
import os
import random
import statistics
import sys
import threading
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from groupstore_dashboard import ROOT, django_env, psql, run, stop  # noqa: E402

BIN = ROOT / ".venv" / "bin" if (ROOT / ".venv").exists() else Path(sys.executable).parent
PYTHON, GUNICORN = str(BIN / "python"), str(BIN / "gunicorn")


def start_gunicorn(env: dict, port: int, workers: int):
    """As bench/groupstore_dashboard.py does, with this bench's environment (SANDBOX on)."""
    import subprocess
    import urllib.error
    import urllib.request

    env = {
        **env,
        "DEBUG": "0",
        "PORT": str(port),
        "WEB_CONCURRENCY": str(workers),
        "GUNICORN_MAX_REQUESTS": "0",
    }
    env.update({"GUNICORN_LOG_LEVEL": "warning", "ALLOWED_HOSTS": "127.0.0.1,localhost"})
    proc = subprocess.Popen(  # noqa: S603
        [GUNICORN, "shop.wsgi", "-c", "gunicorn.conf.py", "--access-logfile", "/dev/null"],
        env=env,
        cwd=ROOT,
        start_new_session=True,
    )
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        try:
            urllib.request.urlopen(f"http://127.0.0.1:{port}/api/v1/me", timeout=2)  # noqa: S310
        except urllib.error.HTTPError:
            return proc
        except OSError:
            time.sleep(0.5)
    stop(proc)
    raise RuntimeError("gunicorn did not start")


PREPARE = r"""
import json, secrets
from datetime import timedelta
from django.utils import timezone
from accounts.models import AuthToken, User
from accounts.services import token_hash
from groupstore.models import Membership
from groupstore.services import store_create
from orders.models import FlashOffer
from products.tests.factories import SkuFactory
now = timezone.now()
owner = User.objects.create(username="bench-owner", nickname="群主", openid="bench-owner")
store = store_create(owner=owner, name="秒杀群", wechat_group_id=None).store
users = User.objects.bulk_create(
    [User(username=f"bench-{i}", nickname=f"买家{i}", openid=f"bench-{i}") for i in range(BUYERS)]
)
Membership.objects.bulk_create([Membership(store=store, user=u, role="member", joined_at=now) for u in users])
raw = [secrets.token_urlsafe(24) for _ in users]
AuthToken.objects.bulk_create(
    [AuthToken(user=u, key_hash=token_hash(r), expires_at=now + timedelta(days=1))
     for u, r in zip(users, raw)]
)
sku = SkuFactory(on_hand=STOCK, price_fen=1_990)
offer = FlashOffer.objects.create(sku=sku, flash_price_fen=990,
    status="approved", starts_at=now - timedelta(minutes=1),
    ends_at=now + timedelta(hours=2), quantity=STOCK, per_user_limit=1)
print(json.dumps({"store_id": store.pk, "sku_id": sku.pk, "offer_id": offer.pk, "tokens": raw}))
"""

CHECK = r"""
import json
from django.db.models import Count
from orders.models import FlashOffer, Order, OrderItem
from products.models import Sku
sku = Sku.objects.get(pk=SKU)
offer = FlashOffer.objects.get(pk=OFFER)
doubles = Order.objects.values("buyer_id").annotate(n=Count("pk")).filter(n__gt=1).count()
print(json.dumps({
    "orders": Order.objects.count(),
    "units_sold": sum(OrderItem.objects.filter(sku=sku).values_list("qty", flat=True)),
    "offer_sold_count": offer.sold_count,
    "on_hand": sku.on_hand, "reserved": sku.reserved, "available": sku.on_hand - sku.reserved,
    "buyers_with_two_orders": doubles,
    "flash_priced_orders": Order.objects.filter(paid_fen=990).count(),
}))
"""


def _client_process(port: int, jobs: list[tuple[str, str]], threads: int, out_q) -> None:
    lock = threading.Lock()
    results: list[tuple[int, float]] = []
    it = iter(jobs)

    def worker() -> None:
        conn = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
        while True:
            with lock:
                job = next(it, None)
            if job is None:
                break
            token, body = job
            started = time.perf_counter()
            try:
                conn.request(
                    "POST",
                    "/api/v1/orders",
                    body=body,
                    headers={"Authorization": f"Bearer {token}", "Content-Type": "application/json"},
                )
                response = conn.getresponse()
                response.read()
                status = response.status
                if response.getheader("connection", "").lower() == "close":
                    conn.close()
            except (OSError, http.client.HTTPException):
                status = -1
                conn.close()
                conn = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
            elapsed = time.perf_counter() - started
            with lock:
                results.append((status, elapsed))
        conn.close()

    pool = [threading.Thread(target=worker) for _ in range(threads)]
    for thread in pool:
        thread.start()
    for thread in pool:
        thread.join()
    out_q.put(results)


def load(port: int, jobs: list[tuple[str, str]], *, connections: int, processes: int) -> tuple[list, float]:
    per = [jobs[i::processes] for i in range(processes)]
    queue: multiprocessing.Queue = multiprocessing.Queue()
    procs = [
        multiprocessing.Process(
            target=_client_process, args=(port, part, max(1, connections // processes), queue)
        )
        for part in per
    ]
    started = time.perf_counter()
    for proc in procs:
        proc.start()
    results = [row for _ in procs for row in queue.get()]
    for proc in procs:
        proc.join()
    return results, time.perf_counter() - started


def main() -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--database", default="bench_flash")
    parser.add_argument("--stock", type=int, default=1000)
    parser.add_argument("--buyers", type=int, default=5000)
    parser.add_argument("--tries", type=int, default=1, help="attempts per buyer")
    parser.add_argument("--connections", type=int, default=256)
    parser.add_argument("--processes", type=int, default=4)
    parser.add_argument("--workers", type=int, default=(os.cpu_count() or 1) * 2 + 1)
    parser.add_argument("--port", type=int, default=8793)
    parser.add_argument("--no-gate", action="store_true", help="database path only (no Redis gate)")
    parser.add_argument("--drop", action="store_true")
    args = parser.parse_args()

    extra = {
        "SANDBOX": "1",
        "SANDBOX_IN_PRODUCTION_I_MEAN_IT": "1",
        "FLASH_UNLOCK_THRESHOLD_FEN": "0",
        "FLASH_GATE": "0" if args.no_gate else "1",
    }
    psql(f'DROP DATABASE IF EXISTS "{args.database}"')
    psql(f'CREATE DATABASE "{args.database}"')
    try:
        env = django_env(args.database, {**extra, "DEBUG": "1"})
        run([PYTHON, "manage.py", "migrate", "-v0"], env=env, cwd=ROOT)
        code = PREPARE.replace("BUYERS", str(args.buyers)).replace("STOCK", str(args.stock))
        out = run([PYTHON, "manage.py", "shell", "-c", code], env=env, cwd=ROOT, capture_output=True).stdout
        setup = json.loads(out.strip().splitlines()[-1])
        body = json.dumps(
            {
                "store_id": setup["store_id"],
                "items": [{"sku_id": setup["sku_id"], "qty": 1}],
                "address": {
                    "name": "张三",
                    "phone": "13800138000",
                    "region": "上海市",
                    "detail": "世纪大道100号",
                },
            }
        )
        jobs = [(token, body) for token in setup["tokens"] for _ in range(args.tries)]
        random.Random(5).shuffle(jobs)
        server = start_gunicorn(django_env(args.database, extra), args.port, args.workers)
        try:
            results, seconds = load(args.port, jobs, connections=args.connections, processes=args.processes)
        finally:
            stop(server)
        latencies = sorted(ms for _, ms in results)
        by_status: dict[str, int] = {}
        for status, _ in results:
            by_status[str(status)] = by_status.get(str(status), 0) + 1
        check_code = CHECK.replace("SKU", str(setup["sku_id"])).replace("OFFER", str(setup["offer_id"]))
        out = run(
            [PYTHON, "manage.py", "shell", "-c", check_code], env=env, cwd=ROOT, capture_output=True
        ).stdout
        report = {
            "stock": args.stock,
            "buyers": args.buyers,
            "attempts": len(results),
            "connections": args.connections,
            "gunicorn_workers": args.workers,
            "gate": not args.no_gate,
            "by_status": by_status,
            "seconds": round(seconds, 2),
            "rps": round(len(results) / seconds, 1),
            "p50_ms": round(statistics.median(latencies) * 1000, 1),
            "p99_ms": round(latencies[int(len(latencies) * 0.99) - 1] * 1000, 1),
            "db": json.loads(out.strip().splitlines()[-1]),
        }
        print(json.dumps(report, indent=2, ensure_ascii=False))
        if os.environ.get("BENCH_KEEP"):
            return 0
        db = report["db"]
        ok = (
            db["orders"] == min(args.stock, args.buyers)
            and db["buyers_with_two_orders"] == 0
            and db["available"] >= 0
        )
        print("OK: no oversell, exactly the cap sold, nobody with two" if ok else "FAILED invariants")
        return 0 if ok else 1
    finally:
        if args.drop:
            psql(f'DROP DATABASE IF EXISTS "{args.database}"')


if __name__ == "__main__":
    sys.exit(main())
