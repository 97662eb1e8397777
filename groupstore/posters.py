"""Drawing a share poster (分享海报): a 750 × 1334 PNG, the size WeChat shows full-screen.

Top to bottom: the store's band ("来自「店名」"), the product's picture (or, without one,
a coloured panel with the product's title or the store's name), the title, the price (the
flash price beside the struck-through list price when one is live), then the sharer's
nickname beside the mini-program code that opens the link.

Chinese text needs a CJK font: the first of ``POSTER_FONT_PATHS`` that exists (Debian's
``fonts-wqy-microhei``, installed by ``.ci/run`` and the Dockerfile). Without one the
poster is still drawn, with Pillow's own font (Chinese then shows as boxes), and an error
is logged: ops install the font.

Only drawing lives here; what goes on a poster, who may have it and its cache are
``groupstore.services.posters``.
"""

from __future__ import annotations

import io
import logging
from dataclasses import dataclass
from functools import cache
from pathlib import Path

from django.conf import settings
from PIL import Image, ImageDraw, ImageFont

from shop.money import fen_display

logger = logging.getLogger("groupstore.posters")

WIDTH, HEIGHT = 750, 1334
MARGIN = 40
BAND_H = 110
PICTURE_TOP, PICTURE_H = BAND_H, 640
CODE_SIZE = 240
RED = (232, 69, 60)
DARK = (34, 34, 34)
GREY = (136, 136, 136)
PANEL = (253, 236, 232)
WHITE = (255, 255, 255)


@dataclass(frozen=True)
class PosterContent:
    store_name: str
    sharer: str
    code_png: bytes
    title: str | None = None  # the product's; None for a link to the store itself
    price_fen: int | None = None  # what a member pays now (the lowest over the SKUs)
    list_price_fen: int | None = None  # shown struck through when the price is a flash price
    is_flash: bool = False
    price_from: bool = False  # SKUs differ in price: the lowest is shown, "起"
    picture: bytes | None = None  # the product's first picture, already fetched


@cache
def font_path() -> str | None:
    """The CJK font posters are drawn with (the first of ``POSTER_FONT_PATHS`` that exists)."""
    for path in settings.POSTER_FONT_PATHS:
        if Path(path).is_file():
            return path
    logger.error(
        "No CJK font for share posters in %s: install fonts-wqy-microhei.",
        settings.POSTER_FONT_PATHS,
    )
    return None


@cache
def _font(size: int) -> ImageFont.FreeTypeFont | ImageFont.ImageFont:
    path = font_path()
    if path is None:
        return ImageFont.load_default(size)
    return ImageFont.truetype(path, size)


def _wrap(draw: ImageDraw.ImageDraw, text: str, font, width: int, lines: int) -> list[str]:
    """``text`` cut into at most ``lines`` lines of at most ``width`` pixels (Chinese has no
    spaces: cut anywhere), the last one ending in "…" when the text did not fit."""
    out: list[str] = []
    rest = text.strip()
    while rest and len(out) < lines:
        n = len(rest)
        while n > 1 and draw.textlength(rest[:n], font=font) > width:
            n -= 1
        out.append(rest[:n])
        rest = rest[n:].lstrip()
    if rest and out:
        last = out[-1]
        while last and draw.textlength(last + "…", font=font) > width:
            last = last[:-1]
        out[-1] = last + "…"
    return out


def _paste_picture(poster: Image.Image, picture: bytes) -> bool:
    try:
        image = Image.open(io.BytesIO(picture))
        image.load()
    except Exception:  # noqa: BLE001 - a merchant's picture WeChat cannot read is skipped, not fatal
        logger.warning("A product picture could not be read for a poster; the title is shown instead.")
        return False
    image = image.convert("RGB")
    # Cover the picture area (crop what sticks out), centred.
    scale = max(WIDTH / image.width, PICTURE_H / image.height)
    size = (max(1, round(image.width * scale)), max(1, round(image.height * scale)))
    image = image.resize(size, Image.Resampling.LANCZOS)
    left, top = (size[0] - WIDTH) // 2, (size[1] - PICTURE_H) // 2
    poster.paste(image.crop((left, top, left + WIDTH, top + PICTURE_H)), (0, PICTURE_TOP))
    return True


def _panel(draw: ImageDraw.ImageDraw, text: str) -> None:
    draw.rectangle((0, PICTURE_TOP, WIDTH, PICTURE_TOP + PICTURE_H), fill=PANEL)
    font = _font(72)
    lines = _wrap(draw, text, font, WIDTH - 2 * MARGIN - 40, 3)
    line_h = 96
    y = PICTURE_TOP + (PICTURE_H - line_h * len(lines)) // 2
    for line in lines:
        draw.text((WIDTH // 2, y + line_h // 2), line, font=font, fill=RED, anchor="mm")
        y += line_h


def poster_draw(content: PosterContent) -> bytes:
    """The poster as PNG bytes."""
    poster = Image.new("RGB", (WIDTH, HEIGHT), WHITE)
    draw = ImageDraw.Draw(poster)

    # The store's band.
    draw.rectangle((0, 0, WIDTH, BAND_H), fill=RED)
    band = _wrap(draw, f"来自「{content.store_name}」", _font(40), WIDTH - 2 * MARGIN, 1)
    draw.text((MARGIN, BAND_H // 2), band[0] if band else "", font=_font(40), fill=WHITE, anchor="lm")

    # The picture, or the title (or the store's name) on a panel.
    if content.picture is None or not _paste_picture(poster, content.picture):
        _panel(draw, content.title or content.store_name)

    # Title and price.
    y = PICTURE_TOP + PICTURE_H + 30
    if content.title:
        for line in _wrap(draw, content.title, _font(38), WIDTH - 2 * MARGIN, 2):
            draw.text((MARGIN, y), line, font=_font(38), fill=DARK)
            y += 52
    else:
        draw.text((MARGIN, y), "群小店好物，一起拼更省", font=_font(38), fill=DARK)
        y += 52
    if content.price_fen is not None:
        y += 10
        x = MARGIN
        if content.is_flash:
            tag_font = _font(30)
            tag_w = draw.textlength("秒杀价", font=tag_font) + 24
            draw.rounded_rectangle((x, y + 14, x + tag_w, y + 58), radius=8, fill=RED)
            draw.text((x + tag_w / 2, y + 36), "秒杀价", font=tag_font, fill=WHITE, anchor="mm")
            x += tag_w + 16
        price = fen_display(content.price_fen) + (" 起" if content.price_from else "")
        draw.text((x, y), price, font=_font(60), fill=RED)
        x += draw.textlength(price, font=_font(60)) + 20
        if content.is_flash and content.list_price_fen:
            listed = fen_display(content.list_price_fen)
            draw.text((x, y + 22), listed, font=_font(32), fill=GREY)
            w = draw.textlength(listed, font=_font(32))
            draw.line((x, y + 42, x + w, y + 42), fill=GREY, width=3)

    # The sharer and the mini-program code.
    code_top = HEIGHT - MARGIN - CODE_SIZE
    draw.line((MARGIN, code_top - 30, WIDTH - MARGIN, code_top - 30), fill=(230, 230, 230), width=2)
    code = Image.open(io.BytesIO(content.code_png)).convert("RGB").resize((CODE_SIZE, CODE_SIZE))
    poster.paste(code, (WIDTH - MARGIN - CODE_SIZE, code_top))
    text_w = WIDTH - 3 * MARGIN - CODE_SIZE
    who = _wrap(draw, content.sharer, _font(36), text_w, 1)
    draw.text((MARGIN, code_top + 40), who[0] if who else "", font=_font(36), fill=DARK)
    draw.text((MARGIN, code_top + 100), "邀你一起拼团", font=_font(32), fill=DARK)
    draw.text((MARGIN, code_top + 160), "长按识别小程序码", font=_font(28), fill=GREY)

    out = io.BytesIO()
    poster.save(out, format="PNG")  # optimize=True: 4 % smaller, 3x slower
    return out.getvalue()
