from django.core.paginator import Paginator as DjangoPaginator
from django.utils.functional import cached_property
from rest_framework.exceptions import ValidationError
from rest_framework.pagination import PageNumberPagination


class Pagination(PageNumberPagination):
    """``{"count", "next", "previous", "results"}``; ``?page=`` and ``?page_size=`` (1 to 100).

    A ``page_size`` that is not a whole number from 1 to 100 (``null``, empty, ``0``, ``500``)
    is a 400, as the schema states it (issue 19, item 9), not quietly the default or the
    maximum. A page past the end stays DRF's 404.
    """

    page_size_query_param = "page_size"
    max_page_size = 100

    def get_page_size(self, request):
        raw = request.query_params.get(self.page_size_query_param)
        if raw is None:
            return self.page_size
        if not raw.isascii() or not raw.isdigit() or not 1 <= int(raw) <= self.max_page_size:
            raise ValidationError(
                {self.page_size_query_param: [f"A whole number from 1 to {self.max_page_size}."]}
            )
        return int(raw)

    def get_schema_operation_parameters(self, view):
        parameters = super().get_schema_operation_parameters(view)
        for parameter in parameters:
            if parameter["name"] == self.page_query_param:
                parameter["schema"]["minimum"] = 1
            elif parameter["name"] == self.page_size_query_param:
                parameter["schema"].update(minimum=1, maximum=self.max_page_size)
        return parameters


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
