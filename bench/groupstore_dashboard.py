"""Owner dashboard and first page of members at scale, through the API (issue 4).

    .venv/bin/python bench/groupstore_dashboard.py --database bench_gs --seed --scale 1000 --drop

What it does, step by step (each step prints what it did):
1. ``--seed``: creates the PostgreSQL database, migrates it and runs
   ``seed_demo --scale N`` (bulk COPY; N = 1000 gives 10,000 stores, 1,000,000
   members, 2,000,000 orders), timing it.
2. Issues bearer tokens for ``--owners`` randomly chosen bulk store owners (each
   request of the load picks one of them and asks for *their* store).
3. Starts gunicorn as in production (sync workers, 2×cores+1, persistent database
   connections) with DEBUG=0 and SANDBOX off, on that database; worker recycling is
   turned off for the run (a recycle re-imports Django mid-measurement).
4. For each endpoint (``/stores/{id}/dashboard`` and ``/stores/{id}/members``, first
   page; and ``/me`` as the floor of any authenticated call): 5 s warm-up, then wrk
   with ``--connections`` (16) for ``--duration`` seconds; prints requests/s and
   latency percentiles (p50/p95/p99) as wrk measures them, plus non-2xx counts.
   Also one connection alone, for the per-request cost.
5. Prints the SQL plan timing of the members page query, stops gunicorn, and with
   ``--drop`` drops the database.

Needs ``wrk`` (``apt-get install wrk``); the load generator runs on the same cores as
the server, as in LIMITS.md.
"""

from __future__ import annotations

import argparse
import json
import os
import signal
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
PYTHON = str(ROOT / ".venv" / "bin" / "python")
GUNICORN = str(ROOT / ".venv" / "bin" / "gunicorn")
PG = os.environ.get("BENCH_PG", "postgres://postgres@127.0.0.1:5432")

LUA = r"""
local targets = {}
local path_template = nil

init = function(args)
  path_template = args[2]
  for line in io.lines(args[1]) do
    local token, store = line:match("^(%S+) (%d+)$")
    if token then table.insert(targets, {token = token, store = store}) end
  end
  math.randomseed(os.time() + tonumber(tostring({}):match("0x(%x+)"), 16) % 100000)
end

request = function()
  local t = targets[math.random(#targets)]
  local path = path_template:gsub("{id}", t.store)
  return wrk.format("GET", path, {["Authorization"] = "Bearer " .. t.token})
end

done = function(summary, latency, requests)
  local non2xx = summary.errors.status
  io.write(string.format(
    '{"requests": %d, "seconds": %.3f, "p50_ms": %.2f, "p90_ms": %.2f, "p95_ms": %.2f, "p99_ms": %.2f, ' ..
    '"max_ms": %.2f, "non_2xx": %d, "socket_errors": %d}\n',
    summary.requests, summary.duration / 1e6, latency:percentile(50) / 1000, latency:percentile(90) / 1000,
    latency:percentile(95) / 1000, latency:percentile(99) / 1000, latency.max / 1000, non2xx,
    summary.errors.connect + summary.errors.read + summary.errors.write + summary.errors.timeout))
end
"""

PREPARE = r"""
import json, random
from django.db import connection
from accounts.services import token_issue
from groupstore.models import Membership, Store
from groupstore.selectors import member_list_for_owner
from orders.models import Order
owners = list(Store.objects.filter(name__startswith="团购群 ").values_list("owner_id", "pk"))
random.Random(7).shuffle(owners)
chosen = owners[:OWNERS]
from accounts.models import User
users = {u.pk: u for u in User.objects.filter(pk__in=[o for o, _ in chosen])}
lines = [f"{token_issue(user=users[o])} {s}" for o, s in chosen]
with open(TARGETS, "w") as f:
    f.write("\n".join(lines) + "\n")
store = Store.objects.get(pk=chosen[0][1])
plan = member_list_for_owner(store_id=store.pk).explain(analyze=True)
with connection.cursor() as c:
    c.execute("SELECT pg_size_pretty(pg_database_size(current_database()))")
    size = c.fetchone()[0]
print(json.dumps({
    "stores": Store.objects.count(),
    "members": Membership.objects.filter(role="member").count(),
    "orders": Order.objects.count(),
    "database_size": size,
    "members_page_plan": plan,
}))
"""


def run(cmd: list[str], env: dict | None = None, **kwargs) -> subprocess.CompletedProcess:
    return subprocess.run(cmd, env=env, check=True, text=True, **kwargs)  # noqa: S603


def psql(sql: str) -> None:
    run(["psql", f"{PG}/postgres", "-v", "ON_ERROR_STOP=1", "-q", "-c", sql], stdout=subprocess.DEVNULL)


def django_env(database: str, extra: dict | None = None) -> dict:
    env = {
        **os.environ,
        "DATABASE_URL": f"{PG}/{database}",
        "REDIS_URL": os.environ.get("REDIS_URL", "redis://127.0.0.1:6379/0"),
        "SHOP_VAR_DIR": str(Path(tempfile.gettempdir()) / "bench-groupstore-var"),
        "DEBUG": "0",
        "SANDBOX": "0",
        "SECRET_KEY": "bench-only-not-a-secret",  # noqa: S105
        "LOG_LEVEL": "WARNING",
        "DJANGO_SETTINGS_MODULE": "shop.settings.base",
    }
    env.update(extra or {})
    return env


def seed(database: str, scale: int) -> float:
    psql(f'CREATE DATABASE "{database}"')
    env = django_env(database, {"DEBUG": "1"})
    run([PYTHON, "manage.py", "migrate", "-v0"], env=env, cwd=ROOT)
    started = time.monotonic()
    run([PYTHON, "manage.py", "seed_demo", "--scale", str(scale)], env=env, cwd=ROOT)
    return time.monotonic() - started


def prepare(database: str, owners: int, targets: Path) -> dict:
    code = PREPARE.replace("OWNERS", str(owners)).replace("TARGETS", repr(str(targets)))
    out = run(
        [PYTHON, "manage.py", "shell", "-c", code],
        env=django_env(database, {"DEBUG": "1"}),
        cwd=ROOT,
        capture_output=True,
    ).stdout
    return json.loads(out.strip().splitlines()[-1])


def start_gunicorn(database: str, port: int, workers: int) -> subprocess.Popen:
    env = django_env(
        database,
        {
            "PORT": str(port),
            "WEB_CONCURRENCY": str(workers),
            "GUNICORN_MAX_REQUESTS": "0",
            "GUNICORN_LOG_LEVEL": "warning",
            "ALLOWED_HOSTS": "127.0.0.1,localhost",
        },
    )
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
            return proc  # a 401 answer: the server is up
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


def wrk(port: int, lua: Path, targets: Path, path: str, *, connections: int, seconds: int) -> dict:
    threads = min(2, connections)
    out = run(
        [
            "wrk",
            f"-t{threads}",
            f"-c{connections}",
            f"-d{seconds}s",
            "--timeout",
            "5s",
            "-s",
            str(lua),
            f"http://127.0.0.1:{port}",
            "--",
            str(targets),
            path,
        ],
        capture_output=True,
    ).stdout
    result = json.loads(next(line for line in out.splitlines() if line.startswith("{")))
    result["rps"] = round(result["requests"] / result["seconds"], 1)
    return result


def main() -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--database", required=True, help="bench database name (created with --seed)")
    parser.add_argument("--seed", action="store_true", help="create, migrate and seed the database first")
    parser.add_argument("--scale", type=int, default=100, help="seed_demo --scale (1000 = 10k stores)")
    parser.add_argument("--drop", action="store_true", help="drop the database at the end")
    parser.add_argument("--duration", type=int, default=20)
    parser.add_argument("--connections", type=int, default=16)
    parser.add_argument(
        "--owners", type=int, default=1000, help="distinct owners (stores) the load spreads over"
    )
    parser.add_argument("--workers", type=int, default=(os.cpu_count() or 1) * 2 + 1)
    parser.add_argument("--port", type=int, default=8791)
    args = parser.parse_args()

    report: dict = {"database": args.database, "connections": args.connections, "workers": args.workers}
    try:
        if args.seed:
            print(f"seeding {args.database} at --scale {args.scale} …", flush=True)
            report["seed_seconds"] = round(seed(args.database, args.scale), 1)
            print(f"  seeded in {report['seed_seconds']} s", flush=True)
        with tempfile.TemporaryDirectory() as tmp:
            targets, lua = Path(tmp) / "targets.txt", Path(tmp) / "pick.lua"
            lua.write_text(LUA)
            data = prepare(args.database, args.owners, targets)
            plan = data.pop("members_page_plan")
            report["data"] = data
            print(f"data: {data}", flush=True)
            print(f"members page plan:\n{plan}", flush=True)
            report["load_before"] = os.getloadavg()
            server = start_gunicorn(args.database, args.port, args.workers)
            try:
                report["results"] = {}
                for name, path in (
                    ("dashboard", "/api/v1/stores/{id}/dashboard"),
                    ("members_first_page", "/api/v1/stores/{id}/members"),
                    # For scale: the lightest authenticated call there is (token + 2 small reads).
                    ("baseline_me", "/api/v1/me"),
                ):
                    wrk(args.port, lua, targets, path, connections=args.connections, seconds=5)  # warm-up
                    loaded = wrk(
                        args.port, lua, targets, path, connections=args.connections, seconds=args.duration
                    )
                    alone = wrk(
                        args.port, lua, targets, path, connections=1, seconds=max(5, args.duration // 2)
                    )
                    report["results"][name] = {"c16": loaded, "c1": alone}
                    print(f"{name}: {args.connections} conns {loaded}\n{name}: 1 conn {alone}", flush=True)
            finally:
                stop(server)
    finally:
        if args.drop:
            psql(f'DROP DATABASE IF EXISTS "{args.database}" WITH (FORCE)')
            print(f"dropped {args.database}", flush=True)
    print(json.dumps(report, indent=2, default=str))
    return 0


if __name__ == "__main__":
    sys.exit(main())
