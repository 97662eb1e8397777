"""Share posters through the API (docs/api.md "Group stores"): the PNG itself (size, decodable,
its code reads back as the share page whose scene resolves to the link), the price a member
pays (a live flash price only where the store has unlocked it), who may have one, the cache
per link and product version, and the scene given once under concurrency."""

from __future__ import annotations

import io
from urllib.parse import parse_qs, urlparse

import cv2
import numpy
import pytest
from PIL import Image

from accounts.tests.factories import UserFactory
from groupstore import posters
from groupstore.errors import MiniProgramCodeUnavailable
from groupstore.models import ShareLink, StoreStats
from groupstore.selectors import flash_unlock_threshold_fen
from groupstore.services import posters as poster_services
from groupstore.services import share_link_create, share_link_revoke, share_link_scene, store_freeze
from groupstore.tests.factories import make_store
from orders.tests.helpers import flash_offer
from products.tests.factories import SkuFactory
from shop.testing.asserts import assert_error
from shop.testing.concurrency import run_concurrently

pytestmark = pytest.mark.django_db


@pytest.fixture
def shop(db):
    """A store with a member who shares a product of two SKUs (¥19.90 and ¥29.90)."""
    store, owner_token, (member,) = make_store(name="宝妈团购群", members=1)
    member.nickname = "小红"
    member.save(update_fields=["nickname"])
    sku = SkuFactory(price_fen=1_990, product__title="维达抽纸 3层100抽 24包")
    SkuFactory(product=sku.product, price_fen=2_990)
    link = share_link_create(store=store, created_by=member, product_id=sku.product_id)
    return store, member, sku, link


def _url(store, token: str) -> str:
    return f"/api/v1/stores/{store.pk}/share-links/{token}/poster"


@pytest.fixture
def drawn(monkeypatch):
    """Every poster drawn in the test, as what it shows (the drawing itself still runs)."""
    contents: list[posters.PosterContent] = []
    real = poster_services.poster_draw

    def draw(content):
        contents.append(content)
        return real(content)

    monkeypatch.setattr(poster_services, "poster_draw", draw)
    return contents


def _qr_text(png: bytes) -> str:
    image = numpy.array(Image.open(io.BytesIO(png)).convert("RGB"))
    text, _, _ = cv2.QRCodeDetector().detectAndDecode(image)
    return text


def test_a_members_poster_is_a_png_whose_code_opens_the_link(make_client, shop):
    store, member, sku, link = shop
    client = make_client(member)

    response = client.get(_url(store, link.token))

    assert response.status_code == 200, response.content[:300]
    assert response["Content-Type"] == "image/png"
    image = Image.open(io.BytesIO(response.content))
    image.load()
    assert (image.format, image.size) == ("PNG", (posters.WIDTH, posters.HEIGHT))
    opened = urlparse(_qr_text(response.content))
    assert opened.path == "pages/share/index"
    (scene,) = parse_qs(opened.query)["scene"]
    assert len(scene) <= 32
    assert link.token not in scene
    resolved = client.get(f"/api/v1/share-scenes/{scene}")
    assert resolved.status_code == 200
    assert resolved.json() == {"store_id": store.pk, "share_token": link.token, "product_id": sku.product_id}


def test_a_stranger_who_scans_the_code_joins_the_store_through_it(make_client, shop):
    store, member, _, link = shop
    scene = share_link_scene(link=link)
    stranger = make_client(UserFactory())

    token = stranger.get(f"/api/v1/share-scenes/{scene}").json()["share_token"]
    joined = stranger.post("/api/v1/stores/join", {"share_token": token}, format="json")

    assert joined.status_code == 200, joined.content[:300]
    assert joined.json()["store_id"] == store.pk


def test_the_poster_shows_the_lowest_list_price_the_title_and_the_sharer(make_client, shop, drawn):
    store, member, sku, link = shop

    assert make_client(member).get(_url(store, link.token)).status_code == 200

    (content,) = drawn
    assert (content.store_name, content.sharer, content.title) == ("宝妈团购群", "小红", sku.product.title)
    assert (content.price_fen, content.is_flash, content.price_from) == (1_990, False, True)


def test_a_live_flash_offer_shows_only_where_the_store_has_unlocked_it(make_client, shop, drawn):
    store, member, sku, link = shop
    flash_offer(sku=sku, price_fen=990)
    client = make_client(member)

    assert client.get(_url(store, link.token)).status_code == 200
    StoreStats.objects.filter(store=store).update(net_paid_fen=flash_unlock_threshold_fen())
    assert client.get(_url(store, link.token)).status_code == 200

    locked, unlocked = drawn
    assert (locked.price_fen, locked.is_flash) == (1_990, False)
    assert (unlocked.price_fen, unlocked.is_flash, unlocked.list_price_fen) == (990, True, 1_990)


def test_a_flash_price_is_shown_even_where_another_sku_lists_lower(make_client, shop, drawn):
    store, member, sku, link = shop
    dearer = sku.product.skus.get(price_fen=2_990)
    flash_offer(sku=dearer, price_fen=2_490)
    StoreStats.objects.filter(store=store).update(net_paid_fen=flash_unlock_threshold_fen())

    assert make_client(member).get(_url(store, link.token)).status_code == 200

    (content,) = drawn
    assert (content.price_fen, content.list_price_fen, content.is_flash) == (2_490, 2_990, True)


def test_a_flash_offer_not_yet_started_is_not_shown(make_client, shop, drawn):
    from datetime import timedelta

    from django.utils import timezone

    store, member, sku, link = shop
    StoreStats.objects.filter(store=store).update(net_paid_fen=flash_unlock_threshold_fen())
    later = timezone.now() + timedelta(hours=1)
    flash_offer(sku=sku, price_fen=990, starts_at=later, ends_at=later + timedelta(hours=1))

    assert make_client(member).get(_url(store, link.token)).status_code == 200

    assert drawn[0].price_fen == 1_990


def test_a_store_link_shows_the_store_and_no_price(make_client, shop, drawn):
    store, member, _, _ = shop
    link = share_link_create(store=store, created_by=store.owner)

    response = make_client(member).get(_url(store, link.token))

    assert response.status_code == 200
    (content,) = drawn
    assert (content.title, content.price_fen, content.store_name) == (None, None, "宝妈团购群")
    assert content.sharer == (store.owner.nickname or "群友")


def test_the_poster_is_drawn_once_per_link_and_product_version(make_client, shop, drawn):
    store, member, sku, link = shop
    client = make_client(member)

    first = client.get(_url(store, link.token)).content
    again = client.get(_url(store, link.token)).content
    sku.product.title = "维达抽纸 新包装"
    sku.product.save()
    changed = client.get(_url(store, link.token)).content

    assert first == again
    assert changed != first
    assert [c.title for c in drawn] == ["维达抽纸 3层100抽 24包", "维达抽纸 新包装"]


def test_the_mini_program_code_is_made_once_per_scene(make_client, shop, monkeypatch):
    store, member, sku, link = shop
    made: list[str] = []
    real = poster_services.code_maker

    class Counting:
        name = "sandbox"

        def image(self, *, scene, page, width):
            made.append(scene)
            return real().image(scene=scene, page=page, width=width)

    monkeypatch.setattr(poster_services, "code_maker", Counting)
    client = make_client(member)
    client.get(_url(store, link.token))
    sku.product.save()  # a new product version: a new poster, the same code

    assert client.get(_url(store, link.token)).status_code == 200
    assert made == [share_link_scene(link=link)]


@pytest.mark.parametrize("who", ["owner", "member"])
def test_the_owner_and_every_member_may_have_a_poster_of_the_stores_link(make_client, shop, who):
    store, member, _, link = shop
    user = store.owner if who == "owner" else member

    assert make_client(user).get(_url(store, link.token)).status_code == 200


def test_a_stranger_is_told_the_store_does_not_exist(make_client, shop):
    store, _, _, link = shop

    assert_error(make_client(UserFactory()).get(_url(store, link.token)), 404)


def test_a_link_of_another_store_is_not_found_through_this_one(make_client, shop):
    store, member, _, _ = shop
    other, other_token, _ = make_store(owner=member)

    assert_error(make_client(member).get(_url(store, other_token)), 404, "share_link_not_found")
    assert_error(make_client(member).get(_url(store, "no-such-token")), 404, "share_link_not_found")


def test_a_withdrawn_link_has_no_poster_and_its_scene_no_target(make_client, shop):
    store, member, _, link = shop
    scene = share_link_scene(link=link)
    share_link_revoke(link_id=link.pk)
    client = make_client(member)

    assert_error(client.get(_url(store, link.token)), 410, "share_link_revoked")
    assert_error(client.get(f"/api/v1/share-scenes/{scene}"), 410, "share_link_revoked")


def test_a_frozen_store_has_no_poster(make_client, shop):
    store, member, _, link = shop
    store_freeze(store_id=store.pk, reason="spam")

    assert_error(make_client(member).get(_url(store, link.token)), 410, "store_frozen")


def test_an_unknown_scene_is_404_and_resolving_needs_a_token(make_client, api_client, shop):
    _, member, _, link = shop
    scene = share_link_scene(link=link)

    assert_error(make_client(member).get("/api/v1/share-scenes/NoSuchScene"), 404, "share_scene_not_found")
    assert_error(api_client.get(f"/api/v1/share-scenes/{scene}"), 401, "not_authenticated")


def test_wechat_refusing_the_code_is_503_in_the_error_shape(make_client, shop, monkeypatch):
    store, member, _, link = shop

    class Refusing:
        name = "wechat"

        def image(self, **kwargs):
            raise MiniProgramCodeUnavailable(wechat_code="45009")

    monkeypatch.setattr(poster_services, "code_maker", Refusing)

    response = make_client(member).get(_url(store, link.token))

    assert_error(response, 503, "mini_program_code_unavailable")
    assert response["Retry-After"] == "60"


def test_a_client_asking_for_png_gets_it_and_its_refusals_stay_json(make_client, shop):
    store, member, _, link = shop
    client = make_client(member)

    ok = client.get(_url(store, link.token), HTTP_ACCEPT="image/png")
    refused = client.get(_url(store, "no-such-token"), HTTP_ACCEPT="image/png")

    assert (ok.status_code, ok["Content-Type"]) == (200, "image/png")
    assert refused["Content-Type"] == "application/json"
    assert_error(refused, 404, "share_link_not_found")


def test_a_picture_is_fetched_only_from_the_allowed_hosts(make_client, shop, drawn, settings, monkeypatch):
    import requests

    store, member, sku, link = shop
    picture = io.BytesIO()
    Image.new("RGB", (800, 800), (30, 140, 60)).save(picture, format="JPEG")
    asked: list[str] = []

    class Fake:
        status_code = 200

        def __init__(self, url):
            asked.append(url)
            self.raw = io.BytesIO(picture.getvalue())
            self.raw.read = lambda n, decode_content=True, _r=self.raw.read: _r(n)

        def __enter__(self):
            return self

        def __exit__(self, *exc):
            return False

    monkeypatch.setattr(requests, "get", lambda url, **kwargs: Fake(url))
    settings.POSTER_IMAGE_HOSTS = ["img.example-cdn.com"]
    product = sku.product
    client = make_client(member)

    product.images = ["http://169.254.169.254/latest/meta-data", "https://img.example-cdn.com/a.jpg"]
    product.save()
    client.get(_url(store, link.token))
    product.images = ["https://img.example-cdn.com/a.jpg"]
    product.save()
    png = client.get(_url(store, link.token)).content

    assert asked == ["https://img.example-cdn.com/a.jpg"]
    assert drawn[0].picture is None
    assert drawn[1].picture == picture.getvalue()
    middle = Image.open(io.BytesIO(png)).convert("RGB").getpixel((posters.WIDTH // 2, 400))
    assert middle[1] > 100
    assert middle[0] < 80


def test_posters_are_drawn_with_an_installed_cjk_font():
    from PIL import ImageFont

    path = posters.font_path()

    assert path is not None, "install fonts-wqy-microhei (see .ci/run)"
    font = ImageFont.truetype(path, 40)
    # A font without Han glyphs draws its one "missing" box for each: 拼 would look like 团,
    # and like a private-use character no font has.
    han = {bytes(font.getmask(c)) for c in ("拼", "团", "\U000f0000")}
    assert len(han) == 3


@pytest.mark.django_db(transaction=True)
def test_two_first_posters_at_once_give_the_link_one_scene():
    store, _, (member,) = make_store(members=1)
    link = share_link_create(store=store, created_by=member)

    scenes = run_concurrently(lambda i: share_link_scene(link=ShareLink.objects.get(pk=link.pk)), times=4)

    assert not [s for s in scenes if isinstance(s, BaseException)], scenes
    assert len(set(scenes)) == 1
    assert ShareLink.objects.get(pk=link.pk).scene == scenes[0]


def test_ops_find_a_link_in_admin_by_the_scene_of_its_code(admin_client, shop):
    store, _, _, link = shop
    scene = share_link_scene(link=link)
    other = share_link_create(store=store, created_by=store.owner)
    share_link_scene(link=other)

    page = admin_client.get("/admin/groupstore/sharelink/", {"q": scene})

    assert page.status_code == 200
    assert list(page.context["cl"].result_list) == [link]


def test_a_link_to_a_product_taken_off_sale_shows_the_store(make_client, shop, drawn):
    from products.models import Product

    store, member, sku, link = shop
    Product.objects.filter(pk=sku.product_id).update(status=Product.Status.OFF_SALE)

    assert make_client(member).get(_url(store, link.token)).status_code == 200

    (content,) = drawn
    assert (content.title, content.price_fen) == (None, None)


@pytest.mark.parametrize(
    "url",
    [
        "https://evil.example\\@img.example-cdn.com/a.jpg",  # urlparse sees the CDN; urllib3 connects to evil
        "https://user:pw@img.example-cdn.com/a.jpg",
        "https://img.example-cdn.com:6379/a.jpg",
        "http://img.example-cdn.com/a.jpg",
        "https://img.example-cdn.com.evil.example/a.jpg",
    ],
)
def test_a_picture_url_that_could_reach_another_host_is_never_fetched(url, settings, monkeypatch):
    import requests

    from groupstore.services import posters as poster_services

    asked: list[str] = []
    monkeypatch.setattr(requests, "get", lambda u, **kwargs: asked.append(u))
    settings.POSTER_IMAGE_HOSTS = ["img.example-cdn.com"]

    class Product:
        pk = 1
        images = [url]

    assert poster_services._picture(Product()) is None
    assert asked == []


def test_a_nul_byte_in_a_scene_or_token_is_a_404_not_a_500(make_client, shop):
    store, member, _, _ = shop
    client = make_client(member)
    assert client.get("/api/v1/share-scenes/ab%00cd").status_code == 404
    assert client.get(f"/api/v1/stores/{store.pk}/share-links/ab%00cd/poster").status_code == 404


def test_a_picture_that_trickles_in_is_given_up_at_the_deadline(settings, monkeypatch):
    import itertools

    import requests

    from groupstore.services import posters as poster_services

    class Trickle:
        status_code = 200

        class raw:  # noqa: N801 - what requests' response names it
            @staticmethod
            def read(n, decode_content=True):
                return b"x"  # a byte at a time, never the end

        def __enter__(self):
            return self

        def __exit__(self, *exc):
            return False

    clock = itertools.count(0, 0.5)  # every look at the clock: half a second later
    monkeypatch.setattr(poster_services.time, "monotonic", lambda: next(clock))
    monkeypatch.setattr(requests, "get", lambda url, **kwargs: Trickle())
    settings.POSTER_IMAGE_HOSTS = ["img.example-cdn.com"]

    class Product:
        pk = 1
        images = ["https://img.example-cdn.com/a.jpg"]

    assert poster_services._picture(Product()) is None
