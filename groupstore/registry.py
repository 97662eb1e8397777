"""What a store's shopper pays for a SKU right now, asked of the apps above (filled in
``AppConfig.ready``).

A share poster shows the price a member would get through the store. Live flash offers
belong to ``orders``, which sits above ``groupstore``, so it registers its selector here
instead of being imported:

- ``register_offer_prices(name=, prices=)``: ``prices(store_id=, sku_ids=) -> {sku_id:
  price_fen}`` for the SKUs that sell below their list price in that store now (a live
  flash offer of an unlocked store). SKUs without such a price are left out.

With nothing registered every SKU shows its list price.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

from shop.registry import Registry

OfferPrices = Callable[..., dict[int, int]]

OFFER_PRICES: Registry[OfferPrices] = Registry("store offer price source")


def register_offer_prices(*, name: str, prices: OfferPrices) -> None:
    OFFER_PRICES.register(name, prices)


def store_offer_prices(*, store_id: int, sku_ids: Sequence[int]) -> dict[int, int]:
    """The lowest offer price of each SKU in the store now, over every registered source."""
    best: dict[int, int] = {}
    for prices in OFFER_PRICES.values():
        for sku_id, price in prices(store_id=store_id, sku_ids=list(sku_ids)).items():
            if sku_id not in best or price < best[sku_id]:
                best[sku_id] = price
    return best
