"""The home page: what needs doing today, each part from its app's selector.

Orders to ship and after-sales cases (orders), stock running out (products), deposit
coverage (merchants), money held and released (rebates' statements). A part is shown to the
roles that act on it (merchants/roles.py): money to owner and finance, orders and stock to
owner and operator, deposit coverage to everyone (it decides what can be listed), and the
conversations the assistant handed over (assistant) to the roles that answer them.
"""

from __future__ import annotations

from django.shortcuts import render

from assistant.selectors import conversations_waiting_for_merchant
from merchants.roles import CATALOG, ORDERS, STATEMENTS, role_may
from merchants.selectors import deposit_coverage_for_merchant
from orders.selectors import merchant_after_sales_due, merchant_orders_to_ship
from products.selectors import LOW_STOCK_UNITS, sku_low_stock_for_merchant
from rebates.selectors import statement_money_summary

from ..access import console_page


@console_page()
def home(request):
    merchant_id, role = request.merchant.pk, request.staff.role
    context: dict = {"deposit": deposit_coverage_for_merchant(merchant_id=merchant_id)}
    if role_may(role, ORDERS):
        context["to_ship"] = merchant_orders_to_ship(merchant_id=merchant_id)
        context["after_sales_count"], context["after_sales"] = merchant_after_sales_due(
            merchant_id=merchant_id
        )
        context["conversations_count"], context["conversations"] = conversations_waiting_for_merchant(
            merchant_id=merchant_id
        )
    if role_may(role, CATALOG):
        context["low_stock"] = sku_low_stock_for_merchant(merchant_id=merchant_id)
        context["low_stock_units"] = LOW_STOCK_UNITS
    if role_may(role, STATEMENTS):
        context["show_money"] = True
        context["money"] = statement_money_summary(merchant_id=merchant_id, viewer=request.user)
    return render(request, "console/home.html", context)
