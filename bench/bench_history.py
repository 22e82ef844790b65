#!/usr/bin/env python3
"""Benchmark: ``lvmread history`` on a 1 MiB metadata area full of versions.

The image is made by the real lvm2 (as fixtures/make_fixtures.sh does: a sparse file on a
loop device, a private LVM_SYSTEM_DIR and a device filter, LVs never activated): pvcreate
with the default metadata area (1020 KiB of ring), then lvcreate/lvremove in one ``lvm``
shell until the ring has wrapped, so the whole area holds versions. Without root or lvm2
it falls back to fixtures/oracle/history (a 1 MiB area holding 204 versions, ~30% full).

Each timed run is a whole new process, cold: the page cache is dropped first (when
/proc/sys/vm/drop_caches is writable) and lvmread keeps no cache of its own. The baseline
is measured in the same run on the same image: ``pvck --dump metadata_all`` (lvm2's own
scan of every version, in C) when lvm2 is installed, else reading the raw area with dd.
The number of versions lvmread finds is checked against pvck's.

    python3 bench/bench_history.py [--runs 5] [--pairs 400] [--image IMG] [--keep DIR]

Exit status 1 if the median of ``lvmread history`` exceeds the 1 s budget.
"""

from __future__ import annotations

import argparse
import json
import lzma
import os
import re
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
BUDGET = 1.0
ENV = dict(os.environ, PYTHONPATH=str(ROOT), LVM_SUPPRESS_FD_WARNINGS="1")


def _drop_caches() -> bool:
    try:
        os.sync()
        with open("/proc/sys/vm/drop_caches", "w") as f:
            f.write("3\n")
        return True
    except OSError:
        return False


def _run(cmd: list[str], env=None) -> tuple[float, subprocess.CompletedProcess]:
    t = time.perf_counter()
    out = subprocess.run(cmd, capture_output=True, env=env or ENV, check=False)
    return time.perf_counter() - t, out


def _lvm_available() -> bool:
    return os.geteuid() == 0 and all(shutil.which(c) for c in ("lvm", "losetup"))


def make_image(work: Path, pairs: int) -> Path:
    """A PV whose 1 MiB metadata area wrapped: ``pairs`` lvcreate/lvremove after vgcreate."""
    img = work / "bench.img"
    with open(img, "wb") as f:
        f.truncate(16 << 20)
    dev = subprocess.run(["losetup", "-f", "--show", str(img)], capture_output=True,
                         text=True, check=True).stdout.strip()
    try:
        etc = work / "etc-lvm"
        etc.mkdir()
        flt = f'"a|^{dev}$|", "r|.*|"'
        (etc / "lvm.conf").write_text(
            "devices { obtain_device_list_from_udev=0 use_devicesfile=0 hints=\"none\" "
            f"scan=[\"/dev\"] filter=[{flt}] global_filter=[{flt}] }}\n"
            "activation { udev_sync=0 udev_rules=0 }\nbackup { backup=0 archive=0 }\n"
        )
        env = dict(ENV, LVM_SYSTEM_DIR=str(etc))

        def lvm(*args: str) -> None:
            subprocess.run(["lvm", args[0], "--driverloaded", "n", *args[1:]], env=env,
                           check=True, capture_output=True)

        lvm("pvcreate", "-y", dev)
        lvm("vgcreate", "-s", "1m", "vgbench", dev)
        lvm("lvcreate", "-an", "-Zn", "-L", "4m", "-n", "keep", "vgbench")
        script = "".join(
            f"lvcreate --driverloaded n -an -Zn -l 1 -n t{i} vgbench\n"
            f"lvremove --driverloaded n -f vgbench/t{i}\n"
            for i in range(pairs)
        )
        t = time.perf_counter()
        subprocess.run(["lvm"], input=script, text=True, env=env, check=True,
                       capture_output=True)
        print(f"made {img.name}: {2 * pairs + 3} versions written by lvm2 in "
              f"{time.perf_counter() - t:.0f} s")
    finally:
        subprocess.run(["losetup", "-d", dev], check=False)
    return img


def oracle_image(work: Path) -> Path:
    src = ROOT / "fixtures" / "oracle" / "history" / "history0.img.xz"
    img = work / "history0.img"
    with lzma.open(src) as fin, open(img, "wb") as fout:
        shutil.copyfileobj(fin, fout, 1 << 20)
    return img


def mda_of(img: Path) -> tuple[int, int]:
    sys.path.insert(0, str(ROOT))
    from lvmread.inputs.source import open_input
    from lvmread.ondisk.pv import read_pv

    with open_input(str(img)) as f:
        m = read_pv(f.whole).metadata_areas[0]
        return m.offset, m.size


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--runs", type=int, default=5)
    ap.add_argument("--pairs", type=int, default=400,
                    help="lvcreate/lvremove pairs (400: ~800 versions, the ring wraps)")
    ap.add_argument("--image", help="time this image instead of making one")
    ap.add_argument("--keep", help="keep the made image in this folder")
    args = ap.parse_args(argv)

    work = Path(tempfile.mkdtemp(prefix="lvmread-bench-"))
    try:
        if args.image:
            img, origin = Path(args.image), "given"
        elif _lvm_available():
            img, origin = make_image(work, args.pairs), "made by lvm2 on a loop device"
        else:
            img, origin = oracle_image(work), "fixtures/oracle/history (no lvm2/root here)"
        if args.keep:
            shutil.copy(img, args.keep)
        off, size = mda_of(img)
        py = sys.executable
        cases: list[tuple[str, list[str], dict]] = []
        pvck = shutil.which("pvck")
        if pvck:
            cases.append(("pvck --dump metadata_all (baseline)",
                          [pvck, "--dump", "metadata_all", "-v", str(img)], ENV))
        else:
            cases.append((f"dd the raw area, {size} bytes (baseline)",
                          ["dd", f"if={img}", "of=/dev/null", "bs=4096", f"skip={off // 4096}",
                           f"count={size // 4096}"], ENV))
        cases.append(("lvmread history", [py, "-m", "lvmread.cli", "history", str(img)], ENV))
        cases.append(("lvmread history --json",
                      [py, "-m", "lvmread.cli", "history", "--json", str(img)], ENV))
        nopyc = dict(ENV, PYTHONPYCACHEPREFIX=str(work / "pyc-never"), PYTHONDONTWRITEBYTECODE="1")
        cases.append(("lvmread history, no .pyc (compiles all)",
                      [py, "-m", "lvmread.cli", "history", str(img)], nopyc))

        dropped = _drop_caches()
        results = []
        outputs = {}
        for name, cmd, env in cases:
            times = []
            for _ in range(args.runs):
                _drop_caches()
                dt, out = _run(cmd, env)
                if out.returncode != 0:
                    print(f"{name} failed: {out.stderr.decode()[-500:]}", file=sys.stderr)
                    return 2
                times.append(dt)
            outputs[name] = out
            results.append((name, times))

        found = len(json.loads(outputs["lvmread history --json"].stdout))
        pv_count = None
        if pvck:
            pv_count = len(re.findall(rb"metadata at \d+ length", outputs[cases[0][0]].stdout
                                      + outputs[cases[0][0]].stderr))
        print(f"image: {img.name} ({origin}); metadata area {size} bytes at {off}")
        print(f"versions found: lvmread {found}" +
              (f", pvck {pv_count}" + (" (same)" if pv_count == found else " (DIFFERENT)")
               if pv_count is not None else ""))
        print(f"page cache dropped before each run: {'yes' if dropped else 'no (not root)'}; "
              f"python {sys.version.split()[0]}; {args.runs} runs each")
        base = statistics.median(results[0][1])
        w = max(len(n) for n, _ in results)
        print(f"{'command':<{w}}  {'min s':>7}  {'median s':>8}  {'max s':>7}  {'vs baseline':>11}")
        for name, times in results:
            med = statistics.median(times)
            print(f"{name:<{w}}  {min(times):7.3f}  {med:8.3f}  {max(times):7.3f}  "
                  f"{med / base:10.1f}x")
        med = statistics.median(results[1][1])
        ok = med <= BUDGET
        print(f"budget: lvmread history median {med:.3f} s <= {BUDGET:.3f} s: "
              f"{'PASS' if ok else 'FAIL'}")
        if pv_count is not None and pv_count != found:
            return 1
        return 0 if ok else 1
    finally:
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    sys.exit(main())
