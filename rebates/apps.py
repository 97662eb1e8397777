from django.apps import AppConfig


class RebatesConfig(AppConfig):
    name = "rebates"
    verbose_name = "Rebates, commission and wallets"

    def ready(self) -> None:
        from orders import hooks
        from shop import sweepers

        from .services.accrual import order_accrue_commission
        from .services.hooks import order_completed_enqueue_settlement, settlement_catch_up
        from .services.refunds import order_refunded_adjust_commission

        hooks.register(event="paid", handler=order_accrue_commission)
        hooks.register(event="refunded", handler=order_refunded_adjust_commission)
        hooks.register(event="completed", handler=order_completed_enqueue_settlement)
        sweepers.register(
            name="rebates.settle",
            description="Settle completed orders still pending",
            run=settlement_catch_up,
            order=40,
        )
