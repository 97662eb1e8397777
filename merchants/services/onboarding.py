"""Applications, ops review, staff accounts."""

from __future__ import annotations

from django.conf import settings
from django.db import IntegrityError, transaction
from django.utils import timezone

from shop.errors import ValidationFailed
from shop.notifications.services import notification_send
from shop.payments.gateways.ecommerce_sandbox import SandboxEcommerceGateway

from ..errors import MerchantAlreadyExists, MerchantNotReviewable
from ..locks import merchant_qs_for_update
from ..models import Merchant, MerchantStaff
from ..selectors import merchant_staff_user_ids


def notify_staff(*, merchant_id: int, kind: str, title: str, body: str, data: dict, dedupe: str) -> None:
    """An in-app notification to every staff member of a merchant, once per ``dedupe``."""
    for user_id in merchant_staff_user_ids(merchant_id=merchant_id):
        notification_send(
            recipient_id=user_id,
            kind=kind,
            title=title,
            body=body,
            data=data,
            dedupe_key=f"{dedupe}:{user_id}",
        )


@transaction.atomic
def merchant_apply(
    *, applicant, company_name: str, licence_no: str, contact_phone: str, category_ids: list[int]
) -> Merchant:
    """An application, reviewed by ops; the applicant becomes the merchant's owner-staff.

    A rejected applicant may apply again: the same merchant goes back to review with
    the new details. Anyone already working for a merchant otherwise gets 409.
    """
    staff = MerchantStaff.objects.filter(user=applicant).first()
    if staff is not None:
        merchant = merchant_qs_for_update().get(pk=staff.merchant_id)
        if merchant.status != Merchant.Status.REJECTED or staff.role != MerchantStaff.Role.OWNER:
            raise MerchantAlreadyExists()
        merchant.company_name, merchant.licence_no = company_name, licence_no
        merchant.contact_phone = contact_phone
        merchant.status = Merchant.Status.PENDING
        merchant.rejection_reason = ""
        merchant.save(
            update_fields=[
                "company_name",
                "licence_no",
                "contact_phone",
                "status",
                "rejection_reason",
                "updated_at",
            ]
        )
        merchant.categories.set(category_ids)
        return merchant
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
    """Ops approve or reject an application; a rejection needs a reason the merchant sees.
    Repeating the same decision is a no-op; changing a decided one is 409."""
    if not approve and not reason.strip():
        raise ValidationFailed(
            fields={"reason": ["Say why the application is rejected; the merchant sees it."]}
        )
    merchant = merchant_qs_for_update().get(pk=merchant_id)
    target = Merchant.Status.APPROVED if approve else Merchant.Status.REJECTED
    if merchant.status == target:
        return merchant
    if merchant.status != Merchant.Status.PENDING:
        raise MerchantNotReviewable()
    merchant.status = target
    merchant.rejection_reason = "" if approve else reason.strip()[:255]
    merchant.reviewed_at = timezone.now()
    merchant.reviewed_by = reviewer
    fields = ["status", "rejection_reason", "reviewed_at", "reviewed_by", "updated_at"]
    if approve and not merchant.sub_mchid and settings.SANDBOX:
        # The sandbox makes the secondary merchant WeChat would (a stable id, idempotent);
        # in production ops enter the sub_mchid WeChat gave the merchant in admin.
        merchant.sub_mchid = SandboxEcommerceGateway().open_sub_merchant(f"merchant-{merchant.pk}")
        fields.append("sub_mchid")
    merchant.save(update_fields=fields)
    notify_staff(
        merchant_id=merchant.pk,
        kind="merchant_reviewed",
        title="Your shop is approved" if approve else "Your application was not approved",
        body="" if approve else merchant.rejection_reason,
        data={"merchant_id": merchant.pk, "status": merchant.status},
        dedupe=f"merchant-review:{merchant.pk}:{merchant.reviewed_at.isoformat()}",
    )
    return merchant
