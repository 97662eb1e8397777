"""A SKU's own flash price is gone (issue 14): a flash price exists only as an approved flash
offer. Any value merchants had set is cleared here, before the column is dropped (0005), so
no buyer is shown it: it was displayed on the product page but never charged (checkout only
ever charged through an offer). Offers that ops created keep their own price and stay live
(orders 0007 marks them approved)."""

from django.db import migrations


def clear_sku_flash_prices(apps, schema_editor):
    Sku = apps.get_model("products", "Sku")
    Sku.objects.filter(flash_price_fen__isnull=False).update(flash_price_fen=None)


class Migration(migrations.Migration):
    dependencies = [("products", "0003_category_commission_ceiling")]

    operations = [migrations.RunPython(clear_sku_flash_prices, migrations.RunPython.noop, elidable=True)]
