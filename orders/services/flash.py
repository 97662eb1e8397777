"""Flash sales (秒杀): a SKU's offer — window, cap, per-buyer limit — on top of the
store's flash unlock (groupstore's ``store_flash_unlocked``). Only offers ops approved are
live (merchants propose them: ``flash_offers.py``); checkout's one read and ``flash_take``
filter on the status, so proposals cost the hot path nothing.

Hot-SKU design. Thousands of buyers hit one offer at the same second, and almost all
of them must be told "sold out". The database stays the truth:

- ``flash_take`` (inside checkout's transaction): a conditional UPDATE of the buyer's
  count (``units <= limit - qty``) and one of the offer's ``sold_count``
  (``<= quantity - qty``, window open), then the SKU's own conditional stock UPDATE
  (``sku_reserve_stock``). Hot rows are updated last, so their row locks are held
  only until commit. Check constraints are the backstop. No oversell, whatever runs.
- In front of it, a **Redis gate** (one Lua script, atomic): a per-offer counter of
  units left and a per-offer hash of units per buyer. A buyer the gate refuses is
  answered without a database write (sold-out answers stay cheap); a buyer it admits
  goes on to the database, and if the database then refuses (or anything fails) the
  gate's token is given back at once. Cancels and unpaid time-outs give back both the
  database counts and the gate's tokens (after commit).
- A **sold-out mark** answers the crowd after a sell-out before anything else: when a
  store's buyer is told ``flash_sold_out`` because the offer has no unit left (the gate's
  counter or the database's ``sold_count``), the answer is remembered in Redis per SKU and
  store for ``SOLD_OUT_MARK_S``; the order view looks at a one-item body's store and SKU
  ids and answers from the mark (``flash_sold_out_early``) before the body is validated
  and before any database read (``orders/api/flash_early.py``: even before the token's).
  A mark is wiped when units come back (every gate give-back) and when ops resync the
  gate; a new or changed offer, a store that loses its flash unlock, is seen within
  ``SOLD_OUT_MARK_S`` at the latest. Each web process answers from its own copy of the
  marks, read again every ``MARKS_COPY_S`` (``_marks``): a checkout with no sale sold out
  costs no Redis call for it, a sold-out answer none either, and a wiped mark is seen by
  the other processes within ``MARKS_COPY_S``.
- The gate is only a filter: it is seeded lazily from the database
  (``quantity - sold_count``) and expires after the offer ends; without Redis
  (``FLASH_GATE`` off, the embedded default) or when Redis fails, checkout goes
  straight to the database path, which is correct on its own — only slower under a
  crowd. If the gate drifts (a process killed between gate and commit keeps a token),
  ops resync it from the admin (``flash_gate_reset``): the database is re-read.
"""

from __future__ import annotations

import logging
import time
from datetime import datetime
from functools import partial

from django.conf import settings
from django.db import connection, transaction
from django.db.models import F

from orders import sql
from orders.errors import FlashLimitReached, FlashSoldOut
from orders.models import FlashBuyerCount, FlashOffer
from products.models import Sku
from products.selectors import sku_from_checkout_row

logger = logging.getLogger("orders.flash")

# KEYS: units left, units per buyer (hash). ARGV: buyer, qty, per-buyer limit.
# Returns 1 admitted, 0 sold out (none left), -3 fewer left than asked, -1 buyer limit,
# -2 not seeded.
_TAKE = """
local left = redis.call('GET', KEYS[1])
if not left then return -2 end
local qty = tonumber(ARGV[2])
if tonumber(left) <= 0 then return 0 end
if tonumber(left) < qty then return -3 end
local mine = tonumber(redis.call('HGET', KEYS[2], ARGV[1]) or '0')
if mine + qty > tonumber(ARGV[3]) then return -1 end
redis.call('DECRBY', KEYS[1], qty)
redis.call('HINCRBY', KEYS[2], ARGV[1], qty)
return 1
"""
# KEYS: units left, units per buyer (hash), the SKU's sold-out marks. ARGV: buyer, qty.
_GIVE_BACK = """
redis.call('DEL', KEYS[3])
if redis.call('EXISTS', KEYS[1]) == 1 then redis.call('INCRBY', KEYS[1], ARGV[2]) end
local mine = tonumber(redis.call('HGET', KEYS[2], ARGV[1]) or '0')
if mine > 0 then redis.call('HINCRBY', KEYS[2], ARGV[1], -math.min(mine, tonumber(ARGV[2]))) end
return 1
"""

SOLD_OUT_MARK_S = 5  # how long "sold out" is answered from the mark before the truth is read again
MARKS_COPY_S = 0.2  # how long a process answers from its copy of the marks before reading them again

_client = None
_scripts: dict[str, object] = {}


def _redis():
    """The gate's Redis client (one per process), or None when the gate is off."""
    global _client
    if not settings.SHOP_RULES["FLASH_GATE"] or not settings.REDIS_URL:
        return None
    if _client is None:
        import redis

        _client = redis.Redis.from_url(settings.REDIS_URL, socket_timeout=0.5, socket_connect_timeout=0.5)
        _scripts["take"] = _client.register_script(_TAKE)
        _scripts["give_back"] = _client.register_script(_GIVE_BACK)
    return _client


def _keys(offer: FlashOffer) -> list[str]:
    # Databases sharing one Redis (environments, parallel test runs, a re-created database
    # whose ids start again) never mix: the database's name and the offer's creation time.
    stamp = int(offer.created_at.timestamp() * 1_000_000)
    base = f"flash:{settings.DATABASES['default']['NAME']}:{offer.pk}:{stamp}"
    return [f"{base}:left", f"{base}:buyers"]


def _mark_key(sku_id: int) -> str:
    return f"flash:{settings.DATABASES['default']['NAME']}:sold-out:{sku_id}"


def _marked_skus_key() -> str:
    """The SKUs with a mark, scored by the mark's deadline: what a process's copy reads."""
    return f"flash:{settings.DATABASES['default']['NAME']}:sold-out-skus"


# Each process's copy of the marks: {index key: (read at, {sku_id: {store_id: mark}})}.
_copies: dict[str, tuple[float, dict[int, dict[bytes, bytes]]]] = {}


def _marks() -> dict[int, dict[bytes, bytes]]:
    """Every live mark, as this process last read them: again from Redis (one pipeline, a
    second one when there are marks) once the copy is ``MARKS_COPY_S`` old. With no flash
    sale sold out, a checkout's look costs no Redis call at all, and in a sold-out crowd the
    answer costs none either. Staler than Redis by ``MARKS_COPY_S`` at most; this process's
    own marks and give-backs change its copy at once."""
    key, now = _marked_skus_key(), time.time()
    read_at, marks = _copies.get(key, (0.0, {}))
    if 0 <= now - read_at < MARKS_COPY_S:
        return marks
    client = _redis()
    pipe = client.pipeline(transaction=False)
    pipe.zremrangebyscore(key, "-inf", now)
    pipe.zrange(key, 0, -1)
    skus = [int(sku) for sku in pipe.execute()[1]]
    marks = {}
    if skus:
        pipe = client.pipeline(transaction=False)
        for sku in skus:
            pipe.hgetall(_mark_key(sku))
        marks = {sku: found for sku, found in zip(skus, pipe.execute(), strict=True) if found}
    _copies[key] = (now, marks)
    return marks


def _copy_forget(sku_id: int) -> None:
    """Units came back, or ops resynced: this process's copy drops the SKU's marks now."""
    copy = _copies.get(_marked_skus_key())
    if copy is not None:
        copy[1].pop(sku_id, None)


def _sold_out_mark(*, offer: FlashOffer, store_id: int, read_at: datetime | None = None) -> None:
    """Remember that this store's buyers of the offer's SKU are told ``flash_sold_out``: for
    ``SOLD_OUT_MARK_S`` counted from when "no unit left" was read (``read_at``, else now),
    never past the offer's end — so a mark written just after a give-back wiped the marks is
    still stale for at most that long. Best effort (no Redis: no mark)."""
    client = _redis()
    if client is None:
        return
    read = read_at.timestamp() if read_at is not None else time.time()
    deadline = min(read + SOLD_OUT_MARK_S, offer.ends_at.timestamp())
    try:
        mark = f"{offer.pk}:{deadline}"
        pipe = client.pipeline(transaction=False)
        pipe.hset(_mark_key(offer.sku_id), str(store_id), mark)
        pipe.expire(_mark_key(offer.sku_id), SOLD_OUT_MARK_S + 1)
        pipe.zadd(_marked_skus_key(), {str(offer.sku_id): deadline}, gt=True)
        pipe.execute()
    except Exception:  # noqa: BLE001 - without a mark the next buyer takes the full path
        logger.warning("flash sold-out mark not written for offer %s", offer.pk, exc_info=True)
        return
    copy = _copies.get(_marked_skus_key())
    if copy is not None:  # this process knows at once; the others within MARKS_COPY_S
        copy[1].setdefault(offer.sku_id, {})[str(store_id).encode()] = mark.encode()


def flash_sold_out_early(*, store_id: int, sku_id: int) -> None:
    """Raise ``FlashSoldOut`` when a buyer of this store was told, within the last
    ``SOLD_OUT_MARK_S``, that the SKU's live offer had no unit left. Read from this
    process's copy of the marks (``_marks``): no database read, and a Redis read only when
    the copy is renewed. Silent when there is no mark (or no Redis): the full checkout
    answers, and it is correct on its own."""
    if _redis() is None:
        return
    try:
        mark = _marks().get(sku_id, {}).get(str(store_id).encode())
    except Exception:  # noqa: BLE001 - the full path is correct on its own
        logger.warning("flash sold-out marks unreadable", exc_info=True)
        return
    if mark is None:
        return
    offer_id, _, deadline = mark.decode().partition(":")
    if float(deadline) > time.time():
        raise FlashSoldOut(offer_id=int(offer_id))


def live_offers_from_rows(rows) -> dict[int, tuple[FlashOffer, tuple]]:
    """The offer whose window is open now, per SKU (the latest-starting if several: rows
    come ordered by start), each with its SKU's columns still unread: ``offer_sku`` makes
    the SKU when it is needed — not for the crowd told ``flash_sold_out`` from the offer row
    alone. Rows without an offer (a left join that found none) are skipped."""
    fields = FlashOffer._meta.concrete_fields
    names, n = [f.attname for f in fields], len(fields)
    offers: dict[int, tuple[FlashOffer, tuple]] = {}
    for row in rows:
        if row[0] is None:
            continue
        offer = FlashOffer.from_db(connection.alias, names, row[:n])
        offers[offer.sku_id] = (offer, row[n:])
    return offers


def offer_sku(offer: FlashOffer, sku_columns: tuple) -> Sku:
    """The offer's SKU with its product, from the columns read with it; set on the offer."""
    offer.sku = sku_from_checkout_row(sku_columns)
    return offer.sku


def flash_check_units(
    *, offer: FlashOffer, qty: int, store_id: int | None = None, read_at: datetime | None = None
) -> None:
    """Beyond the per-buyer limit, or sold out — from the offer row alone (no query).
    ``sold_count`` is the database's truth: after a sell-out this is the whole answer, and
    with ``store_id`` it is remembered as the store's sold-out mark when no unit is left."""
    if qty > offer.per_user_limit:
        raise FlashLimitReached(offer_id=offer.pk)
    if offer.remaining < qty:
        if store_id is not None and offer.remaining <= 0:
            _sold_out_mark(offer=offer, store_id=store_id, read_at=read_at)
        raise FlashSoldOut(offer_id=offer.pk)


def flash_check(
    *,
    offer: FlashOffer,
    buyer_id: int,
    qty: int,
    store_id: int | None = None,
    read_at: datetime | None = None,
) -> None:
    """The quote's answer (reads only): sold out, or beyond the buyer's limit."""
    flash_check_units(offer=offer, qty=qty, store_id=store_id, read_at=read_at)
    if sql.flash_held_units(offer_id=offer.pk, buyer_id=buyer_id) + qty > offer.per_user_limit:
        raise FlashLimitReached(offer_id=offer.pk)


def flash_gate_take(*, offer: FlashOffer, buyer_id: int, qty: int, store_id: int | None = None) -> bool:
    """Ask the gate for ``qty`` units. True: admitted (a token to give back if the
    database refuses); False: no gate (go to the database). Raises when it refuses; with
    ``store_id``, a refusal because no unit is left becomes the store's sold-out mark."""
    client = _redis()
    if client is None:
        return False
    keys = _keys(offer)
    try:
        outcome = _scripts["take"](keys=keys, args=[buyer_id, qty, offer.per_user_limit])
        if outcome == -2:
            ttl = max(60, int((offer.ends_at - offer.starts_at).total_seconds()) + 86_400)
            left = FlashOffer.objects.filter(pk=offer.pk).values_list("quantity", "sold_count").first()
            client.set(keys[0], max(0, left[0] - left[1]), nx=True, ex=ttl)
            client.expire(keys[1], ttl)
            outcome = _scripts["take"](keys=keys, args=[buyer_id, qty, offer.per_user_limit])
    except Exception:  # noqa: BLE001 - any Redis trouble: the database path alone is correct
        logger.warning("flash gate unavailable for offer %s; database path", offer.pk, exc_info=True)
        return False
    if outcome == 0 and store_id is not None:
        _sold_out_mark(offer=offer, store_id=store_id)
    if outcome in (0, -3):
        raise FlashSoldOut(offer_id=offer.pk)
    if outcome == -1:
        raise FlashLimitReached(offer_id=offer.pk)
    return outcome == 1


def flash_gate_give_back(offer: FlashOffer, buyer_id: int, qty: int) -> None:
    """Return gate tokens (a refused checkout, a cancel, a time-out). Best effort."""
    client = _redis()
    if client is None:
        return
    try:
        _scripts["give_back"](keys=[*_keys(offer), _mark_key(offer.sku_id)], args=[buyer_id, qty])
    except Exception:  # noqa: BLE001 - a lost give-back only undersells until a resync
        logger.warning("flash gate give-back failed for offer %s", offer.pk, exc_info=True)
    _copy_forget(offer.sku_id)


def flash_gate_reset(*, offer_id: int) -> None:
    """Ops: forget the gate's counters; the next buyer reseeds them from the database."""
    client = _redis()
    offer = FlashOffer.objects.filter(pk=offer_id).first()
    if client is not None and offer is not None:
        client.delete(*_keys(offer), _mark_key(offer.sku_id))
        _copy_forget(offer.sku_id)


def _buyer_count_add(*, offer: FlashOffer, buyer_id: int, qty: int) -> bool:
    """The buyer's units of the offer go up by ``qty`` unless that passes the limit: one
    upsert (the first unit inserts the row; later ones update it under its row lock,
    only within the limit). False: beyond the limit, nothing written."""
    if connection.vendor != "postgresql":  # the embedded SQLite demo: two statements
        row, _ = FlashBuyerCount.objects.get_or_create(offer_id=offer.pk, buyer_id=buyer_id)
        return bool(
            FlashBuyerCount.objects.filter(pk=row.pk, units__lte=offer.per_user_limit - qty).update(
                units=F("units") + qty
            )
        )
    return sql.flash_buyer_add(offer_id=offer.pk, buyer_id=buyer_id, qty=qty, limit=offer.per_user_limit)


def flash_take(*, offer: FlashOffer, buyer_id: int, qty: int, now: datetime) -> None:
    """Inside checkout's transaction: count ``qty`` units against the buyer's limit and
    the offer's cap, or raise and (with the caller's rollback) write nothing."""
    if qty > offer.per_user_limit or not _buyer_count_add(offer=offer, buyer_id=buyer_id, qty=qty):
        raise FlashLimitReached(offer_id=offer.pk)
    if not sql.flash_take(offer_id=offer.pk, qty=qty, now=now):
        raise FlashSoldOut(offer_id=offer.pk)


def flash_give_back(*, offer_id: int, buyer_id: int, qty: int) -> None:
    """Inside the cancel's transaction: the units go back to the offer and the buyer,
    and to the gate once that commits."""
    FlashOffer.objects.filter(pk=offer_id, sold_count__gte=qty).update(sold_count=F("sold_count") - qty)
    FlashBuyerCount.objects.filter(offer_id=offer_id, buyer_id=buyer_id, units__gte=qty).update(
        units=F("units") - qty
    )
    offer = FlashOffer.objects.filter(pk=offer_id).only("pk", "created_at", "sku_id").first()
    if offer is not None:
        transaction.on_commit(partial(flash_gate_give_back, offer, buyer_id, qty))
