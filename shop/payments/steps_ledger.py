"""The ledger postings of confirmed gateway steps that only ``shop.payments`` needs to know
(docs/merchant-money.md, "The ledger follows the money"). Each posts once, under the step's
key, with ``ref_type="order"`` (statements read these kinds on ``merchant_frozen``)."""

from __future__ import annotations

from shop.ledger.models import Account
from shop.ledger.services import AccountRef, ledger_post

from .models import FundsStep
from .services import gateway_clearing


def merchant_frozen(merchant_id: int) -> AccountRef:
    return AccountRef.merchant(Account.Kind.MERCHANT_FROZEN, merchant_id)


def subsidy_confirmed(step: FundsStep) -> None:
    """The platform paid the coupon's part into the merchant's frozen funds."""
    ledger_post(
        key=f"funds-step:{step.pk}",
        kind="subsidy_paid",
        lines=[(merchant_frozen(step.merchant_id), -step.amount_fen), (gateway_clearing(), step.amount_fen)],
        memo=f"Subsidy {step.out_no}",
        ref_type="order",
        ref_id=step.order_id,
    )


def unfreeze_confirmed(step: FundsStep) -> None:
    """The rest left the frozen funds for the merchant: neither frozen nor receivable now."""
    ledger_post(
        key=f"funds-step:{step.pk}",
        kind="unfreeze_confirmed",
        lines=[
            (merchant_frozen(step.merchant_id), step.amount_fen),
            (AccountRef.merchant(Account.Kind.MERCHANT_RECEIVABLE, step.merchant_id), -step.amount_fen),
        ],
        memo=f"Unfreeze {step.out_no}",
        ref_type="order",
        ref_id=step.order_id,
    )


def register_step_handlers() -> None:
    from .steps import STEP_CONFIRMED

    STEP_CONFIRMED.register(FundsStep.Kind.SUBSIDY, subsidy_confirmed)
    STEP_CONFIRMED.register(FundsStep.Kind.UNFREEZE, unfreeze_confirmed)
