"""Who may open a console page, checked on every request.

A console page is for the staff of an approved (or leaving) merchant. The check runs on
every request rather than once at sign-in, so a session ends the moment its user is frozen
or removed from the merchant's staff: the next page load signs the browser out and sends it
to the sign-in page. Role rules live in the services (the API obeys them too); ``roles`` here
only hides pages a role cannot use, and answers ``403`` when one is opened anyway.
"""

from __future__ import annotations

from functools import wraps
from urllib.parse import urlencode

from django.contrib.auth import logout
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.urls import reverse

from merchants.selectors import CONSOLE_STATUSES, merchant_staff_get

SIGNIN_URL_NAME = "console:signin"


def _to_signin(request: HttpRequest) -> HttpResponse:
    if request.user.is_authenticated and not request.user.is_staff:
        # Frozen, removed from the staff, or the merchant closed: the session ends. (An ops
        # user following a link here keeps their admin session: it is shared with admin.)
        logout(request)
    url = reverse(SIGNIN_URL_NAME)
    if request.method == "GET":
        url += "?" + urlencode({"next": request.get_full_path()})
    if request.headers.get("HX-Request"):
        # htmx follows a redirect inside the fragment it swaps; make it load the page instead.
        response = HttpResponse(status=204)
        response["HX-Redirect"] = url
        return response
    return redirect(url)


def console_page(*roles: str):
    """Decorate a view that is a console page: sets ``request.staff`` and ``request.merchant``.

    Not signed in, frozen, or not staff of an approved/leaving merchant: redirect to sign-in.
    ``roles`` given and the caller's role not among them: a ``403`` page.
    """

    def decorate(view):
        @wraps(view)
        def wrapped(request: HttpRequest, *args, **kwargs) -> HttpResponse:
            user = request.user
            if not user.is_authenticated or user.is_frozen or not user.is_active:
                return _to_signin(request)
            staff = merchant_staff_get(user=user)
            if staff is None or staff.merchant.status not in CONSOLE_STATUSES:
                return _to_signin(request)
            request.staff, request.merchant = staff, staff.merchant
            if roles and staff.role not in roles:
                return render(request, "console/forbidden.html", status=403)
            return view(request, *args, **kwargs)

        wrapped.console_page = True  # the guard test finds every console page by this mark
        return wrapped

    return decorate
