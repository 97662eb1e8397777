"""Refusals of the ledger."""

from __future__ import annotations

from shop.errors import ApplicationError


class UnbalancedTransaction(ApplicationError):
    code = "ledger_unbalanced"
    http_status = 500


class InsufficientBalance(ApplicationError):
    """A conditional debit found less on the account than it must leave there."""

    code = "insufficient_balance"
    http_status = 409
    default_message = "The balance is too low for this."
