"""Merchant onboarding and margin deposits."""

from __future__ import annotations

from django.db import IntegrityError, transaction
from django.utils import timezone

from shop.ledger.models import Account
from shop.ledger.services import AccountRef
from shop.payments.models import Payment
from shop.payments.services import payment_create, payment_post_receipt

from .errors import MerchantAlreadyExists, MerchantNotReviewable
from .models import Merchant, MerchantStaff

DEPOSIT_PURPOSE = "merchant_deposit"


@transaction.atomic
def merchant_apply(
    *, applicant, company_name: str, licence_no: str, contact_phone: str, category_ids: list[int]
) -> Merchant:
    """An application, reviewed by ops; the applicant becomes the merchant's owner-staff."""
    if MerchantStaff.objects.filter(user=applicant).exists():
        raise MerchantAlreadyExists()
    merchant = Merchant.objects.create(
        company_name=company_name, licence_no=licence_no, contact_phone=contact_phone, applicant=applicant
    )
    merchant.categories.set(category_ids)
    try:
        with transaction.atomic():
            MerchantStaff.objects.create(merchant=merchant, user=applicant, role=MerchantStaff.Role.OWNER)
    except IntegrityError:
        raise MerchantAlreadyExists() from None
    return merchant


@transaction.atomic
def merchant_review(*, merchant_id: int, approve: bool, reviewer, reason: str = "") -> Merchant:
    """Ops approve or reject an application (with a reason the merchant sees)."""
    merchant = Merchant.objects.select_for_update(no_key=True).get(pk=merchant_id)
    target = Merchant.Status.APPROVED if approve else Merchant.Status.REJECTED
    if merchant.status == target:
        return merchant
    if merchant.status != Merchant.Status.PENDING:
        raise MerchantNotReviewable()
    merchant.status = target
    merchant.rejection_reason = "" if approve else reason
    merchant.reviewed_at = timezone.now()
    merchant.reviewed_by = reviewer
    merchant.save(update_fields=["status", "rejection_reason", "reviewed_at", "reviewed_by", "updated_at"])
    return merchant


def deposit_payment_create(*, merchant: Merchant, payer, amount_fen: int, gateway: str) -> Payment:
    """A payment that, once paid, adds to the merchant's margin deposit."""
    return payment_create(
        purpose=DEPOSIT_PURPOSE,
        payer_id=payer.pk,
        amount_fen=amount_fen,
        gateway=gateway,
        description=f"Margin deposit of merchant {merchant.pk}",
        ref_id=merchant.pk,
    )


def deposit_payment_succeeded(payment: Payment) -> None:
    """Payment handler (registered in ``MerchantsConfig.ready``): the deposit grows."""
    payment_post_receipt(
        payment=payment,
        credits=[(AccountRef.merchant(Account.Kind.MERCHANT_DEPOSIT, payment.ref_id), payment.amount_fen)],
        kind="deposit_paid",
    )
