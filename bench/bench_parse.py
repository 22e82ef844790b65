#!/usr/bin/env python3
"""Benchmark: parsing the metadata of a VG with 1,000 LVs, and `lvmread ls` on that disk.

Uses the `many_lvs` fixture (made by real lvm2: 1,000 LVs, ~280 KB of metadata text).
Prints a table with baselines measured in the same run:
- in-process parse: lvmread's lark grammar + transformer vs dissect.volume's parser
  (if `dissect.volume` is installed);
- whole process: `lvmread ls` vs a bare `python3 -c pass` (interpreter start-up).
Every whole-process run is cold: a new interpreter, no cache that outlives it.

    python3 bench/bench_parse.py [--runs N]
"""

from __future__ import annotations

import argparse
import lzma
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
# The installed `lvmread` command beside this interpreter (a venv's), else the source tree's.
_SCRIPT = Path(sys.executable).with_name("lvmread")
LVMREAD = [str(_SCRIPT)] if _SCRIPT.exists() else [sys.executable, "-m", "lvmread.cli"]


def _median_time(fn, runs: int) -> float:
    times = []
    for _ in range(runs):
        t = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t)
    return statistics.median(times)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--runs", type=int, default=7)
    args = ap.parse_args()

    tmp = Path(tempfile.mkdtemp(prefix="lvmread-bench-"))
    try:
        image = tmp / "disk.img"
        with lzma.open(ROOT / "fixtures/many_lvs/disk.img.xz") as fin, open(image, "wb") as fout:
            shutil.copyfileobj(fin, fout, 1 << 20)

        from lvmread.inputs.source import open_input
        from lvmread.ondisk.pv import read_pv
        from lvmread.text.metadata import _parser, parse_metadata

        with open_input(str(image)) as infile:
            text = read_pv(infile.whole).metadata_areas[0].current().text
        t = time.perf_counter()
        _parser()
        build = time.perf_counter() - t
        t = time.perf_counter()
        tree = parse_metadata(text)
        first = time.perf_counter() - t
        n_lvs = len(next(v for v in tree.values() if isinstance(v, dict))["logical_volumes"])
        ours = _median_time(lambda: parse_metadata(text), args.runs)

        rows = [
            ("metadata text", f"{len(text)} bytes, {n_lvs} LVs", ""),
            ("parser ready (load the generated standalone parser)", f"{build * 1e3:.1f} ms", ""),
            ("lvmread parse, first call", f"{first * 1e3:.1f} ms", ""),
            ("lvmread parse, median", f"{ours * 1e3:.1f} ms", "budget 100 ms"),
        ]
        try:
            from dissect.volume.lvm.physical import parse_metadata as dissect_parse

            theirs = _median_time(lambda: dissect_parse(text), args.runs)
            rows.append(("dissect.volume parse, median", f"{theirs * 1e3:.1f} ms",
                         f"lvmread is {theirs / ours:.1f}x faster"))
        except ImportError:
            rows.append(("dissect.volume parse", "not installed", "pip install dissect.volume"))

        def proc(cmd):
            return lambda: subprocess.run(cmd, stdout=subprocess.DEVNULL, check=True, cwd=ROOT)

        bare = _median_time(proc([sys.executable, "-c", "pass"]), args.runs)
        ls = _median_time(proc([*LVMREAD, "ls", str(image)]), args.runs)
        ls_json = _median_time(
            proc([*LVMREAD, "ls", "--json", str(image)]), args.runs
        )
        rows += [
            ("python3 -c pass (baseline)", f"{bare * 1e3:.1f} ms", ""),
            ("lvmread ls (whole process)", f"{ls * 1e3:.1f} ms",
             f"{ls / bare:.1f}x interpreter start; budget 250 ms"),
            ("lvmread ls --json (whole process)", f"{ls_json * 1e3:.1f} ms",
             f"{ls_json / bare:.1f}x interpreter start"),
        ]
        w = [max(len(r[i]) for r in rows) for i in range(3)]
        print(f"{'measure':<{w[0]}}  {'time':>{w[1]}}  note")
        for a, b, c in rows:
            print(f"{a:<{w[0]}}  {b:>{w[1]}}  {c}")
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


if __name__ == "__main__":
    main()
