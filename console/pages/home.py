"""The home page: what needs doing today."""

from __future__ import annotations

from django.shortcuts import render

from ..access import console_page


@console_page()
def home(request):
    return render(request, "console/home.html", {})
