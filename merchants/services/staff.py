"""Staff by consent (issue 19, item 4): an owner invites, the person accepts.

Nobody is put on a merchant's staff by someone else any more: an owner makes a single-use
invitation for a role (``merchant_staff_invite``), which returns a code once; the person
accepts it while logged in (``staff_invitation_accept``). A person works for at most one
merchant (``MerchantStaff.user`` is one-to-one). Owners remove staff; anyone leaves by
themselves, except the last owner of a merchant still on the platform.

Locks: accepting locks the invitation, then the merchant (so two accepts of one code queue
on the invitation and exactly one wins); removing and leaving lock the merchant (so two
owners leaving at once cannot both pass the "another owner remains" check). Nothing locks
the merchant and then an invitation, so the orders cannot cross.
"""

from __future__ import annotations

import secrets
from datetime import datetime

from django.db import IntegrityError, transaction
from django.utils import timezone

from accounts.services import token_hash

from ..errors import (
    AlreadyStaff,
    InvitationExpired,
    InvitationNotFound,
    InvitationUsed,
    LastOwnerCannotLeave,
    MerchantNotActive,
    NotMerchantStaff,
    StaffNotFound,
    StaffOfAnotherMerchant,
    StaffRemoveSelf,
)
from ..locks import merchant_qs_for_update
from ..models import Merchant, MerchantStaff, MerchantStaffInvitation
from ..rules import staff_invitation_ttl
from ..selectors import CONSOLE_STATUSES, merchant_require_owner
from .onboarding import notify_staff

# A merchant in one of these still needs an owner: its last owner cannot leave.
OWNER_NEEDED_STATUSES = (
    Merchant.Status.PENDING,
    Merchant.Status.APPROVED,
    Merchant.Status.SUSPENDED,
    Merchant.Status.EXITING,
)
CODE_BYTES = 18  # 144 random bits, 24 URL-safe characters: not guessable in 72 hours


def merchant_staff_invite(
    *, merchant: Merchant, role: str, actor, now: datetime | None = None
) -> tuple[MerchantStaffInvitation, str]:
    """An owner's invitation to join in ``role``; returns it and its code (shown only now)."""
    merchant_require_owner(merchant=merchant, user=actor)
    if role not in MerchantStaff.Role.values:
        raise ValueError(f"unknown staff role {role!r}")
    now = now or timezone.now()
    code = secrets.token_urlsafe(CODE_BYTES)
    invitation = MerchantStaffInvitation.objects.create(
        merchant=merchant,
        role=role,
        code_hash=token_hash(code),
        invited_by=actor,
        expires_at=now + staff_invitation_ttl(),
    )
    return invitation, code


@transaction.atomic
def staff_invitation_accept(*, user, code: str, now: datetime | None = None) -> MerchantStaff:
    """The person joins the invitation's merchant in its role, once.

    Unknown code: 404; expired: 410; used by someone else: 409 ``invitation_used``; the
    person already works for another merchant: 409 ``staff_of_another_merchant`` (the
    invitation stays usable). Accepting again one's own accepted invitation returns the
    same staff row. Concurrent accepts of one code: the invitation row is locked first,
    so exactly one succeeds."""
    now = now or timezone.now()
    invitation = (
        MerchantStaffInvitation.objects.select_for_update(no_key=True, of=("self",))
        .filter(code_hash=token_hash(code))
        .first()
    )
    if invitation is None:
        raise InvitationNotFound()
    if invitation.accepted_at is not None:
        if invitation.accepted_by_id == user.pk:
            staff = MerchantStaff.objects.filter(user=user, merchant_id=invitation.merchant_id).first()
            if staff is not None:
                return staff
        raise InvitationUsed()
    if invitation.expires_at <= now:
        raise InvitationExpired()
    merchant = merchant_qs_for_update().get(pk=invitation.merchant_id)  # lock order: invitation, merchant
    if merchant.status not in CONSOLE_STATUSES:
        raise MerchantNotActive("This merchant is not taking on staff.")
    existing = MerchantStaff.objects.filter(user=user).first()
    if existing is not None:
        raise AlreadyStaff() if existing.merchant_id == merchant.pk else StaffOfAnotherMerchant()
    try:
        with transaction.atomic():
            staff = MerchantStaff.objects.create(merchant=merchant, user=user, role=invitation.role)
    except IntegrityError:  # the same person accepted another merchant's code at this moment
        raise StaffOfAnotherMerchant() from None
    invitation.accepted_at = now
    invitation.accepted_by = user
    invitation.save(update_fields=["accepted_at", "accepted_by", "updated_at"])
    notify_staff(
        merchant_id=merchant.pk,
        kind="merchant_staff_joined",
        title="Someone joined your staff",
        body=f"{user.nickname or user.pk} accepted an invitation as {invitation.get_role_display()}.",
        data={"staff_id": staff.pk, "role": staff.role},
        dedupe=f"staff-joined:{staff.pk}",
    )
    return staff


@transaction.atomic
def merchant_staff_remove(*, merchant: Merchant, staff_id: int, actor) -> None:
    """An owner removes a staff member (another owner too). Their console access ends at
    once: every console call looks the person's staff row up. Oneself: 403 (leave instead).
    The owner check runs under the merchant's lock: two owners removing each other at once
    would otherwise both pass it and leave the merchant with none."""
    merchant_qs_for_update().get(pk=merchant.pk)
    merchant_require_owner(merchant=merchant, user=actor)
    staff = MerchantStaff.objects.filter(pk=staff_id, merchant=merchant).first()
    if staff is None:
        raise StaffNotFound()
    if staff.user_id == actor.pk:
        raise StaffRemoveSelf()
    staff.delete()


@transaction.atomic
def merchant_staff_leave(*, user) -> Merchant:
    """The person leaves the merchant they work for. The last owner of a merchant still on
    the platform cannot (409 ``last_owner``): someone must answer for its orders and deposit."""
    merchant_id = MerchantStaff.objects.filter(user=user).values_list("merchant_id", flat=True).first()
    if merchant_id is None:
        raise NotMerchantStaff()
    merchant = merchant_qs_for_update().get(pk=merchant_id)
    staff = MerchantStaff.objects.filter(user=user, merchant=merchant).first()
    if staff is None:  # removed meanwhile
        raise NotMerchantStaff()
    if (
        staff.role == MerchantStaff.Role.OWNER
        and merchant.status in OWNER_NEEDED_STATUSES
        and not MerchantStaff.objects.filter(merchant=merchant, role=MerchantStaff.Role.OWNER)
        .exclude(pk=staff.pk)
        .exists()
    ):
        raise LastOwnerCannotLeave()
    staff.delete()
    return merchant
