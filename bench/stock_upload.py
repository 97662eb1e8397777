"""Bulk stock upload of 100,000 rows: rows/s applied and peak memory (issue 3).

    .venv/bin/python bench/stock_upload.py --database bench_stock --seed --drop

What it does, step by step (each step prints what it did):
1. ``--seed``: creates the PostgreSQL database, migrates it and bulk-inserts one
   merchant with ``--skus`` SKUs (10 per product), plus another merchant with 1,000
   SKUs whose codes appear in the "dirty" file.
2. Writes the upload files to a temporary directory: CSV (UTF-8) of 10k, 50k and
   100k rows in shuffled code order with random stock; the same 100k as GBK CSV (what
   Excel saves on Chinese Windows) and as XLSX (openpyxl's, inline strings, and one as Excel
   saves it, shared strings); and a 100k CSV where 1 % of the rows
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
import os
import random
import sys
import tempfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
from bench import harness  # noqa: E402
from bench.setup.stock_upload import CODE  # noqa: E402


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

    # the same as Excel saves it: every string in the shared strings, numbers as <v>
    from shop.testing.xlsx import excel_workbook

    rows = [["sku_code", "stock"], *([CODE.format(i), rng.randrange(0, 5_000)] for i in codes)]
    path = directory / f"stock_{skus // 1000}k_shared_strings.xlsx"
    path.write_bytes(excel_workbook(rows))
    files[path.name] = path
    return files


def upload(env: dict, path: Path, *, dry_run: bool = False, repeat: int = 2) -> dict:
    """One file's uploads in a fresh Python process (its peak RSS is the upload's)."""
    return harness.in_django(
        env, "bench.setup.stock_upload:upload", path=str(path), dry_run=dry_run, repeat=repeat
    )


def main() -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--database", required=True)
    parser.add_argument("--seed", action="store_true")
    parser.add_argument("--skus", type=int, default=100_000)
    parser.add_argument("--drop", action="store_true")
    args = parser.parse_args()

    env = harness.django_env(args.database)
    report: dict = {"database": args.database, "load_before": os.getloadavg(), "uploads": []}
    try:
        if args.seed:
            print(f"creating {args.database} with {args.skus:,} SKUs …", flush=True)
            harness.database_create(args.database, replace=False)
            harness.migrate(env)
            report["seed"] = harness.in_django(env, "bench.setup.stock_upload:seed", skus=args.skus)
            print(f"  {report['seed']}", flush=True)
        with tempfile.TemporaryDirectory() as tmp:
            files = write_files(Path(tmp), args.skus)
            for name, path in files.items():
                result = upload(env, path)
                report["uploads"].append(result)
                for n, r in enumerate(result["runs"], start=1):
                    print(f"{name} ({result['file_mb']} MB) upload {n}: {r}", flush=True)
            dry = upload(env, files[f"stock_{args.skus // 1000}k.csv"], dry_run=True, repeat=1)
            dry["file"] += " (dry run)"
            report["uploads"].append(dry)
            print(f"{dry['file']}: {dry['runs'][0]}", flush=True)
        report["load_after"] = os.getloadavg()
    finally:
        if args.drop:
            harness.database_drop(args.database)
            print(f"dropped {args.database}", flush=True)
    harness.emit(report)
    return 0


if __name__ == "__main__":
    sys.exit(main())
