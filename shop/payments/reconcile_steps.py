"""The gateway steps that move merchants' money (``FundsStep``), matched with WeChat's bills
(docs/merchant-money.md "Reconciliation with the bills"); the engine is ``reconciliation``.

- **Shares and share returns** (分账, 分账回退) on the profit-sharing bill (分账账单,
  ``GET /v3/profitsharing/bills``, the platform's: every secondary merchant's). A line is one
  receiver's share or return; ours have one receiver (the platform). The key is
  ``<sub_mchid>:<out_no>`` on both sides (``S<order>`` a share's ``out_order_no``,
  ``R<refund>`` a return's ``out_return_no``), so a line under another merchant than ours is
  missing on both sides rather than matched. WeChat lists only successful shares; its status
  column is still read.
- **Subsidies and subsidy returns** (补差, 补差回退) on each secondary merchant's fund-flow bill
  (二级商户资金账单, downloaded encrypted and hash-checked by the adapter): the money coming into
  (going out of) that merchant's account. A subsidy's line is keyed by the payment's
  ``transaction_id`` (微信支付业务单号: one subsidy per sub-order), a return's by our
  ``out_order_no`` (业务凭证号, ``BR<refund>``). A return may be booked in two lines (from
  frozen, then from released funds): the kind is ``summed``. Every other line of a fund-flow
  bill (payments, shares, refunds, unfreezes) is the other bills' business.

Ours: done when the step is ``confirmed`` (at ``confirmed_at``), pending while open (a
``missing_ours`` case then means we missed the gateway's word), else its status (``failed``).
"Apply the missed result" asks the gateway again and confirms the step through
``steps.funds_step_confirm`` (compare-and-set under the step's lock: its posting happens once,
however often ops click, and whatever the step's own poller does meanwhile).
"""

from __future__ import annotations

import datetime

from django.db.models import Case, CharField, F, QuerySet, Value, When
from django.db.models.functions import Concat
from django.utils import timezone

from . import sql
from .errors import CaseNotResolvable
from .gateways.base import GatewayError
from .gateways.bills import BillLine
from .gateways.ecommerce import ecommerce_gateway_get
from .models import FundsStep, ReconciliationCase, Refund
from .reconciliation import StagedLine, register_bill_kind, register_bill_matcher
from .steps import funds_step_confirm

Kind = FundsStep.Kind
SHARE_BILL = "profitsharing"
FUNDFLOW_BILL = "fundflow"
SUBSIDY_KEY = "subsidy:"
SUBSIDY_RETURN_KEY = "subsidy_return:"
# Fund-flow bills are fetched for the secondary merchants with a subsidy step this recent.
FUNDFLOW_ACCOUNTS_SINCE = datetime.timedelta(days=35)
_DONE_WORDS = {"SUCCESS", "FINISHED", "成功", "分账成功", "回退成功", "已完成"}


def _done_or(status: str) -> str:
    status = status.strip()
    return sql.DONE if status.upper() in _DONE_WORDS or status in _DONE_WORDS else status.lower()


# --- reading the bills -------------------------------------------------------------------


def share_line_read(line: BillLine) -> StagedLine | None:
    """A share (分账) or share return (分账回退) of the profit-sharing bill; None for what is
    neither (an unfreeze: 解冻, 完结)."""
    business = line.get("share_type")
    if "解冻" in business or "完结" in business:
        return None
    out_no = line.get("out_order_no")
    if not out_no or "分账" not in business:
        return None
    key = f"{line.get('sub_mchid')}:{out_no}"
    return key[:64], abs(line.fen("share_amount")), _done_or(line.get("share_status", "SUCCESS"))


def fundflow_line_read(line: BillLine) -> StagedLine | None:
    """A subsidy (补差) or subsidy return (补差回退) on a secondary merchant's fund flow; None
    for any other movement. A line is money that moved: done."""
    business = line.get("business_name") + line.get("business_type")
    if "补差" not in business:
        return None
    amount = abs(line.fen("flow_amount"))
    if "回退" in business:
        return (SUBSIDY_RETURN_KEY + line.get("voucher_no"))[:64], amount, sql.DONE
    return (SUBSIDY_KEY + line.get("business_no"))[:64], amount, sql.DONE


def fundflow_accounts() -> list[str]:
    """The secondary merchants whose fund-flow bills are fetched: those with a subsidy or a
    subsidy return written or changed lately (older ones were matched on their own days)."""
    since = timezone.now() - FUNDFLOW_ACCOUNTS_SINCE
    return sorted(
        set(
            FundsStep.objects.filter(kind__in=[Kind.SUBSIDY, Kind.SUBSIDY_RETURN], updated_at__gte=since)
            .values_list("part__sub_mchid", flat=True)
            .distinct()
        )
    )


# --- our side ----------------------------------------------------------------------------


def _steps(gateway: str, sub_mchid: str, kind: str) -> QuerySet:
    steps = FundsStep.objects.filter(kind=kind, part__payment__gateway=gateway)
    if sub_mchid:
        steps = steps.filter(part__sub_mchid=sub_mchid)
    return steps.annotate(
        our_state=Case(
            When(status=FundsStep.Status.CONFIRMED, then=Value(sql.DONE)),
            When(status__in=FundsStep.OPEN, then=Value(sql.PENDING)),
            default=F("status"),
            output_field=CharField(),
        ),
        our_amount_fen=F("amount_fen"),
        our_at=F("confirmed_at"),
    )


def _share_key():
    return Concat(F("part__sub_mchid"), Value(":"), F("out_no"), output_field=CharField())


def shares_ours(gateway: str, sub_mchid: str = "") -> QuerySet:
    return _steps(gateway, sub_mchid, Kind.SHARE).annotate(our_key=_share_key())


def share_returns_ours(gateway: str, sub_mchid: str = "") -> QuerySet:
    return _steps(gateway, sub_mchid, Kind.SHARE_RETURN).annotate(our_key=_share_key())


def subsidies_ours(gateway: str, sub_mchid: str = "") -> QuerySet:
    return _steps(gateway, sub_mchid, Kind.SUBSIDY).annotate(
        our_key=Concat(Value(SUBSIDY_KEY), F("part__transaction_id"), output_field=CharField())
    )


def subsidy_returns_ours(gateway: str, sub_mchid: str = "") -> QuerySet:
    return _steps(gateway, sub_mchid, Kind.SUBSIDY_RETURN).annotate(
        our_key=Concat(Value(SUBSIDY_RETURN_KEY), F("out_no"), output_field=CharField())
    )


# --- ops applying a missed result ------------------------------------------------------------


def _case_step(case: ReconciliationCase) -> FundsStep:
    steps = FundsStep.objects.select_related("part", "part__payment")
    if case.key.startswith(SUBSIDY_KEY):
        step = steps.filter(kind=Kind.SUBSIDY, part__transaction_id=case.key[len(SUBSIDY_KEY) :]).first()
    elif case.key.startswith(SUBSIDY_RETURN_KEY):
        step = steps.filter(kind=Kind.SUBSIDY_RETURN, out_no=case.key[len(SUBSIDY_RETURN_KEY) :]).first()
    else:
        sub_mchid, _, out_no = case.key.partition(":")
        shares = steps.filter(kind__in=[Kind.SHARE, Kind.SHARE_RETURN], out_no=out_no)
        step = shares.filter(part__sub_mchid=sub_mchid).first()
    if step is None:
        raise CaseNotResolvable("We have no gateway step with this number: explain the case instead.")
    return step


def _gateway_says_done(step: FundsStep) -> tuple[bool, str]:
    """Ask the gateway about the step: ``(succeeded, its id)``. Subsidies have no query: the
    same request (same ``out_subsidy_no``/``out_order_no``) answers as the first did."""
    part = step.part
    gateway = ecommerce_gateway_get(part.payment.gateway)
    if step.kind == Kind.SHARE:
        share = gateway.profit_share_query(
            sub_mchid=part.sub_mchid, transaction_id=part.transaction_id, out_order_no=step.out_no
        )
        done = share is not None and share.finished and all(r.result == "SUCCESS" for r in share.receivers)
        return done, share.order_id if share else ""
    if step.kind == Kind.SHARE_RETURN:
        ret = gateway.profit_share_return_query(
            sub_mchid=part.sub_mchid, out_order_no=f"S{step.order_id}", out_return_no=step.out_no
        )
        return (ret is not None and ret.result == "SUCCESS"), ret.return_no if ret else ""
    if step.kind == Kind.SUBSIDY:
        subsidy = gateway.subsidy_create(
            sub_mchid=part.sub_mchid,
            transaction_id=part.transaction_id,
            amount_fen=step.amount_fen,
            description="平台优惠券补差",
            out_subsidy_no=step.out_no,
        )
        return subsidy.result == "SUCCESS", subsidy.subsidy_id
    if step.kind == Kind.SUBSIDY_RETURN:
        refund = Refund.objects.get(pk=step.refund_id)
        done = gateway.subsidy_return(
            sub_mchid=part.sub_mchid,
            out_order_no=step.out_no,
            transaction_id=part.transaction_id,
            refund_id=refund.gateway_refund_id,
            amount_fen=step.amount_fen,
            description="退款退回补差",
        )
        return done.result == "SUCCESS", done.subsidy_refund_id
    raise CaseNotResolvable(f"A {step.kind} step is not matched with the bills.")


def step_case_apply_missed(case: ReconciliationCase) -> tuple[str, str]:
    """Re-query the gateway about the case's step and, if it succeeded there, confirm it with
    us (``funds_step_confirm``: once, its posting once). No lock is held across the call."""
    step = _case_step(case)
    if step.status == FundsStep.Status.CONFIRMED:
        note = f"Already confirmed with us ({step.gateway_id})."
        return ReconciliationCase.Resolution.ALREADY_APPLIED, note
    try:
        done, gateway_id = _gateway_says_done(step)
    except GatewayError as exc:
        raise CaseNotResolvable(f"The gateway did not answer ({exc.message}): try again later.") from exc
    if not done:
        raise CaseNotResolvable("The gateway does not say this step succeeded: explain the case instead.")
    before = FundsStep.objects.filter(pk=step.pk).values_list("status", flat=True).get()
    funds_step_confirm(step_id=step.pk, gateway_id=gateway_id)
    if before == FundsStep.Status.CONFIRMED:  # its own poller was quicker
        return ReconciliationCase.Resolution.ALREADY_APPLIED, f"Confirmed meanwhile ({gateway_id})."
    return ReconciliationCase.Resolution.APPLIED, f"Re-queried: {step.out_no} confirmed ({gateway_id})."


def register_step_matchers() -> None:
    """Shares and returns (profit-sharing bill), subsidies and returns (secondary merchants'
    fund-flow bills), with their "apply the missed result"."""
    register_bill_kind(kind=SHARE_BILL, read=share_line_read)
    register_bill_kind(kind=FUNDFLOW_BILL, read=fundflow_line_read, accounts=fundflow_accounts, summed=True)
    for name, bill_kind, ours in (
        ("shares", SHARE_BILL, shares_ours),
        ("share_returns", SHARE_BILL, share_returns_ours),
        ("subsidies", FUNDFLOW_BILL, subsidies_ours),
        ("subsidy_returns", FUNDFLOW_BILL, subsidy_returns_ours),
    ):
        register_bill_matcher(name=name, bill_kind=bill_kind, ours=ours, apply_missed=step_case_apply_missed)
