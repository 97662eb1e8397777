"""``seed_demo --scale N``: many more stores, members and orders, inserted in bulk.

Not through the services (that would take days at benchmark sizes). Per scale unit:
10 stores, each with an owner, a share link, 100 members and 200 completed orders
(each with its payment and one item). Rows are streamed to PostgreSQL with ``COPY``
in chunks of stores (other databases get multi-row inserts), with ids reserved from
the tables' sequences up front; every column not set here gets its model default,
so a field added later with a default needs no change here. The maintained
aggregates (member figures, store figures) are computed **once, in SQL, at the end**
from the orders just written, so the dashboard reads exactly what the services
would have left. The orders carry no ledger money: they exist to load the read paths.

Seed into an empty-ish database you can throw away (a benchmark database): while it
runs, nothing else should insert into these tables (their id ranges are reserved).
"""

from __future__ import annotations

import io
import json
import random
import secrets
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from django.db import connection, models, transaction
from django.utils import timezone

from accounts.models import User
from groupstore.models import Membership, ShareLink, Store, StoreStats
from merchants.models import Merchant
from orders.models import Order, OrderItem
from products.models import Sku
from shop.db import column, table
from shop.payments.models import Payment

from .catalog import DEMO_ADDRESS

STORES_PER_SCALE = 10
MEMBERS_PER_STORE = 100
ORDERS_PER_STORE = 200
STORES_PER_CHUNK = 250  # 25,000 users and 50,000 orders per transaction
Progress = Callable[[int, int], None]


def seed_scale(*, scale: int, merchant: Merchant, progress: Progress) -> dict[str, int]:
    """Add ``scale`` × 10 stores with their members and orders; returns what was added."""
    rng = random.Random(20261122)  # noqa: S311 - demo data, not secrets
    skus = [
        (s.pk, s.price_fen, s.commission_bps, s.product.title[:120], json.dumps(s.spec, ensure_ascii=False))
        for s in Sku.objects.filter(merchant=merchant).select_related("product").order_by("pk")
    ]
    if not skus:
        raise RuntimeError("seed the catalog first: the merchant has no SKUs")
    run = secrets.token_hex(3)
    total = scale * STORES_PER_SCALE
    writer = _writer()
    first_store_id = None
    made = {"stores": 0, "members": 0, "orders": 0}
    for start in range(0, total, STORES_PER_CHUNK):
        count = min(STORES_PER_CHUNK, total - start)
        with transaction.atomic():
            chunk = _Chunk(rng=rng, skus=skus, run=run, offset=start, stores=count, merchant_id=merchant.pk)
            chunk.write(writer)
        first_store_id = first_store_id or chunk.store_ids[0]
        made["stores"] += count
        made["members"] += count * MEMBERS_PER_STORE
        made["orders"] += count * ORDERS_PER_STORE
        progress(start + count, total)
    if first_store_id is not None:
        aggregates_recompute(store_ids=(first_store_id, first_store_id + total - 1))
    return made


# --- One chunk of stores -----------------------------------------------------------------


@dataclass
class _Chunk:
    rng: random.Random
    skus: list[tuple[int, int, int, str, str]]
    run: str
    offset: int
    stores: int
    merchant_id: int
    store_ids: list[int] = field(default_factory=list)

    def write(self, writer: _Writer) -> None:
        now = timezone.now()
        n_users = self.stores * (1 + MEMBERS_PER_STORE)
        n_orders = self.stores * ORDERS_PER_STORE
        user0 = _reserve(User, n_users)
        store0 = _reserve(Store, self.stores)
        link0 = _reserve(ShareLink, self.stores)
        membership0 = _reserve(Membership, n_users)
        payment0 = _reserve(Payment, n_orders)
        order0 = _reserve(Order, n_orders)
        item0 = _reserve(OrderItem, n_orders)
        self.store_ids = list(range(store0, store0 + self.stores))

        users, stores, links, memberships, stats = [], [], [], [], []
        payments, orders, items = [], [], []
        for s in range(self.stores):
            tag = f"{self.run}-{self.offset + s}"
            store_id = store0 + s
            owner_id = user0 + s * (1 + MEMBERS_PER_STORE)
            member_ids = range(owner_id + 1, owner_id + 1 + MEMBERS_PER_STORE)
            users.append((owner_id, f"bulk-owner-{tag}", f"bulk-owner-{tag}", f"群主{tag}"))
            users.extend(
                (uid, f"bulk-{tag}-{i}", f"bulk-{tag}-{i}", f"团员{i}") for i, uid in enumerate(member_ids)
            )
            stores.append((store_id, owner_id, f"团购群 {tag}"))
            links.append((link0 + s, store_id, secrets.token_urlsafe(24), owner_id))
            opened = now - timedelta(days=30)
            memberships.append(
                (membership0 + s * (1 + MEMBERS_PER_STORE), store_id, owner_id, "owner", opened, None)
            )
            memberships.extend(
                (
                    membership0 + s * (1 + MEMBERS_PER_STORE) + 1 + i,
                    store_id,
                    uid,
                    "member",
                    opened + timedelta(minutes=17 * (i + 1)),
                    link0 + s,
                )
                for i, uid in enumerate(member_ids)
            )
            stats.append((store_id,))
            for o in range(ORDERS_PER_STORE):
                k = s * ORDERS_PER_STORE + o
                buyer = member_ids[self.rng.randrange(MEMBERS_PER_STORE)]
                sku_id, price, commission_bps, title, spec = self.skus[self.rng.randrange(len(self.skus))]
                qty = self.rng.randint(1, 3)
                amount = price * qty
                payments.append(
                    (payment0 + k, buyer, amount, f"B{self.run}{payment0 + k:020d}"[:32], title[:100])
                )
                orders.append((order0 + k, buyer, store_id, payment0 + k, amount, amount, amount))
                items.append(
                    (
                        item0 + k,
                        order0 + k,
                        sku_id,
                        title,
                        spec,
                        qty,
                        price,
                        price,
                        amount,
                        amount,
                        commission_bps,
                    )
                )

        writer.write(_USER, users, now=now)
        writer.write(_STORE, stores, now=now)
        writer.write(_LINK, links, now=now)
        writer.write(_MEMBERSHIP, memberships, now=now)
        writer.write(_STATS, stats, now=now)
        writer.write(_PAYMENT, payments, now=now)
        writer.write(_ORDER, orders, now=now, fixed={"merchant": self.merchant_id})
        writer.write(_ITEM, items, now=now)


# --- Column specs: what varies per row; everything else is the model default ---------


@dataclass(frozen=True)
class _Spec:
    model: type[models.Model]
    varying: tuple[str, ...]  # field names, in the order rows give them
    fixed: dict[str, Any] = field(default_factory=dict)  # constants that are not the default


_USER = _Spec(User, ("id", "username", "openid", "nickname"), {"password": "!"})
_STORE = _Spec(Store, ("id", "owner", "name"))
_LINK = _Spec(ShareLink, ("id", "store", "token", "created_by"))
_MEMBERSHIP = _Spec(Membership, ("id", "store", "user", "role", "joined_at", "joined_via"))
_STATS = _Spec(StoreStats, ("store",))
_PAYMENT = _Spec(
    Payment,
    ("id", "payer", "amount_fen", "out_trade_no", "description"),
    {"purpose": "order_checkout", "gateway": "sandbox", "status": Payment.Status.SUCCEEDED, "paid_at": "now"},
)
_ORDER = _Spec(
    Order,
    ("id", "buyer", "store", "payment", "list_fen", "sale_fen", "paid_fen"),
    {
        "status": Order.Status.COMPLETED,
        "address": DEMO_ADDRESS,
        "pay_deadline_at": "now",
        "paid_at": "now",
        "completed_at": "now",
    },
)
_ITEM = _Spec(
    OrderItem,
    (
        "id",
        "order",
        "sku",
        "product_title",
        "spec",
        "qty",
        "list_price_fen",
        "unit_price_fen",
        "sale_fen",
        "paid_fen",
        "commission_bps",
    ),
    {"member_share_bps": 3000, "owner_share_bps": 6000},
)


def _constant(f: models.Field, spec: _Spec, fixed: dict[str, Any], now: datetime) -> Any:
    """The value a column gets when the row does not set it (DB-ready Python value)."""
    if f.name in fixed:
        value = fixed[f.name]
    elif f.name in spec.fixed:
        value = spec.fixed[f.name]
    elif getattr(f, "auto_now", False) or getattr(f, "auto_now_add", False):
        value = now
    elif f.has_default():
        value = f.get_default()
    elif f.null:
        value = None
    elif isinstance(f, models.CharField | models.TextField) and f.blank:
        value = ""
    else:
        raise RuntimeError(f"bulk seeding: {f.model.__name__}.{f.name} needs a value (no default)")
    return now if value == "now" else value


class _Writer:
    def write(self, spec: _Spec, rows: Sequence[tuple], *, now: datetime, fixed: dict | None = None) -> None:
        raise NotImplementedError


def _writer() -> _Writer:
    return _CopyWriter() if connection.vendor == "postgresql" else _InsertWriter()


class _CopyWriter(_Writer):
    """PostgreSQL ``COPY … FROM STDIN`` (text format): constant columns are rendered once
    into a row template; only the varying values are formatted per row."""

    def write(self, spec: _Spec, rows: Sequence[tuple], *, now: datetime, fixed: dict | None = None) -> None:
        fields = spec.model._meta.concrete_fields
        columns, parts = [], []
        position = {name: i for i, name in enumerate(spec.varying)}
        for f in fields:
            columns.append(column(spec.model, f.name))
            if f.name in position:
                parts.append("{%d}" % position[f.name])  # noqa: UP031 - builds a format string
            else:
                text = _copy_text(_constant(f, spec, fixed or {}, now))
                parts.append(text.replace("{", "{{").replace("}", "}}"))
        template = "\t".join(parts) + "\n"
        buffer = io.StringIO()
        buffer.writelines(template.format(*(_copy_text(v) for v in row)) for row in rows)
        buffer.seek(0)
        with connection.cursor() as cursor:
            cursor.cursor.copy_expert(f"COPY {table(spec.model)} ({', '.join(columns)}) FROM STDIN", buffer)


def _copy_text(value: Any) -> str:
    if value is None:
        return r"\N"
    if isinstance(value, bool):
        return "t" if value else "f"
    if isinstance(value, int):
        return str(value)
    if isinstance(value, datetime):
        return value.isoformat()
    if isinstance(value, dict | list):
        value = json.dumps(value, ensure_ascii=False)
    text = str(value)
    if any(c in text for c in "\\\t\n\r"):
        text = text.replace("\\", "\\\\").replace("\t", "\\t").replace("\n", "\\n").replace("\r", "\\r")
    return text


class _InsertWriter(_Writer):
    """Other databases (the SQLite demo): multi-row INSERTs through the ORM, in batches."""

    def write(self, spec: _Spec, rows: Sequence[tuple], *, now: datetime, fixed: dict | None = None) -> None:
        model = spec.model
        attnames = {f.name: f.attname for f in model._meta.concrete_fields}
        constants = {
            f.attname: _constant(f, spec, fixed or {}, now)
            for f in model._meta.concrete_fields
            if f.name not in spec.varying
        }
        varying = [attnames[name] for name in spec.varying]
        objs = [model(**constants, **dict(zip(varying, row, strict=True))) for row in rows]
        for obj in objs:  # JSON given as text above is decoded for the ORM
            for f in model._meta.concrete_fields:
                if isinstance(f, models.JSONField) and isinstance(getattr(obj, f.attname), str):
                    setattr(obj, f.attname, json.loads(getattr(obj, f.attname)))
        model.objects.bulk_create(objs, batch_size=2_000)


def _reserve(model: type[models.Model], count: int) -> int:
    """Reserve ``count`` consecutive ids; returns the first."""
    with connection.cursor() as cursor:
        if connection.vendor == "postgresql":
            meta = model._meta
            cursor.execute("SELECT pg_get_serial_sequence(%s, %s)", [meta.db_table, meta.pk.column])
            (sequence,) = cursor.fetchone()
            cursor.execute("SELECT nextval(%s)", [sequence])
            (first,) = cursor.fetchone()
            cursor.execute("SELECT setval(%s, %s)", [sequence, first + count - 1])
            return first
        pk = column(model, model._meta.pk.name)
        cursor.execute(f"SELECT COALESCE(MAX({pk}), 0) + 1 FROM {table(model)}")  # noqa: S608
        (first,) = cursor.fetchone()
        return first


# --- The aggregates, once, in SQL -----------------------------------------------------


def aggregates_recompute(*, store_ids: tuple[int, int]) -> None:
    """Member and store figures of the stores in ``store_ids`` (an inclusive id range),
    from their orders, as the services would have pushed them: paid and orders per
    member; GMV, net paid, orders and members per store."""
    low, high = store_ids
    statements: Iterable[str] = (
        """
        UPDATE groupstore_membership m
           SET paid_fen = t.paid, discount_fen = t.discount, saved_fen = t.discount, orders_count = t.n
          FROM (SELECT store_id, buyer_id, SUM(paid_fen) AS paid, SUM(list_fen - paid_fen) AS discount,
                       COUNT(*) AS n
                  FROM orders_order WHERE store_id BETWEEN %(low)s AND %(high)s
                 GROUP BY store_id, buyer_id) t
         WHERE m.store_id = t.store_id AND m.user_id = t.buyer_id
        """,
        """
        UPDATE groupstore_storestats s
           SET gmv_fen = t.paid, net_paid_fen = t.paid, orders_count = t.n
          FROM (SELECT store_id, SUM(paid_fen) AS paid, COUNT(*) AS n
                  FROM orders_order WHERE store_id BETWEEN %(low)s AND %(high)s
                 GROUP BY store_id) t
         WHERE s.store_id = t.store_id
        """,
        """
        UPDATE groupstore_storestats s
           SET members_count = t.n
          FROM (SELECT store_id, COUNT(*) AS n FROM groupstore_membership
                 WHERE store_id BETWEEN %(low)s AND %(high)s GROUP BY store_id) t
         WHERE s.store_id = t.store_id
        """,
    )
    with transaction.atomic(), connection.cursor() as cursor:
        for sql in statements:
            cursor.execute(sql, {"low": low, "high": high})
    if connection.vendor == "postgresql":
        # Fresh planner statistics for the tables that just grew; VACUUM also sets the
        # visibility map (index-only scans) but cannot run inside a transaction.
        command = "ANALYZE" if connection.in_atomic_block else "VACUUM ANALYZE"
        with connection.cursor() as cursor:
            for model in (User, Store, ShareLink, Membership, StoreStats, Payment, Order, OrderItem):
                cursor.execute(f"{command} {table(model)}")
