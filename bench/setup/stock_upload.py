"""``bench/stock_upload.py``'s seed and uploads, run in a Django process of their own."""

from __future__ import annotations

import io
import os
import time
from pathlib import Path

CODE = "库存-{:06d}"  # Chinese in every code, so the GBK file really is GBK


def seed(*, skus: int) -> dict:
    """One merchant with ``skus`` SKUs (10 per product), another with 1,000 whose codes the dirty
    file uses."""
    from django.db import connection, transaction

    from accounts.models import User
    from merchants.models import Merchant, MerchantStaff
    from products.models import Category, Product, Sku

    started = time.monotonic()
    with transaction.atomic():
        user = User.objects.create(username="bench-stock", nickname="库存测试")
        other_user = User.objects.create(username="bench-stock-other", nickname="别家")
        category = Category.objects.create(name="日用百货")
        merchant = Merchant.objects.create(
            company_name="库存测试商贸",
            licence_no="BENCHSTOCK1",
            contact_phone="0",
            applicant=user,
            status=Merchant.Status.APPROVED,
        )
        other = Merchant.objects.create(
            company_name="别家商贸",
            licence_no="BENCHSTOCK2",
            contact_phone="0",
            applicant=other_user,
            status=Merchant.Status.APPROVED,
        )
        MerchantStaff.objects.create(merchant=merchant, user=user, role=MerchantStaff.Role.OWNER)
    for owner, count, fmt in ((merchant, skus, CODE), (other, 1_000, "别家-{:06d}")):
        for start in range(0, count, 10_000):
            with transaction.atomic():
                products = Product.objects.bulk_create(
                    Product(
                        merchant=owner, category=category, title=f"商品 {i}", status=Product.Status.ON_SALE
                    )
                    for i in range(start // 10, min(start + 10_000, count) // 10)
                )
                Sku.objects.bulk_create(
                    Sku(
                        product=products[(i - start) // 10],
                        merchant=owner,
                        code=fmt.format(i),
                        price_fen=1_990,
                        on_hand=0,
                        reserved=i % 3,
                        commission_bps=1_000,
                    )
                    for i in range(start, min(start + 10_000, count))
                )
    with connection.cursor() as cursor:
        cursor.execute("VACUUM ANALYZE products_sku")
    return {"skus": skus, "other_merchant_skus": 1_000, "seconds": round(time.monotonic() - started, 1)}


def upload(*, path: str, dry_run: bool, repeat: int) -> dict:
    """``stock_upload_run`` on ``path``, ``repeat`` times: rows/s and the peak RSS growth of each."""
    from django.db import connection

    from accounts.models import User
    from merchants.models import Merchant
    from merchants.services import stock_upload_run

    merchant = Merchant.objects.get(licence_no="BENCHSTOCK1")
    actor = User.objects.get(username="bench-stock")
    # warm up imports (openpyxl, csv) and the connection with a tiny file
    stock_upload_run(
        merchant_id=merchant.pk,
        fileobj=io.BytesIO(f"sku_code,stock\n{CODE.format(0)},1\n".encode()),
        filename="w.csv",
        actor=actor,
    )
    runs = []
    for _ in range(repeat):
        with connection.cursor() as cursor:  # each upload on a settled table: the earlier files'
            cursor.execute("VACUUM ANALYZE products_sku")  # dead rows would slow the later ones
        _reset_peak_rss()
        rss_before = _rss_kb()
        peak_before = _peak_rss_kb()
        started, cpu_started = time.perf_counter(), time.process_time()
        with open(path, "rb") as fileobj:
            record = stock_upload_run(
                merchant_id=merchant.pk,
                fileobj=fileobj,
                filename=Path(path).name,
                actor=actor,
                dry_run=dry_run,
                size=os.path.getsize(path),
            )
        seconds, cpu_seconds = time.perf_counter() - started, time.process_time() - cpu_started
        peak_after = _peak_rss_kb()
        runs.append(
            {
                "rows": record.rows,
                "valid": record.valid,
                "applied": record.applied,
                "changed": record.changed,
                "errors": record.error_count,
                "encoding": record.encoding or record.file_format,
                "seconds": round(seconds, 3),
                "rows_per_s": round(record.rows / seconds),
                # this process's CPU (not PostgreSQL's): steadier than the wall clock on a
                # shared machine, and where the file's reading shows
                "cpu_seconds": round(cpu_seconds, 3),
                "rss_before_mb": round(rss_before / 1024, 1),
                "peak_rss_growth_mb": round(max(0, peak_after - max(peak_before, rss_before)) / 1024, 1),
            }
        )
    connection.close()
    return {"file": Path(path).name, "file_mb": round(os.path.getsize(path) / 1e6, 2), "runs": runs}


def _reset_peak_rss() -> None:
    """Start the process's peak RSS (VmHWM) again from its RSS now: Django's imports peaked
    above where the process settles, and hid every upload's growth under that peak."""
    with open("/proc/self/clear_refs", "w") as clear_refs:
        clear_refs.write("5")


def _peak_rss_kb() -> int:
    with open("/proc/self/status") as status:
        return next(int(line.split()[1]) for line in status if line.startswith("VmHWM:"))


def _rss_kb() -> int:
    with open("/proc/self/statm") as statm:
        return int(statm.read().split()[1]) * (os.sysconf("SC_PAGE_SIZE") // 1024)
