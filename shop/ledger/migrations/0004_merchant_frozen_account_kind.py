# Choices only (no schema change): the account kind merchant_frozen, added on the statements
# branch. The profit-sharing branch may add the same choice; the two are reconciled at merge.

from django.db import migrations, models


class Migration(migrations.Migration):
    dependencies = [
        ("ledger", "0003_store_envelope_pools_lean_indexes"),
    ]

    operations = [
        migrations.AlterField(
            model_name="account",
            name="kind",
            field=models.CharField(
                choices=[
                    ("user_available", "Wallet (available)"),
                    ("user_pending", "Wallet (pending settlement)"),
                    ("user_held", "Wallet (held for a payout)"),
                    ("merchant_receivable", "Merchant receivable (not yet settled)"),
                    ("merchant_payable", "Merchant payable (owed to the merchant)"),
                    ("merchant_deposit", "Merchant margin deposit"),
                    ("platform_revenue", "Platform revenue"),
                    ("platform_pending", "Platform commission (pending settlement)"),
                    ("marketing_budget", "Marketing budget"),
                    ("gateway_clearing", "Payment gateway clearing"),
                    ("payout_clearing", "Payouts in flight"),
                    ("refund_clearing", "Refunds owed back to payers (not yet sent)"),
                    ("red_envelope_pool", "Red envelopes (unclaimed)"),
                    ("merchant_frozen", "Merchant funds frozen at the gateway"),
                ],
                max_length=32,
            ),
        ),
    ]
