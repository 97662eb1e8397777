"""Signing in and out of the console."""

from __future__ import annotations

from django.contrib.auth import logout
from django.shortcuts import redirect, render
from django.views.decorators.http import require_POST


def signin(request):
    return render(request, "console/signin.html", {})


@require_POST
def signout(request):
    logout(request)
    return redirect("console:signin")
