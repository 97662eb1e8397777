"""Gunicorn as in production, with a readiness probe that proves the server is ours (``bench.harness``)."""

from __future__ import annotations

import os
import secrets
import socket
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request
from dataclasses import dataclass, field
from pathlib import Path

from .processes import GUNICORN, spawn, stop


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

    def drain(self) -> None:
        """Wait until the server has answered what a phase left queued, then a second more."""
        deadline = time.monotonic() + 120
        while time.monotonic() < deadline and not self.probe(timeout=30):
            time.sleep(0.2)
        time.sleep(1)

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
        tail = log.read_text(errors="replace").splitlines()[-20:] if log.exists() else []
        print(f"gunicorn log {log}:", *tail, sep="\n", file=sys.stderr)
        raise
    return server
