"""One mini-program, one access token: the subscribe message sender (``shop.notifications``,
which may not import ``shop.payments``) reads and drops the very cache entry the shipping
uploads and poster codes use, so no process fetches a token another already holds."""

from __future__ import annotations

from django.core.cache import cache

from shop.notifications.wechat_subscribe import WechatSubscribeSender, token_cache_key
from shop.payments.gateways.mp_shipping import MiniProgramShipping

APPID = "wx-one-token"


def test_the_subscribe_sender_and_the_shipping_uploads_share_one_cached_token():
    shipping = MiniProgramShipping(appid=APPID, app_secret="secret")
    sender = WechatSubscribeSender(appid=APPID, app_secret="secret")
    assert shipping.token_cache_key == token_cache_key(APPID)

    cache.set(shipping.token_cache_key, "TOKEN-FROM-SHIPPING", timeout=60)
    try:
        assert sender.access_token() == "TOKEN-FROM-SHIPPING"  # no request: it is the cached one
    finally:
        cache.delete(shipping.token_cache_key)
