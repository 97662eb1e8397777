"""Template helpers for the console: money in yuan, and whether the caller's role covers an area."""

from __future__ import annotations

from django import template
from django.utils.translation import gettext_lazy as _

from merchants.roles import role_may
from shop.money import fen_display

register = template.Library()


@register.filter
def yuan(amount_fen) -> str:
    """Integer fen as ``¥1,234.50`` (shop/money.py); empty for ``None``."""
    return "" if amount_fen is None else fen_display(int(amount_fen))


ROLE_LABELS = {"owner": _("Owner"), "operator": _("Operator"), "finance": _("Finance")}


@register.filter
def role_label(role: str) -> str:
    """A staff role's name in the console's language (the model's labels are English)."""
    return ROLE_LABELS.get(role, role)


@register.filter
def may(staff, area: str) -> bool:
    """``{% if request.staff|may:"statements" %}``: the role matrix of merchants/roles.py."""
    return bool(staff) and role_may(staff.role, area)
