"""Catalog writes: products, SKUs, listing status, stock, the search vector.

Stock moves are each one conditional UPDATE: no read-then-write window, no lock queue.
``on_hand`` counts units not yet shipped, ``reserved`` those held by orders; an order
reserves (available must cover it), cancel/time-out/refund-before-shipping release,
shipping takes the units off both. A merchant's absolute upload sets ``on_hand`` only.

Who may put a product on sale (the merchant's deposit must cover the category) is
decided in ``merchants``; this module only knows which status moves are legal.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence

from django.db import IntegrityError, connection, transaction
from django.db.models import F, QuerySet
from django.db.models.functions import Greatest
from django.utils import timezone

from shop.errors import ValidationFailed

from . import sql
from .cache import catalog_changed
from .errors import (
    CategoryChangeRefused,
    OutOfStock,
    ProductBlocked,
    ProductHasNoSkus,
    ProductStatusChangeRefused,
    SkuCodeTaken,
)
from .locks import product_qs_for_update
from .models import Category, Product, ProductStatusChange, Sku
from .rules import commission_ceiling_bps
from .search import index_words

PRICE_MAX_FEN = 100_000_000  # ¥1,000,000: nothing sold here costs more; catches yuan/fen mix-ups
STOCK_MAX = 10_000_000  # units of one SKU; more is a typo, not a warehouse
IMAGES_MAX = 9  # what a WeChat product page shows
SEARCH_BATCH = 1_000  # products per UPDATE when (re)building search vectors
SKU_FIELDS = ("price_fen", "team_price_fen", "team_size", "commission_bps")


# --- Stock -----------------------------------------------------------------------


def sku_reserve_stock(*, sku_id: int, qty: int) -> None:
    """Hold ``qty`` units or raise ``OutOfStock``. Available never goes below zero.

    One conditional ``UPDATE``, written by hand (``products.sql.sku_reserve``: every order
    runs it, and the ORM's compile of it cost more than PostgreSQL's run)."""
    if not sql.sku_reserve(sku_id=sku_id, qty=qty):
        raise OutOfStock(f"Only part of the requested quantity of item {sku_id} is in stock.", sku_id=sku_id)


def sku_release_stock(*, sku_id: int, qty: int) -> None:
    """Give held units back (cancel, unpaid time-out, refund before shipping)."""
    Sku.objects.filter(pk=sku_id).update(reserved=Greatest(F("reserved") - qty, 0))


def sku_ship_stock(*, sku_id: int, qty: int) -> None:
    """Held units leave the warehouse: off ``reserved`` and off ``on_hand``; sales counted."""
    Sku.objects.filter(pk=sku_id).update(
        reserved=Greatest(F("reserved") - qty, 0),
        on_hand=Greatest(F("on_hand") - qty, 0),
        sales_count=F("sales_count") + qty,
    )
    Product.objects.filter(skus__pk=sku_id).update(sales_count=F("sales_count") + qty)


def sku_set_on_hand_many(*, merchant_id: int, rows: Sequence[tuple[int, int]]) -> int:
    """Set absolute ``on_hand`` for ``(sku_id, on_hand)`` rows of one merchant; returns how
    many rows changed (rows already at that value are not rewritten: a re-upload is free).

    ``reserved`` is never touched, so an upload cannot release or steal held units.

    Lock order: checkouts lock SKUs in id order, so must this, or an upload and a
    checkout could deadlock: the rows are locked first with ``SELECT ... ORDER BY id
    FOR NO KEY UPDATE``, then one ``UPDATE ... FROM (VALUES ...)`` (``products.sql
    .sku_on_hand_set``, where its plan is measured). Call it inside a transaction;
    callers pass rows sorted by id across calls to keep the lock order for the whole
    upload.
    """
    if not rows:
        return 0
    rows = sorted(rows)
    if connection.vendor == "postgresql":
        return sql.sku_on_hand_set(merchant_id=merchant_id, rows=rows, now=timezone.now())
    ids = [sku_id for sku_id, _ in rows]
    wanted = dict(rows)
    skus = list(Sku.objects.filter(pk__in=ids, merchant_id=merchant_id).order_by("pk").only("pk", "on_hand"))
    changed = [s for s in skus if s.on_hand != wanted[s.pk]]
    now = timezone.now()
    for sku in changed:
        sku.on_hand = wanted[sku.pk]
        sku.updated_at = now
    Sku.objects.bulk_update(changed, ["on_hand", "updated_at"], batch_size=500)
    return len(changed)


# --- Products and SKUs -------------------------------------------------------------


def _check_sku_rules(*, category: Category, values: dict, prefix: str = "") -> None:
    """Prices, team terms, commission within the category's bounds (400 with fields)."""
    problems: dict[str, list[str]] = {}

    def bad(field: str, message: str) -> None:
        problems.setdefault(f"{prefix}{field}", []).append(message)

    price = values["price_fen"]
    if not 0 < price <= PRICE_MAX_FEN:
        bad("price_fen", f"Must be between 1 and {PRICE_MAX_FEN} fen.")
    team_price, team_size = values.get("team_price_fen"), values.get("team_size")
    if (team_price is None) != (team_size is None):
        bad("team_price_fen", "Team price and team size go together: give both or neither.")
    if team_price is not None and not 0 < team_price < price:
        bad("team_price_fen", "Must be above 0 and below the price.")
    if team_size is not None and not 2 <= team_size <= 10:
        bad("team_size", "A team has 2 to 10 members.")
    commission = values["commission_bps"]
    if not category.commission_min_bps <= commission <= category.commission_max_bps:
        bad(
            "commission_bps",
            f"The category {category.name} allows {category.commission_min_bps} to "
            f"{category.commission_max_bps} bps.",
        )
    elif commission > (ceiling := commission_ceiling_bps()):
        bad(
            "commission_bps",
            f"At most {ceiling} bps: commission plus the platform fee must stay within the "
            "merchant's maximum profit-sharing ratio.",
        )
    if "on_hand" in values and not 0 <= values["on_hand"] <= STOCK_MAX:
        bad("stock", f"Must be between 0 and {STOCK_MAX}.")
    if problems:
        raise ValidationFailed(fields=problems)


def _check_images(images: list[str]) -> None:
    if len(images) > IMAGES_MAX:
        raise ValidationFailed(fields={"images": [f"At most {IMAGES_MAX} images."]})


def _taken_codes(*, merchant_id: int, codes: Iterable[str], exclude_sku_id: int | None = None) -> list[str]:
    existing = Sku.objects.filter(merchant_id=merchant_id, code__in=list(codes))
    if exclude_sku_id is not None:
        existing = existing.exclude(pk=exclude_sku_id)
    return sorted(existing.values_list("code", flat=True))


def _new_sku(*, product: Product, data: dict) -> Sku:
    return Sku(
        product=product,
        merchant_id=product.merchant_id,
        code=data["code"],
        spec=data.get("spec") or {},
        price_fen=data["price_fen"],
        team_price_fen=data.get("team_price_fen"),
        team_size=data.get("team_size"),
        on_hand=data.get("on_hand", 0),
        commission_bps=data["commission_bps"],
    )


def _insert_skus(skus: list[Sku]) -> None:
    try:
        with transaction.atomic():
            Sku.objects.bulk_create(skus)
    except IntegrityError:  # a concurrent create took a code between our check and insert
        raise SkuCodeTaken() from None


@transaction.atomic
def product_create(
    *,
    merchant_id: int,
    category: Category,
    title: str,
    description: str = "",
    images: Sequence[str] = (),
    skus: Sequence[dict] = (),
    actor=None,
) -> Product:
    """A new product in ``draft`` with its SKUs (``on_hand`` from each SKU's ``stock``).

    Refused as a whole (400 with the fields, 409 for a code already used) — never half
    created. Putting it on sale is ``merchants``' publish rule.
    """
    _check_images(list(images))
    codes = [s["code"] for s in skus]
    repeated = sorted({c for c in codes if codes.count(c) > 1})
    if repeated:
        raise ValidationFailed(fields={"skus": [f"Code {c!r} appears more than once." for c in repeated]})
    for index, data in enumerate(skus):
        _check_sku_rules(category=category, values=data, prefix=f"skus.{index}.")
    taken = _taken_codes(merchant_id=merchant_id, codes=codes)
    if taken:
        raise SkuCodeTaken(f"You already have SKUs with these codes: {', '.join(taken)}.")

    product = Product.objects.create(
        merchant_id=merchant_id,
        category=category,
        title=title.strip(),
        description=description,
        images=list(images),
        status=Product.Status.DRAFT,
    )
    _insert_skus([_new_sku(product=product, data=data) for data in skus])
    product_refresh_min_price(product_id=product.pk)
    product_refresh_search(product_ids=[product.pk])
    product.refresh_from_db(fields=["min_price_fen"])
    return product


@transaction.atomic
def product_update(
    *,
    product_id: int,
    title: str | None = None,
    description: str | None = None,
    images: Sequence[str] | None = None,
    category: Category | None = None,
) -> Product:
    """Change a product's content; ``None`` leaves a field as it is.

    Moving to another category is refused while the product is on sale (the new
    category's deposit standard would be skipped) and when a SKU's commission falls
    outside the new category's bounds.
    """
    product = product_qs_for_update().get(pk=product_id)
    fields = []
    reindex = False
    if title is not None and title.strip() != product.title:
        product.title = title.strip()
        fields.append("title")
        reindex = True
    if description is not None and description != product.description:
        product.description = description
        fields.append("description")
    if images is not None:
        _check_images(list(images))
        product.images = list(images)
        fields.append("images")
    if category is not None and category.pk != product.category_id:
        if product.status in (Product.Status.ON_SALE, Product.Status.SUSPENDED):
            raise CategoryChangeRefused()
        for sku in product.skus.order_by("pk"):
            values = {f: getattr(sku, f) for f in SKU_FIELDS}
            try:
                _check_sku_rules(category=category, values=values)
            except ValidationFailed:
                raise ValidationFailed(
                    fields={
                        "category_id": [
                            f"SKU {sku.code} has a commission of {sku.commission_bps} bps; "
                            f"{category.name} allows {category.commission_min_bps} to "
                            f"{category.commission_max_bps} bps."
                        ]
                    }
                ) from None
        product.category = category
        fields.append("category")
        reindex = True
    if fields:
        product.save(update_fields=[*fields, "updated_at"])
    if reindex:
        product_refresh_search(product_ids=[product.pk])
    return product


@transaction.atomic
def sku_create(*, product_id: int, data: dict) -> Sku:
    """Add a SKU to a product (``data`` as in product_create's ``skus``)."""
    product = product_qs_for_update().select_related("category").get(pk=product_id)
    _check_sku_rules(category=product.category, values=data)
    if _taken_codes(merchant_id=product.merchant_id, codes=[data["code"]]):
        raise SkuCodeTaken(f"You already have a SKU with code {data['code']!r}.")
    sku = _new_sku(product=product, data=data)
    _insert_skus([sku])
    product_refresh_min_price(product_id=product.pk)
    return sku


@transaction.atomic
def sku_update(*, sku_id: int, changes: dict) -> Sku:
    """Change a SKU. ``changes`` may hold code, spec, price and team terms,
    commission_bps and ``on_hand`` (absolute, like an upload; ``reserved`` is untouched).
    Team terms are cleared by sending both as null."""
    sku = (
        Sku.objects.select_for_update(no_key=True, of=("self",))
        .select_related("product__category")
        .get(pk=sku_id)
    )
    merged = {f: getattr(sku, f) for f in SKU_FIELDS}
    merged.update({k: v for k, v in changes.items() if k in SKU_FIELDS})
    if "on_hand" in changes:
        merged["on_hand"] = changes["on_hand"]
    _check_sku_rules(category=sku.product.category, values=merged)
    new_code = changes.get("code")
    if new_code is not None and new_code != sku.code:
        if _taken_codes(merchant_id=sku.merchant_id, codes=[new_code], exclude_sku_id=sku.pk):
            raise SkuCodeTaken(f"You already have a SKU with code {new_code!r}.")
        sku.code = new_code
    for field in (*SKU_FIELDS, "spec", "on_hand"):
        if field in changes:
            setattr(sku, field, changes[field] if field != "spec" else (changes[field] or {}))
    try:
        with transaction.atomic():
            sku.save(update_fields=[*SKU_FIELDS, "code", "spec", "on_hand", "updated_at"])
    except IntegrityError:
        raise SkuCodeTaken() from None
    if "price_fen" in changes:
        product_refresh_min_price(product_id=sku.product_id)
    return sku


def product_refresh_min_price(*, product_id: int) -> None:
    prices = list(Sku.objects.filter(product_id=product_id).values_list("price_fen", flat=True))
    Product.objects.filter(pk=product_id).update(min_price_fen=min(prices) if prices else 0)
    catalog_changed()


# --- Listing status ----------------------------------------------------------------


def _record(product: Product, *, from_status: str, actor, reason: str) -> None:
    ProductStatusChange.objects.create(
        product=product, from_status=from_status, to_status=product.status, actor=actor, reason=reason[:255]
    )


@transaction.atomic
def product_change_status(*, product_id: int, to_status: str, actor=None, reason: str = "") -> Product:
    """Move one product along ``Product.TRANSITIONS``, with an audit row.

    Lock first, then decide. Moving to the status it already has is a quiet no-op;
    an illegal move is 409 (``product_blocked`` when ops blocked it). Going on sale
    needs at least one SKU. The deposit rule is the caller's (``merchants``).
    """
    product = product_qs_for_update().get(pk=product_id)
    if product.status == to_status:
        return product
    if not product.can_move_to(to_status):
        if product.status == Product.Status.BLOCKED:
            raise ProductBlocked()
        raise ProductStatusChangeRefused(
            f"A product that is {product.get_status_display().lower()} cannot become "
            f"{Product.Status(to_status).label.lower()}."
        )
    if to_status == Product.Status.ON_SALE and not product.skus.exists():
        raise ProductHasNoSkus()
    from_status = product.status
    product.status = to_status
    product.status_reason = (
        reason if to_status in (Product.Status.BLOCKED, Product.Status.SUSPENDED) else ""
    )[:255]
    product.save(update_fields=["status", "status_reason", "updated_at"])
    _record(product, from_status=from_status, actor=actor, reason=reason)
    return product


def _move_many(
    products: QuerySet[Product], *, from_statuses: Sequence[str], to_status: str, actor, reason: str
) -> list[int]:
    """Move every product of ``products`` that is in ``from_statuses``; returns their ids."""
    locked = list(
        products.filter(status__in=from_statuses)
        .order_by("pk")
        .select_for_update(no_key=True, of=("self",))
        .values_list("pk", "status")
    )
    if not locked:
        return []
    ids = [pk for pk, _ in locked]
    stored_reason = reason[:255] if to_status in (Product.Status.BLOCKED, Product.Status.SUSPENDED) else ""
    Product.objects.filter(pk__in=ids).update(
        status=to_status, status_reason=stored_reason, updated_at=timezone.now()
    )
    ProductStatusChange.objects.bulk_create(
        ProductStatusChange(
            product_id=pk, from_status=status, to_status=to_status, actor=actor, reason=reason[:255]
        )
        for pk, status in locked
    )
    catalog_changed()
    return ids


@transaction.atomic
def products_suspend_in_categories(
    *, merchant_id: int, category_ids: Iterable[int], reason: str
) -> list[int]:
    """The merchant's deposit no longer covers these categories: its listings there go
    from on sale to suspended (shoppers no longer see them). Returns the ids moved."""
    return _move_many(
        Product.objects.filter(merchant_id=merchant_id, category_id__in=list(category_ids)),
        from_statuses=[Product.Status.ON_SALE],
        to_status=Product.Status.SUSPENDED,
        actor=None,
        reason=reason,
    )


@transaction.atomic
def products_restore_in_categories(*, merchant_id: int, category_ids: Iterable[int]) -> list[int]:
    """The deposit covers these categories again: listings suspended for the shortfall go
    back on sale (ones the merchant took off sale, or ops blocked, stay as they are)."""
    return _move_many(
        Product.objects.filter(merchant_id=merchant_id, category_id__in=list(category_ids)),
        from_statuses=[Product.Status.SUSPENDED],
        to_status=Product.Status.ON_SALE,
        actor=None,
        reason="Deposit topped up",
    )


@transaction.atomic
def products_take_off_sale(*, merchant_id: int, actor, reason: str) -> list[int]:
    """Every listing of a merchant that is leaving goes off sale."""
    return _move_many(
        Product.objects.filter(merchant_id=merchant_id),
        from_statuses=[Product.Status.ON_SALE, Product.Status.SUSPENDED],
        to_status=Product.Status.OFF_SALE,
        actor=actor,
        reason=reason,
    )


# --- Search vector -----------------------------------------------------------------


def product_refresh_search(
    *, product_ids: Iterable[int] | None = None, batch_size: int = SEARCH_BATCH
) -> int:
    """(Re)compute ``search_vector`` for these products (all when None); returns how many.

    PostgreSQL only: the SQLite demo searches with ``icontains`` and leaves it empty.
    Runs in batches of one ``UPDATE ... FROM (VALUES ...)`` each.
    """
    if connection.vendor != "postgresql":
        return 0
    rows = Product.objects.order_by("pk").values_list("pk", "title", "category__name")
    if product_ids is not None:
        rows = rows.filter(pk__in=list(product_ids))
    category_words: dict[str, str] = {}
    batch: list[tuple[int, str, str, str]] = []
    done = 0
    for pk, title, category_name in rows.iterator(chunk_size=batch_size):
        if category_name not in category_words:
            whole, parts = index_words(category_name)
            category_words[category_name] = f"{whole} {parts}".strip()
        words, sub_words = index_words(title)
        batch.append((pk, words, category_words[category_name], sub_words))
        if len(batch) >= batch_size:
            done += _write_vectors(batch)
            batch = []
    if batch:
        done += _write_vectors(batch)
    if done:
        catalog_changed()
    return done


def _write_vectors(batch: list[tuple[int, str, str, str]]) -> int:
    return sql.product_search_vectors_write(rows=batch)


def category_refresh_search(*, category_id: int) -> int:
    """After a category is renamed: its products' vectors carry the old name."""
    ids = list(Product.objects.filter(category_id=category_id).values_list("pk", flat=True))
    return product_refresh_search(product_ids=ids)
