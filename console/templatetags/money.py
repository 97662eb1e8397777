"""``{{ amount_fen|yuan }}``: fen shown as ``¥19.90`` (shop.money.fen_display), and
``{{ amount_fen|yuan_input }}``: as typed in a form (``19.90``)."""

from django import template

from shop.money import fen_display

register = template.Library()


@register.filter
def yuan(amount_fen):
    if amount_fen is None or amount_fen == "":
        return ""
    return fen_display(int(amount_fen))


@register.filter
def yuan_input(amount_fen):
    if amount_fen is None or amount_fen == "":
        return ""
    return fen_display(int(amount_fen)).lstrip("¥")
