"""Refusals of the payments service (refunds, shipping upload)."""

from __future__ import annotations

from shop.errors import Conflict, NotFound


class RefundExceedsPayment(Conflict):
    code = "refund_exceeds_payment"
    default_message = "This refund and the earlier ones would be more than was paid."


class PaymentNotRefundable(Conflict):
    code = "payment_not_refundable"
    default_message = "Only a paid payment can be refunded."


class RefundKeyReused(Conflict):
    code = "refund_key_reused"
    default_message = "This refund key was already used for a different refund."


class RefundNotResendable(Conflict):
    code = "refund_not_resendable"
    default_message = "Only a failed refund can be sent again."


class RefundNotFound(NotFound):
    code = "not_found"
    default_message = "No such refund."


class RefundCallbackMismatch(Conflict):
    code = "refund_callback_mismatch"
    default_message = "The refund notification does not match our refund."


class PaymentNotPaid(Conflict):
    code = "payment_not_paid"
    default_message = "This payment has not been paid."


class PaymentNotClosable(Conflict):
    code = "payment_not_closable"


class PaymentClosed(Conflict):
    code = "payment_closed"
    default_message = "This payment was closed (its order was cancelled); it can no longer be paid."


class PayoutNotRetryable(Conflict):
    code = "payout_not_retryable"
    default_message = "This payout cannot be retried now."


class CaseNotResolvable(Conflict):
    code = "reconciliation_case_not_resolvable"
    default_message = "This reconciliation case cannot be resolved that way."


class BillImportBusy(Conflict):
    code = "bill_import_busy"
    default_message = "This bill is being imported right now."


class FundsStepNotFound(NotFound):
    code = "not_found"
    default_message = "No such gateway step."


class ShareCallbackMismatch(Conflict):
    code = "share_callback_mismatch"
    default_message = "The profit-sharing notification does not match our gateway step."
