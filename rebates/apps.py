from django.apps import AppConfig


class RebatesConfig(AppConfig):
    name = "rebates"
    verbose_name = "Rebates, commission and wallets"

    def ready(self) -> None:
        from orders import hooks
        from shop import sweepers
        from shop.ledger.checks import register_check
        from shop.payments.payouts import payouts_sweep, register_payout_purpose

        from .selectors import order_is_settled
        from .services.accrual import order_accrue_commission
        from .services.envelopes import envelope_pools_check, red_envelopes_expire_due
        from .services.hooks import order_completed_enqueue_settlement, settlement_catch_up
        from .services.refunds import order_refunded_adjust_commission
        from .services.withdrawals import PURPOSE, withdrawal_payout_changed, withdrawal_retry_payout

        hooks.register(event="paid", name="rebates.accrue", handler=order_accrue_commission)
        hooks.register(event="refunded", name="rebates.adjust", handler=order_refunded_adjust_commission)
        hooks.register(event="completed", name="rebates.settle", handler=order_completed_enqueue_settlement)
        hooks.register_settled_check(name="rebates.settlement_row", check=order_is_settled)
        from shop.payments.models import FundsStep
        from shop.payments.steps import STEP_CONFIRMED, STEPS_CONFIRMED

        from .services.settlement import order_share_finished, orders_share_finished

        STEP_CONFIRMED.register(FundsStep.Kind.SHARE, order_share_finished)
        STEPS_CONFIRMED.register(FundsStep.Kind.SHARE, orders_share_finished)
        register_check(name="red envelope pools", run=envelope_pools_check)
        from .checks import register_ledger_checks

        register_ledger_checks()  # this app's sub-ledgers, reconciled by ledger_check
        register_payout_purpose(
            purpose=PURPOSE, on_changed=withdrawal_payout_changed, retry=withdrawal_retry_payout
        )
        sweepers.register(
            name="rebates.settle",
            description="Settle completed orders still pending",
            run=settlement_catch_up,
            order=40,
        )
        from .services.sharing import funds_deadline_sweep

        sweepers.register(
            name="rebates.sharing_deadline",
            description="Share (or hand to ops) shared orders not unfrozen 150 days after payment",
            run=funds_deadline_sweep,
            order=45,
        )
        sweepers.register(
            name="rebates.envelopes_expire",
            description="Return unclaimed red envelope money to its source",
            run=red_envelopes_expire_due,
            order=50,
        )
        from .services.statements import merchant_statements_write_due

        sweepers.register(
            name="rebates.merchant_statements_write_due",
            description="Write yesterday's merchant statements (Asia/Shanghai) and any day missed",
            run=merchant_statements_write_due,
            order=70,
        )
        # The payout module is generic (shop.payments); its sweeper is registered here, by
        # the app that makes payouts, so it runs wherever payouts exist.
        sweepers.register(
            name="payments.payouts",
            description="Send unsent payouts, poll those in flight, expire unconfirmed ones",
            run=payouts_sweep,
            order=60,
        )
        from .privacy import register_privacy

        register_privacy()  # PIPL: this app's part of GET /me/export and DELETE /me
        from shop import overview

        from .overview import settlement_panel

        overview.register(name="rebates.settlement", build=settlement_panel, order=20)
