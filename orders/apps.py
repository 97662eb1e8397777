from django.apps import AppConfig


class OrdersConfig(AppConfig):
    name = "orders"
    verbose_name = "Orders"

    def ready(self) -> None:
        from merchants import registry as merchant_registry
        from shop import sweepers
        from shop.payments.registry import register_purpose

        from .services import after_sales
        from .services import sweepers as order_sweepers
        from .services.checkout import CHECKOUT_PURPOSE
        from .services.coupons import coupons_issue_share_rewards
        from .services.lifecycle import checkout_payment_succeeded
        from .services.teams import teams_expire

        register_purpose(purpose=CHECKOUT_PURPOSE, on_succeeded=checkout_payment_succeeded)
        merchant_registry.register_open_dispute_counter(after_sales.open_dispute_count)
        merchant_registry.register_open_after_sales_counter(after_sales.open_after_sales_count)
        sweepers.register(
            name="orders.cancel_unpaid",
            description="Cancel orders not paid in time",
            run=order_sweepers.cancel_unpaid_orders,
            order=10,
        )
        sweepers.register(
            name="orders.auto_receipt",
            description="Confirm receipt of orders shipped 10+ days ago",
            run=order_sweepers.auto_confirm_receipt,
            order=20,
        )
        sweepers.register(
            name="orders.complete",
            description="Complete orders whose after-sales window closed",
            run=order_sweepers.complete_orders,
            order=30,
        )
        sweepers.register(
            name="orders.teams_expire",
            description="Fail teams whose window closed; cancel their unpaid orders, refund the paid ones",
            run=teams_expire,
            order=15,
        )
        sweepers.register(
            name="orders.share_reward_coupons",
            description="Issue the coupon of every granted share reward",
            run=coupons_issue_share_rewards,
            order=40,
        )
        __import__(f"{self.name}.privacy", fromlist=["register_privacy"]).register_privacy()  # PIPL
