"""Admin actions that ask ops for something first (a reason, an amount, a file).

``action_form`` renders an intermediate page with a Django form; when ops submit it
valid, ``apply(cleaned_data)`` runs (it calls the services) and the action returns to
the list. ``merchants`` uses it too (it may import from here; not the other way).
"""

from __future__ import annotations

from collections.abc import Callable

from django import forms
from django.contrib.admin import helpers
from django.db.models import QuerySet
from django.http import HttpRequest, HttpResponse
from django.template.response import TemplateResponse

TEMPLATE = "admin/action_form_page.html"


def action_form(
    modeladmin,
    request: HttpRequest,
    queryset: QuerySet | None,
    *,
    form_class: type[forms.Form],
    title: str,
    submit_label: str,
    apply: Callable[[dict], None],
    action: str = "",
    intro: str = "",
    cancel_url: str = "..",
) -> HttpResponse | None:
    """Show ``form_class`` (for an admin action when ``action`` names it, else a plain view)."""
    if request.method == "POST" and "apply" in request.POST:
        form = form_class(request.POST, request.FILES)
        if form.is_valid():
            apply(form.cleaned_data)
            return None
    else:
        form = form_class()
    context = {
        **modeladmin.admin_site.each_context(request),
        "title": title,
        "form": form,
        "queryset": queryset if queryset is not None else [],
        "action": action,
        "action_checkbox_name": helpers.ACTION_CHECKBOX_NAME,
        "opts": modeladmin.model._meta,
        "intro": intro,
        "submit_label": submit_label,
        "cancel_url": cancel_url,
    }
    return TemplateResponse(request, TEMPLATE, context)
