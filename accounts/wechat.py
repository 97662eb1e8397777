"""WeChat's mini-program login (``code2Session``) and share-ticket decryption. WeChat is outside our walls.

The ``session_key`` code2Session returns never leaves the server: it is the only key to the
encrypted data a client relays from ``wx.getShareInfo``, so a client cannot name a chat group
it was not in (docs/design.md "Group store").
"""

from __future__ import annotations

import base64
import binascii
import json
import logging
import re
import secrets
import time

import requests
from cryptography.hazmat.primitives import padding
from cryptography.hazmat.primitives.ciphers import Cipher, algorithms, modes
from django.conf import settings

from shop.api.parsers import json_loads_bounded

from .errors import LoginFailed, ShareTicketInvalid, WechatUnavailable
from .providers import WechatSession

logger = logging.getLogger("accounts.wechat")

CODE2SESSION_URL = "https://api.weixin.qq.com/sns/jscode2session"
TIMEOUT_S = 5  # a login that waits longer is a failed login; the client may try again
WECHAT_BUSY = -1  # errcode: "system busy, try again later"
SANDBOX_APPID = "sandbox"  # watermark of share tickets the sandbox makes (only while SANDBOX is on)
# What an openGId looks like (WeChat's are ~28 url-safe characters); bounded by the column size.
OPEN_GID = re.compile(r"^[A-Za-z0-9_-]{1,128}$")


def code2session(code: str) -> WechatSession:
    """Exchange a one-time ``wx.login`` code for the user's openid, unionid and session key.

    WeChat refusing the code (an ``errcode``: 40029 invalid code, 40163 code already used,
    45011 rate limited) is ``LoginFailed`` (400): the client asks ``wx.login`` for a fresh
    code. WeChat not answering the question — unreachable, a non-200 or non-JSON answer,
    ``errcode`` -1 (busy) — is ``WechatUnavailable`` (503 with ``Retry-After``): the fault is
    upstream, not the client's.
    """
    params = {
        "appid": settings.WECHAT_APPID,
        "secret": settings.WECHAT_APP_SECRET,
        "js_code": code,
        "grant_type": "authorization_code",
    }
    data = wechat_code_exchange(CODE2SESSION_URL, params, what="login")
    openid, session_key = data.get("openid"), data.get("session_key")
    if not (isinstance(openid, str) and openid and isinstance(session_key, str) and session_key):
        raise LoginFailed("WeChat answered the login check without an openid.")
    return WechatSession(openid=openid, unionid=data.get("unionid") or None, session_key=session_key)


def wechat_code_exchange(url: str, params: dict, *, what: str) -> dict:
    """Ask WeChat what a one-time code stands for (the mini-program's code2Session, the
    website login's access_token): its JSON answer, or an error saying whose fault it is.

    WeChat refusing the code (an ``errcode``) is ``LoginFailed`` (400: get a fresh code); WeChat
    not answering the question — unreachable, a non-200 or non-JSON answer, ``errcode`` -1
    (busy) — is ``WechatUnavailable`` (503). ``what`` names the check in messages and logs."""
    try:
        response = requests.get(url, params=params, timeout=TIMEOUT_S)
    except requests.RequestException as exc:
        logger.warning("WeChat %s check unreachable: %s", what, type(exc).__name__)
        raise WechatUnavailable() from exc
    try:
        data = response.json()  # WeChat answers JSON labelled text/plain
    except ValueError:
        data = None
    if response.status_code != 200 or not isinstance(data, dict):
        logger.warning("WeChat %s check answered HTTP %s without JSON", what, response.status_code)
        raise WechatUnavailable(f"WeChat answered the {what} check with an error page. Try again shortly.")
    errcode = data.get("errcode") or 0
    if errcode == WECHAT_BUSY:
        logger.warning("WeChat %s check busy (errcode -1)", what)
        raise WechatUnavailable("WeChat is busy. Try again shortly.")
    if errcode != 0:
        logger.info(
            "WeChat %s check refused the code: errcode=%s errmsg=%s", what, errcode, data.get("errmsg")
        )
        raise LoginFailed(f"WeChat refused the {what} code (errcode {errcode}).", errcode=errcode)
    return data


def decrypt_share_info(*, session_key: str, encrypted_data: str, iv: str) -> str:
    """The chat group's ``openGId`` from ``wx.getShareInfo`` data, or ``ShareTicketInvalid``.

    WeChat encrypts ``{"openGId", "watermark": {"appid", "timestamp"}}`` with AES-128-CBC under
    the user's session key (PKCS#7 padding). The watermark must name our app, so a ticket
    decrypted for another mini-program is refused; while ``SANDBOX`` is on, the sandbox's
    own tickets (watermark ``"sandbox"``) are accepted too.
    """
    try:
        key = base64.b64decode(session_key, validate=True)
        if len(key) != 16:  # AES-128: anything else is not a session key WeChat gave us
            raise ShareTicketInvalid()
        cipher = Cipher(algorithms.AES(key), modes.CBC(base64.b64decode(iv, validate=True)))
        decryptor = cipher.decryptor()
        padded = decryptor.update(base64.b64decode(encrypted_data, validate=True)) + decryptor.finalize()
        unpadder = padding.PKCS7(algorithms.AES.block_size).unpadder()
        data = json_loads_bounded(unpadder.update(padded) + unpadder.finalize())
        open_gid, appid = data["openGId"], data["watermark"]["appid"]
    except (ValueError, TypeError, KeyError, binascii.Error) as exc:
        # ValueError covers a bad IV size, bad padding and bad JSON (wrong key, altered data);
        # every such failure reads the same, so the answer is no padding oracle.
        raise ShareTicketInvalid() from exc
    is_ours = bool(appid) and appid == settings.WECHAT_APPID
    is_sandbox_ticket = settings.SANDBOX and appid == SANDBOX_APPID
    if not (is_ours or is_sandbox_ticket):
        raise ShareTicketInvalid("This share ticket belongs to another mini-program.")
    if not isinstance(open_gid, str) or not OPEN_GID.match(open_gid):
        raise ShareTicketInvalid()
    return open_gid


def encrypt_share_info(*, session_key: str, open_gid: str, appid: str) -> tuple[str, str]:
    """``(encrypted_data, iv)`` exactly as WeChat makes them: the inverse of ``decrypt_share_info``.

    For the sandbox (``appid="sandbox"``) and for tests; never for anything a client sends us.
    """
    plaintext = json.dumps(
        {"openGId": open_gid, "watermark": {"timestamp": int(time.time()), "appid": appid}},
        separators=(",", ":"),
    ).encode()
    padder = padding.PKCS7(algorithms.AES.block_size).padder()
    iv = secrets.token_bytes(16)
    encryptor = Cipher(algorithms.AES(base64.b64decode(session_key)), modes.CBC(iv)).encryptor()
    ciphertext = encryptor.update(padder.update(plaintext) + padder.finalize()) + encryptor.finalize()
    return base64.b64encode(ciphertext).decode(), base64.b64encode(iv).decode()
