"""What the assistant says for each intent, built only from the asker's own data through
the selectors and rules the rest of the shop uses (docs/assistant.md, "Answers").

Each answer is an ``Answer``: the ``reply`` (Chinese, for the buyer), ``data`` (the facts
the reply was built from, JSON) and whether it answered the question at all (an answer
that did not counts toward handover). Money figures come from the rule that decides them
— refunds from ``orders.services.after_sales.after_sale_eligibility``, rebates from the
accruals, withdrawals from the withdrawal and the wallet — never from a copy of it.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime

from django.conf import settings
from django.utils import timezone

from orders.models import AfterSale, Order, Pickup
from orders.services.after_sales import after_sale_eligibility
from rebates.models import Accrual, Withdrawal
from rebates.selectors import wallet_get, withdrawal_list_for_user
from shop.money import fen_display

OFFER_PERSON = "如需人工帮助，请回复“转人工”。"


@dataclass(frozen=True)
class Answer:
    reply: str
    data: dict = field(default_factory=dict)
    is_answered: bool = True


def when(at: datetime | None) -> str | None:
    """Shanghai wall time for the reply text (``data`` keeps ISO-8601)."""
    return timezone.localtime(at).strftime("%m月%d日 %H:%M") if at else None


def iso(at: datetime | None) -> str | None:
    return at.isoformat() if at else None


def _title(order: Order) -> str:
    items = list(order.items.all())
    title = items[0].product_title if items else "商品"
    return f"{title}等{len(items)}件" if len(items) > 1 else title


def _base(order: Order) -> dict:
    return {"order_id": order.pk, "status": order.status, "title": _title(order)}


# --- order status and delivery --------------------------------------------------------


def answer_order_status(order: Order) -> Answer:
    data = {**_base(order), "carrier": order.carrier, "tracking_no": order.tracking_no}
    head = f"订单{order.pk}（{data['title']}）"
    status = order.status
    if status == Order.Status.PENDING_PAYMENT:
        data["pay_deadline_at"] = iso(order.pay_deadline_at)
        return Answer(f"{head}还未付款，请在{when(order.pay_deadline_at)}前付款，过时订单会自动取消。", data)
    if status == Order.Status.AWAITING_TEAM:
        team = _team_facts(order)
        data["team"] = team
        return Answer(
            f"{head}已付款，正在等待拼团成功（已付款{team['paid_count']}/{team['size']}人），"
            "成团后商家就会发货。",
            data,
        )
    if status == Order.Status.PAID:
        data["paid_at"] = iso(order.paid_at)
        return Answer(f"{head}已付款，商家正在备货，还没有发货。发货后会通知你。", data)
    if status == Order.Status.SHIPPED:
        data["shipped_at"] = iso(order.shipped_at)
        text = f"{head}已于{when(order.shipped_at)}发货：{order.carrier}，运单号{order.tracking_no}。"
        return Answer(text + _pickup_text(order, data), data)
    if status == Order.Status.RECEIVED:
        data["received_at"] = iso(order.received_at)
        text = f"{head}已于{when(order.received_at)}签收（{order.carrier}，运单号{order.tracking_no}）。"
        return Answer(text + _pickup_text(order, data), data)
    labels = {
        Order.Status.COMPLETED: "已完成",
        Order.Status.CANCELLED: "已取消（未付款）",
        Order.Status.REFUNDED: f"已全额退款（{fen_display(order.refunded_fen)}）",
    }
    return Answer(f"{head}{labels[status]}。", data)


def _pickup_text(order: Order, data: dict) -> str:
    """Where a pickup order's parcel is; the buyer's own code once it is ready."""
    if order.pickup_point_id is None:
        return ""
    pickup = Pickup.objects.filter(order_id=order.pk).first()
    point = order.pickup_point
    data["pickup_point"] = {
        "name": point.name,
        "address": point.address,
        "opening_hours": point.opening_hours,
    }
    if pickup is None:
        return ""
    data["pickup_status"] = pickup.status
    if pickup.status == Pickup.Status.READY:
        data["pickup_code"] = pickup.code
        return (
            f"包裹已到自提点“{point.name}”（{point.address}，{point.opening_hours}），取件码{pickup.code}。"
        )
    if pickup.status == Pickup.Status.COLLECTED:
        return f"包裹已在自提点“{point.name}”取走。"
    return f"包裹将送到自提点“{point.name}”（{point.address}），到了会通知你。"


# --- refunds ---------------------------------------------------------------------------


def answer_refund(order: Order) -> Answer:
    """May the buyer open a case, for how much at most, until when — the after-sales rule."""
    items = list(order.items.all())
    cases = list(order.after_sales.all())
    open_case = next((c for c in cases if c.status in AfterSale.OPEN), None)
    verdict = after_sale_eligibility(
        order=order, has_open_case=open_case is not None, items=items, now=timezone.now()
    )
    data = {
        **_base(order),
        "can_request": verdict.is_allowed,
        "reason": verdict.reason,
        "refundable_fen": verdict.refundable_fen,
        "deadline_at": iso(verdict.deadline_at),
        "refunded_fen": order.refunded_fen,
    }
    head = f"订单{order.pk}（{data['title']}）"
    if verdict.is_allowed:
        if verdict.deadline_at is not None:
            until = f"请在{when(verdict.deadline_at)}前申请"
        else:
            days = settings.SHOP_RULES["AFTER_SALES_WINDOW"].days
            until = f"签收后{days}天内都可以申请"
        return Answer(
            f"{head}可以申请退款，最多可退{fen_display(verdict.refundable_fen)}，{until}"
            "（在订单页点“申请售后”）。",
            data,
        )
    if verdict.reason == "case_open":
        data["after_sale"] = {
            "id": open_case.pk,
            "status": open_case.status,
            "amount_fen": open_case.amount_fen,
        }
        return Answer(
            f"{head}已有一个售后申请（{fen_display(open_case.amount_fen)}，"
            f"{open_case.get_status_display()}），处理完之前不能再申请。",
            data,
        )
    if verdict.reason == "window_closed":
        return Answer(head + "的售后期已过，不能再申请退款。" + OFFER_PERSON, data)
    return Answer(head + _not_refundable_text(order), data)


def _not_refundable_text(order: Order) -> str:
    status = order.status
    if status == Order.Status.PENDING_PAYMENT:
        return "还未付款，不需要退款；不想要了可以直接取消订单。"
    if status == Order.Status.AWAITING_TEAM:
        return "还在拼团中，拼团期间不能申请售后；如果拼团失败，付的钱会自动全额退回。"
    if status == Order.Status.CANCELLED:
        return "已取消，没有付款，不需要退款。"
    if status == Order.Status.REFUNDED:
        return f"已全额退款{fen_display(order.refunded_fen)}，原路退回。"
    if status == Order.Status.COMPLETED:
        return "已完成，售后期已过，不能再申请退款。" + OFFER_PERSON
    return f"已退款{fen_display(order.refunded_fen)}，没有可退的金额了。"  # nothing_left


# --- team --------------------------------------------------------------------------------


def _team_facts(order: Order) -> dict:
    team = order.team_member.team
    return {
        "team_id": team.pk,
        "team_status": team.status,
        "paid_count": team.paid_count,
        "members_count": team.members_count,
        "size": team.size,
        "expires_at": iso(team.expires_at),
    }


def answer_team(order: Order) -> Answer:
    data = _base(order)
    if not hasattr(order, "team_member"):
        return Answer(f"订单{order.pk}（{data['title']}）不是拼团订单。", data)
    team = _team_facts(order)
    data["team"] = team
    head = f"订单{order.pk}的拼团"
    if team["team_status"] == "succeeded":
        return Answer(f"{head}已经成功（{team['size']}人成团），商家会尽快发货。", data)
    if team["team_status"] == "failed":
        return Answer(f"{head}没有成功，付的钱会自动全额原路退回。", data)
    missing = team["size"] - team["paid_count"]
    return Answer(
        f"{head}进行中：已付款{team['paid_count']}/{team['size']}人，还差{missing}人，"
        f"{when(order.team_member.team.expires_at)}前没凑齐会自动全额退款。",
        data,
    )


# --- rebates -----------------------------------------------------------------------------


def answer_rebate(order: Order | None, *, asker) -> Answer:
    """The asker's own rebates (never a store owner's share of someone else's order)."""
    if order is None:
        wallet = wallet_get(user_id=asker.pk)
        data = {"pending_fen": wallet.pending_fen, "available_fen": wallet.available_fen}
        return Answer(
            f"你有{fen_display(wallet.pending_fen)}返利待结算、{fen_display(wallet.available_fen)}可提现。"
            "每笔返利在订单售后期结束（签收后"
            f"{settings.SHOP_RULES['AFTER_SALES_WINDOW'].days}天）后结算到钱包。",
            data,
        )
    accruals = list(Accrual.objects.filter(order_id=order.pk, beneficiary_id=asker.pk).order_by("pk"))
    net = sum(a.amount_fen - a.cancelled_fen - a.clawed_back_fen for a in accruals)
    pending = [a for a in accruals if a.status == Accrual.Status.PENDING]
    data = {**_base(order), "rebate_fen": net, "is_settled": bool(accruals) and not pending}
    head = f"订单{order.pk}"
    if not accruals or net <= 0:
        return Answer(f"{head}没有给你的返利。", data)
    if not pending:
        settled_at = max((a.settled_at for a in accruals if a.settled_at), default=None)
        data["settled_at"] = iso(settled_at)
        return Answer(f"{head}的返利{fen_display(net)}已于{when(settled_at)}结算到你的钱包。", data)
    return Answer(f"{head}的返利{fen_display(net)}还待结算：" + _settles_when(order, data), data)


def _settles_when(order: Order, data: dict) -> str:
    days = settings.SHOP_RULES["AFTER_SALES_WINDOW"].days
    if order.status == Order.Status.RECEIVED and order.after_sales_closes_at:
        data["settles_after"] = iso(order.after_sales_closes_at)
        return f"售后期{when(order.after_sales_closes_at)}结束后结算到钱包。"
    if order.status == Order.Status.COMPLETED:
        return "订单已完成，正在结算，通常很快到账。"
    return f"确认收货后{days}天售后期结束，就会结算到钱包（发货后10天自动确认收货）。"


# --- withdrawals -------------------------------------------------------------------------


def answer_withdrawal(*, asker) -> Answer:
    wallet = wallet_get(user_id=asker.pk)
    data = {"available_fen": wallet.available_fen, "held_fen": wallet.held_fen}
    latest = withdrawal_list_for_user(user_id=asker.pk).first()
    if latest is None:
        if wallet.available_fen < 0:
            return Answer("你的钱包余额为负（退款扣回了已结算的返利），补足前不能提现。", data)
        return Answer(f"你还没有提现记录，现在可提现{fen_display(wallet.withdrawable_fen)}。", data)
    data["withdrawal"] = {
        "id": latest.pk,
        "amount_fen": latest.amount_fen,
        "status": latest.status,
        "created_at": iso(latest.created_at),
        "finished_at": iso(latest.finished_at),
    }
    amount = fen_display(latest.amount_fen)
    texts = {
        Withdrawal.Status.PROCESSING: (
            f"你{when(latest.created_at)}的提现{amount}正在由微信支付处理中，通常几分钟到账，最长1-3天。"
        ),
        Withdrawal.Status.WAIT_USER_CONFIRM: (
            f"你的提现{amount}在等你确认收款：请在“钱包-提现记录”里点确认，24小时内不确认会退回钱包。"
        ),
        Withdrawal.Status.SUCCEEDED: f"你的提现{amount}已于{when(latest.finished_at)}到账微信零钱。",
        Withdrawal.Status.FAILED: f"你的提现{amount}没有成功，钱已退回钱包，可以重新提现。",
    }
    if latest.status == Withdrawal.Status.FAILED and latest.failure_reason:
        data["withdrawal"]["failure_reason"] = latest.failure_reason
    return Answer(texts[latest.status], data)
