"""Ops decisions taken in admin leave one audit entry each, with who and why, written in
the decision's own transaction (issue 16, step 3). Real admin actions, posted as ops do:
a refusal leaves no entry, a no-op repeats none, and the trail's own admin list finds them."""

from __future__ import annotations

import pytest
from django.contrib.admin.helpers import ACTION_CHECKBOX_NAME
from django.db import transaction
from django.utils import timezone

from accounts.models import AuthToken
from accounts.services import token_issue
from accounts.tests.factories import UserFactory
from groupstore.tests.factories import make_store
from merchants.models import DepositMovement, Merchant
from merchants.selectors import merchant_deposit_balance
from merchants.tests.factories import MerchantFactory, pay_deposit
from orders.models import Order
from products.models import Category, Product
from products.tests.factories import CategoryFactory, ProductFactory, SkuFactory
from rebates.tests.helpers import make_paid_order
from shop.audit.models import AuditEntry
from shop.audit.services import audit_record
from shop.notifications.models import WebhookEndpoint
from shop.payments.models import Refund

pytestmark = pytest.mark.django_db


def act(client, changelist: str, action: str, pks, **extra):
    return client.post(changelist, {"action": action, ACTION_CHECKBOX_NAME: list(pks), **extra})


def with_reason(reason: str) -> dict:
    return {"audit_apply": "1", "audit_reason": reason}


def trail(**filters) -> list[tuple]:
    return list(
        AuditEntry.objects.filter(**filters)
        .order_by("id")
        .values_list("action", "object_id", "actor_name", "reason")
    )


def test_freezing_a_user_asks_why_then_records_who_and_why(admin_client):
    user = UserFactory()
    token_issue(user=user)
    url = "/admin/accounts/user/"

    asked = act(admin_client, url, "freeze_users", [user.pk])
    blank = act(admin_client, url, "freeze_users", [user.pk], **with_reason("   "))
    user.refresh_from_db()
    assert asked.status_code == 200
    assert blank.status_code == 200
    assert "Reason" in asked.content.decode()
    assert "This field is required." in blank.content.decode()
    assert user.is_frozen is False
    assert AuditEntry.objects.count() == 0  # nothing decided yet

    done = act(admin_client, url, "freeze_users", [user.pk], **with_reason("盗用他人微信刷单"))
    user.refresh_from_db()
    assert done.status_code == 302
    assert user.is_frozen is True
    assert not AuthToken.objects.filter(user=user, revoked_at__isnull=True).exists()
    entry = AuditEntry.objects.get()
    assert (entry.action, entry.object_type, entry.object_id) == (
        "user.freeze",
        "accounts.user",
        str(user.pk),
    )
    assert (entry.actor.username, entry.reason) == ("admin", "盗用他人微信刷单")
    assert entry.details == {"tokens_revoked": 1, "was_frozen": False}

    act(admin_client, url, "unfreeze_users", [user.pk], **with_reason("申诉成功"))
    user.refresh_from_db()
    assert user.is_frozen is False
    assert trail()[-1] == ("user.unfreeze", str(user.pk), "admin", "申诉成功")


def test_merchant_review_records_each_decision_once_and_no_refusal(admin_client):
    pending, other = (
        MerchantFactory(status=Merchant.Status.PENDING),
        MerchantFactory(status=Merchant.Status.PENDING),
    )
    url = "/admin/merchants/merchant/"

    act(admin_client, url, "approve", [pending.pk])
    act(admin_client, url, "approve", [pending.pk])  # again: the service's no-op
    no_reason = act(admin_client, url, "reject", [other.pk], apply="1", reason="")
    act(admin_client, url, "reject", [other.pk], apply="1", reason="营业执照已过期，请上传新的")
    refused = act(admin_client, url, "approve", [other.pk])  # rejected: cannot be approved now

    assert no_reason.status_code == 200
    assert refused.status_code == 302
    assert Merchant.objects.get(pk=other.pk).status == Merchant.Status.REJECTED
    assert trail() == [
        ("merchant.approve", str(pending.pk), "admin", ""),
        ("merchant.reject", str(other.pk), "admin", "营业执照已过期，请上传新的"),
    ]


def test_a_deposit_deduction_records_amount_and_reason_once(admin_client):
    merchant = MerchantFactory()
    pay_deposit(merchant, 100_000)
    url = "/admin/merchants/merchant/"
    form = {
        "apply": "1",
        "amount_fen": "30000",
        "reason_code": DepositMovement.Reason.FAKE_TRACKING,
        "note": "订单 #12 虚假单号",
        "request_key": "k-1",
    }

    act(admin_client, url, "deduct_deposit", [merchant.pk], **form)
    act(admin_client, url, "deduct_deposit", [merchant.pk], **form)  # the double-submitted form
    too_much = act(
        admin_client,
        url,
        "deduct_deposit",
        [merchant.pk],
        **{**form, "amount_fen": "90000", "request_key": "k-2"},
    )

    assert too_much.status_code == 302
    assert merchant_deposit_balance(merchant_id=merchant.pk) == 70_000  # deducted once, refusal wrote nothing
    movement = DepositMovement.objects.get(merchant=merchant, kind=DepositMovement.Kind.DEDUCTED)
    entry = AuditEntry.objects.get()
    assert (entry.action, entry.object_id, entry.actor_name) == (
        "merchant.deposit_deduct",
        str(merchant.pk),
        "admin",
    )
    assert (
        entry.reason
        == f"{DepositMovement.Reason(DepositMovement.Reason.FAKE_TRACKING).label}: 订单 #12 虚假单号"
    )
    assert entry.details == {
        "amount_fen": 30_000,
        "reason_code": DepositMovement.Reason.FAKE_TRACKING,
        "order_id": None,
        "buyer_id": None,
        "compensation_fen": 0,
        "movement_id": movement.pk,
    }


def test_an_ops_refund_asks_why_and_records_it_with_the_money(admin_client):
    store, _, (member,) = make_store(members=1)
    order = make_paid_order(buyer=member, store=store, sku=SkuFactory(price_fen=2_990, on_hand=5))
    url = "/admin/orders/order/"

    act(admin_client, url, "refund_in_full", [order.pk])
    assert not Refund.objects.filter(payment=order.payment).exists()  # only asked

    act(admin_client, url, "refund_in_full", [order.pk], **with_reason("商家无法发货，平台判退"))
    act(admin_client, url, "refund_in_full", [order.pk], **with_reason("再点一次"))  # refunded already

    assert Refund.objects.get(payment=order.payment).amount_fen == 2_990
    entry = AuditEntry.objects.get()
    assert (entry.action, entry.object_type, entry.object_id) == (
        "order.refund_full",
        "orders.order",
        str(order.pk),
    )
    assert (entry.reason, entry.details) == ("商家无法发货，平台判退", {"paid_fen": 2_990})
    assert Order.objects.get(pk=order.pk).events.filter(note__contains="商家无法发货").exists()


def test_blocking_a_product_and_stopping_a_webhook_are_recorded(admin_client):
    product = ProductFactory(status=Product.Status.ON_SALE)
    owner = UserFactory()
    endpoint = WebhookEndpoint.objects.create(owner=owner, url="https://hooks.example.com/a", secret="s")

    act(admin_client, "/admin/products/product/", "block", [product.pk], apply="1", reason="假冒品牌")
    act(admin_client, "/admin/products/product/", "block", [product.pk], apply="1", reason="again")  # no-op
    act(admin_client, "/admin/notifications/webhookendpoint/", "deactivate", [endpoint.pk])
    act(admin_client, "/admin/notifications/webhookendpoint/", "deactivate", [endpoint.pk])  # already off

    assert Product.objects.get(pk=product.pk).status == Product.Status.BLOCKED
    assert WebhookEndpoint.objects.get(pk=endpoint.pk).is_active is False
    assert trail() == [
        ("product.block", str(product.pk), "admin", "假冒品牌"),
        ("webhook.deactivate", str(endpoint.pk), "admin", ""),
    ]


def test_deleting_through_the_action_menu_is_recorded(admin_client):
    category = CategoryFactory(name="临时类目")
    url = "/admin/products/category/"

    confirm = act(admin_client, url, "delete_selected", [category.pk])
    assert confirm.status_code == 200
    assert Category.objects.filter(pk=category.pk).exists()
    assert AuditEntry.objects.count() == 0

    act(admin_client, url, "delete_selected", [category.pk], post="yes")

    assert not Category.objects.filter(pk=category.pk).exists()
    entry = AuditEntry.objects.get()
    assert (entry.action, entry.object_type, entry.object_id, entry.object_repr) == (
        "admin.delete",
        "products.category",
        str(category.pk),
        "临时类目",
    )


def test_the_trail_in_admin_filters_and_searches_and_cannot_be_edited(admin_client, admin_user):
    first, second = UserFactory(), UserFactory()
    with transaction.atomic():
        audit_record(actor=admin_user, action="user.freeze", obj=first, reason="刷单")
        audit_record(
            actor=None,
            action="merchant.deposit_refund",
            object_type="merchants.merchant",
            object_id=987654321,
        )
        entry = audit_record(actor=admin_user, action="user.unfreeze", obj=second, reason="误封")
    url = "/admin/audit/auditentry/"

    def listed(**params) -> set[str]:
        response = admin_client.get(url, params)
        assert response.status_code == 200
        return {e.action for e in response.context["cl"].result_list}

    assert listed() == {"user.freeze", "merchant.deposit_refund", "user.unfreeze"}
    assert listed(action="user.freeze") == {"user.freeze"}
    assert listed(actor="-") == {"merchant.deposit_refund"}
    assert listed(actor="admin") == {"user.freeze", "user.unfreeze"}
    assert listed(q="987654321") == {"merchant.deposit_refund"}  # no user id or name holds it
    assert listed(q=str(second.pk)) == {"user.unfreeze"}
    assert listed(object_type="accounts.user") == {"user.freeze", "user.unfreeze"}
    assert "误封" in admin_client.get(url).content.decode()  # the reason is in the list
    assert admin_client.get(f"{url}add/").status_code == 403
    assert admin_client.post(f"{url}{entry.pk}/change/", {"reason": "edited"}).status_code == 403
    assert admin_client.post(f"{url}{entry.pk}/delete/", {"post": "yes"}).status_code == 403
    assert AuditEntry.objects.get(pk=entry.pk).reason == "误封"


def test_ruling_on_a_dispute_records_the_ruling_note_and_the_amount(admin_client):
    from orders.models import AfterSale
    from orders.services.after_sales import CaseItem, after_sale_escalate, after_sale_open, after_sale_reject

    store, _, (member,) = make_store(members=1)
    sku = SkuFactory(price_fen=1_990, on_hand=5)
    order = make_paid_order(buyer=member, store=store, sku=sku)
    case = after_sale_open(
        order_id=order.pk,
        buyer=member,
        kind="refund",
        items=[CaseItem(order_item_id=order.items.get().pk, qty=1)],
        amount_fen=990,
        reason="商品破损",
    )
    after_sale_reject(case_id=case.pk, merchant_id=sku.merchant_id, actor=None, note="不认可")
    after_sale_escalate(case_id=case.pk, buyer=member, reason="有照片为证")
    url = "/admin/orders/aftersale/"

    act(admin_client, url, "rule_refund", [case.pk], note="照片属实")
    act(admin_client, url, "rule_close", [case.pk], note="改判")  # already ruled: nothing decided, no entry

    assert AfterSale.objects.get(pk=case.pk).status == AfterSale.Status.REFUNDED
    entry = AuditEntry.objects.get()
    assert (entry.action, entry.object_type, entry.object_id) == (
        "after_sale.rule_refund",
        "orders.aftersale",
        str(case.pk),
    )
    assert (entry.actor_name, entry.reason, entry.details) == ("admin", "照片属实", {"amount_fen": 990})


def test_retrying_a_failed_payout_records_the_old_and_new_payout(admin_client):
    from rebates.models import Withdrawal
    from rebates.services.withdrawals import withdrawal_create
    from rebates.tests.helpers import fund_wallet
    from shop.payments.models import Payout
    from shop.payments.payouts import payout_apply, payout_send

    _, _, (member,) = make_store(members=1)
    fund_wallet(member, 5_000)
    withdrawal = withdrawal_create(user=member, amount_fen=2_000)
    payout_send(payout_id=withdrawal.payout_id)
    first = Payout.objects.get(pk=withdrawal.payout_id)
    payout_apply(out_bill_no=first.out_bill_no, state="FAIL", fail_reason="NAME_MISMATCH")

    act(admin_client, "/admin/rebates/withdrawal/", "retry_payout", [withdrawal.pk])

    withdrawal.refresh_from_db()
    assert withdrawal.status != Withdrawal.Status.FAILED
    entry = AuditEntry.objects.get()
    assert (entry.action, entry.object_id, entry.actor_name) == (
        "withdrawal.payout_retry",
        str(withdrawal.pk),
        "admin",
    )
    assert entry.details == {
        "amount_fen": 2_000,
        "payout_id": first.pk,
        "new_payout_id": withdrawal.payout_id,
    }


def test_closing_a_merchant_asks_why(admin_client):
    merchant = MerchantFactory()
    url = "/admin/merchants/merchant/"

    act(admin_client, url, "request_exit", [merchant.pk])
    assert Merchant.objects.get(pk=merchant.pk).status == Merchant.Status.APPROVED  # only asked
    act(admin_client, url, "request_exit", [merchant.pk], **with_reason("多次售假，平台清退"))
    act(admin_client, url, "cancel_exit", [merchant.pk])

    assert trail() == [
        ("merchant.exit_request", str(merchant.pk), "admin", "多次售假，平台清退"),
        ("merchant.exit_cancel", str(merchant.pk), "admin", ""),
    ]


def test_withdrawing_a_link_and_downloading_codes_are_recorded(admin_client):
    from groupstore.models import InvitationCode, ShareLink
    from groupstore.tests.factories import make_invitation_code

    _, token, _ = make_store()
    link = ShareLink.objects.get(token=token)
    codes = [make_invitation_code(), make_invitation_code()]

    act(admin_client, "/admin/groupstore/sharelink/", "revoke", [link.pk])
    act(admin_client, "/admin/groupstore/sharelink/", "revoke", [link.pk])  # already withdrawn
    download = act(admin_client, "/admin/groupstore/invitationcode/", "export_csv", [c.pk for c in codes])

    assert download["Content-Type"].startswith("text/csv")
    assert trail() == [
        ("share_link.revoke", str(link.pk), "admin", ""),
        ("invitation_code.export", "", "admin", ""),
    ]
    export = AuditEntry.objects.get(action="invitation_code.export")
    assert export.object_type == InvitationCode._meta.label_lower
    assert export.details == {"count": 2, "ids": sorted(c.pk for c in codes)}


def test_deleting_on_the_objects_own_delete_page_is_recorded_once(admin_client):
    category = CategoryFactory(name="停用类目")

    page = admin_client.get(f"/admin/products/category/{category.pk}/delete/")
    assert page.status_code == 200
    assert AuditEntry.objects.count() == 0
    admin_client.post(f"/admin/products/category/{category.pk}/delete/", {"post": "yes"})

    assert not Category.objects.filter(pk=category.pk).exists()
    assert trail() == [("admin.delete", str(category.pk), "admin", "")]
    assert AuditEntry.objects.get().object_repr == "停用类目"


def test_resending_a_webhook_delivery_and_lifting_a_block_are_recorded(admin_client):
    from shop.notifications.models import WebhookDelivery

    endpoint = WebhookEndpoint.objects.create(
        owner=UserFactory(), url="https://hooks.example.com/b", secret="s"
    )
    fields = {
        "endpoint": endpoint,
        "event": "venue_order_paid",
        "payload": {},
        "next_attempt_at": timezone.now(),
    }
    failed = WebhookDelivery.objects.create(**fields, status="failed")
    delivered = WebhookDelivery.objects.create(**fields, status="succeeded")
    product = ProductFactory(status=Product.Status.BLOCKED)

    act(admin_client, "/admin/notifications/webhookdelivery/", "retry_now", [failed.pk, delivered.pk])
    act(admin_client, "/admin/products/product/", "unblock", [product.pk])

    assert WebhookDelivery.objects.get(pk=failed.pk).status == "pending"
    assert Product.objects.get(pk=product.pk).status == Product.Status.OFF_SALE
    assert trail() == [  # the delivered one was skipped: nothing decided about it
        ("webhook_delivery.retry", str(failed.pk), "admin", ""),
        ("product.unblock", str(product.pk), "admin", ""),
    ]
