"""The stock file readers alone, without the database: CPU and peak RSS of reading 100,000
rows as CSV, as XLSX with ``merchants/xlsx`` (openpyxl's inline strings and Excel's shared
strings) and, where python-calamine is installed, as XLSX with calamine (the reader before).

    .venv/bin/python bench/xlsx_reader.py --rows 100000 --repeat 3

Each reading runs in a fresh Python process: the figures are the process's CPU time for the
reading (steadier than the wall clock on a shared machine; the wall clock is printed too)
and the growth of its peak RSS (``VmHWM``, which counts what Rust or C allocate, unlike
``tracemalloc``). ``bench/stock_upload.py`` measures the whole upload with the database.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))


def _peak_kb() -> int:
    with open("/proc/self/status") as status:
        return next(int(line.split()[1]) for line in status if line.startswith("VmHWM"))


def read_one(reader: str, path: str) -> dict:
    """In this (fresh) process: read every row of ``path`` with ``reader``."""
    import merchants.stock_files as stock_files

    if reader == "calamine":  # the reader before, as merchants/stock_files.py had it
        from python_calamine import CalamineWorkbook

        def rows():
            with open(path, "rb") as fileobj:
                workbook = CalamineWorkbook.from_filelike(fileobj)
                numbered = enumerate(workbook.get_sheet_by_index(0).iter_rows(), start=1)
                line, header = next((n, c) for n, c in numbered if not stock_files._blank(c))
                at = stock_files._columns(header, line, stock_files.STOCK_COLUMNS)
                for line, cells in numbered:
                    if not stock_files._blank(cells):
                        yield (line, *(cells[i] if i < len(cells) else None for i in at))
                workbook.close()
    else:

        def rows():
            with open(path, "rb") as fileobj:
                yield from stock_files.stock_file_open(fileobj, Path(path).name).rows

    peak, wall, cpu = _peak_kb(), time.perf_counter(), time.process_time()
    count = sum(1 for _ in rows())
    return {
        "rows": count,
        "cpu_s": round(time.process_time() - cpu, 3),
        "wall_s": round(time.perf_counter() - wall, 3),
        "peak_rss_growth_mb": round((_peak_kb() - peak) / 1024, 1),
    }


def main() -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--rows", type=int, default=100_000)
    parser.add_argument("--repeat", type=int, default=3)
    args = parser.parse_args()
    from bench.stock_upload import write_files

    try:
        import python_calamine  # noqa: F401

        calamine = True
    except ImportError:
        calamine = False
    with tempfile.TemporaryDirectory() as tmp:
        files = write_files(Path(tmp), args.rows)
        thousands = args.rows // 1000
        runs = [("csv", f"stock_{thousands}k.csv")]
        for name in (f"stock_{thousands}k.xlsx", f"stock_{thousands}k_shared_strings.xlsx"):
            runs += [("stream", name)] + ([("calamine", name)] if calamine else [])
        for _ in range(args.repeat):
            for reader, name in runs:
                call = f"b.read_one({reader!r}, {str(files[name])!r})"
                code = f"import json, bench.xlsx_reader as b; print(json.dumps({call}))"
                out = subprocess.run(
                    [sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, check=True
                ).stdout
                print(f"{reader:8s} {name:34s} {json.loads(out)}", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
