"""The language switch in the console's header: Chinese (default) or English, kept in a cookie."""

from __future__ import annotations

from django.http import HttpResponseBadRequest
from django.shortcuts import redirect
from django.utils.http import url_has_allowed_host_and_scheme
from django.views.decorators.http import require_POST

from ..middleware import CONSOLE_LANGUAGES, CONSOLE_PREFIX, LANGUAGE_COOKIE

ONE_YEAR_S = 365 * 24 * 3600


def safe_console_next(request, url: str | None) -> str:
    """``url`` if it is a page of this console on this host, else the home page."""
    if (
        url
        and url.startswith(CONSOLE_PREFIX)
        and url_has_allowed_host_and_scheme(
            url, allowed_hosts={request.get_host()}, require_https=request.is_secure()
        )
    ):
        return url
    return CONSOLE_PREFIX


@require_POST
def language(request):
    chosen = request.POST.get("language")
    if chosen not in CONSOLE_LANGUAGES:
        return HttpResponseBadRequest("Unknown language.")
    response = redirect(safe_console_next(request, request.POST.get("next")))
    response.set_cookie(
        LANGUAGE_COOKIE, chosen, max_age=ONE_YEAR_S, path=CONSOLE_PREFIX, samesite="Lax", httponly=True
    )
    return response
