"""Seller-side services: onboarding, margin deposits, leaving, the product console, stock uploads."""

from .catalog import (
    merchant_product_create,
    merchant_product_publish,
    merchant_product_update,
    merchant_sku_create,
    merchant_sku_update,
)
from .deposits import DEPOSIT_PURPOSE, deposit_deduct, deposit_payment_create, deposit_payment_succeeded
from .exit import (
    deposit_refund_failed,
    deposit_refund_start,
    deposit_refund_succeeded,
    deposit_refunds_start_due,
    merchant_exit_cancel,
    merchant_exit_request,
)
from .onboarding import merchant_apply, merchant_review
from .profile import merchant_return_address_set
from .staff import merchant_staff_invite, merchant_staff_leave, merchant_staff_remove, staff_invitation_accept
from .stock_upload import stock_upload_run

__all__ = [
    "DEPOSIT_PURPOSE",
    "deposit_deduct",
    "deposit_payment_create",
    "deposit_payment_succeeded",
    "deposit_refund_failed",
    "deposit_refund_start",
    "deposit_refund_succeeded",
    "deposit_refunds_start_due",
    "merchant_apply",
    "merchant_exit_cancel",
    "merchant_exit_request",
    "merchant_product_create",
    "merchant_product_publish",
    "merchant_product_update",
    "merchant_return_address_set",
    "merchant_review",
    "merchant_sku_create",
    "merchant_sku_update",
    "merchant_staff_invite",
    "merchant_staff_leave",
    "merchant_staff_remove",
    "staff_invitation_accept",
    "stock_upload_run",
]
