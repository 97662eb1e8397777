"""One page of a console list, without counting the whole list.

``?page=N`` reads rows ``(N-1)*size`` to ``N*size`` plus one more, which says whether a next
page exists. No ``COUNT(*)``: at 200,000 orders of one merchant a count took 190 ms, and
with a product filter 850 ms (bench/results/console_orders.md), more than the whole page
may cost; a list shows "page N" with previous/next links instead of "page N of M". A page
number that is not a whole number from 1 shows page 1; a page past the end shows nothing.
"""

from __future__ import annotations

from dataclasses import dataclass

PAGE_SIZE = 20
MAX_PAGE = 10_000  # deeper than anyone clicks; bounds the OFFSET


@dataclass
class ListPage:
    object_list: list
    number: int
    has_next: bool

    def __iter__(self):
        return iter(self.object_list)

    def __len__(self) -> int:
        return len(self.object_list)

    @property
    def has_previous(self) -> bool:
        return self.number > 1

    @property
    def has_other_pages(self) -> bool:
        return self.has_next or self.has_previous

    @property
    def next_page_number(self) -> int:
        return self.number + 1

    @property
    def previous_page_number(self) -> int:
        return self.number - 1


def page_of(queryset, request, *, per_page: int = PAGE_SIZE) -> ListPage:
    raw = request.GET.get("page", "1")
    number = int(raw) if raw.isascii() and raw.isdigit() and 0 < len(raw) <= 5 else 1
    number = min(max(number, 1), MAX_PAGE)
    start = (number - 1) * per_page
    rows = list(queryset[start : start + per_page + 1])
    return ListPage(object_list=rows[:per_page], number=number, has_next=len(rows) > per_page)
