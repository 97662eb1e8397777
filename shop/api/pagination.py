from django.core.paginator import Paginator as DjangoPaginator
from django.utils.functional import cached_property
from rest_framework.pagination import PageNumberPagination


class Pagination(PageNumberPagination):
    """``{"count", "next", "previous", "results"}``; ``?page=`` and ``?page_size=`` (max 100)."""

    page_size_query_param = "page_size"
    max_page_size = 100


class _KnownCountPaginator(DjangoPaginator):
    def __init__(self, object_list, per_page, *, known_count: int, **kwargs):
        super().__init__(object_list, per_page, **kwargs)
        self._known_count = known_count

    @cached_property
    def count(self) -> int:
        return self._known_count


class KnownCountPagination(Pagination):
    """Pages whose ``count`` the view already knows from a maintained aggregate
    (``view.known_count``), so a page costs one indexed range read, never a COUNT(*)
    over a large table. Falls back to counting when the view did not set it."""

    def paginate_queryset(self, queryset, request, view=None):
        known = getattr(view, "known_count", None)
        if known is None:
            self.django_paginator_class = DjangoPaginator
        else:
            self.django_paginator_class = lambda qs, size: _KnownCountPaginator(qs, size, known_count=known)
        return super().paginate_queryset(queryset, request, view)
