"""Every hand-written statement against its ORM equivalent, on real rows (docs/design.md
"Where speed-ups live").

Each public function of an ``<app>/sql.py`` (and ``shop.db.bulk_add``) has a case here that
runs it and the ORM equivalent its docstring names on the same rows: a changing statement in a
savepoint that is rolled back before the ORM runs on the very same rows, so both start from
one state; then the answers and the rows they leave must be equal. A new statement without a
case fails ``test_every_hand_statement_has_a_case``. The statements' modules whose outcome is
checked against the ledger instead (statements, reconciliation) name their test module.
"""

from __future__ import annotations

import importlib
import inspect
import json
from collections.abc import Callable
from datetime import timedelta

import pytest
from django.contrib.postgres.search import SearchQuery, SearchRank, SearchVector
from django.db import transaction
from django.db.models import Exists, F, OuterRef, Q, Value
from django.db.models.functions import Coalesce
from django.utils import timezone

import accounts.sql
import merchants.sql
import orders.sql
import products.sql
import shop.ledger.sql
import shop.payments.sql
from accounts.models import AuthToken
from accounts.services import token_hash, token_issue
from accounts.tests.factories import UserFactory
from groupstore.models import Membership, Store, StoreStats
from groupstore.tests.factories import make_store
from merchants.models import Merchant
from orders.models import FlashBuyerCount, FlashOffer
from orders.tests.helpers import flash_offer
from products.models import OnSaleCount, Product, Sku
from products.search import parse_query
from products.selectors import ORDERINGS, sku_from_checkout_row
from products.services import product_refresh_search
from products.tests.factories import ProductFactory, SkuFactory
from shop.db import bulk_add
from shop.ledger.models import Account, Transaction
from shop.payments.models import FundsStep, Payment, PaymentPart

pytestmark = pytest.mark.django_db

CHECKED = (
    "accounts.sql",
    "merchants.sql",
    "orders.sql",
    "products.sql",
    "shop.ledger.sql",
    "shop.payments.sql",
)
# A module of CHECKED that also holds set-based statements checked elsewhere: only its
# statements with this prefix have their case here.
ONLY_PREFIXED = {"shop.payments.sql": "funds_steps_"}
# Set-based statements checked against the ledger and the bills, case by case, elsewhere.
CHECKED_ELSEWHERE = {
    "rebates.sql": "rebates/tests/test_services_statements.py",
    "shop.payments.sql": "shop/payments/tests/test_reconciliation.py",
}
CASES: dict[str, Callable] = {}


def case(name: str):
    def register(function):
        CASES[name] = function
        return function

    return register


def same(hand: Callable, orm: Callable, state: Callable = lambda: None):
    """Run ``hand`` and read ``state``, roll back; run ``orm`` and read ``state``: equal."""
    with transaction.atomic():
        sid = transaction.savepoint()
        mine = hand(), state()
        transaction.savepoint_rollback(sid)
        theirs = orm(), state()
    assert mine == theirs
    return mine[0]


@pytest.fixture
def catalog():
    """Two merchants' SKUs (with codes, one code shared), a store with a member, flash offers
    live, over, on an off-sale product, and in an open window but waiting for review or
    rejected (never live), search vectors written."""
    store, _, (member,) = make_store(members=1)
    mine = ProductFactory(title="维达抽纸 3层100抽")
    other = ProductFactory(title="清风抽纸 原木纯品", min_price_fen=990)
    off_sale = ProductFactory(merchant=mine.merchant, status=Product.Status.OFF_SALE)
    skus = [
        SkuFactory(product=mine, code="A-1", on_hand=10, reserved=3),
        SkuFactory(product=mine, code="A-2", on_hand=5),
        SkuFactory(product=other, code="A-1", on_hand=7),
        SkuFactory(product=off_sale, code="C-1"),
    ]
    now = timezone.now()
    offers = [
        flash_offer(sku=skus[0], quantity=5, per_user_limit=2, now=now),
        flash_offer(
            sku=skus[1], now=now, starts_at=now - timedelta(hours=2), ends_at=now - timedelta(hours=1)
        ),
        flash_offer(sku=skus[3], now=now),
        flash_offer(sku=skus[1], now=now, status=FlashOffer.Status.PENDING_REVIEW),
        flash_offer(sku=skus[2], now=now, status=FlashOffer.Status.REJECTED),
    ]
    product_refresh_search()
    return {"store": store, "member": member, "skus": skus, "offers": offers, "now": now}


def _sku_state(*skus):
    return list(
        Sku.objects.filter(pk__in=[s.pk for s in skus]).order_by("pk").values("pk", "on_hand", "reserved")
    )


# --- products.sql -------------------------------------------------------------------------


@case("products.sql.sku_reserve")
def _sku_reserve(data):
    sku = data["skus"][0]
    for qty in (2, 7, 8):  # within what is free, exactly all of it, one more
        same(
            lambda qty=qty: products.sql.sku_reserve(sku_id=sku.pk, qty=qty),
            lambda qty=qty: (
                Sku.objects.filter(pk=sku.pk, on_hand__gte=F("reserved") + qty).update(
                    reserved=F("reserved") + qty
                )
                == 1
            ),
            lambda: _sku_state(sku),
        )


@case("products.sql.sku_on_hand_set")
def _sku_on_hand_set(data):
    a, b, theirs, _ = data["skus"]
    rows = sorted([(a.pk, 4), (b.pk, b.on_hand), (theirs.pk, 99)])
    now = data["now"]

    def orm():
        return sum(
            Sku.objects.filter(pk=i, merchant_id=a.merchant_id)
            .exclude(on_hand=n)
            .update(on_hand=n, updated_at=now)
            for i, n in rows
        )

    changed = same(
        lambda: products.sql.sku_on_hand_set(merchant_id=a.merchant_id, rows=rows, now=now),
        orm,
        lambda: list(Sku.objects.order_by("pk").values_list("pk", "on_hand", "updated_at")),
    )
    assert changed == 1  # b is already there; the other merchant's SKU is not touched


@case("products.sql.skus_with_products")
def _skus_with_products(data):
    skus = data["skus"]
    ids = [skus[0].pk, skus[2].pk, 10**12]
    sku_names = [f.attname for f in Sku._meta.concrete_fields]

    def read(sku):
        return (
            [getattr(sku, n) for n in sku_names],
            [getattr(sku.product, n) for n in products.sql.CHECKOUT_PRODUCT_FIELDS],
        )

    hand = sorted(read(sku_from_checkout_row(row)) for row in products.sql.skus_with_products(sku_ids=ids))
    orm = sorted(
        read(sku)
        for sku in Sku.objects.filter(pk__in=ids)
        .select_related("product")
        .only(*sku_names, *(f"product__{n}" for n in products.sql.CHECKOUT_PRODUCT_FIELDS))
    )
    assert hand == orm
    assert len(hand) == 2


@case("products.sql.product_search_page")
def _product_search_page(data):
    tsquery = parse_query("抽纸").strict
    query = SearchQuery(tsquery, search_type="raw", config="simple")
    cheapest = {"min_price_fen__lte": 1_000}
    for filters, ordering, offset in (
        ({}, None, 0),
        ({}, "price_fen", 0),
        (cheapest, None, 0),
        ({}, None, 5),
    ):
        count, rows = products.sql.product_search_page(
            tsquery=tsquery, filters=list(filters.items()), ordering=ordering, offset=offset, limit=10
        )
        matching = Product.objects.filter(status=Product.Status.ON_SALE, search_vector=query, **filters)
        if ordering is None:
            matching = matching.annotate(
                rank=SearchRank(F("search_vector"), query, normalization=1)
            ).order_by("-rank", "-sales_count", "-pk")
        else:
            matching = matching.order_by("min_price_fen", "pk")
        assert count == matching.count()
        assert [row[0] for row in rows] == [p.pk for p in matching[offset : offset + 10]]
    assert count == 2  # the last round: past the only page, still counted


@case("products.sql.product_list_page")
def _product_list_page(data):
    category_id = Product.objects.filter(status=Product.Status.ON_SALE).values_list("category_id", flat=True)[
        0
    ]
    ProductFactory.create_batch(3, category_id=category_id)  # a category of several
    for category, ordering, offset in (
        (None, "-sales", 0),
        (None, "price_fen", 0),
        (None, "-price_fen", 1),
        (None, "-created_at", 0),
        (category_id, "-sales", 0),
        (category_id, "price_fen", 2),
        (category_id, "-sales", 50),  # past the last page: the count still comes
        (10**9, "-sales", 0),  # no such category: no row of the count either
    ):
        count, rows = products.sql.product_list_page(
            category_id=category, ordering=ordering, offset=offset, limit=2
        )
        on_sale = Product.objects.filter(status=Product.Status.ON_SALE)
        if category is not None:
            on_sale = on_sale.filter(category_id=category)
        assert (
            count
            == on_sale.count()
            == (
                OnSaleCount.objects.filter(category_id=category or 0)
                .values_list("products", flat=True)
                .first()
                or 0
            )
        )
        page = on_sale.order_by(*ORDERINGS[ordering])[offset : offset + 2]
        assert [(*row[:3], json.loads(row[3]), *row[4:]) for row in rows] == [  # images: JSON text
            (p.pk, p.title, p.category_id, p.images, p.min_price_fen, p.sales_count) for p in page
        ]
    assert count == 0
    OnSaleCount.objects.filter(category_id=category_id).delete()  # a restore with triggers off
    count, rows = products.sql.product_list_page(
        category_id=category_id, ordering="-sales", offset=0, limit=2
    )
    page = Product.objects.filter(status=Product.Status.ON_SALE, category_id=category_id)
    assert (count, [row[0] for row in rows]) == (0, [p.pk for p in page.order_by(*ORDERINGS["-sales"])[:2]])


@case("products.sql.sku_ids_by_code")
def _sku_ids_by_code(data):
    merchant_id = data["skus"][0].merchant_id
    codes = ["A-1", "A-2", "C-1", "nope"]
    assert products.sql.sku_ids_by_code(merchant_id=merchant_id, codes=codes) == dict(
        Sku.objects.filter(merchant_id=merchant_id, code__in=codes).values_list("code", "pk")
    )


@case("products.sql.sku_codes_of_others")
def _sku_codes_of_others(data):
    merchant_id = data["skus"][0].merchant_id
    codes = ["A-1", "A-2", "nope"]
    hand = products.sql.sku_codes_of_others(merchant_id=merchant_id, codes=codes)
    assert hand == set(
        Sku.objects.filter(code__in=codes).exclude(merchant_id=merchant_id).values_list("code", flat=True)
    )
    assert hand == {"A-1"}


@case("products.sql.product_search_vectors_write")
def _product_search_vectors_write(data):
    product = data["skus"][0].product
    row = (product.pk, "维达 抽纸", "纸品 家清", "抽 纸")

    def orm():
        _, title, category, sub = row
        return Product.objects.filter(pk=product.pk).update(
            search_vector=SearchVector(Value(title), weight="A", config="simple")
            + SearchVector(Value(category), weight="B", config="simple")
            + SearchVector(Value(sub), weight="C", config="simple")
        )

    same(
        lambda: products.sql.product_search_vectors_write(rows=[row]),
        orm,
        lambda: str(Product.objects.filter(pk=product.pk).values_list("search_vector", flat=True).get()),
    )


# --- merchants.sql ------------------------------------------------------------------------


@case("merchants.sql.merchant_payees")
def _merchant_payees(data):
    ids = sorted({sku.merchant_id for sku in data["skus"]})
    Merchant.objects.filter(pk=ids[0]).update(sub_mchid="1600000001")
    asked = [*ids, 0]  # an unknown id is simply absent
    hand = merchants.sql.merchant_payees(merchant_ids=asked)
    assert hand == list(
        Merchant.objects.filter(pk__in=asked).order_by("pk").values_list("pk", "sub_mchid", "company_name")
    )
    assert [row[0] for row in hand] == ids
    assert hand[0][1] == "1600000001"


# --- accounts.sql -------------------------------------------------------------------------


@case("accounts.sql.token_with_user")
def _token_with_user(data):
    user, now = data["member"], timezone.now()
    live, revoked, expired = (token_issue(user=user) for _ in range(3))
    AuthToken.objects.filter(key_hash=token_hash(revoked)).update(revoked_at=now)
    AuthToken.objects.filter(key_hash=token_hash(expired)).update(expires_at=now - timedelta(seconds=1))
    user_names = [f.attname for f in type(user)._meta.concrete_fields]
    for raw in (live, revoked, expired, "unknown"):
        found = accounts.sql.token_with_user(key_hash=token_hash(raw), now=now)
        token = (
            AuthToken.objects.select_related("user")
            .filter(key_hash=token_hash(raw), revoked_at=None, expires_at__gt=now)
            .first()
        )
        if token is None:
            assert found is None
            continue
        hand_user, hand_token = found
        assert (hand_token.pk, hand_token.expires_at) == (token.pk, token.expires_at)
        assert [getattr(hand_user, n) for n in user_names] == [getattr(token.user, n) for n in user_names]


# --- orders.sql ---------------------------------------------------------------------------


@case("orders.sql.checkout_store_rows")
def _checkout_store_rows(data):
    store, member, skus, now = data["store"], data["member"], data["skus"], data["now"]
    stranger = UserFactory()
    ids = [s.pk for s in skus]
    offer_n = len(orders.sql.OFFER_FIELDS)
    for store_id, buyer in ((store.pk, member), (store.pk, stranger), (10**12, member)):
        rows = orders.sql.checkout_store_rows(store_id=store_id, buyer_id=buyer.pk, sku_ids=ids, now=now)
        head = (
            Store.objects.filter(pk=store_id)
            .annotate(
                net=Coalesce(StoreStats.objects.filter(store=OuterRef("pk")).values("net_paid_fen")[:1], 0),
                is_member=Exists(Membership.objects.filter(store=OuterRef("pk"), user_id=buyer.pk)),
            )
            .values_list("pk", "owner_id", "is_frozen", "net", "is_member", "is_venue")
            .first()
        )
        if head is None:
            assert rows == []
            continue
        live = FlashOffer.objects.filter(
            sku_id__in=ids,
            starts_at__lte=now,
            ends_at__gt=now,
            status=FlashOffer.Status.APPROVED,
            sku__product__status=Product.Status.ON_SALE,
        ).order_by("starts_at", "pk")
        head_n = orders.sql.CHECKOUT_STORE_HEAD
        assert {tuple(row[:head_n]) for row in rows} == {head}
        offers = [
            (row[head_n], sku_from_checkout_row(row[head_n + offer_n :]).pk)
            for row in rows
            if row[head_n] is not None
        ]
        assert offers == [(o.pk, o.sku_id) for o in live]
        assert offers == [(data["offers"][0].pk, skus[0].pk)]


@case("orders.sql.flash_held_units")
def _flash_held_units(data):
    offer, member = data["offers"][0], data["member"]
    FlashBuyerCount.objects.create(offer=offer, buyer=member, units=2)
    for buyer_id in (member.pk, 10**12):
        assert orders.sql.flash_held_units(offer_id=offer.pk, buyer_id=buyer_id) == (
            FlashBuyerCount.objects.filter(offer_id=offer.pk, buyer_id=buyer_id)
            .values_list("units", flat=True)
            .first()
            or 0
        )


@case("orders.sql.flash_buyer_add")
def _flash_buyer_add(data):
    offer, member = data["offers"][0], data["member"]

    def orm(qty, limit):
        row, _ = FlashBuyerCount.objects.get_or_create(offer_id=offer.pk, buyer_id=member.pk)
        return bool(
            FlashBuyerCount.objects.filter(pk=row.pk, units__lte=limit - qty).update(units=F("units") + qty)
        )

    def state():
        return list(FlashBuyerCount.objects.values_list("offer_id", "buyer_id", "units"))

    # A first unit, then within the limit, then past it — each from the state the last left.
    for qty, limit in ((1, 2), (1, 2), (1, 2)):
        same(
            lambda qty=qty, limit=limit: orders.sql.flash_buyer_add(
                offer_id=offer.pk, buyer_id=member.pk, qty=qty, limit=limit
            ),
            lambda qty=qty, limit=limit: orm(qty, limit),
            state,
        )


@case("orders.sql.flash_take")
def _flash_take(data):
    live, over, _, pending, rejected = data["offers"]
    now = data["now"]
    for offer, qty in ((live, 3), (live, 6), (over, 1), (pending, 1), (rejected, 1)):

        def orm(offer=offer, qty=qty):
            return (
                FlashOffer.objects.filter(
                    pk=offer.pk,
                    sold_count__lte=F("quantity") - qty,
                    starts_at__lte=now,
                    ends_at__gt=now,
                    status=FlashOffer.Status.APPROVED,
                ).update(sold_count=F("sold_count") + qty)
                == 1
            )

        same(
            lambda offer=offer, qty=qty: orders.sql.flash_take(offer_id=offer.pk, qty=qty, now=now),
            orm,
            lambda: list(FlashOffer.objects.order_by("pk").values_list("pk", "sold_count")),
        )


# --- shop.ledger.sql and shop.db ---------------------------------------------------------------


@case("shop.ledger.sql.accounts_insert")
def _accounts_insert(data):
    now = data["now"]
    Account.objects.create(kind="user_pending", owner_type="user", owner_id=1)
    refs = [("user_available", "user", 1), ("user_pending", "user", 1), ("user_pending", "user", 2)]

    def state():
        return sorted(Account.objects.values_list("kind", "owner_type", "owner_id", "balance_fen"))

    before = set(Account.objects.values_list("kind", "owner_type", "owner_id"))

    def orm():
        Account.objects.bulk_create(
            [Account(kind=k, owner_type=t, owner_id=i, created_at=now, updated_at=now) for k, t, i in refs],
            ignore_conflicts=True,
        )
        return sorted(ref for ref in refs if ref not in before)  # bulk_create cannot say which it skipped

    inserted = same(
        lambda: sorted(row[1:] for row in shop.ledger.sql.accounts_insert(refs=refs, now=now)),
        orm,
        state,
    )
    assert inserted == [refs[0], refs[2]]


@case("shop.ledger.sql.transactions_insert")
def _transactions_insert(data):
    now = data["now"]
    Transaction.objects.create(idempotency_key="k:1", kind="x", created_at=now - timedelta(days=1))
    rows = [("k:1", "x", "", "", None, now), ("k:2", "y", "备注", "order", 7, now)]

    def state():
        return sorted(
            Transaction.objects.values_list("idempotency_key", "kind", "memo", "ref_type", "ref_id")
        )

    inserted = same(
        lambda: [key for _, key in shop.ledger.sql.transactions_insert(rows=rows)],
        lambda: [
            t.idempotency_key
            for t in Transaction.objects.bulk_create(
                [
                    Transaction(idempotency_key=k, kind=kind, memo=m, ref_type=rt, ref_id=ri, created_at=at)
                    for k, kind, m, rt, ri, at in rows
                ],
                ignore_conflicts=True,
            )
            if t.idempotency_key != "k:1"  # bulk_create cannot say which it skipped
        ],
        state,
    )
    assert inserted == ["k:2"]


@case("shop.db.bulk_add")
def _bulk_add(data):
    store = data["store"]
    other, _, _ = make_store()
    StoreStats.objects.filter(store__in=[store, other]).update(
        commission_pending_fen=500, commission_settled_fen=200
    )
    rows = [(store.pk, 300), (other.pk, -120), (10**12, 5)]

    def orm():
        return sum(
            StoreStats.objects.filter(store_id=store_id).update(
                commission_pending_fen=F("commission_pending_fen") - fen,
                commission_settled_fen=F("commission_settled_fen") + fen,
            )
            for store_id, fen in sorted(rows)
        )

    changed = same(
        lambda: bulk_add(
            model=StoreStats,
            keys=("store_id",),
            columns={"commission_pending_fen": -1, "commission_settled_fen": 1},
            rows=rows,
        ),
        orm,
        lambda: sorted(
            StoreStats.objects.values_list("store_id", "commission_pending_fen", "commission_settled_fen")
        ),
    )
    assert changed == 2


# --- shop.payments.sql: the funds steps' batch statements -------------------------------------


def _part(data) -> PaymentPart:
    """One shared payment's part, for steps to hang on."""
    payment = Payment.objects.create(
        purpose="order_checkout", funds=Payment.Funds.SHARED, payer=data["member"], amount_fen=990,
        gateway="sandbox", out_trade_no="T1", description="抽纸",
    )  # fmt: skip
    return PaymentPart.objects.create(
        payment=payment, order_id=1, merchant_id=1, sub_mchid="1600000001", out_trade_no="T1", amount_fen=990
    )  # fmt: skip


def _steps(part: PaymentPart, now, n: int = 3) -> list[FundsStep]:
    """``n`` unsaved share steps of the part, in turn pending (due), processing (due) and
    confirmed (not due)."""
    status, due = FundsStep.Status, [None, now - timedelta(seconds=1), now + timedelta(minutes=5)]
    return [
        FundsStep(
            kind=FundsStep.Kind.SHARE,
            part=part,
            order_id=1,
            merchant_id=1,
            out_no=f"S{part.pk}-{i}",
            amount_fen=100 + i,
            commission_fen=90 + i,
            fee_fen=10,
            created_at=now,
            updated_at=now,
            status=[status.PENDING, status.PROCESSING, status.CONFIRMED][i % 3],
            next_attempt_at=due[i % 3],
        )  # fmt: skip
        for i in range(n)
    ]


def _step_rows():
    return list(FundsStep.objects.order_by("out_no").values(*[
        f.attname for f in FundsStep._meta.concrete_fields if f.name not in ("id", "created_at", "updated_at")
    ]))  # fmt: skip


@case("shop.payments.sql.funds_steps_insert")
def _funds_steps_insert(data):
    part, now = _part(data), data["now"]
    there = _steps(part, now, 1)[0]  # one out_no there already, with other amounts
    there.amount_fen, there.commission_fen, there.fee_fen = 7, 7, 0
    there.save()
    same(
        lambda: shop.payments.sql.funds_steps_insert(steps=_steps(part, now)),
        lambda: FundsStep.objects.bulk_create(_steps(part, now), ignore_conflicts=True) and None,
        _step_rows,
    )
    assert [row["amount_fen"] for row in _step_rows()] == [7, 101, 102]


@case("shop.payments.sql.funds_steps_claim")
def _funds_steps_claim(data):
    FundsStep.objects.bulk_create(_steps(_part(data), data["now"], 6))
    ids = list(FundsStep.objects.order_by("pk").values_list("pk", flat=True))
    now, until = data["now"], data["now"] + timedelta(minutes=2)

    def orm():
        due = FundsStep.objects.filter(
            Q(next_attempt_at=None) | Q(next_attempt_at__lte=now), pk__in=ids, status__in=FundsStep.OPEN
        )
        taken = sorted(due.values_list("pk", flat=True))
        FundsStep.objects.filter(pk__in=taken).update(next_attempt_at=until, attempts=F("attempts") + 1)
        return taken

    taken = same(
        lambda: shop.payments.sql.funds_steps_claim(step_ids=ids, now=now, until=until), orm, _step_rows
    )
    assert len(taken) == 4  # the pending and processing ones (due); not the confirmed ones


@case("shop.payments.sql.funds_steps_set")
def _funds_steps_set(data):
    FundsStep.objects.bulk_create(_steps(_part(data), data["now"]))
    numbers = {pk: f"G{pk}" for pk in FundsStep.objects.values_list("pk", flat=True)}
    values = {"status": FundsStep.Status.PROCESSING, "next_attempt_at": data["now"], "last_error": ""}
    for only_open in (True, False):

        def orm(only_open=only_open):
            scope = {"status__in": FundsStep.OPEN} if only_open else {}
            return sum(
                FundsStep.objects.filter(pk=pk, **scope).update(gateway_id=number, **values)
                for pk, number in numbers.items()
            )

        changed = same(
            lambda only_open=only_open: shop.payments.sql.funds_steps_set(
                gateway_ids=numbers, values=values, only_open=only_open
            ),
            orm,
            _step_rows,
        )
        assert changed == (2 if only_open else 3)


# --- the cases, and that there is one for every statement ------------------------------------


@pytest.mark.parametrize("name", sorted(CASES))
def test_the_hand_statement_answers_and_writes_what_its_orm_equivalent_does(name, catalog):
    CASES[name](catalog)


def test_every_hand_statement_has_a_case():
    statements = {"shop.db.bulk_add"}
    for module_name in CHECKED:
        module = importlib.import_module(module_name)
        statements |= {
            f"{module_name}.{name}"
            for name, function in inspect.getmembers(module, inspect.isfunction)
            if not name.startswith("_")
            and function.__module__ == module_name
            and name.startswith(ONLY_PREFIXED.get(module_name, ""))
        }
    statements -= {"products.sql.checkout_fields", "products.sql.sku_checkout_columns"}  # column lists
    assert statements == set(CASES)


@pytest.mark.parametrize("module_name", sorted(CHECKED_ELSEWHERE))
def test_the_set_based_statements_name_the_tests_that_check_them(module_name):
    module = importlib.import_module(module_name)
    test_file = CHECKED_ELSEWHERE[module_name]
    assert test_file.rsplit("/", 1)[1] in module.__doc__
    assert importlib.util.find_spec(test_file.removesuffix(".py").replace("/", ".")) is not None
