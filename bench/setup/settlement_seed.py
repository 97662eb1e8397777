"""``bench/settlement.py``'s seed (steps 1 and 2 of its docstring), run in its Django process:
template orders through the real services, cloned in SQL up to the wanted count, and what their
payments wrote scaled the same way."""

from __future__ import annotations

import time


def seed(*, orders: int, stores: int, members: int, shared: int = 0) -> dict:
    """The templates through the real services, then their clones up to ``orders`` (step 1-2)."""
    from django.db import connection

    from groupstore.tests.factories import make_store
    from products.tests.factories import SkuFactory
    from rebates.tests.helpers import make_completed_orders

    started = time.perf_counter()
    templates = []
    for i in range(stores):
        store, _, buyers = make_store(members=members, name=f"团购群{i}")
        sku = SkuFactory(price_fen=990 + 100 * i, commission_bps=500 + 50 * (i % 10), on_hand=members)
        templates += make_completed_orders(buyers=buyers, store=store, sku=sku)
    made_at = time.perf_counter()
    copies = -(-orders // len(templates))
    ids = sorted(o.pk for o in templates)
    with connection.cursor() as cursor:
        _clone(cursor, ids, copies, orders)
        if shared:
            _clone_shared(cursor)
        _scale_ledger_and_figures(cursor, copies, cloned_postings=bool(shared))
    parts = _sandbox_clone_parts() if shared else 0
    return {
        "sandbox_parts": parts,
        "templates": len(templates),
        "copies": copies,
        "templates_s": round(made_at - started, 1),
        "clone_s": round(time.perf_counter() - made_at, 1),
    }


def _columns(cursor, table: str) -> list[str]:
    cursor.execute(
        "SELECT column_name FROM information_schema.columns WHERE table_name = %s ORDER BY ordinal_position",
        [table],
    )
    return [c for (c,) in cursor.fetchall() if c != "id"]


def _copy(cursor, table: str, source_join: str, replace: dict[str, str], new_id: str) -> None:
    cols = _columns(cursor, table)
    select = ", ".join(replace.get(c, f"t.{c}") for c in cols)
    cursor.execute(f"INSERT INTO {table} (id, {', '.join(cols)}) SELECT {new_id}, {select} {source_join}")  # noqa: S608


def _clone(cursor, ids: list[int], copies: int, orders: int) -> None:
    """Copies 1 … copies-1 of each template order, ids interleaved (copy-major), cut at ``orders``."""
    cursor.execute(
        "CREATE TEMP TABLE order_map AS SELECT src, nextval('orders_order_id_seq') AS dst FROM ("
        "  SELECT o.id AS src, g FROM orders_order o, generate_series(1, %s) g"
        "  WHERE o.id = ANY(%s) ORDER BY g, o.id LIMIT %s) s ORDER BY g, src",
        [copies - 1, ids, orders - len(ids)],
    )
    _copy(cursor, "orders_order", "FROM order_map m JOIN orders_order t ON t.id = m.src", {}, "m.dst")
    # Each clone has a payment of its own, as a checkout would (ledger_check reconciles
    # gateway clearing with the succeeded payments).
    cursor.execute(
        "CREATE TEMP TABLE payment_map AS SELECT m.dst AS dst_order, o.payment_id AS src, "
        "nextval('payments_payment_id_seq') AS dst "
        "FROM order_map m JOIN orders_order o ON o.id = m.src"
    )
    _copy(
        cursor,
        "payments_payment",
        "FROM payment_map m JOIN payments_payment t ON t.id = m.src",
        {"out_trade_no": "'BENCH' || m.dst", "gateway_txn_id": "'bench-' || m.dst"},
        "m.dst",
    )
    cursor.execute("UPDATE orders_order o SET payment_id = m.dst FROM payment_map m WHERE o.id = m.dst_order")
    cursor.execute(
        "CREATE TEMP TABLE item_map AS SELECT i.id AS src, m.dst AS dst_order, "
        "nextval('orders_orderitem_id_seq') AS dst "
        "FROM order_map m JOIN orders_orderitem i ON i.order_id = m.src"
    )
    _copy(
        cursor,
        "orders_orderitem",
        "FROM item_map m JOIN orders_orderitem t ON t.id = m.src",
        {"order_id": "m.dst_order"},
        "m.dst",
    )
    _copy(
        cursor,
        "rebates_accrual",
        "FROM item_map m JOIN rebates_accrual t ON t.order_item_id = m.src",
        {"order_id": "m.dst_order", "order_item_id": "m.dst"},
        "nextval('rebates_accrual_id_seq')",
    )
    cursor.execute("ANALYZE")


def _clone_shared(cursor) -> None:
    """Orders paid by profit sharing: each clone's payment part (its own numbers) and its
    ``order_paid_shared`` posting (transaction and entries, as the template's), which
    ``ledger_check`` reconciles order by order. Balances are left to the seed transaction."""
    cursor.execute(
        "CREATE TEMP TABLE part_map AS SELECT p.id AS src, m.dst AS dst_order, pm.dst AS dst_payment, "
        "nextval('payments_paymentpart_id_seq') AS dst "
        "FROM order_map m JOIN payments_paymentpart p ON p.order_id = m.src "
        "JOIN payment_map pm ON pm.dst_order = m.dst"
    )
    _copy(
        cursor,
        "payments_paymentpart",
        "FROM part_map m JOIN payments_paymentpart t ON t.id = m.src",
        {
            "payment_id": "m.dst_payment",
            "order_id": "m.dst_order",
            "out_trade_no": "'BENCHP' || m.dst_order",
            "transaction_id": "'4200bench' || m.dst_order",
        },
        "m.dst",
    )
    cursor.execute(
        "CREATE TEMP TABLE tx_map AS SELECT t.id AS src, m.dst AS dst_order, "
        "nextval('ledger_transaction_id_seq') AS dst FROM order_map m JOIN ledger_transaction t "
        "ON t.ref_type = 'order' AND t.ref_id = m.src AND t.kind = 'order_paid_shared'"
    )
    _copy(
        cursor,
        "ledger_transaction",
        "FROM tx_map m JOIN ledger_transaction t ON t.id = m.src",
        {"idempotency_key": "'order:' || m.dst_order || ':paid_shared'", "ref_id": "m.dst_order"},
        "m.dst",
    )
    _copy(
        cursor,
        "ledger_entry",
        "FROM tx_map m JOIN ledger_entry t ON t.transaction_id = m.src",
        {"transaction_id": "m.dst"},
        "nextval('ledger_entry_id_seq')",
    )


def _sandbox_clone_parts() -> int:
    """Each cloned part paid at the e-commerce sandbox too: its part (a copy of its
    template's, under its own numbers) and its money added to the merchant's frozen funds,
    written straight into the sandbox's store in bulk (what ``simulate_payment`` leaves)."""
    from collections import defaultdict

    from django.core.cache import cache

    from shop.payments.gateways.ecommerce_sandbox import SandboxEcommerceGateway
    from shop.payments.models import PaymentPart

    store = SandboxEcommerceGateway()._s  # the bench seeds the sandbox's own records
    parts = list(
        PaymentPart.objects.order_by("pk").values_list("sub_mchid", "out_trade_no", "transaction_id")
    )
    templates = {
        txn: store.get(f"part:{sub}:{out}") for sub, out, txn in parts if not txn.startswith("4200bench")
    }
    templates = {txn: part for txn, part in templates.items() if part is not None}
    by_order = dict(
        PaymentPart.objects.filter(transaction_id__in=list(templates)).values_list(
            "order_id", "transaction_id"
        )
    )
    frozen: dict[str, int] = defaultdict(int)
    batch: dict[str, object] = {}
    cloned = 0
    rows = PaymentPart.objects.filter(transaction_id__startswith="4200bench").values_list(
        "sub_mchid", "out_trade_no", "transaction_id", "order_id", "amount_fen"
    )
    from django.db import connection

    with connection.cursor() as cursor:
        cursor.execute("SELECT dst, src FROM order_map")
        source = dict(cursor.fetchall())
    for sub, out, txn, order_id, amount in rows.iterator(chunk_size=5000):
        template = templates[by_order[source[order_id]]]
        part = {**template, "out_trade_no": out, "transaction_id": txn, "combine": None}
        if (part["amount"], part["sub_mchid"]) != (amount, sub):
            raise RuntimeError(f"the clone of order {order_id} differs from its template")
        batch[store._k(f"part:{sub}:{out}")] = part
        batch[store._k(f"txn:{txn}")] = f"{sub}:{out}"
        frozen[sub] += amount
        cloned += 1
        if len(batch) >= 5000:
            cache.set_many(batch, timeout=store._ttl)
            batch = {}
    cache.set_many(batch, timeout=store._ttl)
    for sub, amount in frozen.items():
        store.incr(f"bal:{sub}:frozen", amount)
    return cloned


def _scale_ledger_and_figures(cursor, copies: int, *, cloned_postings: bool = False) -> None:
    """What the clones' payments would have written: every balance × copies (one balanced
    seed transaction), store and member figures × copies (all of them came from the
    templates' payments: nothing else has happened in this database). With
    ``cloned_postings`` the clones' own postings (``tx_map``) are already entries: the seed
    transaction carries the rest."""
    extra = copies - 1
    cursor.execute(
        "INSERT INTO ledger_transaction (idempotency_key, kind, memo, ref_type, ref_id, created_at) "
        "VALUES ('bench:seed', 'bench_seed', 'Payments of the cloned orders', '', NULL, now()) RETURNING id"
    )
    (tx_id,) = cursor.fetchone()
    cloned = (
        "SELECT e.account_id, sum(e.amount_fen) AS fen FROM ledger_entry e JOIN tx_map m "
        "ON m.dst = e.transaction_id GROUP BY e.account_id"
        if cloned_postings
        else "SELECT NULL::bigint AS account_id, 0::bigint AS fen"
    )
    cursor.execute(
        "INSERT INTO ledger_entry (transaction_id, account_id, amount_fen) "  # noqa: S608
        "SELECT %s, a.id, a.balance_fen * %s - coalesce(c.fen, 0) FROM ledger_account a "
        f"LEFT JOIN ({cloned}) c ON c.account_id = a.id "
        "WHERE a.balance_fen * %s - coalesce(c.fen, 0) <> 0",
        [tx_id, extra, extra],
    )
    cursor.execute("UPDATE ledger_account SET balance_fen = balance_fen * %s", [copies])
    cursor.execute(
        "UPDATE groupstore_storestats SET orders_count = orders_count * %s, gmv_fen = gmv_fen * %s, "
        "net_paid_fen = net_paid_fen * %s, commission_pending_fen = commission_pending_fen * %s",
        [copies] * 4,
    )
    cursor.execute(
        "UPDATE groupstore_membership SET orders_count = orders_count * %s, paid_fen = paid_fen * %s, "
        "discount_fen = discount_fen * %s, saved_fen = saved_fen * %s",
        [copies] * 4,
    )
