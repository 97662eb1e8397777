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
- **Result records**: ``emit`` prints a report as JSON, ``loadavg`` the load it ran under.
"""

from __future__ import annotations

import json
import os
import re
import secrets
import signal
import socket
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request
from dataclasses import dataclass, field
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
BIN = ROOT / ".venv" / "bin" if (ROOT / ".venv").exists() else Path(sys.executable).parent
PYTHON, GUNICORN, CELERY = str(BIN / "python"), str(BIN / "gunicorn"), str(BIN / "celery")
PG = os.environ.get("BENCH_PG", "postgres://postgres@127.0.0.1:5432")
REDIS = os.environ.get("BENCH_REDIS") or os.environ.get("REDIS_URL", "redis://127.0.0.1:6379/0")
LUA = Path(__file__).resolve().parent / "lua"


# --- processes and databases ---------------------------------------------------------------


def run(cmd: list[str], env: dict | None = None, **kwargs) -> subprocess.CompletedProcess:
    """A command that must succeed, from the repository's root unless ``cwd`` says otherwise."""
    kwargs.setdefault("cwd", ROOT)
    return subprocess.run(cmd, env=env, check=True, text=True, **kwargs)


def psql(sql: str) -> None:
    run(["psql", f"{PG}/postgres", "-v", "ON_ERROR_STOP=1", "-q", "-c", sql], stdout=subprocess.DEVNULL)


def psql_value(query: str) -> str:
    return run(["psql", f"{PG}/postgres", "-Atc", query], capture_output=True).stdout.strip()


def database_drop(name: str) -> None:
    psql(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


def database_create(name: str, *, template: str | None = None, replace: bool = True) -> None:
    """Create ``name`` (a copy of ``template`` if given); drop a leftover of that name first."""
    if replace:
        database_drop(name)
    psql(f'CREATE DATABASE "{name}"' + (f' TEMPLATE "{template}"' if template else ""))


def django_env(
    database: str,
    *,
    settings: str = "shop.settings.base",
    debug: bool = False,
    sandbox: bool = False,
    var_dir: str = "bench-var",
    **extra: str,
) -> dict[str, str]:
    """The environment of a Django process of a bench, on ``database``; ``extra`` on top."""
    var = Path(tempfile.gettempdir()) / var_dir
    (var / "static").mkdir(parents=True, exist_ok=True)
    env = {
        **os.environ,
        "DJANGO_SETTINGS_MODULE": settings,
        "DATABASE_URL": f"{PG}/{database}",
        "SHOP_VAR_DIR": str(var),
        "DEBUG": "1" if debug else "0",
        "SANDBOX": "1" if sandbox else "0",
        "SECRET_KEY": "bench-only-not-a-secret",  # noqa: S105
        "LOG_LEVEL": "WARNING",
        "PYTHONPATH": str(ROOT),
    }
    env.update(extra)
    return env


def migrate(env: dict, *, syncdb: bool = False) -> None:
    """``manage.py migrate`` (``--run-syncdb`` also makes the reference app's two tables)."""
    run([PYTHON, "manage.py", "migrate", *(["--run-syncdb"] if syncdb else []), "-v0"], env=env)


def in_django(env: dict, target: str, **kwargs) -> object:
    """Call ``target`` ("package.module:function") with ``kwargs`` in a fresh Django process
    (``python -m bench.in_django``) and return what it returned (through JSON)."""
    module, _, function = target.partition(":")
    out = run(
        [PYTHON, "-m", "bench.in_django", module, function, json.dumps(kwargs)],
        env=env,
        stdout=subprocess.PIPE,
    ).stdout
    return json.loads(out.strip().splitlines()[-1])


def spawn(cmd: list[str], env: dict, log: Path) -> subprocess.Popen:
    """A long-running process in a session of its own (``stop`` ends its whole group)."""
    with log.open("w") as stream:
        return subprocess.Popen(
            cmd, env=env, cwd=ROOT, start_new_session=True, stdout=stream, stderr=subprocess.STDOUT
        )


def stop(proc: subprocess.Popen) -> None:
    """SIGTERM to the process group ``spawn`` made, SIGKILL after 30 s."""
    if proc.poll() is None:
        os.killpg(proc.pid, signal.SIGTERM)
        try:
            proc.wait(timeout=30)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait()


def celery_workers(
    env: dict, queue: str, layouts: list[tuple[str, str]], log_dir: Path, *, app: str = "shop"
) -> list[subprocess.Popen]:
    """Celery workers on ``queue``: one ``prefork -c N`` per ``(N, name)``, prefetch 1; given a
    few seconds to connect, and an error if one exited meanwhile."""
    workers = []
    for concurrency, name in layouts:
        workers.append(
            spawn(
                [PYTHON, "-m", "celery", "-A", app, "worker", "-Q", queue, "--pool", "prefork",
                 "-c", concurrency, "--prefetch-multiplier", "1", "--without-gossip", "--without-mingle",
                 "--loglevel", "WARNING", "-n", f"{name}@%h"],
                env,
                log_dir / f"{name}.log",
            )
        )  # fmt: skip
    time.sleep(6)
    if any(worker.poll() is not None for worker in workers):
        for worker in workers:
            stop(worker)
        raise RuntimeError(f"a worker exited early; see {log_dir}")
    return workers


# --- gunicorn -------------------------------------------------------------------------------


def free_port(wanted: int) -> int:
    """``wanted`` if nobody listens there, else one the kernel picks: never someone else's server."""
    for port in (wanted, 0):
        with socket.socket() as probe:
            try:
                probe.bind(("127.0.0.1", port))
            except OSError:
                continue
            return probe.getsockname()[1]
    raise RuntimeError("no free port")


class NotOurServer(RuntimeError):
    pass


@dataclass
class Server:
    proc: subprocess.Popen
    port: int
    token: str = field(repr=False)

    @property
    def pid(self) -> int:
        return self.proc.pid

    def url(self, path: str = "") -> str:
        return f"http://127.0.0.1:{self.port}{path}"

    def probe(self, timeout: float = 2) -> bool:
        """True when our server answers its token; False when nothing answers yet. Raises
        ``NotOurServer`` when the answer is not our token (another program on the port) or our
        process has exited."""
        if self.proc.poll() is not None:
            raise NotOurServer(f"our gunicorn exited ({self.proc.returncode}); is port {self.port} taken?")
        try:
            with urllib.request.urlopen(self.url("/bench/ready"), timeout=timeout) as answer:  # noqa: S310
                body = answer.read().decode(errors="replace")
        except urllib.error.HTTPError as error:
            raise NotOurServer(f"port {self.port} answers {error.code} to /bench/ready: not ours") from None
        except OSError:
            return False
        if not secrets.compare_digest(body, self.token):
            raise NotOurServer(f"port {self.port} answers another token: not the server we started")
        return True

    def wait_ready(self, timeout: float = 60, probe_timeout: float = 2) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.probe(probe_timeout):
                return
            time.sleep(0.2)
        raise RuntimeError(f"gunicorn did not answer on port {self.port} within {timeout} s")

    def stop(self) -> None:
        stop(self.proc)


def start_gunicorn(env: dict, port: int, workers: int, *, log: Path | None = None) -> Server:
    """Gunicorn as in production (``gunicorn.conf.py``), worker recycling off, ``DEBUG=0``, under
    ``shop.settings.bench`` (for ``/bench/ready``); returns once it answers our token."""
    token = secrets.token_urlsafe(16)
    env = {
        **env,
        "DJANGO_SETTINGS_MODULE": "shop.settings.bench",
        "BENCH_SERVER_TOKEN": token,
        "DEBUG": "0",
        "PORT": str(port),
        "WEB_CONCURRENCY": str(workers),
        "GUNICORN_MAX_REQUESTS": "0",
        "GUNICORN_LOG_LEVEL": "warning",
        "ALLOWED_HOSTS": "127.0.0.1,localhost",
    }
    log = log or Path(tempfile.gettempdir()) / f"bench-gunicorn-{os.getpid()}-{port}.log"
    cmd = [GUNICORN, "shop.wsgi", "-c", "gunicorn.conf.py", "--access-logfile", "/dev/null"]
    server = Server(spawn(cmd, env, log), port, token)
    try:
        server.wait_ready()
    except BaseException:
        server.stop()
        raise
    return server


# --- wrk ------------------------------------------------------------------------------------


def wrk(
    port: int,
    script: str,
    *,
    path: str = "",
    connections: int,
    seconds: int,
    args: list[str] | tuple[str, ...] = (),
    timeout: int = 5,
    client_cpu: bool = False,
) -> dict:
    """One wrk run with ``bench/lua/<script>.lua`` (plus ``report.lua`` when the script has no
    ``done`` of its own): the report's figures, ``rps``, and with ``client_cpu`` wrk's own CPU
    seconds (``client_cpu_seconds``)."""
    source = (LUA / f"{script}.lua").read_text()
    if not re.search(r"^(function done|done\s*=)", source, re.MULTILINE):
        source += "\n" + (LUA / "report.lua").read_text()
    with tempfile.NamedTemporaryFile("w", suffix=".lua", prefix=f"bench-{script}-") as lua:
        lua.write(source)
        lua.flush()
        cmd = ["wrk", f"-t{min(2, connections)}", f"-c{connections}", f"-d{seconds}s"]
        cmd += ["--timeout", f"{timeout}s", "-s", lua.name]
        before = os.times()
        out = run([*cmd, f"http://127.0.0.1:{port}{path}", "--", *args], capture_output=True)
        after = os.times()  # wrk is a child: its CPU shows in the children's times
    result = json.loads(next(line for line in out.stdout.splitlines() if line.startswith("{")))
    result["rps"] = round(result["requests"] / result["seconds"], 1)
    if client_cpu:
        spent = after.children_user - before.children_user + after.children_system - before.children_system
        result["client_cpu_seconds"] = round(spent, 2)
    return result


# --- CPU accounting -------------------------------------------------------------------------

_TICK = os.sysconf("SC_CLK_TCK")


def cpu_by_process(server_group: int) -> dict[int, tuple[str, float]]:
    """CPU seconds used so far by each process of the server (its process group), PostgreSQL
    and Redis, from /proc: ``{pid: (part, seconds)}``."""
    found = {}
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            raw = stat.read_text()
        except OSError:
            continue
        comm = raw[raw.index("(") + 1 : raw.rindex(")")]
        fields = raw[raw.rindex(")") + 2 :].split()
        if int(fields[2]) == server_group:  # pgrp
            part = "server"
        elif comm.startswith("postgres"):
            part = "postgres"
        elif comm.startswith("redis-server"):
            part = "redis"
        else:
            continue
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


# --- result records -------------------------------------------------------------------------


def loadavg() -> list[float]:
    return [round(x, 2) for x in os.getloadavg()]


def load() -> str:
    one, five, _ = os.getloadavg()
    return f"load {one:.2f}/{five:.2f} (1/5 min)"


def percentile_ms(values: list[float], q: float, digits: int = 1) -> float:
    """The ``q`` quantile of seconds, in milliseconds (0 for no values)."""
    if not values:
        return 0.0
    ordered = sorted(values)
    return round(ordered[min(len(ordered) - 1, int(len(ordered) * q))] * 1000, digits)


def emit(report: dict) -> str:
    """Print a bench's report as JSON (what RESULTS.md quotes); return the text."""
    text = json.dumps(report, indent=2, ensure_ascii=False, default=str)
    print(text, flush=True)
    return text
