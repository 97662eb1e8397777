"""Stock upload: the form, the merchant's past uploads, one upload's result with each bad row
(line, code, reason), and the template to download (CSV or XLSX, filled in with the
merchant's SKUs and today's stock).

The upload runs ``stock_upload_run`` — the service behind ``POST /merchant/stock-uploads`` —
inside the request, as the API does: about 20,000 rows a second from CSV, 12,000 from XLSX
(bench/results/catalog.md), so 10 to 17 s at the 200,000-row cap and well under a second
for a typical file. There is no background job, so nothing to poll. While it runs, the browser shows the
bytes sent (htmx's upload progress events) and then "checking"; the result page is the
``StockUpload`` row, with its counters (rows read, good, applied, changed, bad).
"""

from __future__ import annotations

from django.http import Http404
from django.shortcuts import redirect, render
from django.utils.translation import gettext as _

from merchants.api.serializers import StockUploadOutput
from merchants.errors import StockFileRejected
from merchants.models import StockUpload
from merchants.selectors import stock_upload_get_for_merchant, stock_upload_list_for_merchant
from merchants.services import stock_upload_run
from products.selectors import sku_stock_rows_for_merchant
from shop.errors import ApplicationError

from ..access import console_page
from ..downloads import FORMATS, table_download
from ..input import NON_FIELD, found, refusal
from ..paging import page_of

TEMPLATE_HEADER = ("sku_code", "stock", "product")


def _upload_context(upload: StockUpload) -> dict:
    body = StockUploadOutput(upload).data  # bad rows with their public codes, as the API shows them
    return {"upload": upload, "bad_rows": body["errors"], "errors_truncated": body["errors_truncated"]}


def _index(request, *, errors=None, status=200):
    uploads = stock_upload_list_for_merchant(merchant_id=request.merchant.pk)
    context = {"page": page_of(uploads, request), "errors": errors or {}}
    return render(request, "console/stock/index.html", context, status=status)


@console_page()
def stock_index(request):
    """GET: the form and past uploads. POST (multipart ``file``, optional ``dry_run``): run the
    upload, then show its result (an htmx request gets the result fragment in place)."""
    if request.method != "POST":
        return _index(request)
    upload = request.FILES.get("file")
    if upload is None:
        return _index(request, errors={"file": [_("Choose a CSV or XLSX file.")]}, status=400)
    try:
        record = stock_upload_run(
            merchant_id=request.merchant.pk,
            fileobj=upload.file,
            filename=upload.name,
            size=upload.size,
            actor=request.user,
            dry_run=request.POST.get("dry_run") in ("1", "on", "true"),
        )
    except StockFileRejected as exc:  # the file is unusable as a whole; the rejection is recorded
        errors = {NON_FIELD: [exc.message]}
        if request.headers.get("HX-Request"):
            return render(request, "console/stock/_result.html", {"errors": errors}, status=400)
        return _index(request, errors=errors, status=400)
    except ApplicationError as exc:  # e.g. a role the service refuses
        errors, status = refusal(exc)
        return _index(request, errors=errors, status=status)
    if request.headers.get("HX-Request"):
        return render(request, "console/stock/_result.html", _upload_context(record))
    return redirect("console:stock-upload", upload_id=record.pk)


@console_page()
def stock_upload_detail(request, upload_id: int):
    upload = found(stock_upload_get_for_merchant, merchant_id=request.merchant.pk, upload_id=upload_id)
    return render(request, "console/stock/detail.html", _upload_context(upload))


@console_page()
def stock_template(request, file_format: str):
    if file_format not in FORMATS:
        raise Http404
    rows = sku_stock_rows_for_merchant(merchant_id=request.merchant.pk)
    return table_download(filename_stem="stock", header=TEMPLATE_HEADER, rows=rows, file_format=file_format)
