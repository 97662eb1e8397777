from django.apps import AppConfig


class LedgerConfig(AppConfig):
    name = "shop.ledger"
    label = "ledger"
    verbose_name = "Ledger"
