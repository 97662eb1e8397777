"""The merchant console's pages (``/console/``), one module per page under ``pages/``."""

from django.urls import path, re_path

from .pages import after_sales, deposit, flash_offers, home, language, signin, staff, statements

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
]
