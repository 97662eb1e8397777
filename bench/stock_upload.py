"""Bulk stock upload of 100,000 rows: rows/s applied and peak memory (issue 3).

    .venv/bin/python bench/stock_upload.py --database bench_stock --seed --drop

What it does, step by step (each step prints what it did):
1. ``--seed``: creates the PostgreSQL database, migrates it and bulk-inserts one
   merchant with ``--skus`` SKUs (10 per product), plus another merchant with 1,000
   SKUs whose codes appear in the "dirty" file.
2. Writes the upload files to a temporary directory: CSV (UTF-8) of 10k, 50k and
   100k rows in shuffled code order with random stock; the same 100k as GBK CSV (what
   Excel saves on Chinese Windows) and as XLSX; and a 100k CSV where 1 % of the rows
   are bad (unknown codes, another merchant's codes, negative or non-integer stock,
   duplicates).
3. Runs ``stock_upload_run`` — the service behind ``POST /merchant/stock-uploads`` —
   on each file, each in a fresh Python process: rows/s over the whole call (read,
   decode, check, look up, apply in one transaction, record), and the growth of the
   process's peak RSS during the call (``resource.getrusage``) next to the file size.
   Each file is uploaded twice: the first upload changes every SKU, the second (a
   re-upload) changes none. Then a dry run of the 100k CSV.
4. With ``--drop`` drops the database.

Memory is flat when the peak RSS growth does not follow the file size: the file is
streamed, only three ``array('q')`` columns (24 bytes per good row) and the first
1,000 errors are kept.
"""

from __future__ import annotations

import argparse
import csv
import io
import json
import os
import random
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
PYTHON = str(ROOT / ".venv" / "bin" / "python")
PG = os.environ.get("BENCH_PG", "postgres://postgres@127.0.0.1:5432")
CODE = "库存-{:06d}"  # Chinese in every code, so the GBK file really is GBK


def django_env(database: str) -> dict:
    return {
        **os.environ,
        "DATABASE_URL": f"{PG}/{database}",
        "SHOP_VAR_DIR": str(Path(tempfile.gettempdir()) / "bench-var"),
        "DEBUG": "0",
        "SANDBOX": "0",
        "SECRET_KEY": "bench-only-not-a-secret",  # noqa: S105
        "LOG_LEVEL": "WARNING",
        "DJANGO_SETTINGS_MODULE": "shop.settings.base",
        "PYTHONPATH": str(ROOT),
    }


def run(cmd: list[str], env: dict | None = None, **kwargs) -> subprocess.CompletedProcess:
    return subprocess.run(cmd, env=env, check=True, text=True, **kwargs)  # noqa: S603


def psql(sql: str) -> None:
    run(["psql", f"{PG}/postgres", "-v", "ON_ERROR_STOP=1", "-q", "-c", sql], stdout=subprocess.DEVNULL)


# --- steps run inside Django --------------------------------------------------------------


def _seed(skus: int) -> dict:
    import django

    django.setup()
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


def _upload(path: str, dry_run: bool, repeat: int) -> dict:
    import resource

    import django

    django.setup()
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
        rss_before = _rss_kb()
        peak_before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
        started = time.perf_counter()
        with open(path, "rb") as fileobj:
            record = stock_upload_run(
                merchant_id=merchant.pk,
                fileobj=fileobj,
                filename=Path(path).name,
                actor=actor,
                dry_run=dry_run,
                size=os.path.getsize(path),
            )
        seconds = time.perf_counter() - started
        peak_after = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
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
                "rss_before_mb": round(rss_before / 1024, 1),
                "peak_rss_growth_mb": round(max(0, peak_after - max(peak_before, rss_before)) / 1024, 1),
            }
        )
    connection.close()
    return {"file": Path(path).name, "file_mb": round(os.path.getsize(path) / 1e6, 2), "runs": runs}


def _rss_kb() -> int:
    with open("/proc/self/statm") as statm:
        return int(statm.read().split()[1]) * (os.sysconf("SC_PAGE_SIZE") // 1024)


# --- files --------------------------------------------------------------------------------


def write_files(directory: Path, skus: int) -> dict[str, Path]:
    rng = random.Random(3)
    codes = list(range(skus))
    rng.shuffle(codes)
    files: dict[str, Path] = {}

    def csv_file(name: str, rows, encoding: str = "utf-8") -> None:
        path = directory / name
        with open(path, "w", encoding=encoding, newline="") as out:
            writer = csv.writer(out)
            writer.writerow(["sku_code", "stock"])
            writer.writerows(rows)
        files[name] = path

    for count in (10_000, 50_000, skus):
        csv_file(
            f"stock_{count // 1000}k.csv", ((CODE.format(i), rng.randrange(0, 5_000)) for i in codes[:count])
        )
    csv_file(
        f"stock_{skus // 1000}k_gbk.csv",
        ((CODE.format(i), rng.randrange(0, 5_000)) for i in codes),
        encoding="gbk",
    )

    def dirty_rows():
        # 5 bad rows in every 500: 1 % of the file
        for n, i in enumerate(codes):
            bad = n % 500
            if bad == 0:
                yield (f"不存在-{n}", 5)  # unknown code
            elif bad == 1:
                yield (f"别家-{n % 1_000:06d}", 5)  # another merchant's code
            elif bad == 2:
                yield (CODE.format(i), -1)
            elif bad == 3:
                yield (CODE.format(i), "2.5")
            elif bad == 4:
                yield (CODE.format(codes[n - 10]), 7)  # a good line's code again: duplicate
            else:
                yield (CODE.format(i), rng.randrange(0, 5_000))

    csv_file(f"stock_{skus // 1000}k_1pct_bad.csv", dirty_rows())

    from openpyxl import Workbook

    workbook = Workbook(write_only=True)
    sheet = workbook.create_sheet()
    sheet.append(["sku_code", "stock"])
    for i in codes:
        sheet.append([CODE.format(i), rng.randrange(0, 5_000)])
    path = directory / f"stock_{skus // 1000}k.xlsx"
    workbook.save(path)
    files[path.name] = path
    return files


def upload(database: str, path: Path, *, dry_run: bool = False, repeat: int = 2) -> dict:
    args = [
        PYTHON,
        __file__,
        "--step",
        "upload",
        "--database",
        database,
        "--file",
        str(path),
        "--repeat",
        str(repeat),
    ]
    if dry_run:
        args.append("--dry-run")
    out = run(args, env=django_env(database), cwd=ROOT, capture_output=True).stdout
    return json.loads(out.strip().splitlines()[-1])


def main() -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--database", required=True)
    parser.add_argument("--seed", action="store_true")
    parser.add_argument("--skus", type=int, default=100_000)
    parser.add_argument("--drop", action="store_true")
    parser.add_argument("--step", choices=["seed", "upload"], help=argparse.SUPPRESS)
    parser.add_argument("--file", help=argparse.SUPPRESS)
    parser.add_argument("--dry-run", action="store_true", help=argparse.SUPPRESS)
    parser.add_argument("--repeat", type=int, default=2, help=argparse.SUPPRESS)
    args = parser.parse_args()

    if args.step == "seed":
        print(json.dumps(_seed(args.skus)))
        return 0
    if args.step == "upload":
        print(json.dumps(_upload(args.file, args.dry_run, args.repeat)))
        return 0

    report: dict = {"database": args.database, "load_before": os.getloadavg(), "uploads": []}
    try:
        if args.seed:
            print(f"creating {args.database} with {args.skus:,} SKUs …", flush=True)
            psql(f'CREATE DATABASE "{args.database}"')
            run([PYTHON, "manage.py", "migrate", "-v0"], env=django_env(args.database), cwd=ROOT)
            out = run(
                [PYTHON, __file__, "--step", "seed", "--database", args.database, "--skus", str(args.skus)],
                env=django_env(args.database),
                cwd=ROOT,
                capture_output=True,
            ).stdout
            report["seed"] = json.loads(out.strip().splitlines()[-1])
            print(f"  {report['seed']}", flush=True)
        with tempfile.TemporaryDirectory() as tmp:
            files = write_files(Path(tmp), args.skus)
            for name, path in files.items():
                result = upload(args.database, path)
                report["uploads"].append(result)
                for n, r in enumerate(result["runs"], start=1):
                    print(f"{name} ({result['file_mb']} MB) upload {n}: {r}", flush=True)
            dry = upload(args.database, files[f"stock_{args.skus // 1000}k.csv"], dry_run=True, repeat=1)
            dry["file"] += " (dry run)"
            report["uploads"].append(dry)
            print(f"{dry['file']}: {dry['runs'][0]}", flush=True)
        report["load_after"] = os.getloadavg()
    finally:
        if args.drop:
            psql(f'DROP DATABASE IF EXISTS "{args.database}" WITH (FORCE)')
            print(f"dropped {args.database}", flush=True)
    print(json.dumps(report, indent=2, default=str))
    return 0


if __name__ == "__main__":
    sys.exit(main())
