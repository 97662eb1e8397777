from django.apps import AppConfig


class ProductsConfig(AppConfig):
    name = "products"

    def ready(self) -> None:
        from django.db.models.signals import post_delete, post_save

        from .cache import catalog_changed
        from .models import Category, Product, Sku

        # Cache invalidation only (docs/design.md allows signals for that): see products/cache.py.
        def _changed(sender, **kwargs) -> None:
            catalog_changed()

        for model in (Product, Sku, Category):
            post_save.connect(_changed, sender=model, dispatch_uid=f"catalog-cache-{model.__name__}-save")
            post_delete.connect(_changed, sender=model, dispatch_uid=f"catalog-cache-{model.__name__}-delete")
