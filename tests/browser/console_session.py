"""Signing a real browser in to the console without the sign-in page: a session made by
Django's test client (``force_login``) and its cookie set in the browser. (Once the sandbox
sign-in form lands, tests may go through it instead.)"""

from __future__ import annotations

from django.conf import settings
from django.test import Client


def browser_sign_in(browser, live_server_url: str, user, *, language: str = "en") -> None:
    """``language``: the console's language cookie (the console speaks Chinese by default;
    tests that read English text ask for it)."""
    client = Client()
    user.refresh_from_db()  # the stored password hash: the session's auth hash must match it
    client.force_login(user)
    browser.delete_all_cookies()
    browser.get(f"{live_server_url}/console/signin")  # a page of the site, so the cookie's domain is right
    browser.add_cookie(
        {
            "name": settings.SESSION_COOKIE_NAME,
            "value": client.cookies[settings.SESSION_COOKIE_NAME].value,
            "path": "/",
        }
    )
    browser.add_cookie({"name": "console_lang", "value": language, "path": "/console/"})
