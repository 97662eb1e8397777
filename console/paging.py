"""One page of a console list: ``?page=`` (a bad or too-high number shows the nearest page)."""

from __future__ import annotations

from django.core.paginator import Page, Paginator

PAGE_SIZE = 20


def page_of(queryset, request, *, per_page: int = PAGE_SIZE) -> Page:
    return Paginator(queryset, per_page).get_page(request.GET.get("page"))
