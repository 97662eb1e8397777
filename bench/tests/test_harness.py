"""The harness's own promises, without a benchmark: ``pytest bench/tests`` (not in CI's testpaths).

The readiness probe must never take another program's server for ours; the wrk scripts get
the one report unless they carry their own; CPU per request is the difference per process.
"""

from __future__ import annotations

import http.server
import socket
import threading

import pytest

from bench import harness


class _Answer(http.server.BaseHTTPRequestHandler):
    status, body = 200, b""

    def do_GET(self):  # noqa: N802 - http.server's name
        self.send_response(self.status)
        self.send_header("Content-Length", str(len(self.body)))
        self.end_headers()
        self.wfile.write(self.body)

    def log_message(self, *args):
        pass


class _Running:
    returncode = None

    def poll(self):
        return self.returncode


@pytest.fixture
def answering():
    """A server on a free port answering what the test sets on ``_Answer``."""
    servers = []

    def start(status: int, body: bytes) -> int:
        handler = type("Handler", (_Answer,), {"status": status, "body": body})
        server = http.server.HTTPServer(("127.0.0.1", 0), handler)
        threading.Thread(target=server.serve_forever, daemon=True).start()
        servers.append(server)
        return server.server_address[1]

    yield start
    for server in servers:
        server.shutdown()
        server.server_close()


def test_the_probe_accepts_only_our_token(answering):
    port = answering(200, b"our-token")
    assert harness.Server(_Running(), port, "our-token").probe() is True
    with pytest.raises(harness.NotOurServer, match="another token"):
        harness.Server(_Running(), port, "a-different-token").probe()


def test_another_programs_answer_is_not_ours(answering):
    port = answering(404, b"<html>Not Found</html>")
    with pytest.raises(harness.NotOurServer, match="404"):
        harness.Server(_Running(), port, "our-token").probe()


def test_nothing_listening_is_not_ready_yet_and_an_exited_server_is_an_error():
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]  # nobody listens: bound, never listening
        server = harness.Server(_Running(), port, "our-token")
        assert server.probe(timeout=0.5) is False
        server.proc.returncode = 1
        with pytest.raises(harness.NotOurServer, match="exited"):
            server.probe()


def test_free_port_never_hands_out_a_taken_port(answering):
    taken = answering(200, b"")
    assert harness.free_port(taken) != taken


@pytest.mark.parametrize(("script", "own_report"), [("buy", False), ("get", False), ("post_orders", True)])
def test_every_wrk_script_ends_with_exactly_one_report(script, own_report):
    source = harness.lua_source(script)
    reports = source.count("\ndone = function") + source.count("\nfunction done")
    assert reports == 1
    assert ('"p95_ms"' in source) is not own_report


def test_cpu_per_request_is_the_difference_per_process():
    before = {1: ("server", 1.0), 2: ("postgres", 5.0), 3: ("server", 2.0)}
    after = {1: ("server", 1.5), 2: ("postgres", 5.2), 4: ("redis", 0.1)}  # 3 ended, 4 started
    spent = harness.cpu_per_request(before, after, {"requests": 100, "client_cpu_seconds": 0.3})
    assert spent == {"server": 5.0, "postgres": 2.0, "redis": 1.0, "client": 3.0}


def test_a_ratio_is_to_the_mean_of_the_buys_around_it():
    assert harness.ratio_to_mean(150.0, 100.0, 200.0) == 1.0
    assert harness.ratio_to_mean(50.0, 100.0) == 0.5
    assert harness.ratio_to_mean(1.0, 3.0, 3.0, 3.0) == 0.33


def test_a_measured_phase_runs_on_a_settled_database_and_ends_when_the_server_drained(monkeypatch):
    steps = []

    class _Server:
        pid = 4242

        def drain(self):
            steps.append("drain")

    readings = iter([{1: ("server", 1.0)}, {1: ("server", 3.0)}])
    monkeypatch.setattr(harness.phases, "settle_database", lambda: steps.append("settle"))
    monkeypatch.setattr(harness.phases, "cpu_by_process", lambda group: steps.append(group) or next(readings))

    def run():
        steps.append("run")
        return {"requests": 1000, "client_cpu_seconds": 0.5}

    result = harness.measured_phase(_Server(), run)
    assert steps == ["settle", 4242, "run", "drain", 4242]
    assert result["cpu_ms_per_request"] == {"server": 2.0, "postgres": 0.0, "redis": 0.0, "client": 0.5}
    assert len(result["load"]) == 3
