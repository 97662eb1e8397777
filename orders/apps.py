from django.apps import AppConfig


class OrdersConfig(AppConfig):
    name = "orders"
    verbose_name = "Orders"

    def ready(self) -> None:
        from merchants import registry as merchant_registry
        from shop import sweepers
        from shop.payments.registry import register_purpose

        from .checks import register_checks
        from .services import after_sales
        from .services import sweepers as order_sweepers
        from .services.checkout import CHECKOUT_PURPOSE
        from .services.coupons import coupon_campaigns_sweep, coupons_issue_share_rewards
        from .services.lifecycle import checkout_payment_succeeded

        register_purpose(purpose=CHECKOUT_PURPOSE, on_succeeded=checkout_payment_succeeded)
        from shop.payments.registry import register_refund_purpose

        from .services.funds import order_refund_succeeded
        from .services.refunds import REFUND_PURPOSE

        register_refund_purpose(purpose=REFUND_PURPOSE, on_succeeded=order_refund_succeeded)
        merchant_registry.register_open_dispute_counter(
            name="orders.disputes", count=after_sales.open_dispute_count
        )
        merchant_registry.register_open_after_sales_counter(
            name="orders.after_sales", count=after_sales.open_after_sales_count
        )
        sweepers.register(
            name="orders.cancel_unpaid",
            description="Cancel orders not paid in time",
            run=order_sweepers.orders_cancel_unpaid,
            order=10,
        )
        sweepers.register(
            name="orders.auto_receipt",
            description="Confirm receipt of orders shipped 10+ days ago",
            run=order_sweepers.orders_confirm_receipt_due,
            order=20,
        )
        sweepers.register(
            name="orders.pickup_auto_receipt",
            description="Confirm receipt of parcels left at a pickup point 7+ days after they arrived",
            run=order_sweepers.pickups_confirm_uncollected,
            order=21,
        )
        sweepers.register(
            name="orders.after_sales_deadlines",
            description="Decide after-sales cases past a deadline; warn merchants of deadlines 12 h ahead",
            run=order_sweepers.after_sales_apply_deadlines,
            order=25,  # before completion: an order whose last case ends now completes in the same run
        )
        sweepers.register(
            name="orders.complete",
            description="Complete orders whose after-sales window closed",
            run=order_sweepers.orders_complete_due,
            order=30,
        )
        sweepers.register(
            name="orders.teams_expire",
            description="Fail teams whose window closed; cancel their unpaid orders, refund the paid ones",
            run=order_sweepers.teams_expire_due,
            order=15,
        )
        sweepers.register(
            name="orders.share_reward_coupons",
            description="Issue the coupon of every granted share reward",
            run=coupons_issue_share_rewards,
            order=40,
        )
        from products.registry import register_flash_prices

        from .selectors import flash_prices_for_member

        register_flash_prices(name="orders.flash_offers", prices=flash_prices_for_member)

        from groupstore.registry import register_offer_prices

        from .selectors import flash_prices_live

        register_offer_prices(name="orders.flash", prices=flash_prices_live)
        sweepers.register(
            name="orders.coupon_campaigns",
            description="Close coupon campaigns past their end, issue their coupons, return unused reserves",
            run=coupon_campaigns_sweep,
            order=45,
        )
        register_checks()
        from .privacy import register_privacy

        register_privacy()  # PIPL: this app's part of GET /me/export and DELETE /me
        from shop import overview

        from .overview import after_sales_panel, sales_panel

        overview.register(name="orders.sales", build=sales_panel, order=10)
        overview.register(name="orders.after_sales", build=after_sales_panel, order=30)
