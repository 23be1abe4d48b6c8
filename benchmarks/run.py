"""Run every benchmark in this folder and print its ratios against its baseline.

Each benchmark measures its own baseline in the same run, so the ratio, not the
absolute time, is what to compare across machines; the machine's load average is printed
when each starts and ends. Usage:
    python benchmarks/run.py            # all
    python benchmarks/run.py registry   # those whose file name contains "registry"
"""

from __future__ import annotations

import importlib.util
import logging
import os
import sys
from pathlib import Path


def _load() -> str:
    """The machine's load when a benchmark starts and ends: ratios taken on a busy machine
    move, and the figures are recorded with it."""
    try:
        one, five, fifteen = os.getloadavg()
    except OSError:
        return "load average unknown"
    return f"load average {one:.2f}, {five:.2f}, {fifteen:.2f} on {os.cpu_count()} cores"


# Run alone, with options of their own: `make bench-scale` (python benchmarks/bench_scale.py).
SEPARATE = {"bench_scale"}


def main(argv: list[str]) -> int:
    # Each benchmark opens apps many times; the opening's warning about next year's
    # missing holidays (from November) would print once each time, between the figures.
    logging.getLogger("propcare.app").setLevel(logging.ERROR)
    here = Path(__file__).parent
    wanted = argv[1:] or [""]
    for path in sorted(here.glob("bench_*.py")):
        if not any(w in path.stem for w in wanted):
            continue
        if path.stem in SEPARATE:
            continue
        spec = importlib.util.spec_from_file_location(path.stem, path)
        assert spec is not None and spec.loader is not None
        module = importlib.util.module_from_spec(spec)
        spec.loader.exec_module(module)
        print(f"== {path.stem} ({_load()})")
        module.main()
        print(f"   done ({_load()})")
    return 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv))
