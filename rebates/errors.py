"""Refusals of the rebates app, with stable codes (rendered by the API's error handler)."""

from __future__ import annotations

from shop.errors import ApplicationError, Conflict, NotFound, PermissionDenied, ValidationFailed


class EnvelopeNotEligible(PermissionDenied):
    code = "envelope_not_eligible"
    default_message = "Only members who joined before this red envelope was sent can claim it."


class EnvelopeAlreadyClaimed(Conflict):
    code = "envelope_already_claimed"
    default_message = "You have already claimed this red envelope."


class EnvelopeEmpty(Conflict):
    code = "envelope_empty"
    default_message = "This red envelope has been claimed in full."


class EnvelopeExpired(Conflict):
    code = "envelope_expired"
    default_message = "This red envelope has expired."


class WithdrawalTooSmall(ValidationFailed):
    code = "withdrawal_too_small"
    default_message = "A withdrawal must be at least ¥1.00."


class WithdrawalBalanceShort(Conflict):
    code = "insufficient_balance"
    default_message = "Your withdrawable balance is too low for this withdrawal."


class WithdrawalDailyLimit(Conflict):
    code = "withdrawal_daily_limit"
    default_message = "This would pass today's withdrawal limit."


class WithdrawalNotRetryable(Conflict):
    code = "withdrawal_not_retryable"
    default_message = "Only a failed withdrawal can be retried."


class StatementNotFound(NotFound):
    code = "statement_not_found"
    default_message = "Statement not found."


class StatementsDoNotBalance(ApplicationError):
    """A day's statements disagree with the ledger: nothing is written (the books come first)."""

    code = "statements_do_not_balance"
    http_status = 500
    default_message = "The merchant statements disagree with the ledger."
