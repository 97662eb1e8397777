"""Idempotent demo data, made through the real services wherever money moves."""

from __future__ import annotations

from collections.abc import Callable

from django.conf import settings
from django.db import transaction
from django.utils import timezone

from accounts.models import User
from accounts.services import user_get_or_create_by_openid
from groupstore.models import Leader, Store
from groupstore.services import (
    invitation_codes_generate,
    leader_certify,
    leader_register,
    membership_get_or_create,
    pickup_point_put,
    store_create,
    venue_selection_set,
)
from merchants.models import Merchant, MerchantStaff
from orders.models import Order
from orders.services.checkout import order_create
from products.models import Category, Product, Sku
from products.services import product_refresh_min_price, product_refresh_search
from shop.payments.gateways.ecommerce_sandbox import SandboxEcommerceGateway
from shop.payments.gateways.sandbox import SandboxGateway
from shop.payments.parts import payment_parts_sandbox_pay
from shop.payments.services import payment_apply_result

from .catalog import (
    CATEGORIES,
    DEMO_ADDRESS,
    MEMBER_OPENIDS,
    MERCHANT_OPENID,
    MERCHANT_STAFF_UNIONIDS,
    OWNER_OPENID,
    PRODUCTS,
    STORE_NAME,
)

Say = Callable[[str], None]


def _user(openid: str, nickname: str, unionid: str | None = None) -> User:
    user = user_get_or_create_by_openid(openid=openid, unionid=unionid)
    changed = []
    if user.nickname != nickname:
        user.nickname = nickname
        changed.append("nickname")
    if unionid and user.unionid != unionid:
        user.unionid = unionid
        changed.append("unionid")
    if changed:
        user.save(update_fields=changed)
    return user


def seed_console_staff(merchant: Merchant, say: Say) -> None:
    """The demo merchant's staff get unionids (the console's sandbox sign-in matches by
    unionid), and an operator and a finance clerk join beside the owner."""
    for role, (openid, unionid, nickname) in MERCHANT_STAFF_UNIONIDS.items():
        user = _user(openid, nickname, unionid=unionid)
        MerchantStaff.objects.get_or_create(user=user, defaults={"merchant": merchant, "role": role})
    codes = ", ".join(
        f"sandbox:{unionid} ({role})" for role, (_, unionid, _) in MERCHANT_STAFF_UNIONIDS.items()
    )
    say(f"  console /console/ sign-in codes: {codes}")


def sandbox_pay(payment) -> None:
    """Pay through the sandbox gateway exactly as the sandbox pay endpoint does."""
    if payment.is_shared:
        payment_parts_sandbox_pay(payment)
        return
    gateway = SandboxGateway()
    headers, body = gateway.build_success_callback(payment)
    payment_apply_result(gateway="sandbox", result=gateway.parse_payment_callback(headers=headers, body=body))


def seed_catalog(say: Say) -> Merchant:
    categories = {}
    for index, (name, deposit, (low, high)) in enumerate(CATEGORIES):
        categories[name], _ = Category.objects.get_or_create(
            name=name,
            parent=None,
            defaults={
                "deposit_fen": deposit,
                "commission_min_bps": low,
                "commission_max_bps": high,
                "sort_order": index,
            },
        )
    _, owner_unionid, owner_nickname = MERCHANT_STAFF_UNIONIDS["owner"]
    staff_user = _user(MERCHANT_OPENID, owner_nickname, unionid=owner_unionid)
    merchant = Merchant.objects.filter(staff__user=staff_user).first()
    if merchant is None:
        with transaction.atomic():
            merchant = Merchant.objects.create(
                company_name="好物优选商贸有限公司",
                licence_no="91330106MA2DEMO001",
                contact_phone="0571-88886666",
                status=Merchant.Status.APPROVED,
                applicant=staff_user,
                return_address={
                    "name": "好物优选退货组",
                    "phone": "0571-88886667",
                    "region": "浙江省杭州市余杭区",
                    "detail": "仓前街道文一西路 1 号 3 号仓",
                },
            )
            merchant.categories.set(categories.values())
            MerchantStaff.objects.create(merchant=merchant, user=staff_user, role=MerchantStaff.Role.OWNER)
        say(f"  merchant {merchant.company_name} (log in with code sandbox:{MERCHANT_OPENID})")
    _seed_sub_mchid(merchant, say)
    seed_console_staff(merchant, say)
    _seed_deposit(merchant, staff_user, say)
    for category_name, title, description, skus in PRODUCTS:
        product, created = Product.objects.get_or_create(
            merchant=merchant,
            title=title,
            defaults={
                "category": categories[category_name],
                "description": description,
                "status": Product.Status.ON_SALE,
                "images": [f"https://img.example.com/demo/{skus[0][0].lower()}.jpg"],
            },
        )
        for code, spec, price, team_price, team_size, _flash_price, stock, commission in skus:
            Sku.objects.get_or_create(
                merchant=merchant,
                code=code,
                defaults={
                    "product": product,
                    "spec": spec,
                    "price_fen": price,
                    "team_price_fen": team_price,
                    "team_size": team_size,
                    "on_hand": stock,
                    "commission_bps": commission,
                },
            )
        product_refresh_min_price(product_id=product.pk)
    product_refresh_search(product_ids=Product.objects.filter(merchant=merchant).values_list("pk", flat=True))
    say(
        f"  {Product.objects.filter(merchant=merchant).count()} products on sale "
        f"in {len(categories)} categories"
    )
    return merchant


def _seed_sub_mchid(merchant: Merchant, say: Say) -> None:
    """Approved as ops would with SANDBOX on: a secondary merchant opened at the sandbox
    e-commerce gateway, so the demo is paid by profit sharing (the default ``MERCHANT_FUNDS``).
    Idempotent, and mends a demo database seeded before the merchant had one."""
    if merchant.sub_mchid:
        return
    if not settings.SANDBOX:
        say("  (SANDBOX is off: enter the demo merchant's sub_mchid in admin, or its checkouts get 409)")
        return
    merchant.sub_mchid = SandboxEcommerceGateway().open_sub_merchant(f"merchant-{merchant.pk}")
    merchant.save(update_fields=["sub_mchid"])
    say(f"  sandbox secondary merchant {merchant.sub_mchid} (paid by profit sharing)")


def _seed_deposit(merchant: Merchant, staff_user: User, say: Say) -> None:
    from merchants.selectors import merchant_deposit_balance
    from merchants.services import deposit_payment_create

    needed = max(deposit for _, deposit, _ in CATEGORIES)
    if merchant_deposit_balance(merchant_id=merchant.pk) >= needed:
        return
    if not settings.SANDBOX:
        say("  (SANDBOX is off: the demo merchant's deposit is not paid)")
        return
    with transaction.atomic():
        payment = deposit_payment_create(
            merchant=merchant, payer=staff_user, amount_fen=needed, gateway="sandbox"
        )
    sandbox_pay(payment)
    say(f"  margin deposit of ¥{needed // 100:,} paid through the sandbox gateway")


def seed_store(say: Say) -> Store:
    owner = _user(OWNER_OPENID, "群主小王")
    store = Store.objects.filter(owner=owner, name=STORE_NAME).first()
    if store is None:
        store = store_create(owner=owner, name=STORE_NAME).store
    from django.utils import timezone

    members = []
    for index, openid in enumerate(MEMBER_OPENIDS, start=1):
        member = _user(openid, f"团员{index}")
        membership_get_or_create(store=store, user=member, via=None, now=timezone.now())
        members.append(member)
    say(
        f"  store {store.name} owned by sandbox:{OWNER_OPENID} with members "
        + ", ".join(f"sandbox:{o}" for o in MEMBER_OPENIDS)
    )
    if settings.SANDBOX and not Order.objects.filter(store=store).exists():
        sku = Sku.objects.filter(code="VD-100-24").first()
        for member in members[:3]:
            result = order_create(
                buyer=member,
                store_id=store.pk,
                items=[{"sku_id": sku.pk, "qty": 1}],
                address=DEMO_ADDRESS,
                gateway="sandbox",
            )
            sandbox_pay(result.payment)
        say("  3 paid orders in the store (commission pending until they complete)")
    return store


def seed_ops_user(say: Say) -> None:
    if not settings.DEBUG:
        say("  (DEBUG is off: no demo ops superuser is created)")
        return
    password = settings.DEMO_OPS_PASSWORD
    user = User.objects.filter(username="ops").first()
    if user is None:
        user = User.objects.create_superuser(username="ops", password=password, nickname="运营")
    elif not user.check_password(password):
        user.set_password(password)
        user.save(update_fields=["password"])
    say(f"  ops superuser for /admin/: username 'ops', password '{password}' (development only)")


def seed_promotions(say: Say, *, store: Store) -> None:
    """An approved, running flash offer (30 days, 100 units, two per buyer) on every demo SKU
    the catalog gives a flash price, where that SKU has no approved offer still to end — live
    in the demo store, whose members' spend has unlocked flash prices — and a red-envelope
    campaign for the demo store. Idempotent."""
    from datetime import timedelta

    from django.utils import timezone

    from orders.models import FlashOffer
    from rebates.models import RedEnvelopeCampaign

    now = timezone.now()
    flash_prices = {
        code: flash for *_, sku_rows in PRODUCTS for code, _, _, _, _, flash, _, _ in sku_rows if flash
    }
    offered = 0
    for sku in Sku.objects.filter(merchant__staff__user__openid=MERCHANT_OPENID, code__in=flash_prices):
        if FlashOffer.objects.filter(sku=sku, status=FlashOffer.Status.APPROVED, ends_at__gt=now).exists():
            continue
        FlashOffer.objects.create(
            sku=sku,
            status=FlashOffer.Status.APPROVED,
            reviewed_at=now,
            flash_price_fen=flash_prices[sku.code],
            starts_at=now - timedelta(minutes=1),
            ends_at=now + timedelta(days=30),
            quantity=min(100, sku.on_hand),
            per_user_limit=2,
        )
        offered += 1
    campaign, created = RedEnvelopeCampaign.objects.get_or_create(
        name="开团红包",
        defaults={
            "budget_fen": 10_000,
            "envelope_fen": 500,
            "shares": 5,
            "starts_at": now - timedelta(minutes=1),
            "ends_at": now + timedelta(days=30),
        },
    )
    campaign.stores.add(store)
    say(
        f"  {offered} new flash offer(s) (flash prices apply once the store's members spend ¥100); "
        f"red-envelope campaign {campaign.name}: ¥5 in 5 shares per completed order"
    )


def seed_coupon_campaign(say: Say) -> None:
    """A coupon campaign by code, ``DEMO5`` (¥5 off ¥20, 100 coupons), funded by ¥500 moved
    from platform revenue into the marketing budget the first time. Idempotent."""
    from datetime import timedelta

    from django.utils import timezone

    from orders.models import CouponCampaign
    from orders.services.coupons import coupon_campaign_launch, marketing_budget_allocate

    now = timezone.now()
    campaign, created = CouponCampaign.objects.get_or_create(
        code="DEMO5",
        defaults={
            "title": "演示立减券",
            "audience": CouponCampaign.Audience.CODE,
            "amount_fen": 500,
            "min_spend_fen": 2_000,
            "valid_days": 30,
            "starts_at": now - timedelta(minutes=1),
            "ends_at": now + timedelta(days=30),
            "cap_fen": 50_000,
        },
    )
    if created:
        marketing_budget_allocate(amount_fen=campaign.cap_fen, note="Demo coupon campaign DEMO5")
        coupon_campaign_launch(campaign_id=campaign.pk, now=now)
    redeemed = f"{campaign.issued_count} of {campaign.max_coupons} redeemed"
    say(f"  coupon code {campaign.code} (POST /coupons/redeem): ¥5 off ¥20, {redeemed}")


LEADER_OPENID = "demo-leader"
LEADER_STORE_NAME = "阿梅社区团购"
# The venue's own members (the demo store's members keep it as their one store).
LEADER_MEMBER_OPENIDS = ("demo-neighbour-1", "demo-neighbour-2")
LEADER_SELECTION = ("VD-100-24", "BM-3KG", "QC-5J")  # SKU codes whose products the venue sells
LEADER_POINT = {
    "name": "阳光花园自提点",
    "region": "上海市 浦东新区",
    "address": "阳光花园 3 号楼 1 楼便利店",
    "opening_hours": "每天 9:00-21:00",
    "contact_name": "阿梅",
    "contact_phone": "13900001234",
}


def seed_leader(say: Say) -> Store:
    """A certified leader (``sandbox:demo-leader``) whose store is a sale venue selling a
    selection of the demo products, with a pickup point, two members of its own
    (``sandbox:demo-neighbour-1``, ``-2``) and, in the sandbox, one paid order bound for the
    point. Made through the real services; idempotent."""
    leader_user = _user(LEADER_OPENID, "团长阿梅")
    leader = Leader.objects.filter(user=leader_user).first()
    if leader is None or leader.status != Leader.Status.CERTIFIED:
        if leader is None or leader.status == Leader.Status.REJECTED:
            code = invitation_codes_generate(count=1, batch="demo")[0]
            leader, _ = leader_register(user=leader_user, invitation_code=code.code)
        leader_certify(leader_id=leader.pk)
    store = Store.objects.filter(owner=leader_user, name=LEADER_STORE_NAME).first()
    if store is None:
        store = store_create(owner=leader_user, name=LEADER_STORE_NAME).store
    product_ids = list(
        dict.fromkeys(
            Sku.objects.filter(code__in=LEADER_SELECTION, merchant__staff__user__openid=MERCHANT_OPENID)
            .order_by("pk")
            .values_list("product_id", flat=True)
        )
    )
    venue_selection_set(store_id=store.pk, user=leader_user, product_ids=product_ids)
    point, _ = pickup_point_put(leader=leader_user, **LEADER_POINT)
    members = []
    for index, openid in enumerate(LEADER_MEMBER_OPENIDS, start=1):
        member = _user(openid, f"邻居{index}")
        membership_get_or_create(store=store, user=member, via=None, now=timezone.now())
        members.append(member)
    member_names = ", ".join(f"sandbox:{o}" for o in LEADER_MEMBER_OPENIDS)
    say(
        f"  certified leader sandbox:{LEADER_OPENID}: venue {store.name} selling {len(product_ids)} "
        f"products, pickup point {point.name} (members {member_names})"
    )
    if settings.SANDBOX and not Order.objects.filter(store=store).exists():
        sku = Sku.objects.filter(code=LEADER_SELECTION[0]).first()
        result = order_create(
            buyer=members[0],
            store_id=store.pk,
            items=[{"sku_id": sku.pk, "qty": 1}],
            address={},
            gateway="sandbox",
            pickup_point=point,
        )
        sandbox_pay(result.payment)
        say(f"  1 paid order bound for the pickup point (its code: GET /orders/{result.orders[0].pk}/pickup)")
    return store
