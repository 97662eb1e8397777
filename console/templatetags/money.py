"""``{{ amount_fen|yuan }}``: fen shown as ``¥19.90`` (``shop.money.fen_display``)."""

from django import template

from shop.money import fen_display

register = template.Library()


@register.filter
def yuan(amount_fen):
    if amount_fen is None or amount_fen == "":
        return ""
    return fen_display(int(amount_fen))
