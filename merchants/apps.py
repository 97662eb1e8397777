from django.apps import AppConfig


class MerchantsConfig(AppConfig):
    name = "merchants"
    verbose_name = "Merchants"

    def ready(self) -> None:
        from accounts.profile import register_me_field
        from shop import sweepers
        from shop.payments.registry import register_purpose, register_refund_purpose

        from .models import DEPOSIT_PURPOSE, DEPOSIT_REFUND_PURPOSE
        from .selectors import merchant_id_of_user_expression
        from .services.deposits import deposit_payment_succeeded
        from .services.exit import deposit_refund_failed, deposit_refund_succeeded, deposit_refunds_start_due

        register_purpose(purpose=DEPOSIT_PURPOSE, on_succeeded=deposit_payment_succeeded)
        # A deposit refund on exit is a generic shop.payments Refund. Succeeded: the exit is done
        # (merchant closed). Refused or closed: the part goes back into the deposit, for ops
        # (so it is never resent from the refund queue). Abnormal: stays in the refund queue.
        register_refund_purpose(
            purpose=DEPOSIT_REFUND_PURPOSE,
            on_succeeded=deposit_refund_succeeded,
            on_failed=deposit_refund_failed,
            failed_money_returned=True,
        )
        register_me_field(name="merchant_id", expression=merchant_id_of_user_expression)
        from .checks import register_ledger_checks

        register_ledger_checks()  # this app's sub-ledgers, reconciled by ledger_check
        sweepers.register(
            name="merchants.deposit_refunds_due",
            description="Start the deposit refunds of leaving merchants whose cool-off passed",
            run=deposit_refunds_start_due,
            order=60,
        )
        from .privacy import register_privacy

        register_privacy()  # PIPL: this app's part of GET /me/export and DELETE /me
        from shop import overview

        from .overview import deposit_panel

        overview.register(name="merchants.deposits", build=deposit_panel, order=40)
