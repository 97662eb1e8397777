"""What the catalog asks the apps above it (filled in their ``AppConfig.ready``).

A flash price exists only as an approved flash offer, which ``orders`` owns; the product page
(``GET /products/{id}?store_id=``) shows the price checkout would charge the caller through
that store. ``orders`` registers the source here instead of being imported:

- ``register_flash_prices(name=, prices=)``: ``prices(store_id=, user=, sku_ids=) ->
  {sku id: flash price in fen}`` — only the SKUs that would get one.

With nothing registered no SKU shows a flash price.
"""

from __future__ import annotations

from collections.abc import Callable

from shop.registry import Registry

FlashPrices = Callable[..., dict[int, int]]

FLASH_PRICE_SOURCES: Registry[FlashPrices] = Registry("flash price source")


def register_flash_prices(*, name: str, prices: FlashPrices) -> None:
    FLASH_PRICE_SOURCES.register(name, prices)


def flash_prices(*, store_id: int, user, sku_ids: list[int]) -> dict[int, int]:
    found: dict[int, int] = {}
    for prices in FLASH_PRICE_SOURCES.values():
        found.update(prices(store_id=store_id, user=user, sku_ids=sku_ids))
    return found
