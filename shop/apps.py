from django.apps import AppConfig


class ShopConfig(AppConfig):
    name = "shop"
    verbose_name = "Platform plumbing"

    def ready(self) -> None:
        from shop.api import logging as shop_logging
        from shop.api import metrics

        shop_logging.install_record_factory()
        shop_logging.connect_celery_signals()
        metrics.connect_celery_signals()
