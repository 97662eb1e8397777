from django.apps import AppConfig


class PaymentsConfig(AppConfig):
    name = "shop.payments"
    label = "payments"
    verbose_name = "Payments"

    def ready(self) -> None:
        from shop import sweepers

        from .parts_anomalies import anomaly_refund_succeeded  # a shared anomaly: once every part is back
        from .refunds import ANOMALY_PURPOSE, refunds_sweep
        from .registry import register_refund_purpose
        from .services import payments_query_sweep

        register_refund_purpose(purpose=ANOMALY_PURPOSE, on_succeeded=anomaly_refund_succeeded)
        from .checks import register_ledger_checks

        register_ledger_checks()  # this app's sub-ledgers, reconciled by ledger_check
        sweepers.register(
            name="payments.query_unpaid",
            description="Ask the gateway about payments still unpaid a few minutes on (lost callbacks)",
            run=payments_query_sweep,
            order=5,  # before the unpaid-order time-out, so a paid order is not cancelled
        )
        from .reconciliation import bills_reconcile_due, register_bill_matchers

        register_bill_matchers()  # payments on the trade bill, refunds on the refund bill
        sweepers.register(
            name="payments.bills_reconcile_due",
            description="Fetch yesterday's gateway bills (from 10:00) and match them with our records",
            run=bills_reconcile_due,
            order=200,  # after the day's money work: it only reads and raises cases for ops
        )
        from .steps import funds_steps_sweep
        from .steps_ledger import register_step_handlers

        register_step_handlers()
        sweepers.register(
            name="payments.funds_steps",
            description="Send again (poll) gateway steps of merchants' money still open and due",
            run=funds_steps_sweep,
            order=60,
        )
        sweepers.register(
            name="payments.refunds_in_flight",
            description="Send again (ask about) refunds still in flight after a minute",
            run=refunds_sweep,
            order=50,
        )
        from shop import overview

        from .overview import reconciliation_panel

        overview.register(name="payments.reconciliation", build=reconciliation_panel, order=50)
