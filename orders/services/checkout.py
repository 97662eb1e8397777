"""Price quote and order creation (docs/design.md "Orders and payments", "Team purchase").

The rule that picks a line's price (``price_kind``):
1. **team** — the body asks to open or join a team: the basket is that one SKU, at its
   team price (``orders/services/teams``);
2. **flash** — the SKU has a live flash offer (window open) and the store has unlocked
   flash prices (groupstore's ``store_flash_unlocked``): the offer's price, within its
   cap and per-buyer limit. While an offer is live an unlocked store sells that SKU
   only at the flash price, so a crowd arriving after sell-out is told ``flash_sold_out``
   rather than silently charged the list price — cheaply: a one-item basket is answered
   from the offer row before the SKU is read, and ``flash_sold_out`` comes before the
   SKU's own stock check (the offer's units are gone, whatever stock is left); a buyer
   admitted by the offer row but not by the Redis gate (the race at sell-out) is refused
   by the gate before any write;
3. **normal** — the list price.
A coupon then comes off the sale amount (``orders/services/coupons``).
"""

from __future__ import annotations

import logging
from collections import defaultdict
from dataclasses import dataclass, field
from datetime import datetime

from django.conf import settings
from django.db import transaction
from django.utils import timezone

from groupstore.errors import (
    NotInVenueSelection,
    NotStoreMember,
    PickupPointUnavailable,
    StoreFrozen,
    StoreNotFound,
)
from groupstore.models import PickupPoint, StoreStats
from groupstore.selectors import store_flash_unlocked, venue_selection_outside
from merchants.selectors import merchant_payees
from orders import sql
from orders.errors import InvalidCheckout, MerchantNotShareable
from orders.models import Coupon, FlashOffer, Order, OrderEvent, OrderItem, Team
from products.errors import OutOfStock, SkuNotOnSale
from products.models import Product, Sku
from products.selectors import skus_for_checkout
from products.services import sku_reserve_stock
from shop.db import insert_rows
from shop.payments.gateways.ecommerce import MAX_SUB_ORDERS
from shop.payments.models import Payment, PaymentPart
from shop.payments.parts import PartSpec, payment_parts_create
from shop.payments.services import payment_create

from . import coupons, flash, pickup_codes, teams

CHECKOUT_PURPOSE = "order_checkout"

logger = logging.getLogger("orders.checkout")


@dataclass
class QuoteLine:
    sku: Sku
    qty: int
    price_kind: str
    list_price_fen: int
    unit_price_fen: int
    flash_offer: FlashOffer | None = None
    coupon_fen: int = 0

    @property
    def sale_fen(self) -> int:
        return self.unit_price_fen * self.qty

    @property
    def list_fen(self) -> int:
        return self.list_price_fen * self.qty

    @property
    def paid_fen(self) -> int:
        return self.sale_fen - self.coupon_fen

    @property
    def discount_fen(self) -> int:
        """Saved on this line: list price minus what the buyer pays (price kind and coupon)."""
        return self.list_fen - self.paid_fen


@dataclass
class TeamQuote:
    """The team a checkout opens (``team`` None) or joins."""

    size: int
    team: Team | None = None
    new_customers_only: bool = False

    @property
    def id(self) -> int | None:
        return self.team.pk if self.team else None

    @property
    def members_count(self) -> int:
        return self.team.members_count if self.team else 0

    @property
    def status(self) -> str:
        return self.team.status if self.team else "new"

    @property
    def expires_at(self) -> datetime | None:
        return self.team.expires_at if self.team else None


@dataclass
class Quote:
    store_id: int
    lines: list[QuoteLine]
    store_owner_id: int | None = None
    by_merchant: dict[int, list[QuoteLine]] = field(default_factory=dict)
    coupon: Coupon | None = None
    team: TeamQuote | None = None

    @property
    def list_fen(self) -> int:
        return sum(line.list_fen for line in self.lines)

    @property
    def sale_fen(self) -> int:
        return sum(line.sale_fen for line in self.lines)

    @property
    def coupon_fen(self) -> int:
        return self.coupon.amount_fen if self.coupon else 0

    @property
    def paid_fen(self) -> int:
        return self.sale_fen - self.coupon_fen

    @property
    def discount_fen(self) -> int:
        return self.list_fen - self.paid_fen


def _team_quote(*, team: dict, buyer, sku: Sku, now: datetime) -> TeamQuote:
    _, size = teams.sku_team_terms(sku=sku)
    if team.get("join"):
        joined = teams.team_check_joinable(team_id=team["join"], buyer=buyer, sku=sku, now=now)
        return TeamQuote(size=joined.size, team=joined)
    return TeamQuote(size=size, new_customers_only=bool(team.get("new_customers_only")))


def _split_coupon(quote: Quote) -> None:
    """Coupon over orders by sale amount, then over each order's items the same way."""
    merchants = sorted(quote.by_merchant)
    order_parts = coupons.coupon_split(
        amount_fen=quote.coupon_fen,
        sale_fens=[sum(x.sale_fen for x in quote.by_merchant[m]) for m in merchants],
    )
    for merchant_id, order_part in zip(merchants, order_parts, strict=True):
        lines = quote.by_merchant[merchant_id]
        for line, part in zip(
            lines,
            coupons.coupon_split(amount_fen=order_part, sale_fens=[x.sale_fen for x in lines]),
            strict=True,
        ):
            line.coupon_fen = part


@dataclass(frozen=True)
class _CheckoutStore:
    pk: int
    owner_id: int
    is_frozen: bool
    net_paid_fen: int
    is_venue: bool
    live_offers: dict[int, tuple[FlashOffer, tuple]]  # each with its SKU's columns (flash.offer_sku)


def _store_for_checkout(*, store_id: int, buyer, sku_ids: list[int], now: datetime) -> _CheckoutStore:
    """groupstore's ``store_require_buyer_membership`` rule (no such store 404, not a
    member 403), with the store's flash-unlock figure, whether it is a sale venue, and the
    basket's live offers."""
    rows = sql.checkout_store_rows(store_id=store_id, buyer_id=buyer.pk, sku_ids=sku_ids, now=now)
    if not rows:
        raise StoreNotFound()
    first = rows[0]
    if not first[4]:
        raise NotStoreMember()
    return _CheckoutStore(
        pk=first[0],
        owner_id=first[1],
        is_frozen=first[2],
        net_paid_fen=first[3],
        is_venue=first[5],
        live_offers=flash.live_offers_from_rows(row[sql.CHECKOUT_STORE_HEAD :] for row in rows),
    )


def checkout_quote(
    *,
    buyer,
    store_id: int,
    items: list[dict],
    coupon_id: int | None = None,
    team: dict | None = None,
    now: datetime | None = None,
    read_flash_units: bool = True,
) -> Quote:
    """Price a basket bought through a store. Refuses non-members (403), unknown SKUs,
    duplicates and a team basket of other than one team SKU (400), items not on sale or
    beyond stock, a sold-out flash offer or a full team (409). Writes nothing.

    ``read_flash_units=False`` skips reading the buyer's units of a flash offer: checkout
    does, because its gate and its conditional upsert (``flash_take``) refuse a buyer past
    the limit with the same ``flash_limit_reached`` — one read less for every winner."""
    now = now or timezone.now()
    sku_ids = [item["sku_id"] for item in items]
    store = _store_for_checkout(store_id=store_id, buyer=buyer, sku_ids=sku_ids, now=now)
    if store.is_frozen:
        raise StoreFrozen()
    if len(set(sku_ids)) != len(sku_ids):
        raise InvalidCheckout(fields={"items": ["Each item may appear once; set its qty instead."]})
    if team and len(items) != 1:
        raise InvalidCheckout(fields={"items": ["A team purchase is of exactly one item."]})
    flash_unlocked = store_flash_unlocked(
        stats=StoreStats(store_id=store.pk, net_paid_fen=store.net_paid_fen)
    )
    # Offers apply only in a store that has unlocked flash prices, and never to a team.
    live = store.live_offers if flash_unlocked and not team else {}
    offers = {sku_id: offer for sku_id, (offer, _) in live.items()}
    if len(items) == 1 and offers:
        # The crowd after a sell-out: answered from the offer row (the truth), before the
        # SKU is made or a quote built — two reads (token; store with its offers), nothing written.
        flash.flash_check_units(offer=offers[sku_ids[0]], qty=items[0]["qty"], store_id=store.pk, read_at=now)
    # A live offer's SKU came with it (one statement: one snapshot of offer and stock).
    skus = {sku_id: flash.offer_sku(offer, columns) for sku_id, (offer, columns) in live.items()}
    if len(skus) < len(sku_ids):
        skus.update(skus_for_checkout(sku_ids=[sid for sid in sku_ids if sid not in skus]))
    missing = {f"items.{i}.sku_id": ["No such item."] for i, sid in enumerate(sku_ids) if sid not in skus}
    if missing:
        raise InvalidCheckout(fields=missing)
    if store.is_venue:
        # A sale venue sells only its leader's selection: one read, on the venue's path only.
        _venue_check(store_id=store.pk, skus=[skus[sid] for sid in sku_ids])

    quote = Quote(store_id=store.pk, lines=[], store_owner_id=store.owner_id)
    for item in items:
        sku = skus[item["sku_id"]]
        if sku.product.status != Product.Status.ON_SALE:
            raise SkuNotOnSale(f"{sku.product.title} is not on sale.", sku_id=sku.pk)
        if sku.pk in offers:
            # A live offer's units are the offer's: once they are gone the answer is
            # flash_sold_out, even when the SKU's stock went with them.
            if read_flash_units:
                flash.flash_check(
                    offer=offers[sku.pk], buyer_id=buyer.pk, qty=item["qty"], store_id=store.pk, read_at=now
                )
            else:
                flash.flash_check_units(offer=offers[sku.pk], qty=item["qty"], store_id=store.pk, read_at=now)
        if item["qty"] > sku.available:
            # Early answer for the cart; the conditional UPDATE in sku_reserve_stock stays the guard.
            raise OutOfStock(f"Only {sku.available} of {sku.product.title} left.", sku_id=sku.pk)
        line = QuoteLine(
            sku=sku,
            qty=item["qty"],
            price_kind=OrderItem.PriceKind.NORMAL,
            list_price_fen=sku.price_fen,
            unit_price_fen=sku.price_fen,
        )
        if team:
            quote.team = _team_quote(team=team, buyer=buyer, sku=sku, now=now)
            line.price_kind, line.unit_price_fen = OrderItem.PriceKind.TEAM, sku.team_price_fen
        elif sku.pk in offers:
            offer = offers[sku.pk]
            line.price_kind, line.unit_price_fen, line.flash_offer = (
                OrderItem.PriceKind.FLASH,
                offer.flash_price_fen,
                offer,
            )
        quote.lines.append(line)
    by_merchant: dict[int, list[QuoteLine]] = defaultdict(list)
    for line in quote.lines:
        by_merchant[line.sku.merchant_id].append(line)
    quote.by_merchant = dict(by_merchant)
    if coupon_id is not None:
        quote.coupon = coupons.coupon_check(
            coupon_id=coupon_id, buyer=buyer, sale_fen=quote.sale_fen, now=now
        )
        _split_coupon(quote)
    return quote


def _venue_check(*, store_id: int, skus: list[Sku]) -> None:
    outside = set(venue_selection_outside(store_id=store_id, product_ids=[sku.product_id for sku in skus]))
    if outside:
        titles = "、".join(sku.product.title for sku in skus if sku.product_id in outside)
        raise NotInVenueSelection(
            f"This venue sells only its leader's selection: {titles} is not in it.",
            product_ids=sorted(outside),
        )


@dataclass
class CheckoutResult:
    orders: list[Order]
    payment: Payment
    reads: list[OrderRead] = field(default_factory=list)  # the orders as the buyer reads them
    parts: list[PaymentPart] | None = None  # a shared payment's parts, for its prepay


@dataclass(slots=True)
class OrderRead:
    """An order just placed, as a read through ``orders.selectors`` would show it, made from
    the rows checkout has just written (no query): the order's own columns (through
    ``order``), its items by id, no after-sales yet, its team seat or None. ``OrderOutput``
    serializes it as it does an ``Order``."""

    order: Order
    items: list[OrderItem]
    after_sales: list = field(default_factory=list)
    team_member: object | None = None

    def __getattr__(self, name: str):
        return getattr(self.order, name)


def order_create(
    *,
    buyer,
    store_id: int,
    items: list[dict],
    address: dict,
    gateway: str,
    coupon_id: int | None = None,
    team: dict | None = None,
    now: datetime | None = None,
    pickup_point: PickupPoint | None = None,
) -> CheckoutResult:
    """One order per merchant under one payment; stock, team seat, flash units and coupon
    taken atomically, or nothing at all: ``order_place`` of an ``order_quote``.

    The orders come back as a fresh read would give them (items, payment, no after-sales,
    the team seat), so the API answers without reading them again.
    """
    now = now or timezone.now()
    quote = order_quote(buyer=buyer, store_id=store_id, items=items, coupon_id=coupon_id, team=team, now=now)
    return order_place(
        buyer=buyer, quote=quote, address=address, gateway=gateway, now=now, pickup_point=pickup_point
    )


def order_quote(
    *,
    buyer,
    store_id: int,
    items: list[dict],
    coupon_id: int | None = None,
    team: dict | None = None,
    now: datetime,
) -> Quote:
    """The quote an order is placed from: ``checkout_quote`` without reading the buyer's
    flash units (the gate and ``flash_take``'s conditional upsert refuse a buyer past the
    limit with the same ``flash_limit_reached``). Everything that refuses the basket — sold
    out, not a member, out of stock — is answered here, before anything is written; the API
    checks the address only after it (a sold-out crowd is not asked for a valid address)."""
    return checkout_quote(
        buyer=buyer,
        store_id=store_id,
        items=items,
        coupon_id=coupon_id,
        team=team,
        now=now,
        read_flash_units=False,
    )


def order_place(
    *,
    buyer,
    quote: Quote,
    address: dict,
    gateway: str,
    now: datetime,
    pickup_point: PickupPoint | None = None,
) -> CheckoutResult:
    """Place the orders of ``quote`` (from ``order_quote`` at the same ``now``). With
    ``pickup_point`` (``pickup_point_for_checkout``'s, for this store) the orders are shipped
    there instead of to ``address`` (then empty), each with its pickup code.

    Flash lines first pass the Redis gate (outside the transaction, before any row is
    touched); if the database then refuses anything, the gate's tokens go back at once."""
    gated: list[QuoteLine] = []
    try:
        for line in quote.lines:
            if line.flash_offer and flash.flash_gate_take(
                offer=line.flash_offer, buyer_id=buyer.pk, qty=line.qty, store_id=quote.store_id
            ):
                gated.append(line)
        return _order_create_atomic(
            buyer=buyer, quote=quote, address=address, gateway=gateway, now=now, pickup_point=pickup_point
        )
    except BaseException:
        for line in gated:
            flash.flash_gate_give_back(line.flash_offer, buyer.pk, line.qty)
        raise


@transaction.atomic
def _order_create_atomic(
    *,
    buyer,
    quote: Quote,
    address: dict,
    gateway: str,
    now: datetime,
    pickup_point: PickupPoint | None = None,
) -> CheckoutResult:
    """Writes in an order that keeps hot rows' locks short: payment, orders, items, team
    seat, coupon, then the flash counters and the SKUs' stock — conditional UPDATEs, in
    SKU-id order, last, so their row locks are held only until commit and two checkouts
    cannot deadlock."""
    rules = settings.SHOP_RULES
    store_owner_id = quote.store_owner_id
    if pickup_point is not None and not (
        # Read again under the point's row lock, first in the transaction: a close committed
        # since the view's check is seen here, and a close from now on waits for this checkout.
        # Checkouts to one point queue on it for a few ms each: a community point's rate.
        PickupPoint.objects.select_for_update(no_key=True).filter(pk=pickup_point.pk, is_open=True).exists()
    ):
        raise PickupPointUnavailable()
    sub_mchids = _sub_mchids(quote) if checkout_is_shared() else None
    payment = payment_create(
        purpose=CHECKOUT_PURPOSE,
        payer_id=buyer.pk,
        amount_fen=quote.paid_fen,
        gateway=gateway,
        description=quote.lines[0].sku.product.title + (" 等" if len(quote.lines) > 1 else ""),
        funds=Payment.Funds.PLATFORM if sub_mchids is None else Payment.Funds.SHARED,
    )
    orders, reads = [], []
    for merchant_id, lines in sorted(quote.by_merchant.items()):
        sale = sum(line.sale_fen for line in lines)
        coupon_fen = sum(line.coupon_fen for line in lines)
        order = Order(
            buyer=buyer,
            merchant_id=merchant_id,
            store_id=quote.store_id,
            payment=payment,
            is_self_purchase=buyer.pk == store_owner_id,
            list_fen=sum(line.list_fen for line in lines),
            sale_fen=sale,
            coupon_fen=coupon_fen,
            paid_fen=sale - coupon_fen,
            address={} if pickup_point else address,
            pickup_point=pickup_point,
            pay_deadline_at=now + rules["UNPAID_ORDER_TIMEOUT"],
        )
        # Hand-written inserts (shop/db.py): the ORM's compile of these was most of the
        # Python time of an order (bench/results/orders.md).
        insert_rows([order])
        order_items = [
            OrderItem(
                order=order,
                sku=line.sku,
                product_title=line.sku.product.title,
                spec=line.sku.spec,
                qty=line.qty,
                price_kind=line.price_kind,
                list_price_fen=line.list_price_fen,
                unit_price_fen=line.unit_price_fen,
                sale_fen=line.sale_fen,
                coupon_fen=line.coupon_fen,
                paid_fen=line.paid_fen,
                commission_bps=line.sku.commission_bps,
                flash_offer=line.flash_offer,
                member_share_bps=rules["MEMBER_REBATE_SHARE_BPS"],
                owner_share_bps=rules["OWNER_COMMISSION_SHARE_BPS"],
            )
            for line in lines
        ]
        insert_rows(order_items)
        insert_rows([OrderEvent(order=order, kind=OrderEvent.Kind.CREATED, actor=buyer)])
        orders.append(order)
        reads.append(OrderRead(order=order, items=sorted(order_items, key=lambda item: item.pk)))
    if pickup_point is not None:
        pickup_codes.pickups_create(orders=orders, point_id=pickup_point.pk)
    parts = None
    if sub_mchids is not None:
        parts = payment_parts_create(
            payment=payment,
            specs=[
                PartSpec(
                    order_id=o.pk,
                    merchant_id=o.merchant_id,
                    sub_mchid=sub_mchids[o.merchant_id],
                    amount_fen=o.paid_fen,
                    subsidy_fen=o.coupon_fen,  # the platform coupon's part, paid later as a subsidy
                )
                for o in orders
            ],
        )
    if quote.team is not None:
        team = quote.team.team or teams.team_open(
            sku=quote.lines[0].sku,
            store_id=quote.store_id,
            leader=buyer,
            new_customers_only=quote.team.new_customers_only,
            now=now,
        )
        seat = teams.team_take_seat(
            team=team, order=orders[0], buyer=buyer, is_leader=quote.team.team is None, now=now
        )
        reads[0].team_member = seat
    if quote.coupon is not None:
        coupons.coupon_use(coupon=quote.coupon, buyer=buyer, payment_id=payment.pk, now=now)
    for line in sorted(quote.lines, key=lambda line: line.sku.pk):
        if line.flash_offer is not None:
            flash.flash_take(offer=line.flash_offer, buyer_id=buyer.pk, qty=line.qty, now=now)
    for line in sorted(quote.lines, key=lambda line: line.sku.pk):
        sku_reserve_stock(sku_id=line.sku.pk, qty=line.qty)
    return CheckoutResult(orders=orders, payment=payment, reads=reads, parts=parts)


def checkout_is_shared() -> bool:
    """New checkouts are paid by profit sharing (``settings.MERCHANT_FUNDS``)."""
    return settings.MERCHANT_FUNDS == "profit_sharing"


def _sub_mchids(quote: Quote) -> dict[int, str]:
    """Each merchant's ``sub_mchid``. A merchant without one is refused (409), not paid into
    the platform's own account: that would be pooling its money (二清)."""
    if len(quote.by_merchant) > MAX_SUB_ORDERS:
        raise InvalidCheckout(fields={"items": [f"One checkout can pay at most {MAX_SUB_ORDERS} merchants."]})
    rows = merchant_payees(merchant_ids=list(quote.by_merchant))
    found = {pk: sub_mchid for pk, sub_mchid, _ in rows}
    missing = sorted((pk, name) for pk, sub_mchid, name in rows if not sub_mchid)
    if missing:
        names = "、".join(name for _, name in missing)
        logger.warning("checkout refused: merchants %s have no sub_mchid", [pk for pk, _ in missing])
        raise MerchantNotShareable(
            f"{names} cannot take payments yet: remove its items from the basket or try again later.",
            merchant_ids=[pk for pk, _ in missing],
        )
    return found


def checkout_release_holds(*, orders: list[Order], payment_id: int) -> None:
    """Inside ``order_cancel``'s transaction (orders locked): give back what checkout took
    besides stock — team seats, flash units (and their gate tokens after commit), the
    coupon. Idempotent: every give-back is a compare-and-set."""
    for order in orders:
        teams.team_release_seat(order_id=order.pk)
        for item in order.items.filter(flash_offer__isnull=False).order_by("sku_id"):
            flash.flash_give_back(offer_id=item.flash_offer_id, buyer_id=order.buyer_id, qty=item.qty)
    coupons.coupon_give_back(payment_id=payment_id)
    bound_for_a_point = [order.pk for order in orders if order.pickup_point_id is not None]
    if bound_for_a_point:
        pickup_codes.pickups_close(order_ids=bound_for_a_point)
