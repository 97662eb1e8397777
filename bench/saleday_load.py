"""The sale day's crowd (``bench/sale_day.py``): threads of shoppers, owners and merchant staff over HTTP.

Only ever talks to 127.0.0.1. Each shopper thread loops over journeys picked by weight
(browse and search, join a store by its share link, quote and order — normal, across
two merchants, team, flash — pay through the sandbox pay endpoint, cancel or leave some
unpaid, confirm receipt, ask for after-sales, claim red envelopes, withdraw and confirm
the transfer with a signed sandbox callback, owners' dashboards, a trickle of new
shoppers logging in); one thread per merchant ships paid orders, invoices some and
decides after-sales. Stops at the deadline or after ``max_requests``, whichever first.

Every answer is recorded as (endpoint template, status, seconds, error code); a few
client-side promises are checked on the way (a retried ``POST /orders`` with the same
``Idempotency-Key`` must return the same payment).
"""

from __future__ import annotations

import random
import threading
import time
from collections import defaultdict
from urllib.parse import quote

from bench.harness import percentile_ms
from bench.saleday_client import Day, Http, Recorder, Stop
from bench.saleday_shopper import Shopper


class MerchantDesk:
    """One merchant's staff: ship what is paid, invoice some, decide after-sales."""

    def __init__(self, day: Day, merchant: dict, seed: int) -> None:
        self.day, self.token, self.rng = day, merchant["token"], random.Random(seed)
        self.http = Http(day.port, day.rec)

    def run(self) -> None:
        h, t, rng = self.http, self.token, self.rng
        try:
            while not self.day.rec.done():
                status, page = h.call("GET", "merchant/orders?status=paid", "merchant/orders?status", token=t)
                for order in (page or {}).get("results", [])[:10] if status == 200 else []:
                    shipped, _ = h.call(
                        "POST",
                        f"merchant/orders/{order['id']}/ship",
                        "merchant/orders/{id}/ship",
                        token=t,
                        body={"carrier": "中通快递", "tracking_no": f"ZT{order['id']:012d}"},
                    )
                    if shipped == 200 and rng.random() < 0.1:
                        h.call(
                            "POST",
                            f"merchant/orders/{order['id']}/invoice",
                            "merchant/orders/{id}/invoice",
                            token=t,
                            body={"invoice_no": f"FP{order['id']:010d}"},
                        )
                status, page = h.call(
                    "GET", "merchant/after-sales?status=requested", "merchant/after-sales?status", token=t
                )
                for case in (page or {}).get("results", [])[:10] if status == 200 else []:
                    verdict = "approve" if rng.random() < 0.8 else "reject"
                    h.call(
                        "POST",
                        f"merchant/after-sales/{case['id']}/{verdict}",
                        f"merchant/after-sales/{{id}}/{verdict}",
                        token=t,
                        body={"reason": "同意退款" if verdict == "approve" else "商品无质量问题"},
                    )
                time.sleep(0.3)
        except Stop:
            pass


def warm_up(setup: dict, *, port: int, rounds: int = 6) -> None:
    """Not measured: every gunicorn worker loads jieba and fills its caches before the day."""
    http = Http(port, Recorder(deadline=time.monotonic() + 120, max_requests=10_000))
    token = setup["shoppers"][0]["token"]
    for _ in range(rounds):
        for word in setup["words"][:5]:
            http.call("GET", f"products?q={quote(word)}", "warm", token=token)
        http.call("GET", "products", "warm", token=token)
        http.call("GET", f"products/{setup['skus'][0]['product_id']}", "warm", token=token)


def run_day(setup: dict, *, port: int, users: int, seconds: float, max_requests: int, secret: str, seed: int):
    """The crowd for ``seconds`` (at most ``max_requests``): the recorder and the seconds it took.
    Call ``warm_up`` first (not measured)."""
    rec = Recorder(deadline=time.monotonic() + seconds, max_requests=max_requests)
    day = Day(setup, port=port, rec=rec, secret=secret, seed=seed)
    actors = [Shopper(day, seed + i) for i in range(users)]
    actors += [MerchantDesk(day, m, seed + 1000 + i) for i, m in enumerate(setup["merchants"])]
    threads = [threading.Thread(target=a.run, daemon=True) for a in actors]
    started = time.perf_counter()
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=seconds + 120)
    return rec, time.perf_counter() - started


def summarize(rec: Recorder, seconds: float) -> dict:
    by_name: dict[str, list] = defaultdict(list)
    for name, status, secs, code in rec.rows:
        by_name[name].append((status, secs, code))
    endpoints, errors = {}, {}
    for name in sorted(by_name, key=lambda n: -len(by_name[n])):
        rows = by_name[name]
        statuses: dict[str, int] = defaultdict(int)
        for status, _, code in rows:
            statuses[str(status) + (f" {code}" if code else "")] += 1
        lat = [s for _, s, _ in rows]
        endpoints[name] = {
            "n": len(rows),
            "rps": round(len(rows) / seconds, 2),
            "p50_ms": percentile_ms(lat, 0.5),
            "p99_ms": percentile_ms(lat, 0.99),
            "statuses": dict(sorted(statuses.items())),
        }
        bad = {k: v for k, v in statuses.items() if not k.startswith("2")}
        if bad:
            errors[name] = bad
    every = [s for _, _, s, _ in rec.rows]
    return {
        "requests": len(rec.rows),
        "seconds": round(seconds, 1),
        "rps": round(len(rec.rows) / seconds, 1),
        "p50_ms": percentile_ms(every, 0.5),
        "p99_ms": percentile_ms(every, 0.99),
        "server_errors": sum(1 for _, st, _, _ in rec.rows if st >= 500 or st < 0),
        "endpoints": endpoints,
        "non_2xx": errors,
        "client_notes": dict(rec.notes),
        "samples": dict(rec.samples),
    }


def close_the_day(setup: dict, port: int) -> dict:
    """Merchants ship what is paid and decide every open after-sale (not timed)."""
    rec = Recorder(deadline=time.monotonic() + 300, max_requests=50_000)

    class _Day:
        pass

    day = _Day()
    day.port, day.rec = port, rec
    for merchant in setup["merchants"]:
        desk = MerchantDesk(day, merchant, seed=1)
        for _ in range(200):
            before = len(rec.rows)
            rec.deadline = time.monotonic() + 1.0  # one pass of the desk loop
            desk.run()
            shipped_or_decided = [r for r in rec.rows[before:] if r[0].startswith("POST")]
            if not shipped_or_decided:
                break
    statuses: dict[str, int] = defaultdict(int)
    for name, status, _, code in rec.rows:
        statuses[f"{name} {status} {code}".strip()] += 1
    return dict(statuses)
