"""Share posters: what goes on one, who may have it, and its cache (drawing: ``groupstore.posters``).

- **Who.** A member (or the owner) of the store asks for a poster of one of the store's
  live share links: anyone else is told the store does not exist (404), a withdrawn link
  410 as when it is opened, a frozen store 410.
- **The code.** The poster's mini-program code opens the share page with the link's
  ``scene``, a short random id (``SCENE_LEN`` characters of ``[0-9A-Za-z]``, ~59 bits)
  given to the link the first time a poster is drawn: WeChat's ``scene`` holds 32
  characters, our tokens are longer, and the token itself never goes into a picture that
  is posted to strangers' groups. The mini-program resolves it with
  ``GET /share-scenes/{scene}`` (``share_scene_resolve``) and then joins with the token.
- **The price.** Where the store has unlocked flash prices and a SKU of the product has a
  live offer (``groupstore.registry.store_offer_prices``, which ``orders`` answers), the
  lowest such flash price beside that SKU's list price; otherwise the lowest list price
  over the SKUs ("起" when they differ).
- **The cache.** A poster is drawn once per link and *version* of what it shows (the
  product row's ``updated_at``, the prices, the titles, the sharer's nickname, the code's
  maker): any change gives a new key, so nothing is ever invalidated by hand. The
  mini-program code is cached on its own per scene (a WeChat code never expires).
"""

from __future__ import annotations

import hashlib
import json
import logging
import secrets
import string
import time
from dataclasses import dataclass

import requests
from django.conf import settings
from django.core.cache import cache
from django.db import IntegrityError, transaction
from urllib3.exceptions import LocationParseError
from urllib3.util import parse_url

from products.models import Product, Sku

from ..errors import ShareLinkNotFound, ShareLinkRevoked, ShareSceneNotFound, StoreFrozen
from ..models import ShareLink
from ..posters import PosterContent, poster_draw
from ..registry import store_offer_prices
from ..selectors import store_get_for_member
from ..wxacode import code_maker

logger = logging.getLogger("groupstore.posters")

SCENE_LEN = 10
SCENE_ALPHABET = string.ascii_letters + string.digits
CODE_WIDTH = 430  # WeChat's default; the poster shows it at 240 px
CODE_CACHE_S = 30 * 24 * 3600
PICTURE_MAX_BYTES = 5 * 1024 * 1024
PICTURE_DEADLINE_S = 5  # the whole download
PICTURE_TIMEOUT_S = 3
SHARER_FALLBACK = "群友"


def _new_scene() -> str:
    return "".join(secrets.choice(SCENE_ALPHABET) for _ in range(SCENE_LEN))


def share_link_scene(*, link: ShareLink) -> str:
    """The link's scene, given it now if it has none. Two first posters of one link at once
    agree: only a link still without a scene is updated, and both read back the winner."""
    if link.scene:
        return link.scene
    for _ in range(3):
        try:
            with transaction.atomic():
                ShareLink.objects.filter(pk=link.pk, scene__isnull=True).update(scene=_new_scene())
            break
        except IntegrityError:  # another link drew the same scene: draw again
            continue
    link.scene = ShareLink.objects.values_list("scene", flat=True).get(pk=link.pk)
    return link.scene


@dataclass(frozen=True)
class SceneTarget:
    store_id: int
    share_token: str
    product_id: int | None


def share_scene_resolve(*, scene: str) -> SceneTarget:
    """The live share link a scanned code names (any signed-in shopper may ask: the code is
    posted in chat groups). Unknown scene: 404; withdrawn link: 410; frozen store: 410."""
    # Only a scene's shape reaches the database (a NUL byte would be a database error, not a 404).
    shaped = scene and scene.isascii() and scene.isalnum() and len(scene) <= 32
    link = ShareLink.objects.select_related("store").filter(scene=scene).first() if shaped else None
    if link is None:
        raise ShareSceneNotFound()
    if link.is_revoked:
        raise ShareLinkRevoked()
    if link.store.is_frozen:
        raise StoreFrozen()
    return SceneTarget(store_id=link.store_id, share_token=link.token, product_id=link.product_id)


def _picture(product: Product) -> bytes | None:
    """The product's first picture, fetched only from ``POSTER_IMAGE_HOSTS`` over https
    (merchants type their image URLs: no other host is ever asked), at most
    ``PICTURE_MAX_BYTES``, no redirects. Anything else: none, and the title is shown."""
    images = product.images if isinstance(product.images, list) else []
    url = images[0] if images and isinstance(images[0], str) else None
    if url is None:
        return None
    # Judged by the parser that connects (urllib3's: Python's urlparse reads some URLs, such
    # as ``https://evil\\@cdn/``, as another host), with no credentials and the https port only.
    try:
        parsed = parse_url(url)
    except LocationParseError:
        return None
    if (
        parsed.scheme != "https"
        or parsed.host not in settings.POSTER_IMAGE_HOSTS
        or parsed.port not in (None, 443)
        or parsed.auth is not None
        or "\\" in url
        or "@" in url
    ):
        return None
    try:
        with requests.get(url, timeout=PICTURE_TIMEOUT_S, allow_redirects=False, stream=True) as response:
            if response.status_code != 200:
                return None
            # A per-read timeout alone lets a host that trickles bytes hold the worker: the
            # whole download has a deadline too.
            deadline, chunks, size = time.monotonic() + PICTURE_DEADLINE_S, [], 0
            while size <= PICTURE_MAX_BYTES:
                if time.monotonic() > deadline:
                    logger.warning("A product picture was too slow for a poster (product %s).", product.pk)
                    return None
                chunk = response.raw.read(64 * 1024, decode_content=True)
                if not chunk:
                    break
                chunks.append(chunk)
                size += len(chunk)
            body = b"".join(chunks)
    except requests.RequestException:
        logger.warning("A product picture could not be fetched for a poster (product %s).", product.pk)
        return None
    return body if len(body) <= PICTURE_MAX_BYTES else None


def _prices(*, store_id: int, product: Product) -> dict:
    skus = list(Sku.objects.filter(product=product).values_list("pk", "price_fen"))
    if not skus:
        return {}
    offers = store_offer_prices(store_id=store_id, sku_ids=[pk for pk, _ in skus])
    flash = sorted((offers[pk], price) for pk, price in skus if pk in offers and offers[pk] < price)
    if flash:  # the flash price is what the poster advertises, beside that SKU's list price
        price, listed = flash[0]
        return {"price_fen": price, "list_price_fen": listed, "is_flash": True, "price_from": False}
    prices = {price for _, price in skus}
    return {
        "price_fen": min(prices),
        "list_price_fen": None,
        "is_flash": False,
        "price_from": len(prices) > 1,
    }


def _code(*, scene: str) -> tuple[str, bytes]:
    maker = code_maker()
    page = settings.MINI_PROGRAM_SHARE_PAGE
    version = settings.MINI_PROGRAM_ENV_VERSION
    key = f"poster:code:{maker.name}:{settings.WECHAT_APPID}:{version}:{page}:{scene}"
    code = cache.get(key)
    if code is None:
        code = maker.image(scene=scene, page=page, width=CODE_WIDTH)
        cache.set(key, code, timeout=CODE_CACHE_S)
    return maker.name, code


def share_poster(*, store_id: int, token: str, user) -> bytes:
    """The PNG poster of one of the store's share links, for a member or the owner."""
    store, _ = store_get_for_member(store_id=store_id, user=user)
    link = (
        ShareLink.objects.select_related("created_by").filter(store=store, token=token).first()
        if "\x00" not in token
        else None
    )
    if link is None:
        raise ShareLinkNotFound()
    if link.is_revoked:
        raise ShareLinkRevoked()
    if store.is_frozen:
        raise StoreFrozen()
    scene = share_link_scene(link=link)
    product = (
        Product.objects.filter(pk=link.product_id, status=Product.Status.ON_SALE).first()
        if link.product_id
        else None
    )
    facts: dict = {
        "link": link.pk,
        "scene": scene,
        "store_name": store.name,
        "sharer": link.created_by.nickname or SHARER_FALLBACK,
        "page": settings.MINI_PROGRAM_SHARE_PAGE,
        "maker": settings.MINI_PROGRAM_CODE,
    }
    if product is not None:
        facts |= {
            "product": product.pk,
            "version": product.updated_at.isoformat(),
            "title": product.title,
            **_prices(store_id=store.pk, product=product),
        }
    digest = hashlib.sha256(json.dumps(facts, sort_keys=True, ensure_ascii=False).encode()).hexdigest()
    key = f"poster:png:{link.pk}:{digest[:32]}"
    png = cache.get(key)
    if png is not None:
        return png
    _, code = _code(scene=scene)
    picture = _picture(product) if product is not None else None
    content = PosterContent(
        store_name=store.name,
        sharer=facts["sharer"],
        code_png=code,
        title=facts.get("title"),
        price_fen=facts.get("price_fen"),
        list_price_fen=facts.get("list_price_fen"),
        is_flash=facts.get("is_flash", False),
        price_from=facts.get("price_from", False),
        picture=picture,
    )
    png = poster_draw(content)
    cache.set(key, png, timeout=settings.POSTER_CACHE_S)
    return png
