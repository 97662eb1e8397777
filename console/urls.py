"""The merchant console's pages (``/console/``), one module per page under ``pages/``."""

from django.urls import path, re_path

from .pages import (
    after_sales,
    conversations,
    deposit,
    flash_offers,
    home,
    language,
    orders,
    products,
    signin,
    staff,
    statements,
    stock,
)

app_name = "console"

urlpatterns = [
    path("", home.home, name="home"),
    path("signin", signin.signin, name="signin"),
    path("signin/callback", signin.signin_callback, name="signin_callback"),
    path("signout", signin.signout, name="signout"),
    path("language", language.language, name="language"),
    path("staff/", staff.staff_list, name="staff"),
    path("staff/invite", staff.staff_invite, name="staff_invite"),
    path("staff/<int:staff_id>/remove", staff.staff_remove, name="staff_remove"),
    path("staff/leave", staff.staff_leave, name="staff_leave"),
    path("after-sales", after_sales.after_sale_list, name="after-sales"),
    path("after-sales/<int:case_id>", after_sales.after_sale_detail, name="after-sale"),
    re_path(
        r"^after-sales/(?P<case_id>[0-9]+)/(?P<action>approve|reject|received)$",
        after_sales.after_sale_answer,
        name="after-sale-answer",
    ),
    path("deposit", deposit.deposit_page, name="deposit"),
    path("deposit/pay", deposit.deposit_pay, name="deposit-pay"),
    path("deposit/payments/<int:payment_id>", deposit.deposit_payment, name="deposit-payment"),
    path(
        "deposit/payments/<int:payment_id>/status",
        deposit.deposit_payment_status,
        name="deposit-payment-status",
    ),
    path("statements", statements.statement_list, name="statements"),
    path("statements/<int:statement_id>", statements.statement_detail, name="statement"),
    re_path(
        r"^statements/(?P<statement_id>[0-9]+)/download\.(?P<file>csv|xlsx)$",
        statements.statement_download,
        name="statement-download",
    ),
    path("flash-offers", flash_offers.flash_offers, name="flash-offers"),
    path("conversations", conversations.conversation_list, name="conversations"),
    path("conversations/<int:conversation_id>", conversations.conversation_detail, name="conversation"),
    path(
        "conversations/<int:conversation_id>/answer",
        conversations.conversation_answer,
        name="conversation-answer",
    ),
    path("products", products.product_list, name="products"),
    path("products/new", products.product_new, name="product-new"),
    path("products/<int:product_id>", products.product_detail, name="product"),
    path("products/<int:product_id>/skus", products.sku_new, name="sku-new"),
    path("skus/<int:sku_id>", products.sku_edit, name="sku"),
    path("stock", stock.stock_index, name="stock"),
    path("stock/uploads/<int:upload_id>", stock.stock_upload_detail, name="stock-upload"),
    path("stock/template.<str:file_format>", stock.stock_template, name="stock-template"),
    path("orders", orders.order_list, name="orders"),
    path("orders/<int:order_id>", orders.order_detail, name="order"),
    path("orders/shipping-list.<str:file_format>", orders.shipping_list, name="shipping-list"),
    path("orders/tracking", orders.tracking_upload, name="tracking-upload"),
]
