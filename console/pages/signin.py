"""Signing in and out of the console: WeChat's website login, or the sandbox's code form.

``GET /console/signin`` shows WeChat's QR code (or, in the sandbox, a form taking
``sandbox:<unionid>``), with a fresh ``state`` bound to this browser's session.
``GET /console/signin/callback?code&state`` (where WeChat sends the browser back) checks the
state, exchanges the code through the adapter (accounts/web_login.py), finds the person by
``unionid``, checks they are staff of a merchant that may use the console, and signs them in
with a Django session (``login`` rotates the session key and the CSRF token). Every refusal
is a page saying what happened and what to do, never a 500.
"""

from __future__ import annotations

import logging

from django.conf import settings
from django.contrib.auth import login, logout
from django.shortcuts import redirect, render
from django.urls import reverse
from django.utils.translation import gettext as _
from django.views.decorators.http import require_GET, require_POST

from accounts.errors import AccountFrozen, LoginFailed, WebLoginNoAccount, WechatUnavailable
from accounts.web_login import user_for_web_identity, web_login_adapter
from merchants.selectors import CONSOLE_STATUSES, merchant_staff_get

from ..signin_state import state_consume, state_issue
from .language import safe_console_next

AUTH_BACKEND = "django.contrib.auth.backends.ModelBackend"
logger = logging.getLogger("console.signin")


def _refused(request, message: str, status: int):
    return render(request, "console/signin_refused.html", {"message": message}, status=status)


@require_GET
def signin(request):
    next_url = safe_console_next(request, request.GET.get("next"))
    staff = merchant_staff_get(user=request.user)
    if staff is not None and staff.merchant.status in CONSOLE_STATUSES and not request.user.is_frozen:
        return redirect(next_url)
    adapter = web_login_adapter()
    if adapter.name == "wechat" and not settings.WECHAT_WEB_APPID:
        logger.error("console sign-in: WECHAT_WEB_LOGIN=wechat without WECHAT_WEB_APPID")
        return _refused(request, _("WeChat sign-in is not set up on this server yet."), 503)
    state = state_issue(request.session, next_url=next_url)
    callback = request.build_absolute_uri(reverse("console:signin_callback"))
    context = {
        "adapter": adapter.name,
        "authorize_url": adapter.authorize_url(state=state, redirect_uri=callback),
        "state": state,
    }
    response = render(request, "console/signin.html", context)
    response["Cache-Control"] = "no-store"  # the state is this session's, once
    return response


@require_GET
def signin_callback(request):
    next_url = state_consume(request.session, request.GET.get("state"))
    if next_url is None:
        return _refused(
            request,
            _(
                "This sign-in was not started in this browser, was already used, or has expired. "
                "Start again from the sign-in page."
            ),
            400,
        )
    code = request.GET.get("code") or ""
    try:
        identity = web_login_adapter().exchange(code)
        user = user_for_web_identity(identity)
    except WechatUnavailable:
        return _refused(request, _("WeChat could not be reached to check the sign-in. Try again soon."), 503)
    except LoginFailed:
        return _refused(request, _("WeChat did not accept the sign-in code. Scan the QR code again."), 400)
    except WebLoginNoAccount:
        return _refused(
            request,
            _(
                "This WeChat account has no account here. Open our mini-program once with this WeChat, "
                "accept your staff invitation there, then sign in again."
            ),
            403,
        )
    except AccountFrozen:
        return _refused(request, _("This account is frozen. Contact the platform's support."), 403)
    staff = merchant_staff_get(user=user)
    if staff is None or staff.merchant.status not in CONSOLE_STATUSES:
        return _refused(
            request,
            _(
                "You are not on the staff of a merchant that can use the console. "
                "Ask your shop's owner to invite you."
            ),
            403,
        )
    login(request, user, backend=AUTH_BACKEND)
    return redirect(next_url)


@require_POST
def signout(request):
    logout(request)
    return redirect("console:signin")
