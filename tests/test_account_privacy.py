"""PIPL (issue 19, item 8): ``GET /me/export`` gives a person their data; ``DELETE /me``
with ``{"confirm": "delete"}`` erases the account unless money or duty is open (409, each
reason named, nothing changed); orders and ledger lines stay, tied to the pseudonymised user.
"""

from __future__ import annotations

import pytest
from django.core.management import call_command

from accounts.models import AuthToken, User
from accounts.privacy import ERASED_NICKNAME
from accounts.services import token_issue
from groupstore.models import Membership
from groupstore.tests.factories import make_store
from merchants.tests.factories import MerchantStaffFactory
from orders.models import AfterSale, Order
from orders.services.after_sales import CaseItem, after_sale_open
from orders.services.lifecycle import order_confirm_receipt, order_ship
from products.tests.factories import SkuFactory
from rebates.tests.helpers import (
    ADDRESS,
    fund_wallet,
    make_completed_orders,
    make_paid_order,
    make_pending_order,
)
from shop.ledger.models import Account, Entry, Transaction
from shop.ledger.services import AccountRef, ledger_post
from shop.notifications.models import Notification
from shop.notifications.services import notification_send
from shop.testing.asserts import assert_error

pytestmark = pytest.mark.django_db

ME = "/api/v1/me"
EXPORT = "/api/v1/me/export"
CONFIRM = {"confirm": "delete"}


@pytest.fixture
def world():
    """A store whose owner earns commission, a buyer who is a member, a SKU without
    commission (so a buyer's completed order leaves no money in anybody's wallet)."""
    store, _, (buyer,) = make_store(members=1)
    buyer.nickname, buyer.avatar_url, buyer.phone = "小红", "https://img.example.com/a.png", "13800138000"
    buyer.openid, buyer.unionid = "o-buyer-openid", "u-buyer-unionid"
    buyer.save()
    free = SkuFactory(commission_bps=0, price_fen=1_990)
    paying = SkuFactory(commission_bps=1_000, price_fen=1_990)
    return {"store": store, "buyer": buyer, "free": free, "paying": paying}


def _delete(make_client, user, body=CONFIRM):
    return make_client(user).delete(ME, body, format="json")


def _state(user) -> tuple:
    user.refresh_from_db()
    return (
        user.nickname,
        user.openid,
        user.is_active,
        AuthToken.objects.filter(user=user, revoked_at__isnull=True).count(),
        sorted(Order.objects.filter(buyer=user).values_list("pk", "status")),
    )


# --- export -------------------------------------------------------------------------------


def test_export_gives_my_data_and_nobody_elses(make_client, world):
    buyer, store = world["buyer"], world["store"]
    (order,) = make_completed_orders(buyers=[buyer], store=store, sku=world["free"])
    other_store, _, (other,) = make_store(members=1)
    make_pending_order(buyer=other, store=other_store, sku=world["free"])
    fund_wallet(buyer, 500)

    response = make_client(buyer).get(EXPORT)

    assert response.status_code == 200
    data = response.json()
    assert data["profile"] == {
        "id": buyer.pk,
        "nickname": "小红",
        "avatar_url": "https://img.example.com/a.png",
        "phone": "13800138000",
        "openid": "o-buyer-openid",
        "unionid": "u-buyer-unionid",
        "joined_at": data["profile"]["joined_at"],
        "last_login_at": None,
    }
    assert [o["id"] for o in data["orders"]] == [order.pk]
    assert data["orders"][0]["address"] == ADDRESS
    assert data["orders"][0]["items"][0]["qty"] == 1
    assert data["addresses"] == [ADDRESS]
    assert [m["store_id"] for m in data["memberships"]] == [store.pk]
    assert data["stores"] == []  # owns none
    assert [line["amount_fen"] for line in data["wallet_lines"]] == [500]
    assert data["merchant_staff"] is None
    assert data["leader"] is None
    assert {"after_sales", "withdrawals", "exported_at"} <= set(data)


def test_export_needs_a_login(make_client):
    assert make_client().get(EXPORT).status_code == 401


# --- refusals -----------------------------------------------------------------------------


def _unpaid(w):
    make_pending_order(buyer=w["buyer"], store=w["store"], sku=w["free"])
    return w["buyer"], "unpaid or not yet delivered"


def _undelivered(w):
    make_paid_order(buyer=w["buyer"], store=w["store"], sku=w["free"])
    return w["buyer"], "unpaid or not yet delivered"


def _open_after_sale(w):
    order = make_paid_order(buyer=w["buyer"], store=w["store"], sku=w["free"])
    staff = MerchantStaffFactory(merchant=order.merchant)
    order_ship(
        order_id=order.pk, merchant_id=order.merchant_id, carrier="SF", tracking_no="SF1", actor=staff.user
    )
    order_confirm_receipt(order_id=order.pk, actor=w["buyer"])
    item = order.items.get()
    after_sale_open(
        order_id=order.pk,
        buyer=w["buyer"],
        kind="refund",
        items=[CaseItem(order_item_id=item.pk, qty=1)],
        amount_fen=item.paid_fen,
        reason="坏了",
    )
    assert AfterSale.objects.filter(buyer=w["buyer"], status__in=AfterSale.OPEN).exists()
    return w["buyer"], "after-sales case(s) are open"


def _wallet_balance(w):
    fund_wallet(w["buyer"], 1_000)
    return w["buyer"], "withdraw it first"


def _wallet_debt(w):
    ledger_post(
        key=f"test-debt:{w['buyer'].pk}",
        kind="test_clawback",
        lines=[
            (AccountRef.user(Account.Kind.USER_AVAILABLE, w["buyer"].pk), -300),
            (AccountRef.platform(Account.Kind.PLATFORM_REVENUE), 300),
        ],
    )
    return w["buyer"], "owes ¥3.00"


def _store_commission_pending(w):
    make_completed_orders(buyers=[w["buyer"]], store=w["store"], sku=w["paying"])  # accruals pending
    return w["store"].owner, "of members' commission pending"


def _merchant_staff(w):
    MerchantStaffFactory(user=w["buyer"], role="operator")
    return w["buyer"], "leave it first"


@pytest.mark.parametrize(
    "duty",
    [
        _unpaid,
        _undelivered,
        _open_after_sale,
        _wallet_balance,
        _wallet_debt,
        _store_commission_pending,
        _merchant_staff,
    ],
)
def test_deletion_is_refused_while_money_or_duty_is_open(make_client, world, duty):
    user, reason = duty(world)
    client = make_client(user)
    before = _state(user)
    ledger_before = (Transaction.objects.count(), Entry.objects.count())

    response = client.delete(ME, CONFIRM, format="json")

    error = assert_error(response, 409, "account_deletion_refused")
    assert reason in error["message"], error["message"]
    assert _state(user) == before
    assert user.erased_at is None
    assert (Transaction.objects.count(), Entry.objects.count()) == ledger_before


@pytest.mark.parametrize(
    "body", [None, {}, {"confirm": "yes"}, {"confirm": "DELETE"}, {"confirm": True}, b"{", b"confirm=delete"]
)
def test_deletion_without_its_confirmation_is_a_400(make_client, world, body):
    buyer = world["buyer"]
    client = make_client(buyer)
    if isinstance(body, bytes):
        response = client.generic("DELETE", ME, body, content_type="application/json")
    else:
        response = client.delete(ME, body, format="json")

    assert_error(response, 400)
    buyer.refresh_from_db()
    assert (buyer.nickname, buyer.is_active) == ("小红", True)


# --- erasure ------------------------------------------------------------------------------


def test_erasure_removes_personal_fields_and_keeps_orders_and_the_books(make_client, world):
    # given a buyer with a completed order, a cancelled-free history, a notification and two tokens
    buyer, store = world["buyer"], world["store"]
    (order,) = make_completed_orders(buyers=[buyer], store=store, sku=world["free"])
    notification_send(recipient_id=buyer.pk, kind="test", title="到货了", body="", data={}, dedupe_key="t1")
    client = make_client(buyer)
    other_token = token_issue(user=buyer)
    ledger_before = (Transaction.objects.count(), Entry.objects.count())

    # when
    response = client.delete(ME, CONFIRM, format="json")

    # then the personal fields are gone
    assert response.status_code == 204, response.content
    erased = User.objects.get(pk=buyer.pk)
    assert erased.nickname == ERASED_NICKNAME
    assert (erased.avatar_url, erased.phone, erased.openid, erased.unionid, erased.session_key) == (
        "",
        "",
        None,
        None,
        "",
    )
    assert erased.username == f"erased-{buyer.pk}"
    assert erased.is_active is False
    assert erased.erased_at is not None
    assert not erased.has_usable_password()
    # no trace of the person's name, phone, openid or address in what we keep
    order.refresh_from_db()
    assert set(order.address.values()) == {""}
    assert set(order.address) == set(ADDRESS)
    for value in (
        "小红",
        "13800138000",
        "o-buyer-openid",
        "u-buyer-unionid",
        ADDRESS["detail"],
        ADDRESS["name"],
    ):
        assert not User.objects.filter(nickname=value).exists()
        assert not Order.objects.filter(address__icontains=value).exists()
    assert not Notification.objects.filter(recipient=buyer).exists()
    # the order and the books stay, tied to the pseudonymised user
    assert Order.objects.filter(pk=order.pk, buyer=erased).exists()
    assert Membership.objects.filter(user=erased, store=store).exists()
    assert (Transaction.objects.count(), Entry.objects.count()) == ledger_before
    call_command("ledger_check")
    # every token is revoked
    assert AuthToken.objects.filter(user=buyer, revoked_at__isnull=True).count() == 0
    assert client.get("/api/v1/me").status_code == 401
    other = make_client()
    other.credentials(HTTP_AUTHORIZATION=f"Bearer {other_token}")
    assert other.get(EXPORT).status_code == 401
    # the store's member list shows the pseudonym
    members = make_client(store.owner).get(f"/api/v1/stores/{store.pk}/members").json()
    nicknames = [m["nickname"] for m in members.get("results", members)]
    assert ERASED_NICKNAME in nicknames
    assert "小红" not in nicknames


def test_the_same_wechat_account_logging_in_after_erasure_is_a_new_user(make_client, world):
    buyer = world["buyer"]
    buyer.openid = "sandbox-again"
    buyer.save()
    assert _delete(make_client, buyer).status_code == 204

    login = make_client().post("/api/v1/auth/wechat-login", {"code": "sandbox:sandbox-again"}, format="json")

    assert login.status_code == 200
    assert login.json()["user"]["id"] != buyer.pk


def test_staff_who_left_can_then_erase(make_client, world):
    owner = MerchantStaffFactory()
    staff = MerchantStaffFactory(merchant=owner.merchant, user=world["buyer"], role="finance")
    assert_error(_delete(make_client, staff.user), 409, "account_deletion_refused")

    left = make_client(staff.user).delete("/api/v1/merchant/staff/me", {"confirm": "leave"}, format="json")

    assert left.status_code == 204
    assert _delete(make_client, staff.user).status_code == 204


def test_an_erased_owners_stores_are_frozen_and_their_members_stay(make_client):
    store, _, (member,) = make_store(members=1)
    owner = store.owner

    response = _delete(make_client, owner)

    assert response.status_code == 204, response.content
    store.refresh_from_db()
    assert store.is_frozen is True
    assert store.frozen_reason == "The owner closed their account."
    assert Membership.objects.filter(store=store, user=member).exists()
    assert not Notification.objects.filter(recipient=owner).exists()  # not even the freeze notice
