"""The compose file users run (docker-compose.yml, and its "scale" profile): every queue has a
worker, the scale profile's parts point at each other, and ``docker compose config`` accepts
both layouts (where a compose binary is installed; .ci/run installs one)."""

from __future__ import annotations

import os
import re
import shutil
import subprocess
from pathlib import Path
from urllib.parse import urlparse

import pytest
import yaml

from shop.queues import WORKLOADS

ROOT = Path(__file__).resolve().parent.parent
COMPOSE = yaml.safe_load((ROOT / "docker-compose.yml").read_text())
SERVICES = COMPOSE["services"]
SCALE_ENV = dict(
    line.split("=", 1)
    for line in (ROOT / "deploy/scale.env").read_text().splitlines()
    if line.strip() and not line.startswith("#")
)


def _consumed_queues(command: str) -> set[str]:
    match = re.search(r"-Q\s+(\S+)", command)
    return set(match.group(1).split(",")) if match else set()


def test_every_workload_queue_has_a_worker_and_beat_runs_once():
    consumed = set()
    for service in SERVICES.values():
        if "celery -A shop worker" in str(service.get("command", "")):
            consumed |= _consumed_queues(service["command"])
    assert {f"shop.{w}" for w in WORKLOADS} | {"shop"} <= consumed
    beats = [n for n, s in SERVICES.items() if "celery -A shop beat" in str(s.get("command", ""))]
    assert beats == ["beat"]


def test_the_scale_profile_adds_a_replica_a_pooler_and_a_second_web_behind_a_proxy():
    scale = {n for n, s in SERVICES.items() if "scale" in s.get("profiles", [])}
    assert scale == {"postgres-replica", "pgbouncer", "web-2", "proxy"}
    assert SERVICES["web-2"]["command"] == SERVICES["web"]["command"]
    assert SCALE_ENV["COMPOSE_PROFILES"] == "scale"
    # Django reaches the primary through the pooler, in the mode that needs the pooler switch.
    assert urlparse(SCALE_ENV["DATABASE_URL"]).hostname == "pgbouncer"
    assert SERVICES["pgbouncer"]["environment"]["POOL_MODE"] == "transaction"
    assert SCALE_ENV["DB_TRANSACTION_POOLER"] == "1"
    assert urlparse(SCALE_ENV["DATABASE_REPLICA_URLS"]).hostname == "postgres-replica"
    assert "pg_basebackup -h postgres" in "".join(SERVICES["postgres-replica"]["command"])
    # Migrations go straight to the primary, never through the pooler or to the replica.
    migrate_env = SERVICES["migrate"]["environment"]
    assert urlparse(migrate_env["DATABASE_URL"]).hostname == "postgres"
    assert migrate_env["DATABASE_REPLICA_URLS"] == ""


def test_the_proxy_spreads_requests_over_both_web_services():
    conf = (ROOT / "deploy/nginx/scale.conf").read_text()
    upstream = re.findall(r"^\s*server\s+([\w-]+):(\d+)", conf, re.M)
    assert upstream == [("web", "8000"), ("web-2", "8000")]
    mounted = SERVICES["proxy"]["volumes"][0].split(":")[0]
    assert (ROOT / mounted).resolve() == (ROOT / "deploy/nginx/scale.conf").resolve()


def _compose_command() -> list[str] | None:
    if (
        shutil.which("docker")
        and subprocess.run(["docker", "compose", "version"], capture_output=True).returncode == 0
    ):
        return ["docker", "compose"]
    if shutil.which("docker-compose"):
        return ["docker-compose"]
    return None


@pytest.mark.parametrize("layout", ["default", "scale"])
def test_docker_compose_accepts_the_file(layout):
    command = _compose_command()
    if command is None:
        pytest.skip("no docker compose here (apt-get install docker-compose; .ci/run does it)")
    args = [*command, "--project-directory", str(ROOT), "-f", str(ROOT / "docker-compose.yml")]
    if layout == "scale":
        args += ["--env-file", str(ROOT / "deploy/scale.env")]
    env = {**os.environ, "SECRET_KEY": "compose-config-check"}
    for name in ("DATABASE_URL", "DATABASE_REPLICA_URLS", "DB_TRANSACTION_POOLER", "COMPOSE_PROFILES"):
        env.pop(name, None)  # the test settings' own must not leak into the file's defaults
    done = subprocess.run([*args, "config"], capture_output=True, text=True, env=env, timeout=60)
    assert done.returncode == 0, done.stderr
    rendered = yaml.safe_load(done.stdout)["services"]
    database_url = rendered["web"]["environment"]["DATABASE_URL"]
    assert urlparse(database_url).hostname == ("pgbouncer" if layout == "scale" else "postgres")
