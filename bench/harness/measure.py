"""wrk runs, CPU accounting per part, and result records (``bench.harness``)."""

from __future__ import annotations

import json
import os
import re
import tempfile
from pathlib import Path

from .processes import LUA, run


def lua_source(script: str) -> str:
    """``bench/lua/<script>.lua``, with ``report.lua`` appended unless it reports on its own."""
    source = (LUA / f"{script}.lua").read_text()
    if not re.search(r"^(function done|done\s*=)", source, re.MULTILINE):
        source += "\n" + (LUA / "report.lua").read_text()
    return source


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
    source = lua_source(script)
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
