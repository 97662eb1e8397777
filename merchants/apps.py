from django.apps import AppConfig


class MerchantsConfig(AppConfig):
    name = "merchants"
    verbose_name = "Merchants"

    def ready(self) -> None:
        from accounts.profile import register_me_field
        from shop.payments.registry import register_purpose

        from .selectors import merchant_id_for_user
        from .services import DEPOSIT_PURPOSE, deposit_payment_succeeded

        register_purpose(purpose=DEPOSIT_PURPOSE, on_succeeded=deposit_payment_succeeded)
        register_me_field(name="merchant_id", compute=merchant_id_for_user)
