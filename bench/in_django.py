"""Run one bench setup function in this (fresh) Django process and print its answer as JSON.

    python -m bench.in_django bench.setup.flash_sale prepare '{"buyers": 10, "stock": 5}'

``bench/harness.py``'s ``in_django`` runs this with the bench's environment and reads the
last line of the output; whatever the function printed before stays above it.
"""

from __future__ import annotations

import importlib
import json
import sys


def main(module: str, function: str, kwargs: str) -> None:
    import django

    django.setup()
    answer = getattr(importlib.import_module(module), function)(**json.loads(kwargs))
    print(json.dumps(answer, ensure_ascii=False, default=str), flush=True)


if __name__ == "__main__":
    main(*sys.argv[1:4])
