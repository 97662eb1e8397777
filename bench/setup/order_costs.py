"""``bench/order_costs.py``'s run, in one Django process: ``orders`` orders taken through their
whole life by the real services, each step counted by ``cost_meter.Meter`` (counts, not times).

Steps (each a window; ``… tasks`` windows run the Celery messages the step before published,
in process, eagerly, one after the other as a worker would):

1. ``place``: ``order_create`` (checkout; for profit sharing the sandbox prepay).
2. ``pay callback``: the gateway's signed success notification verified and applied
   (``parse_payment_callback`` + ``payment_apply_result`` / ``payment_apply_ecommerce``: what
   the notify view calls). The sandbox "bank" signs it outside the window.
3. ``pay tasks``: what the callback enqueued.
4. ``ship`` (``order_ship`` by the merchant's staff) and ``ship tasks`` (WeChat's shipping
   report), ``receive`` (``order_confirm_receipt``), ``complete`` (``order_complete`` after the
   after-sales window: what the sweepers call per order).
5. ``settle``: the ``orders_settle_task`` messages completion published (one per order, as
   enqueued; ``settle_batch`` > 0 runs the sweeper's batches of that size instead), then
   ``settle tasks`` (payees' notices).
6. Profit sharing only: ``share`` (each share step sent, polled, confirmed: the order settles
   and its unfreeze is written) and ``unfreeze`` (sent, polled, confirmed), by draining the
   funds steps' messages; a delayed poll runs at its due time (``now`` = the message's ETA:
   no waiting, nothing written to make it due).
"""

from __future__ import annotations

import time
from datetime import datetime, timedelta

from .cost_meter import Cost, Meter

STEPS_TASK = "shop.payments.tasks.funds_steps_send_task"


def run(*, orders: int, stores: int, settle_batch: int = 0) -> dict:
    from django.conf import settings
    from django.utils import timezone

    meter = Meter()
    costs: dict[str, Cost] = {}
    started = time.perf_counter()
    shops = _seed(orders=orders, stores=stores)
    sizes = _table_sizes()
    placed = _place(meter, costs, *shops)
    shared = settings.MERCHANT_FUNDS == "profit_sharing"
    _pay(meter, costs, placed, shared=shared)
    _drain(meter, costs, "pay tasks")
    now = timezone.now()
    _ship_receive_complete(meter, costs, placed, now)
    _settle(meter, costs, settle_batch=settle_batch)
    _drain(meter, costs, "settle tasks", keep=(STEPS_TASK,))
    if shared:
        _share_steps(meter, costs)
    left = meter.published.take()
    return {
        "orders": len(placed),
        "funds": settings.MERCHANT_FUNDS,
        "settle_batch": settle_batch,
        "steps": {name: cost.as_dict() for name, cost in costs.items()},
        "table_bytes": _grown(sizes, grown := _table_sizes()),
        "checks": _checks(len(placed), shared),
        "table_bytes_live": _grown(sizes, _compacted(grown, sizes)),
        "messages_left": [m.task for m in left],
        "seconds": round(time.perf_counter() - started, 1),
    }


def _table_sizes() -> dict[str, int]:
    """Each table's size with its indexes and TOAST (``pg_total_relation_size``)."""
    from django.db import connection

    with connection.cursor() as cursor:
        cursor.execute("SELECT relname, pg_total_relation_size(relid) FROM pg_stat_user_tables")
        return dict(cursor.fetchall())


def _grown(before: dict[str, int], after: dict[str, int]) -> dict[str, int]:
    """The tables that grew, biggest growth first (bytes over the whole run)."""
    grown = {name: size - before.get(name, 0) for name, size in after.items()}
    return dict(sorted(((n, b) for n, b in grown.items() if b > 0), key=lambda nb: -nb[1]))


def _compacted(after: dict[str, int], before: dict[str, int]) -> dict[str, int]:
    """The sizes once the tables that grew are rewritten with their live rows only (``VACUUM
    FULL``: no dead row versions, fresh indexes): what an order leaves for good, a lower bound
    (a running table keeps some free space and index slack). Autovacuum is off in this bench,
    so the sizes before are every row version written."""
    from django.db import connection

    with connection.cursor() as cursor:
        for name in (n for n, size in after.items() if size > before.get(n, 0)):
            cursor.execute(f'VACUUM FULL "{name}"')
    return _table_sizes()


def _seed(*, orders: int, stores: int):
    """``stores`` stores, each selling one SKU of its own merchant to its members."""
    from django.db import connection

    from groupstore.tests.factories import make_store
    from products.tests.factories import SkuFactory

    per_store = -(-orders // stores)
    shops = []
    for i in range(stores):
        store, _, buyers = make_store(members=per_store, name=f"团购群{i}")
        sku = SkuFactory(price_fen=990 + 100 * i, commission_bps=500 + 50 * (i % 10), on_hand=per_store + 10)
        shops.append((store, sku, buyers))
    with connection.cursor() as cursor:  # counts without the autovacuum of this bench's tables
        cursor.execute("SELECT relname FROM pg_stat_user_tables")
        for (name,) in cursor.fetchall():
            cursor.execute(f'ALTER TABLE "{name}" SET (autovacuum_enabled = false)')
    return shops, orders


def _place(meter: Meter, costs: dict, shops: list, orders: int) -> list:
    """What ``POST /api/v1/orders`` calls: checkout, then the client's payment parameters
    (the prepay at the gateway)."""
    from orders.services.checkout import order_create
    from rebates.tests.helpers import ADDRESS
    from shop.payments.services import payment_client_params

    placed = []
    with meter.window(costs.setdefault("place", Cost())):
        for store, sku, buyers in shops:
            for buyer in buyers[: orders - len(placed)]:
                result = order_create(
                    buyer=buyer,
                    store_id=store.pk,
                    items=[{"sku_id": sku.pk, "qty": 1}],
                    address=ADDRESS,
                    gateway="sandbox",
                )
                payment_client_params(payment=result.payment, openid=buyer.openid, parts=result.parts)
                placed.append(result.orders[0])
    return placed


def _pay(meter: Meter, costs: dict, placed: list, *, shared: bool) -> None:
    from shop.payments.gateways.ecommerce_sandbox import SandboxEcommerceGateway
    from shop.payments.gateways.sandbox import SandboxGateway
    from shop.payments.parts import _parts, payment_apply_ecommerce
    from shop.payments.services import Applied, payment_apply_result

    gateway = SandboxEcommerceGateway() if shared else SandboxGateway()
    callbacks = []
    for order in placed:  # the payer pays at the sandbox 'bank', which signs the notification
        payment = order.payment
        if shared:
            parts = _parts(payment)
            if len(parts) == 1:
                callbacks.append(
                    gateway.simulate_payment(sub_mchid=parts[0].sub_mchid, out_trade_no=parts[0].out_trade_no)
                )
            else:
                callbacks.append(gateway.simulate_payment(combine_out_trade_no=payment.out_trade_no))
        else:
            callbacks.append(gateway.build_success_callback(payment))
    with meter.window(costs.setdefault("pay callback", Cost())):
        for headers, body in callbacks:
            result = gateway.parse_payment_callback(headers=headers, body=body)
            if shared:
                applied = payment_apply_ecommerce(gateway="sandbox", result=result)
            else:
                applied = payment_apply_result(gateway="sandbox", result=result)
            assert applied == Applied.APPLIED, applied


def _run_message(message) -> None:
    from celery import current_app

    if message.task == STEPS_TASK and message.eta:
        from shop.payments.steps import funds_steps_send

        # A delayed poll or retry: run at its due time, as a worker would when it comes due.
        funds_steps_send(step_ids=message.args[0], now=datetime.fromisoformat(message.eta))
        return
    current_app.tasks[message.task].apply(args=message.args, kwargs=message.kwargs)


def _drain(meter: Meter, costs: dict, name: str, keep: tuple[str, ...] = ()) -> None:
    """Run every waiting message (and what they publish) except the ``keep`` tasks' ones."""
    kept = []
    with meter.window(costs.setdefault(name, Cost())):
        while messages := meter.published.take():
            for message in messages:
                if message.task in keep:
                    kept.append(message)
                else:
                    _run_message(message)
    meter.published.waiting = kept + meter.published.waiting


def _ship_receive_complete(meter: Meter, costs: dict, placed: list, now: datetime) -> None:
    from django.conf import settings

    from merchants.tests.factories import MerchantStaffFactory
    from orders.services.lifecycle import order_complete, order_confirm_receipt, order_ship

    staff = {}
    for order in placed:
        if order.merchant_id not in staff:
            staff[order.merchant_id] = MerchantStaffFactory(merchant_id=order.merchant_id).user
    with meter.window(costs.setdefault("ship", Cost())):
        for order in placed:
            order_ship(
                order_id=order.pk,
                merchant_id=order.merchant_id,
                carrier="SF",
                tracking_no=f"SF{order.pk:010d}",
                actor=staff[order.merchant_id],
                now=now,
            )
    _drain(meter, costs, "ship tasks")
    with meter.window(costs.setdefault("receive", Cost())):
        for order in placed:
            order_confirm_receipt(order_id=order.pk, actor=order.buyer, now=now)
    closed = now + settings.SHOP_RULES["AFTER_SALES_WINDOW"] + timedelta(minutes=1)
    with meter.window(costs.setdefault("complete", Cost())):
        for order in placed:
            order_complete(order_id=order.pk, now=closed)


def _settle(meter: Meter, costs: dict, *, settle_batch: int) -> None:
    from rebates.tasks import orders_settle_task

    messages = meter.published.take()
    ids = [i for m in messages if m.task == orders_settle_task.name for i in m.args[0]]
    meter.published.waiting = [m for m in messages if m.task != orders_settle_task.name]
    with meter.window(costs.setdefault("settle", Cost())):
        if settle_batch:
            for start in range(0, len(ids), settle_batch):
                orders_settle_task.apply(args=(ids[start : start + settle_batch],))
        else:
            for order_id in ids:
                orders_settle_task.apply(args=([order_id],))


def _share_steps(meter: Meter, costs: dict) -> None:
    """Drain the funds steps' messages; a round goes to ``share`` while any share step is
    open when it starts, then to ``unfreeze``. Other messages (a settlement's notices, sent
    when a confirmed share settles its order) go to ``settle tasks``."""
    from shop.payments.models import FundsStep

    for _ in range(50):
        messages = meter.published.take()
        if not messages:
            return
        steps = [m for m in messages if m.task == STEPS_TASK]
        meter.published.waiting = [m for m in messages if m.task != STEPS_TASK]
        _drain(meter, costs, "settle tasks", keep=(STEPS_TASK,))  # settlement's notices
        shares_open = FundsStep.objects.filter(kind=FundsStep.Kind.SHARE, status__in=FundsStep.OPEN).exists()
        with meter.window(costs.setdefault("share" if shares_open else "unfreeze", Cost())):
            for message in steps:
                _run_message(message)
    raise RuntimeError("the funds steps did not drain in 50 rounds")


def _checks(orders: int, shared: bool) -> dict:
    from django.core.management import call_command
    from django.db.models import Count

    from orders.models import Order
    from rebates.models import OrderSettlement
    from shop.payments.models import FundsStep

    out = {
        "orders_by_status": dict(Order.objects.values_list("status").annotate(n=Count("pk"))),
        "settlements": OrderSettlement.objects.count(),
        "steps": {
            f"{kind}:{status}": n
            for kind, status, n in FundsStep.objects.values_list("kind", "status").annotate(n=Count("pk"))
        },
    }
    try:
        call_command("ledger_check", stdout=open("/dev/null", "w"))  # noqa: SIM115
        out["ledger_check"] = "passes"
    except Exception as exc:  # noqa: BLE001 - reported
        out["ledger_check"] = f"FAILS: {exc}"
    out["ok"] = out["ledger_check"] == "passes" and out["settlements"] == orders
    return out
