"""What each staff role of a merchant may do: the one matrix, checked in the services.

The REST API and the console call the same services, so a rule here binds both. Three roles
(``MerchantStaff.Role``):

============  =====  ========  =======
area          owner  operator  finance
============  =====  ========  =======
catalog       yes    yes       no       products, SKUs, stock uploads (changes)
orders        yes    yes       no       shipping, invoices, after-sales answers, returns, return address
flash         yes    yes       no       flash-offer proposals
deposit       yes    no        yes      paying the margin deposit, its movements
statements    yes    no        yes      daily statements, their lines and exports
staff         yes    no        no       invitations, removing staff (``merchant_require_owner``)
exit          yes    no        no       leaving the platform
============  =====  ========  =======

Reading products and orders is open to every role (finance reconciles against orders); the
home page shows each role the parts it can act on. Leaving the staff is open to everyone.

``actor=None`` in a service means a system call (a Celery task, a sweeper, the demo seed):
no person, no role to check. Every view passes ``request.user``. Ops acting in the admin
(``user.is_staff``) pass every check, as they do ``merchant_require_owner``.
"""

from __future__ import annotations

from .errors import NotMerchantStaff, StaffRoleNotAllowed
from .models import MerchantStaff

OWNER, OPERATOR, FINANCE = MerchantStaff.Role.OWNER, MerchantStaff.Role.OPERATOR, MerchantStaff.Role.FINANCE

CATALOG = "catalog"
ORDERS = "orders"
FLASH = "flash"
DEPOSIT = "deposit"
STATEMENTS = "statements"
STAFF = "staff"
EXIT = "exit"

AREA_ROLES: dict[str, frozenset[str]] = {
    CATALOG: frozenset({OWNER, OPERATOR}),
    ORDERS: frozenset({OWNER, OPERATOR}),
    FLASH: frozenset({OWNER, OPERATOR}),
    DEPOSIT: frozenset({OWNER, FINANCE}),
    STATEMENTS: frozenset({OWNER, FINANCE}),
    STAFF: frozenset({OWNER}),
    EXIT: frozenset({OWNER}),
}


def role_may(role: str, area: str) -> bool:
    """Whether a staff member in ``role`` may work in ``area`` (pages use it to hide links)."""
    return role in AREA_ROLES[area]


def staff_require_role(*, user, merchant_id: int, area: str) -> None:
    """403 unless ``user`` is staff of the merchant in a role that covers ``area``.

    ``user=None`` is a system call and passes; ops (``is_staff``) pass. Someone who is not
    the merchant's staff at all: ``403 not_merchant_staff``; the wrong role: ``403
    staff_role_not_allowed``. One indexed query (``MerchantStaff.user`` is unique).
    """
    if user is None or getattr(user, "is_staff", False):
        return
    role = (
        MerchantStaff.objects.filter(user_id=user.pk, merchant_id=merchant_id)
        .values_list("role", flat=True)
        .first()
    )
    if role is None:
        raise NotMerchantStaff()
    if role not in AREA_ROLES[area]:
        allowed = " or ".join(sorted(AREA_ROLES[area]))
        raise StaffRoleNotAllowed(f"Your role ({role}) does not allow this: {area} is for {allowed}.")
