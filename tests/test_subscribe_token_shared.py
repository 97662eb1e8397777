"""One mini-program, one access token (``shop/wechat_token.py``): the subscribe message
sender reads and drops the very cache entry the shipping uploads and store codes use, so no
process fetches a token another already holds."""

from __future__ import annotations

from django.core.cache import cache

from shop.notifications.wechat_subscribe import WechatSubscribeSender
from shop.payments.gateways.mp_shipping import MiniProgramShipping
from shop.wechat_token import token_cache_key

APPID = "wx-one-token"


def test_the_subscribe_sender_and_the_shipping_uploads_share_one_cached_token():
    shipping = MiniProgramShipping(appid=APPID, app_secret="secret")
    sender = WechatSubscribeSender(appid=APPID, app_secret="secret")

    cache.set(token_cache_key(APPID), "TOKEN-FROM-SHIPPING", timeout=60)
    try:
        assert sender.access_token() == "TOKEN-FROM-SHIPPING"  # no request: it is the cached one
        assert shipping.access_token() == "TOKEN-FROM-SHIPPING"
    finally:
        cache.delete(token_cache_key(APPID))
