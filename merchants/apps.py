from django.apps import AppConfig


class MerchantsConfig(AppConfig):
    name = "merchants"
    verbose_name = "Merchants"

    def ready(self) -> None:
        from accounts.profile import register_me_field
        from shop import sweepers
        from shop.payments.registry import register_purpose

        from .selectors import merchant_id_for_user
        from .services.deposits import DEPOSIT_PURPOSE, deposit_payment_succeeded, deposit_refunds_sweep

        register_purpose(purpose=DEPOSIT_PURPOSE, on_succeeded=deposit_payment_succeeded)
        register_me_field(name="merchant_id", compute=merchant_id_for_user)
        sweepers.register(
            name="merchants.deposit_refunds",
            description="Refund deposits of merchants whose exit cool-off passed; retry refunds in flight",
            run=deposit_refunds_sweep,
            order=60,
        )
