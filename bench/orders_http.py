"""Orders through the HTTP API under gunicorn, against two reference endpoints, in ONE run (issue 5).

    flock /tmp/bench.lock /work/main/.venv/bin/python bench/orders_http.py --drop

1. Creates a bench database, migrates it with ``shop.settings.bench`` (production settings
   plus ``bench/reference_app``: ``GET /bench/hello``, ``POST /bench/buy`` and their two
   tables, made by ``--run-syncdb``), and prepares: one store (flash prices unlocked) with
   ``--flash-buyers`` × ``--flash-trials`` + ``--order-buyers`` members, each with a bearer
   token; ``--skus`` ordinary SKUs with deep stock; per flash trial, one SKU with
   ``--flash-stock`` on hand and a live offer of as many units at one per buyer; 10,000
   bench items for the minimal buy.
2. Starts gunicorn as in production: sync workers (2×cores+1), persistent database
   connections, ``DEBUG=0``, worker recycling off, ``SANDBOX`` on through
   ``SANDBOX_IN_PRODUCTION_I_MEAN_IT`` (sandbox payments, no network), Redis gate on.
3. After a short warm-up of each, in this order:
   - ``hello`` (wrk): the trivial DRF view (the framework's ceiling);
   - ``buy_0`` (wrk): the minimal one-transaction buy, random item of 10,000 (the write ceiling);
   - ``orders`` (wrk, Lua script): ``POST /api/v1/orders``, a distinct buyer per request,
     SKU at random among ``--skus``; then ``buy_1``;
   - per trial, ``flash_N`` (an asyncio client in this process on uvloop, so that the count
     is exact): each of the trial's buyers sends one ``POST /api/v1/orders`` for the trial's
     SKU, ``--flash-connections`` at a time; throughput = answers / time until the last
     answer, p99 over all; then ``buy_N+1``;
   - ``hello`` again.
   Every measured phase sits between two minimal buys, and its ratio is to their mean: on
   this shared machine the same phase moved by ±20 % within one run, so a ratio to buys
   measured minutes away was mostly the machine's drift. The flash target is judged on the
   median of the trials (all are printed).
   Between phases the script waits until gunicorn has answered what is still queued, then
   for a checkpoint and for autovacuum to finish. Each phase reports the CPU it cost per
   request, by part: server (gunicorn and its workers), PostgreSQL, Redis, the client.
4. Prints each figure, the ratios to the minimal buy, the load average, and the invariants
   checked in SQL for every trial: exactly the cap sold, zero oversell (stock never
   negative, reserved = sold), nobody with two, every flash order at the flash price.

Needs ``wrk`` (``apt-get install wrk``). Wrap measured runs in ``flock /tmp/bench.lock``:
other engineers benchmark on the same two cores.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import random
import re
import signal
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
BIN = ROOT / ".venv" / "bin" if (ROOT / ".venv").exists() else Path(sys.executable).parent
PYTHON, GUNICORN = str(BIN / "python"), str(BIN / "gunicorn")
PG = os.environ.get("BENCH_PG", "postgres://postgres@127.0.0.1:5432")
ADDRESS = {"name": "张三", "phone": "13800138000", "region": "上海市", "detail": "世纪大道100号"}

# Ordinary orders. Args: jobs file ("<token> <json body>" a line; each thread takes every
# other line, cycling), number of threads, path.
POST_LUA = r"""
local jobs = {}
n, pos, statuses, codes = 0, 0, {}, {}
local threads, counter = {}, 0

function setup(thread)
  counter = counter + 1
  thread:set("tid", counter)
  table.insert(threads, thread)
end

function init(args)
  path = args[3]
  local nthreads, i = tonumber(args[2]), 0
  for line in io.lines(args[1]) do
    if i % nthreads == tid - 1 then table.insert(jobs, line) end
    i = i + 1
  end
  n = #jobs
end

function request()
  pos = pos + 1
  local token, body = jobs[(pos - 1) % n + 1]:match("^(%S+) (.+)$")
  return wrk.format("POST", path, {["Authorization"] = "Bearer " .. token,
    ["Content-Type"] = "application/json"}, body)
end

function response(status, headers, body)
  statuses[tostring(status)] = (statuses[tostring(status)] or 0) + 1
  if status >= 400 then
    local code = body:match('"code":"([%w_]+)"') or "?"
    codes[code] = (codes[code] or 0) + 1
  end
end

function done(summary, latency, requests)
  local st, cd, sent = {}, {}, 0
  for _, t in ipairs(threads) do
    for k, v in pairs(t:get("statuses") or {}) do st[k] = (st[k] or 0) + v end
    for k, v in pairs(t:get("codes") or {}) do cd[k] = (cd[k] or 0) + v end
    sent = sent + (t:get("pos") or 0)
  end
  local function obj(tbl)
    local parts = {}
    for k, v in pairs(tbl) do table.insert(parts, string.format('"%s": %d', k, v)) end
    return "{" .. table.concat(parts, ", ") .. "}"
  end
  io.write(string.format(
    '{"requests": %d, "seconds": %.3f, "p50_ms": %.2f, "p90_ms": %.2f, "p99_ms": %.2f, "max_ms": %.2f, ' ..
    '"socket_errors": %d, "sent": %d, "statuses": %s, "error_codes": %s}\n',
    summary.requests, summary.duration / 1e6, latency:percentile(50) / 1000, latency:percentile(90) / 1000,
    latency:percentile(99) / 1000, latency.max / 1000,
    summary.errors.connect + summary.errors.read + summary.errors.write + summary.errors.timeout,
    sent, obj(st), obj(cd)))
end
"""

# The minimal buy: a random bench item per request.
BUY_LUA = r"""
init = function(args)
  math.randomseed(os.time() + tonumber(tostring({}):match("0x(%x+)"), 16) % 100000)
end
request = function()
  return wrk.format("POST", "/bench/buy", {["Content-Type"] = "application/json"},
    string.format('{"item_id": %d}', math.random(10000)))
end
"""

# Plain GET: percentiles and counts only.
GET_LUA = r"""
done = function(summary, latency, requests)
  io.write(string.format(
    '{"requests": %d, "seconds": %.3f, "p50_ms": %.2f, "p90_ms": %.2f, "p99_ms": %.2f, "max_ms": %.2f, ' ..
    '"socket_errors": %d, "non_2xx": %d}\n',
    summary.requests, summary.duration / 1e6, latency:percentile(50) / 1000, latency:percentile(90) / 1000,
    latency:percentile(99) / 1000, latency.max / 1000,
    summary.errors.connect + summary.errors.read + summary.errors.write + summary.errors.timeout,
    summary.errors.status))
end
"""
BUY_LUA += GET_LUA

PREPARE = r"""
import json, random, secrets
from datetime import timedelta
from django.utils import timezone
from accounts.models import AuthToken, User
from accounts.services import token_hash
from bench.reference_app.models import BenchItem
from groupstore.models import Membership
from groupstore.services import store_create
from orders.models import FlashOffer
from products.tests.factories import ProductFactory, SkuFactory
now = timezone.now()
owner = User.objects.create(username="bench-owner", nickname="群主", openid="bench-owner")
store = store_create(owner=owner, name="秒杀群", wechat_group_id=None).store
users = User.objects.bulk_create(
    [User(username=f"bench-{i}", nickname=f"买家{i}", openid=f"bench-{i}") for i in range(BUYERS)],
    batch_size=2000,
)
Membership.objects.bulk_create(
    [Membership(store=store, user=u, role="member", joined_at=now) for u in users], batch_size=2000
)
raw = [secrets.token_urlsafe(24) for _ in users]
AuthToken.objects.bulk_create(
    [AuthToken(user=u, key_hash=token_hash(r), expires_at=now + timedelta(days=1))
     for u, r in zip(users, raw)],
    batch_size=2000,
)
products = [ProductFactory() for _ in range(max(1, SKUS // 20))]
skus = [SkuFactory(product=products[i % len(products)], on_hand=1_000_000, price_fen=1_990 + i)
        for i in range(SKUS)]
flash_skus = [SkuFactory(on_hand=FLASH_STOCK, price_fen=1_990) for _ in range(FLASH_TRIALS)]
offers = [FlashOffer.objects.create(sku=sku, flash_price_fen=990,
    status="approved", starts_at=now - timedelta(minutes=1),
    ends_at=now + timedelta(hours=2), quantity=FLASH_STOCK, per_user_limit=1) for sku in flash_skus]
BenchItem.objects.bulk_create([BenchItem(price_fen=1_000 + i, stock=1_000_000) for i in range(10_000)])
print(json.dumps({"store_id": store.pk, "sku_ids": [s.pk for s in skus],
                  "flash_sku_ids": [s.pk for s in flash_skus], "offer_ids": [o.pk for o in offers],
                  "tokens": raw}))
"""

CHECK = r"""
import json
from django.db.models import Count, F, Sum
from bench.reference_app.models import BenchItem, BenchOrder
from orders.models import FlashOffer, Order, OrderItem
from products.models import Sku
trials = []
for sku_id, offer_id in zip(FLASH_SKUS, OFFERS):
    flash = Sku.objects.get(pk=sku_id)
    offer = FlashOffer.objects.get(pk=offer_id)
    flash_items = OrderItem.objects.filter(sku=flash)
    trials.append({
        "flash_orders": flash_items.values("order_id").distinct().count(),
        "flash_units_sold": flash_items.aggregate(n=Sum("qty"))["n"] or 0,
        "flash_offer_sold_count": offer.sold_count,
        "flash_on_hand": flash.on_hand, "flash_reserved": flash.reserved,
        "flash_available": flash.on_hand - flash.reserved,
        "flash_buyers_with_two": flash_items.values("order__buyer_id").annotate(n=Count("pk"))
            .filter(n__gt=1).count(),
        "flash_orders_not_at_flash_price": flash_items.exclude(unit_price_fen=990).count(),
    })
others = OrderItem.objects.exclude(sku_id__in=FLASH_SKUS)
print(json.dumps({
    "flash_trials": trials,
    "ordinary_orders": others.values("order_id").distinct().count(),
    "ordinary_units_sold": others.aggregate(n=Sum("qty"))["n"] or 0,
    "ordinary_reserved": Sku.objects.exclude(pk__in=FLASH_SKUS).aggregate(n=Sum("reserved"))["n"] or 0,
    "skus_oversold": Sku.objects.filter(reserved__gt=F("on_hand")).count(),
    "orders_total": Order.objects.count(),
    "bench_orders": BenchOrder.objects.count(),
    "bench_items_negative": BenchItem.objects.filter(stock__lt=0).count(),
}))
"""


def run(cmd: list[str], env: dict | None = None, **kwargs) -> subprocess.CompletedProcess:
    return subprocess.run(cmd, env=env, check=True, text=True, **kwargs)


def psql(sql: str) -> None:
    run(["psql", f"{PG}/postgres", "-v", "ON_ERROR_STOP=1", "-q", "-c", sql], stdout=subprocess.DEVNULL)


def settle_database() -> None:
    """Before a phase: a checkpoint, then no autovacuum worker running (up to a minute), so
    that what the last phase wrote is not cleaned up on the next phase's time."""
    psql("CHECKPOINT")
    deadline = time.monotonic() + 60
    query = "SELECT count(*) FROM pg_stat_activity WHERE backend_type = 'autovacuum worker'"
    while time.monotonic() < deadline:
        out = run(["psql", f"{PG}/postgres", "-Atc", query], capture_output=True).stdout
        if out.strip() == "0":
            return
        time.sleep(0.5)


def django_env(database: str, extra: dict | None = None) -> dict:
    env = {
        **os.environ,
        "DJANGO_SETTINGS_MODULE": "shop.settings.bench",
        "DATABASE_URL": f"{PG}/{database}",
        "REDIS_URL": os.environ.get("REDIS_URL", "redis://127.0.0.1:6379/0"),
        "SHOP_VAR_DIR": str(Path(tempfile.gettempdir()) / "bench-orders-var"),
        "SECRET_KEY": "bench-only-not-a-secret",  # noqa: S105
        "LOG_LEVEL": "WARNING",
        "DEBUG": "0",
        "SANDBOX": "1",
        "SANDBOX_IN_PRODUCTION_I_MEAN_IT": "1",
        "FLASH_UNLOCK_THRESHOLD_FEN": "0",
        "FLASH_GATE": "1",
    }
    env.update(extra or {})
    return env


def shell(env: dict, code: str) -> dict:
    out = run([PYTHON, "manage.py", "shell", "-c", code], env=env, cwd=ROOT, capture_output=True).stdout
    return json.loads(out.strip().splitlines()[-1])


def start_gunicorn(env: dict, port: int, workers: int, log: Path) -> subprocess.Popen:
    env = {
        **env,
        "PORT": str(port),
        "WEB_CONCURRENCY": str(workers),
        "GUNICORN_MAX_REQUESTS": "0",
        "GUNICORN_LOG_LEVEL": "warning",
        "ALLOWED_HOSTS": "127.0.0.1,localhost",
    }
    with log.open("w") as stream:
        proc = subprocess.Popen(
            [GUNICORN, "shop.wsgi", "-c", "gunicorn.conf.py", "--access-logfile", "/dev/null"],
            env=env,
            cwd=ROOT,
            start_new_session=True,
            stdout=stream,
            stderr=stream,
        )
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        try:
            urllib.request.urlopen(f"http://127.0.0.1:{port}/bench/hello", timeout=2)  # noqa: S310
            return proc
        except urllib.error.HTTPError as error:
            raise RuntimeError(f"/bench/hello answered {error.code}: not the bench settings?") from None
        except OSError:
            time.sleep(0.5)
    stop(proc)
    raise RuntimeError("gunicorn did not start")


def stop(proc: subprocess.Popen) -> None:
    if proc.poll() is None:
        os.killpg(proc.pid, signal.SIGTERM)
        try:
            proc.wait(timeout=30)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait()


def drain(port: int) -> None:
    """Wait until gunicorn has answered what the last phase left queued, then a second more."""
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline:
        try:
            urllib.request.urlopen(f"http://127.0.0.1:{port}/bench/hello", timeout=30)  # noqa: S310
            break
        except OSError:
            time.sleep(0.2)
    time.sleep(1)


_TICK = os.sysconf("SC_CLK_TCK")


def cpu_by_process(server_group: int) -> dict[int, tuple[str, float]]:
    """CPU seconds used so far by each process of the server (gunicorn's process group),
    PostgreSQL and Redis, from /proc: ``{pid: (part, seconds)}``."""
    found = {}
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            raw = stat.read_text()
        except OSError:
            continue
        comm = raw[raw.index("(") + 1 : raw.rindex(")")]
        fields = raw[raw.rindex(")") + 2 :].split()
        part = (
            "server"
            if int(fields[2]) == server_group  # pgrp
            else "postgres"
            if comm.startswith("postgres")
            else "redis"
            if comm.startswith("redis-server")
            else None
        )
        if part:
            found[int(stat.parent.name)] = (part, (int(fields[11]) + int(fields[12])) / _TICK)
    return found


def cpu_per_request(before: dict, after: dict, result: dict) -> dict[str, float]:
    """A phase's CPU milliseconds per request: server, PostgreSQL, Redis and the client. Per
    process, the difference of two ``cpu_by_process`` readings; a process that started in
    between counts whole, one that ended in between is not counted (an autovacuum worker, or a
    database connection replaced when its CONN_MAX_AGE ran out: PostgreSQL can read low)."""
    spent = {"server": 0.0, "postgres": 0.0, "redis": 0.0, "client": result["client_cpu_seconds"]}
    for pid, (part, seconds) in after.items():
        spent[part] += seconds - before.get(pid, (part, 0.0))[1]
    return {part: round(seconds / result["requests"] * 1000, 3) for part, seconds in spent.items()}


def wrk(port: int, path: str, *, connections: int, seconds: int, script: Path, args: list[str] = ()) -> dict:
    cmd = ["wrk", "-t2", f"-c{connections}", f"-d{seconds}s", "--timeout", "10s", "-s", str(script)]
    before = os.times()
    out = run([*cmd, f"http://127.0.0.1:{port}{path}", "--", *args], capture_output=True).stdout
    after = os.times()  # wrk is a child: its CPU shows in the children's times
    client_cpu = (after.children_user - before.children_user) + (
        after.children_system - before.children_system
    )
    drain(port)
    result = json.loads(next(line for line in out.splitlines() if line.startswith("{")))
    result["rps"] = round(result["requests"] / result["seconds"], 1)
    result["client_cpu_seconds"] = round(client_cpu, 2)
    return result


class _Buyer(asyncio.Protocol):
    """One buyer's one request on its own connection: write it, read the answer, close.

    The connection is closed as soon as the whole answer is in (its ``Content-Length``), as
    wrk does, not when the server's FIN arrives: gunicorn (27+) lingers on a closed
    connection until the peer closes too, so a client that waits for the FIN before closing
    holds a sync worker for a round trip through its own event loop on every request."""

    def __init__(self, request: bytes, answered: asyncio.Future) -> None:
        self.request, self.answered, self.data, self.size = request, answered, b"", None

    def connection_made(self, transport) -> None:
        self.transport = transport
        transport.write(self.request)

    def data_received(self, data: bytes) -> None:
        self.data += data
        if self.size is None and b"\r\n\r\n" in self.data:
            head = self.data.split(b"\r\n\r\n", 1)[0]
            length = re.search(rb"(?im)^content-length:\s*(\d+)", head)
            self.size = len(head) + 4 + int(length.group(1)) if length else -1
        if self.size is not None and 0 <= self.size <= len(self.data):
            self.transport.close()
            self._answer()

    def connection_lost(self, exc) -> None:
        self._answer()

    def _answer(self) -> None:
        if not self.answered.done():
            self.answered.set_result(self.data)


async def _crowd(port: int, requests: list[bytes], connections: int) -> tuple[list, float]:
    """``connections`` concurrent clients; each takes the next buyer, sends its one
    ``POST /orders`` on a new connection (sync gunicorn closes after each answer) and
    reads the answer to the end. Every buyer exactly once; per-request latency (connect
    included). Protocol callbacks, not streams, and uvloop when installed: the load
    generator shares the two cores, so its cost per request should stay near wrk's."""
    loop = asyncio.get_running_loop()
    pending = iter(requests)
    results: list[tuple[int, str, float, float]] = []  # status, code, latency, answered at

    async def client() -> None:
        for request in pending:
            started = time.perf_counter()
            try:
                answered = loop.create_future()
                await loop.create_connection(lambda r=request, a=answered: _Buyer(r, a), "127.0.0.1", port)
                data = await answered
                status = int(data[9:12])
                match = re.search(rb'"code":"(\w+)"', data) if status >= 400 else None
                code = match.group(1).decode() if match else ""
            except (OSError, ValueError):
                status, code = -1, "socket_error"
            results.append((status, code, time.perf_counter() - started, time.perf_counter() - begun))

    begun = time.perf_counter()
    # One timeout for the whole crowd, not a timer per request (the client's own CPU counts).
    await asyncio.wait_for(asyncio.gather(*(client() for _ in range(connections))), timeout=600)
    return results, time.perf_counter() - begun


def _request_bytes(port: int, token: str, body: str) -> bytes:
    payload = body.encode()
    return (
        f"POST /api/v1/orders HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\n"
        f"Authorization: Bearer {token}\r\nContent-Type: application/json\r\n"
        f"Content-Length: {len(payload)}\r\nConnection: close\r\n\r\n"
    ).encode() + payload


def crowd(port: int, jobs: list[tuple[str, str]], connections: int) -> dict:
    requests = [_request_bytes(port, token, body) for token, body in jobs]
    try:
        import uvloop

        runner = uvloop.run
    except ImportError:  # the plain asyncio loop: slower, the figures say how much
        runner = asyncio.run
    cpu = time.process_time()
    results, seconds = runner(_crowd(port, requests, connections))
    cpu = time.process_time() - cpu  # the load generator's own share of the two cores
    drain(port)
    latencies = sorted(ms for _, _, ms, _ in results)
    statuses: dict[str, int] = {}
    codes: dict[str, int] = {}
    for status, code, _, _ in results:
        statuses[str(status)] = statuses.get(str(status), 0) + 1
        if code:
            codes[code] = codes.get(code, 0) + 1

    def pct(p: float) -> float:
        return round(latencies[min(len(latencies) - 1, int(len(latencies) * p))] * 1000, 2)

    return {
        "requests": len(results),
        "seconds": round(seconds, 3),
        "rps": round(len(results) / seconds, 1),
        "p50_ms": pct(0.50),
        "p90_ms": pct(0.90),
        "p99_ms": pct(0.99),
        "max_ms": round(latencies[-1] * 1000, 2),
        "socket_errors": statuses.get("-1", 0),
        "client_cpu_seconds": round(cpu, 2),
        # when the last order was taken, after the start (the rest is sold-out answers)
        "last_201_at_s": round(max((at for status, _, _, at in results if status == 201), default=0), 3),
        "statuses": statuses,
        "error_codes": codes,
    }


def write_jobs(path: Path, tokens: list[str], bodies: list[str]) -> None:
    path.write_text("".join(f"{t} {b}\n" for t, b in zip(tokens, bodies, strict=True)))


def order_body(store_id: int, sku_id: int) -> str:
    return json.dumps(
        {"store_id": store_id, "items": [{"sku_id": sku_id, "qty": 1}], "address": ADDRESS},
        ensure_ascii=False,
        separators=(",", ":"),
    )


def main() -> int:  # noqa: PLR0915 - one linear script
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--database", default="bench_orders")
    parser.add_argument("--flash-stock", type=int, default=1000)
    parser.add_argument("--flash-buyers", type=int, default=5000)
    parser.add_argument("--flash-connections", type=int, default=256)
    parser.add_argument(
        "--flash-trials", type=int, default=3, help="flash sales, each on its own SKU and buyers"
    )
    parser.add_argument("--order-buyers", type=int, default=20_000)
    parser.add_argument("--skus", type=int, default=200)
    parser.add_argument("--connections", type=int, default=64, help="for hello, buy and orders")
    parser.add_argument("--duration", type=int, default=12)
    parser.add_argument("--warmup", type=int, default=3)
    parser.add_argument("--workers", type=int, default=(os.cpu_count() or 1) * 2 + 1)
    parser.add_argument("--port", type=int, default=8795)
    parser.add_argument("--drop", action="store_true", help="drop the bench database at the end")
    args = parser.parse_args()

    warm_buyers = 2_000
    flash_buyers = args.flash_buyers * args.flash_trials
    buyers = flash_buyers + args.order_buyers + warm_buyers
    report: dict = {"workers": args.workers, "connections": args.connections}
    psql(f'DROP DATABASE IF EXISTS "{args.database}" WITH (FORCE)')
    psql(f'CREATE DATABASE "{args.database}"')
    try:
        env = django_env(args.database)
        setup_env = {**env, "DEBUG": "1"}
        run([PYTHON, "manage.py", "migrate", "--run-syncdb", "-v0"], env=setup_env, cwd=ROOT)
        started = time.monotonic()
        code = (
            PREPARE.replace("BUYERS", str(buyers))
            .replace("FLASH_STOCK", str(args.flash_stock))
            .replace("FLASH_TRIALS", str(args.flash_trials))
            .replace("SKUS", str(args.skus))
        )
        setup = shell(setup_env, code)
        print(f"prepared {buyers} buyers, {args.skus} SKUs in {time.monotonic() - started:.1f} s", flush=True)
        tokens = setup["tokens"]
        order_tokens = tokens[flash_buyers : flash_buyers + args.order_buyers]
        warm_tokens = tokens[flash_buyers + args.order_buyers :]
        rnd = random.Random(5)
        with tempfile.TemporaryDirectory() as tmp:
            tmp_path = Path(tmp)
            post_lua, buy_lua, get_lua = tmp_path / "post.lua", tmp_path / "buy.lua", tmp_path / "get.lua"
            post_lua.write_text(POST_LUA)
            buy_lua.write_text(BUY_LUA)
            get_lua.write_text(GET_LUA)
            jobs = {name: tmp_path / f"{name}.txt" for name in ("orders", "warm")}
            for name, group in (("orders", order_tokens), ("warm", warm_tokens)):
                write_jobs(
                    jobs[name],
                    group,
                    [order_body(setup["store_id"], rnd.choice(setup["sku_ids"])) for _ in group],
                )
            flash_jobs = []  # per trial: its own SKU, its own buyers, in random order
            for trial, sku_id in enumerate(setup["flash_sku_ids"]):
                body = order_body(setup["store_id"], sku_id)
                group = tokens[trial * args.flash_buyers : (trial + 1) * args.flash_buyers]
                flash_jobs.append([(token, body) for token in group])
                rnd.shuffle(flash_jobs[-1])

            log = Path(tempfile.gettempdir()) / f"bench-orders-gunicorn-{os.getpid()}.log"
            report["load_before"] = [round(x, 2) for x in os.getloadavg()]
            server = start_gunicorn(env, args.port, args.workers, log)
            results: dict = {}
            try:
                conns, secs = args.connections, args.duration
                print("warm-up …", flush=True)
                wrk(args.port, "/bench/hello", connections=conns, seconds=args.warmup, script=get_lua)
                wrk(args.port, "/bench/buy", connections=conns, seconds=args.warmup, script=buy_lua)
                orders_args = [str(jobs["warm"]), "2", "/api/v1/orders"]
                wrk(args.port, "", connections=conns, seconds=args.warmup, script=post_lua, args=orders_args)
                # Each measured phase sits between two minimal buys: its ratio is to their mean,
                # so that the machine's drift over the run (seen: ±20 % between phases) moves
                # both sides of a ratio alike.
                buy = ("/bench/buy", buy_lua, [])
                phases = [
                    ("hello", "/bench/hello", get_lua, []),
                    ("buy_0", *buy),
                    ("orders", "", post_lua, [str(jobs["orders"]), "2", "/api/v1/orders"]),
                    ("buy_1", *buy),
                ]
                for trial in range(1, args.flash_trials + 1):
                    phases += [(f"flash_{trial}", None, None, None), (f"buy_{trial + 1}", *buy)]
                phases.append(("hello_again", "/bench/hello", get_lua, []))
                for name, path, script, extra in phases:
                    settle_database()
                    cpu_before = cpu_by_process(server.pid)
                    if name.startswith("flash_"):
                        trial_jobs = flash_jobs[int(name.split("_")[1]) - 1]
                        results[name] = crowd(args.port, trial_jobs, args.flash_connections)
                    else:
                        results[name] = wrk(
                            args.port, path, connections=conns, seconds=secs, script=script, args=extra
                        )
                    results[name]["cpu_ms_per_request"] = cpu_per_request(
                        cpu_before, cpu_by_process(server.pid), results[name]
                    )
                    results[name]["load"] = [round(x, 2) for x in os.getloadavg()]
                    print(f"{name}: {json.dumps(results[name], ensure_ascii=False)}", flush=True)
            finally:
                stop(server)
        report["results"] = results
        report["load_after"] = [round(x, 2) for x in os.getloadavg()]
        check = CHECK.replace("FLASH_SKUS", json.dumps(setup["flash_sku_ids"])).replace(
            "OFFERS", json.dumps(setup["offer_ids"])
        )
        db = report["db"] = shell(setup_env, check)

        def buys_around(n: int) -> float:
            return (results[f"buy_{n}"]["rps"] + results[f"buy_{n + 1}"]["rps"]) / 2

        trials = range(1, args.flash_trials + 1)
        flash_ratios = [round(results[f"flash_{t}"]["rps"] / buys_around(t), 2) for t in trials]
        report["ratios_to_minimal_buy"] = {
            "hello": round(results["hello"]["rps"] / results["buy_0"]["rps"], 2),
            "orders": round(results["orders"]["rps"] / buys_around(0), 2),
            "flash_trials": flash_ratios,
            "flash_median": statistics.median(flash_ratios),
        }
        report["flash_p99_ms"] = [results[f"flash_{t}"]["p99_ms"] for t in trials]
        cap = min(args.flash_stock, args.flash_buyers)
        sold = db["flash_trials"]
        flash = [results[f"flash_{t}"] for t in trials]
        invariants = {
            "exactly the cap sold": all(
                t["flash_orders"] == cap and t["flash_units_sold"] == cap == t["flash_offer_sold_count"]
                for t in sold
            ),
            "zero oversell": all(
                t["flash_available"] >= 0 and t["flash_reserved"] == t["flash_units_sold"] for t in sold
            )
            and db["skus_oversold"] == 0,
            "nobody with two": all(t["flash_buyers_with_two"] == 0 for t in sold),
            "every flash order at the flash price": all(
                t["flash_orders_not_at_flash_price"] == 0 for t in sold
            ),
            "201 answers = flash orders": all(
                f["statuses"].get("201", 0) == t["flash_orders"] for f, t in zip(flash, sold, strict=True)
            ),
            "every flash buyer answered once (no socket errors)": all(
                f["socket_errors"] == 0 and f["requests"] == args.flash_buyers for f in flash
            ),
            "ordinary stock reserved = units sold": db["ordinary_reserved"] == db["ordinary_units_sold"],
            "no 5xx anywhere": not any(
                k.startswith("5") for r in results.values() for k in r.get("statuses", {})
            ),
        }
        report["invariants"] = invariants
        report["targets"] = {
            "orders >= 0.5 x buy": report["ratios_to_minimal_buy"]["orders"] >= 0.5,
            "flash >= 1.0 x buy (median of the trials)": report["ratios_to_minimal_buy"]["flash_median"]
            >= 1.0,
        }
        print(json.dumps(report, indent=2, ensure_ascii=False))
        print(f"gunicorn log: {log}")
        ok = all(invariants.values())
        print("OK: every invariant held" if ok else "FAILED invariants")
        return 0 if ok else 1
    finally:
        if args.drop:
            psql(f'DROP DATABASE IF EXISTS "{args.database}" WITH (FORCE)')


if __name__ == "__main__":
    sys.exit(main())
