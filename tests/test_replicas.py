"""Read replicas (shop/replicas.py) against a real streaming replica of the test cluster,
made here with ``pg_basebackup -R`` on another port: lag-tolerant lists come from the
replica, a caller who wrote reads its own writes from the primary, a replica that stops
answering gives way to the primary (logged). Skipped, saying why, where the cluster allows
no replication connection (``.ci/run`` allows it) or the server binaries are missing."""

from __future__ import annotations

import glob
import os
import shutil
import socket
import subprocess
import tempfile
import time
from pathlib import Path

import pytest
from django.db import connection, connections
from django.utils import timezone

from accounts.tests.factories import UserFactory
from groupstore.services import membership_get_or_create
from groupstore.tests.factories import make_store

# replica_0: the test settings' mirror of the test database, pointed at the replica below.
pytestmark = pytest.mark.django_db(transaction=True, databases=["default", "replica_0"])

BIN = sorted(glob.glob("/usr/lib/postgresql/*/bin"))
AS_POSTGRES = ["runuser", "-u", "postgres", "--"] if os.geteuid() == 0 else []


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def _run(*command: str) -> subprocess.CompletedProcess:
    return subprocess.run([*AS_POSTGRES, *command], capture_output=True, text=True, timeout=120)  # noqa: S603


@pytest.fixture(scope="module")
def replica_port():
    """A hot standby of the test cluster, streaming from it; its port."""
    if not BIN:
        pytest.skip("PostgreSQL's server binaries are not installed")
    folder = Path(tempfile.mkdtemp(prefix="replica-"))
    if AS_POSTGRES:
        shutil.chown(folder, "postgres", "postgres")
    data, port = folder / "data", _free_port()
    db = connection.settings_dict
    backup = _run(f"{BIN[-1]}/pg_basebackup", "-h", db["HOST"] or "127.0.0.1", "-p", str(db["PORT"] or 5432),
                  "-U", db["USER"], "-D", str(data), "-R", "-X", "stream", "-c", "fast")  # fmt: skip
    if backup.returncode != 0:
        shutil.rmtree(folder, ignore_errors=True)
        pytest.skip(f"no replica of the test cluster can be made here: {backup.stderr.strip()[:300]}")
    for name, text in (
        ("postgresql.conf", f"port = {port}\nlisten_addresses = '127.0.0.1'\n"
                            f"unix_socket_directories = '{folder}'\nhot_standby = on\n"),
        ("pg_hba.conf", "local all all trust\nhost all all 127.0.0.1/32 trust\n"),
    ):  # fmt: skip
        (data / name).write_text(text)
        if AS_POSTGRES:
            shutil.chown(data / name, "postgres", "postgres")
    started = _run(f"{BIN[-1]}/pg_ctl", "-D", str(data), "-l", str(folder / "log"), "-w", "start")
    assert started.returncode == 0, started.stderr + (folder / "log").read_text()
    yield port
    _run(f"{BIN[-1]}/pg_ctl", "-D", str(data), "-m", "immediate", "stop")
    shutil.rmtree(folder, ignore_errors=True)


@pytest.fixture
def with_replica(replica_port, settings):
    """``replica_0`` pointed at the streaming replica, as ``DATABASE_REPLICA_URLS`` would set
    it up (the test settings' alias mirrors the test database; its settings are the primary's
    dict, so they are replaced, not changed)."""
    replica = connections["replica_0"]
    mirrored = replica.settings_dict
    replica.close()
    replica.settings_dict = {
        **connection.settings_dict,
        "PORT": str(replica_port),
        "CONN_HEALTH_CHECKS": True,
    }
    settings.DATABASE_ROUTERS = ["shop.replicas.ReplicaRouter"]
    settings.MIDDLEWARE = ["shop.replicas.ReplicaMiddleware", *settings.MIDDLEWARE]
    yield replica
    replica.close()
    replica.settings_dict = mirrored
    from shop import replicas

    replicas._down_until.clear()


def _on_replica(sql: str, params=()) -> list:
    with connections["replica_0"].cursor() as cursor:
        cursor.execute(sql, params)
        return cursor.fetchall()


def _replay(paused: bool) -> None:
    _on_replica("SELECT pg_wal_replay_pause()" if paused else "SELECT pg_wal_replay_resume()")


def _caught_up() -> None:
    """Wait until the replica has replayed everything the primary has written so far."""
    with connection.cursor() as cursor:
        cursor.execute("SELECT pg_current_wal_lsn()")
        (target,) = cursor.fetchone()
    deadline = time.monotonic() + 30
    while _on_replica("SELECT pg_last_wal_replay_lsn() >= %s::pg_lsn", [target])[0][0] is not True:
        assert time.monotonic() < deadline, "the replica did not catch up in 30 s"
        time.sleep(0.05)


def _member_count(client, store) -> int:
    response = client.get(f"/api/v1/stores/{store.pk}/members")
    assert response.status_code == 200, response.content
    return response.json()["count"]


def test_lists_come_from_the_replica_and_a_writer_reads_its_own_writes(with_replica, make_client):
    owner = UserFactory()
    store, _, _ = make_store(owner=owner, members=2)
    owner_client = make_client(owner)
    _caught_up()
    assert _member_count(owner_client, store) == 3  # owner + 2 members

    _replay(paused=True)  # the replica stops applying: what it answers is now visibly old
    try:
        newcomer = UserFactory()  # joins: written to the primary only
        membership_get_or_create(store=store, user=newcomer, via=None, now=timezone.now())
        assert _member_count(owner_client, store) == 3  # from the replica: the newcomer not there yet

        # The owner writes (a share link): from now on, for a while, it reads the primary.
        assert (
            owner_client.post(f"/api/v1/stores/{store.pk}/share-links", {}, format="json").status_code == 201
        )
        assert _member_count(owner_client, store) == 4
    finally:
        _replay(paused=False)
    _caught_up()
    # The owner signed in elsewhere (another token, not pinned): the caught-up replica answers.
    assert _member_count(make_client(owner), store) == 4


def test_a_replica_that_stops_answering_gives_way_to_the_primary(with_replica, make_client, caplog):
    owner = UserFactory()
    store, _, _ = make_store(owner=owner, members=1)
    client = make_client(owner)
    connections["replica_0"].settings_dict["PORT"] = str(_free_port())  # nobody answers there
    connections["replica_0"].close()

    with caplog.at_level("WARNING", logger="shop.replicas"):
        assert _member_count(client, store) == 2
        assert _member_count(client, store) == 2  # skipped for a while: asked once only

    warnings = [r for r in caplog.records if "does not answer" in r.getMessage()]
    assert len(warnings) == 1
