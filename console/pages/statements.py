"""Statements: the merchant's daily statements, one statement's lines, and its download as
CSV or XLSX — the same selectors and the same export functions (``rebates.statement_export``)
as ``/merchant/statements``, so the file is the API's byte for byte. For finance and owners.
"""

from __future__ import annotations

from django.shortcuts import render

from merchants.roles import AREA_ROLES, STATEMENTS
from rebates.selectors import statement_get_for_merchant, statement_line_list, statement_list_for_merchant
from rebates.statement_export import FIGURES, KIND_LABELS, statement_file_response

from ..access import console_page
from ..input import found
from ..paging import page_of

# Who may open the page: the services' own matrix (merchants/roles.py), not a second list.
ROLES = sorted(AREA_ROLES[STATEMENTS])
LINES_PER_PAGE = 50


@console_page(*ROLES)
def statement_list(request):
    page = page_of(statement_list_for_merchant(merchant_id=request.merchant.pk, viewer=request.user), request)
    return render(request, "console/statements/list.html", {"page": page})


@console_page(*ROLES)
def statement_detail(request, statement_id: int):
    statement = found(
        statement_get_for_merchant,
        merchant_id=request.merchant.pk,
        statement_id=statement_id,
        viewer=request.user,
    )
    figures = [(label, field, getattr(statement, field)) for field, label in FIGURES]
    page = page_of(statement_line_list(statement=statement), request, per_page=LINES_PER_PAGE)
    lines = [(line, KIND_LABELS.get(line.kind, line.kind)) for line in page.object_list]
    return render(
        request,
        "console/statements/detail.html",
        {"statement": statement, "figures": figures, "page": page, "lines": lines},
    )


@console_page(*ROLES)
def statement_download(request, statement_id: int, file: str):
    """``file`` is ``csv`` (streamed) or ``xlsx`` (the URL admits no other)."""
    statement = found(
        statement_get_for_merchant,
        merchant_id=request.merchant.pk,
        statement_id=statement_id,
        viewer=request.user,
    )
    return statement_file_response(statement, file)
