"""The mini-program code (小程序码) a share poster carries: an adapter with two faces.

``wechat``: WeChat's ``getwxacodeunlimit`` (获取不限制的小程序码) — ``POST
/wxa/getwxacodeunlimit?access_token=…`` with ``{scene, page, width, check_path,
env_version}``. A success is the image itself (JPEG, or PNG when transparent); a refusal is
JSON with ``errcode``/``errmsg`` (HTTP 200 either way), e.g. ``40001`` a stale access token,
``40169`` a bad scene, ``41030`` a page the published mini-program does not have, ``45009``
the per-minute cap. ``scene`` is at most 32 visible characters of ``[0-9A-Za-z]`` and
``!#$&'()*+,/:;=?@-._~``: ours is a share link's short id, never its token.

The access token is the mini-program's one (``stable_token``), shared through the cache with
the shipping uploads (``shop.payments.gateways.mp_shipping``): fetching it never invalidates
the copy another process holds. A token WeChat calls invalid or expired is dropped and the
call made once more with a fresh one.

``sandbox``: a plain QR code drawn here (``qrcode``) whose text is what the real code
opens — the share page with its scene (``pages/share/index?scene=…``) — so a phone's
camera, or a test, reads the same thing the mini-program would get.
"""

from __future__ import annotations

import io
import json
import logging
import re
from typing import Protocol

import requests
from django.conf import settings

from shop.payments.gateways.base import GatewayError, GatewayNotConfigured
from shop.payments.gateways.mp_shipping import MP_API, MiniProgramShipping
from shop.payments.gateways.wechat_v3 import HTTP_TIMEOUT_S
from shop.wechat_token import mp_access_token_drop, token_expired

from .errors import MiniProgramCodeUnavailable

logger = logging.getLogger("groupstore.wxacode")

UNLIMITED = "/wxa/getwxacodeunlimit"
SCENE_RE = re.compile(r"^[0-9A-Za-z!#$&'()*+,/:;=?@\-._~]{1,32}$")
WIDTH_MIN, WIDTH_MAX = 280, 1280
IMAGE_MAX_BYTES = 2 * 1024 * 1024


class MiniProgramCode(Protocol):
    name: str

    def image(self, *, scene: str, page: str, width: int) -> bytes:
        """The code's image (PNG or JPEG bytes) opening ``page`` with ``scene``.
        ``MiniProgramCodeUnavailable`` when it cannot be had now."""


def check_scene(scene: str) -> str:
    if not SCENE_RE.match(scene):
        raise ValueError(f"Not a valid mini-program scene: {scene!r}")
    return scene


def share_page_url(*, page: str, scene: str) -> str:
    """What a scanned code opens: the page and its scene (what the sandbox's QR code says)."""
    return f"{page}?scene={scene}"


class SandboxMiniProgramCode:
    """A real, scannable QR code of ``page?scene=…``, drawn locally."""

    name = "sandbox"

    def image(self, *, scene: str, page: str, width: int) -> bytes:
        import qrcode
        from qrcode.constants import ERROR_CORRECT_M

        check_scene(scene)
        code = qrcode.QRCode(error_correction=ERROR_CORRECT_M, border=2)
        code.add_data(share_page_url(page=page, scene=scene))
        code.make(fit=True)
        picture = code.make_image(fill_color="black", back_color="white").get_image().convert("RGB")
        picture = picture.resize((width, width), resample=0)  # nearest: modules stay sharp
        out = io.BytesIO()
        picture.save(out, format="PNG")
        return out.getvalue()


class WechatMiniProgramCode:
    """``getwxacodeunlimit`` through the mini-program's cached access token."""

    name = "wechat"

    def __init__(self, *, appid: str, app_secret: str, env_version: str = "release") -> None:
        if not appid or not app_secret:
            raise GatewayNotConfigured("WECHAT_APPID and WECHAT_APP_SECRET are needed for mini-program codes")
        self.appid = appid
        self.env_version = env_version
        # The access token (stable_token, in the cache for every process) is the one the
        # shipping uploads use: one mini-program, one token.
        self._mp = MiniProgramShipping(appid=appid, app_secret=app_secret)

    def image(self, *, scene: str, page: str, width: int) -> bytes:
        check_scene(scene)
        body = {
            "scene": scene,
            "page": page,
            "width": max(WIDTH_MIN, min(WIDTH_MAX, width)),
            "check_path": self.env_version == "release",
            "env_version": self.env_version,
        }
        try:
            return self._ask(body)
        except GatewayError as exc:
            if not token_expired(exc.wechat_code):
                raise _unavailable(exc) from exc
            mp_access_token_drop(self.appid)  # stale: once more with a fresh one
        try:
            return self._ask(body)
        except GatewayError as exc:
            raise _unavailable(exc) from exc

    def _ask(self, body: dict) -> bytes:
        token = self._mp.access_token()
        try:
            response = requests.post(
                MP_API + UNLIMITED,
                params={"access_token": token},
                data=json.dumps(body, ensure_ascii=False).encode(),
                headers={"Content-Type": "application/json"},
                timeout=HTTP_TIMEOUT_S,
            )
        except requests.RequestException as exc:
            raise GatewayError(f"WeChat {UNLIMITED}: {type(exc).__name__}.") from exc
        kind = response.headers.get("Content-Type", "").split(";")[0].strip().lower()
        content = response.content
        if response.status_code == 200 and kind.startswith("image/") and content:
            if len(content) > IMAGE_MAX_BYTES:
                raise GatewayError(f"WeChat {UNLIMITED}: an image of {len(content)} bytes.")
            return content
        try:
            data = json.loads(content)
        except ValueError:
            data = None
        if isinstance(data, dict) and data.get("errcode"):
            raise GatewayError(
                f"WeChat {UNLIMITED}: errcode {data['errcode']} {data.get('errmsg', '')}".strip(),
                status=response.status_code,
                wechat_code=str(data["errcode"]),
            )
        raise GatewayError(f"WeChat {UNLIMITED}: HTTP {response.status_code} {kind or 'no type'}.")


def _unavailable(exc: GatewayError) -> MiniProgramCodeUnavailable:
    logger.warning("No mini-program code from WeChat: %s", exc.message)  # carries the errcode
    return MiniProgramCodeUnavailable(wechat_code=exc.wechat_code)


def code_maker() -> MiniProgramCode:
    """The configured adapter (``MINI_PROGRAM_CODE``); ``sandbox`` only while ``SANDBOX`` is on."""
    name = settings.MINI_PROGRAM_CODE
    if name == "sandbox" and settings.SANDBOX:
        return SandboxMiniProgramCode()
    if name == "wechat":
        return WechatMiniProgramCode(
            appid=settings.WECHAT_APPID,
            app_secret=settings.WECHAT_APP_SECRET,
            env_version=settings.MINI_PROGRAM_ENV_VERSION,
        )
    raise GatewayNotConfigured(f"No mini-program code maker {name!r}.")
