"""The sale day's HTTP side (``bench/saleday_load.py``): the recorder of every answer, one
keep-alive connection per thread, and what the crowd shares (``Day``). Only ever talks to
127.0.0.1."""

from __future__ import annotations

import hashlib
import hmac
import http.client
import json
import random
import threading
import time
from collections import defaultdict

HOST = "127.0.0.1"  # never anything else
ADDRESS = {"name": "王五", "phone": "13700137000", "region": "江苏省 南京市 鼓楼区", "detail": "中山路 1 号"}
ORDERINGS = ["-sales", "price_fen", "-price_fen", "-created_at"]


class Stop(Exception):
    pass


class Recorder:
    def __init__(self, *, deadline: float, max_requests: int) -> None:
        self.lock = threading.Lock()
        self.rows: list[tuple[str, int, float, str]] = []
        self.deadline, self.max_requests = deadline, max_requests
        self.notes: dict[str, int] = defaultdict(int)
        self.samples: dict[str, list] = defaultdict(list)

    def add(self, name: str, status: int, seconds: float, code: str, body: str = "") -> None:
        with self.lock:
            self.rows.append((name, status, seconds, code))
            if (status >= 500 or status < 0 or status == 400) and len(self.samples[name]) < 5:
                self.samples[name].append([status, body[:300]])

    def note(self, what: str, sample=None) -> None:
        with self.lock:
            self.notes[what] += 1
            if sample is not None and len(self.samples[what]) < 5:
                self.samples[what].append(sample)

    def done(self) -> bool:
        return time.monotonic() >= self.deadline or len(self.rows) >= self.max_requests


class Http:
    """One keep-alive connection per thread; ``call`` records and returns (status, json)."""

    def __init__(self, port: int, rec: Recorder) -> None:
        self.port, self.rec = port, rec
        self.conn = http.client.HTTPConnection(HOST, port, timeout=60)

    def call(self, method, path, name, *, token=None, body=None, headers=None, raw: bytes | None = None):
        if self.rec.done():
            raise Stop
        sent = dict(headers or {})
        if token:
            sent["Authorization"] = f"Bearer {token}"
        data = raw if raw is not None else (json.dumps(body).encode() if body is not None else None)
        if data is not None:
            sent.setdefault("Content-Type", "application/json")
        started = time.perf_counter()
        try:
            self.conn.request(method, "/api/v1/" + path, body=data, headers=sent)
            response = self.conn.getresponse()
            text = response.read().decode("utf-8", "replace")
            status = response.status
            if response.getheader("connection", "").lower() == "close":
                self.conn.close()
        except (OSError, http.client.HTTPException) as exc:
            self.conn.close()
            self.conn = http.client.HTTPConnection(HOST, self.port, timeout=60)
            self.rec.add(f"{method} {name}", -1, time.perf_counter() - started, type(exc).__name__)
            return -1, None
        elapsed = time.perf_counter() - started
        try:
            payload = json.loads(text) if text else None
        except ValueError:
            payload = None
        code = ""
        if status >= 400 and isinstance(payload, dict):
            code = str((payload.get("error") or {}).get("code", ""))
        self.rec.add(f"{method} {name}", status, elapsed, code, text)
        return status, payload


class Day:
    """What the crowd shares: the cast, the open teams, the login trickle."""

    def __init__(self, setup: dict, *, port: int, rec: Recorder, secret: str, seed: int) -> None:
        self.setup, self.port, self.rec, self.secret = setup, port, rec, secret.encode()
        self.lock = threading.Lock()
        self.free = list(setup["shoppers"])
        random.Random(seed).shuffle(self.free)
        self.stores = setup["stores"]
        self.skus = setup["skus"]
        # Teams gather around a few SKUs (the ones owners push in their groups), so they fill.
        self.team_skus = [s for s in self.skus if s["team_size"]][:3]
        self.by_merchant: dict[int, list] = defaultdict(list)
        for sku in self.skus:
            self.by_merchant[sku["merchant_id"]].append(sku)
        self.open_teams: dict[tuple[int, int], list[int]] = defaultdict(list)
        self.newcomers_left = setup["newcomers"]
        self.next_login = 0.0

    def lease(self) -> dict | None:
        with self.lock:
            return self.free.pop() if self.free else None

    def give_back(self, shopper: dict) -> None:
        with self.lock:
            self.free.insert(0, shopper)

    def login_slot(self) -> int | None:
        """New shoppers trickle in under the login throttle (30/min per address): one per 2.5 s."""
        with self.lock:
            now = time.monotonic()
            if self.newcomers_left <= 0 or now < self.next_login:
                return None
            self.next_login, self.newcomers_left = now + 2.5, self.newcomers_left - 1
            return self.newcomers_left

    def sign(self, data: dict) -> tuple[bytes, dict]:
        body = json.dumps(data, separators=(",", ":")).encode()
        return body, {"X-Sandbox-Signature": hmac.new(self.secret, body, hashlib.sha256).hexdigest()}
