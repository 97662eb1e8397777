"""One shopper thread of the sale day (``bench/saleday_load.py``): journeys picked by weight until
the day ends — browse and search, join by share link, quote and order (normal, two merchants,
team, flash), pay, cancel, receipt, after-sales, red envelopes, withdrawals, owners, newcomers."""

from __future__ import annotations

import random
import time
import uuid
from urllib.parse import quote

from bench.saleday_client import ADDRESS, ORDERINGS, Day, Http, Stop


class Shopper:
    """One thread: journeys one after another until the day ends."""

    WEIGHTS = {
        "browse": 30,
        "buy": 30,
        "after": 12,
        "claim": 9,
        "wallet": 6,
        "join": 6,
        "owner": 4,
        "newcomer": 3,
    }

    def __init__(self, day: Day, seed: int) -> None:
        self.day, self.rng = day, random.Random(seed)
        self.http = Http(day.port, day.rec)
        self.journeys, self.weights = list(self.WEIGHTS), list(self.WEIGHTS.values())

    def run(self) -> None:
        try:
            while not self.day.rec.done():
                journey = self.rng.choices(self.journeys, self.weights)[0]
                if journey in ("owner", "newcomer"):
                    getattr(self, journey)()
                    continue
                shopper = self.day.lease()
                if shopper is None:
                    time.sleep(0.05)
                    continue
                try:
                    getattr(self, journey)(shopper)
                finally:
                    self.day.give_back(shopper)
        except Stop:
            pass

    # --- journeys -------------------------------------------------------------------------
    def browse(self, s: dict) -> None:
        h, t, rng = self.http, s["token"], self.rng
        roll = rng.random()
        if roll < 0.35:
            h.call("GET", f"products?ordering={rng.choice(ORDERINGS)}", "products", token=t)
        elif roll < 0.65:
            h.call("GET", f"products?q={quote(rng.choice(self.day.setup['words']))}", "products?q", token=t)
        elif roll < 0.75:
            h.call("GET", "categories", "categories", token=t)
        else:
            sku = rng.choice(self.day.skus)
            h.call("GET", f"products/{sku['product_id']}", "products/{id}", token=t)
        if s["stores"] and rng.random() < 0.3:
            h.call("GET", f"stores/{rng.choice(s['stores'])}", "stores/{id}", token=t)
        if rng.random() < 0.2:
            h.call(
                "GET", rng.choice(["me", "savings", "orders", "stores"]), "me|savings|orders|stores", token=t
            )

    def join(self, s: dict, store: dict | None = None) -> int | None:
        mine = set(s["stores"])
        choices = [x for x in self.day.stores if x["id"] not in mine]
        if not choices:
            return None
        store = store or self.rng.choice(choices)
        status, body = self.http.call(
            "POST", "stores/join", "stores/join", token=s["token"], body={"share_token": store["share_token"]}
        )
        if status == 200 and body and body.get("store_id") not in mine:
            s["stores"].append(body["store_id"])
            return body["store_id"]
        return None

    def buy(self, s: dict) -> None:
        h, rng, t = self.http, self.rng, s["token"]
        if not s["stores"] and self.join(s) is None:
            return
        store_id = rng.choice(s["stores"])
        roll, team_key = rng.random(), None
        body: dict = {"store_id": store_id}
        if roll < 0.15 and self.day.team_skus:
            sku = rng.choice(self.day.team_skus)
            team_key = (store_id, sku["id"])
            with self.day.lock:
                open_ids = list(self.day.open_teams[team_key])
            body["items"] = [{"sku_id": sku["id"], "qty": 1}]
            body["team"] = {"join": rng.choice(open_ids)} if open_ids else {"open": True}
        elif roll < 0.25:
            body["items"] = [{"sku_id": self.day.setup["flash"]["sku_id"], "qty": 1}]
        elif roll < 0.4:  # a basket across both merchants: two orders under one payment
            body["items"] = [
                {"sku_id": rng.choice(skus)["id"], "qty": rng.randint(1, 2)}
                for skus in self.day.by_merchant.values()
            ]
        else:
            picks = rng.sample(self.day.skus, rng.randint(1, 2))
            body["items"] = [{"sku_id": p["id"], "qty": rng.randint(1, 3)} for p in picks]
        if rng.random() < 0.7:
            status, _ = h.call("POST", "checkout/quote", "checkout/quote", token=t, body=body)
            if status != 200:
                return
        key = uuid.uuid4().hex
        order_body = {**body, "address": ADDRESS}
        status, created = h.call(
            "POST", "orders", "orders", token=t, body=order_body, headers={"Idempotency-Key": key}
        )
        if status == 409 and team_key and "join" in body.get("team", {}):
            with self.day.lock:  # full or closed: others stop trying it
                if body["team"]["join"] in self.day.open_teams[team_key]:
                    self.day.open_teams[team_key].remove(body["team"]["join"])
        if status != 201 or not created:
            return
        payment_id = created["payment"]["id"]
        if rng.random() < 0.05:  # a double tap: the same key must give back the same checkout
            again, replay = h.call(
                "POST", "orders", "orders (retry)", token=t, body=order_body, headers={"Idempotency-Key": key}
            )
            if again != 201 or not replay or replay["payment"]["id"] != payment_id:
                self.day.rec.note(
                    "idempotent_retry_mismatch", [again, payment_id, replay and replay["payment"]]
                )
        orders = created["orders"]
        if team_key and "open" in body["team"] and orders[0].get("team"):
            with self.day.lock:
                self.day.open_teams[team_key].append(orders[0]["team"]["id"])
        roll = rng.random()
        pay_share = 0.9 if team_key else 0.8
        if roll < pay_share:
            h.call("POST", f"sandbox/payments/{payment_id}/pay", "sandbox/payments/{id}/pay", token=t)
            if rng.random() < 0.03:  # paid twice (a flaky network): applied once
                h.call(
                    "POST", f"sandbox/payments/{payment_id}/pay", "sandbox/payments/{id}/pay (again)", token=t
                )
        elif roll < pay_share + 0.07:
            h.call("POST", f"orders/{orders[0]['id']}/cancel", "orders/{id}/cancel", token=t)
        if rng.random() < 0.3:
            h.call("GET", f"orders/{orders[0]['id']}", "orders/{id}", token=t)

    def after(self, s: dict) -> None:
        h, rng, t = self.http, self.rng, s["token"]
        wanted = rng.choice(["shipped", "shipped", "received", "paid"])
        status, page = h.call("GET", f"orders?status={wanted}", "orders?status", token=t)
        if status != 200 or not page or not page.get("results"):
            return
        order = rng.choice(page["results"])
        if wanted == "shipped" and rng.random() < 0.75:
            h.call("POST", f"orders/{order['id']}/confirm-receipt", "orders/{id}/confirm-receipt", token=t)
            return
        if order.get("after_sales") or rng.random() > 0.5:
            return
        item = rng.choice(order["items"])
        unit = item["paid_fen"] // max(item["qty"], 1)
        amount = unit if rng.random() < 0.6 else max(1, unit // 2)
        if amount < 1:
            return
        h.call(
            "POST",
            f"orders/{order['id']}/after-sales",
            "orders/{id}/after-sales",
            token=t,
            body={
                "type": "refund" if wanted == "paid" or rng.random() < 0.7 else "return_refund",
                "items": [{"order_item_id": item["id"], "qty": 1}],
                "amount_fen": amount,
                "reason": "商品有瑕疵",
            },
        )

    def claim(self, s: dict) -> None:
        if not s["stores"]:
            return
        h, t = self.http, s["token"]
        store_id = self.rng.choice(s["stores"])
        status, page = h.call("GET", f"stores/{store_id}/red-envelopes", "stores/{id}/red-envelopes", token=t)
        if status != 200 or not page:
            return
        open_ones = [
            e for e in page.get("results", []) if e.get("my_claim_fen") is None and e["status"] == "open"
        ]
        if open_ones:
            envelope = self.rng.choice(open_ones)
            h.call("POST", f"red-envelopes/{envelope['id']}/claim", "red-envelopes/{id}/claim", token=t)

    def wallet(self, s: dict) -> None:
        h, t, rng = self.http, s["token"], self.rng
        status, wallet = h.call("GET", "wallet", "wallet", token=t)
        if rng.random() < 0.3:
            h.call("GET", "wallet/entries", "wallet/entries", token=t)
        if status != 200 or not wallet or wallet.get("withdrawable_fen", 0) < 100:
            return
        amount = (
            wallet["withdrawable_fen"] if rng.random() < 0.5 else max(100, wallet["withdrawable_fen"] // 2)
        )
        status, made = h.call(
            "POST",
            "wallet/withdrawals",
            "wallet/withdrawals",
            token=t,
            body={"amount_fen": amount},
            headers={"Idempotency-Key": uuid.uuid4().hex},
        )
        if status != 201 or not made or not made.get("package_info"):
            return
        roll = rng.random()
        if roll > 0.95:
            return  # never confirmed: the sweeper expires it and the money goes back
        out_bill_no = made["package_info"].removeprefix("sandbox-package-")
        news = {
            "out_bill_no": out_bill_no,
            "transfer_bill_no": f"sandbox-transfer-{out_bill_no}",
            "state": "SUCCESS" if roll < 0.85 else "FAIL",
            "amount_fen": amount,
            "fail_reason": "" if roll < 0.85 else "用户拒收",
        }
        raw, headers = self.day.sign(news)
        h.call("POST", "payouts/sandbox/notify", "payouts/sandbox/notify", raw=raw, headers=headers)

    def owner(self) -> None:
        h, rng = self.http, self.rng
        store = rng.choice(self.day.stores)
        t = store["owner_token"]
        h.call("GET", f"stores/{store['id']}/dashboard", "stores/{id}/dashboard", token=t)
        if rng.random() < 0.5:
            h.call("GET", f"stores/{store['id']}/members", "stores/{id}/members", token=t)
        if rng.random() < 0.2:
            h.call("POST", f"stores/{store['id']}/share-links", "stores/{id}/share-links", token=t, body={})

    def newcomer(self) -> None:
        n = self.day.login_slot()
        if n is None:
            return
        status, body = self.http.call(
            "POST",
            "auth/wechat-login",
            "auth/wechat-login",
            body={"code": f"sandbox:bench-new-{n}-{uuid.uuid4().hex[:8]}", "nickname": f"新朋友{n}"},
        )
        if status != 200 or not body:
            return
        shopper = {"id": body["user"]["id"], "token": body["token"], "stores": []}
        if self.join(shopper) is not None:
            self.browse(shopper)
            self.buy(shopper)
        self.day.give_back(shopper)
