#!/usr/bin/env python3
"""Benchmark: reading LVs through lvmread vs reading the same bytes straight from the images.

Makes (with real lvm2 on loop devices; needs root and lvm2) two PV images holding a 512 MiB
linear LV and a 256 MiB striped LV (2 stripes, 64 KiB), fills them with non-zero bytes, then,
with the page cache warm, measures in the same run:
- library reads of each LV in 1 MiB reads vs reading the same bytes straight from the
  images in 1 MiB reads (for the striped LV, each 1 MiB of it is every other 64 KiB of two
  ranges: one preadv per stripe; contiguous reads of those ranges, which give the bytes in
  another order, are shown too);
- `lvmread cat` of the 512 MiB LV as a whole process vs `dd` reading the same bytes.
Each figure is the best of --runs runs (library reads: of 4 x --runs rounds, interleaved).

    python3 bench/bench_read.py [--runs N] [--keep DIR]
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import shutil
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
MiB = 1 << 20
CONFIG = (
    'devices { obtain_device_list_from_udev=0 use_devicesfile=0 hints="none" '
    'filter=[%s"r|.*|"] global_filter=[%s"r|.*|"] } '
    "activation { udev_sync=0 udev_rules=0 } backup { backup=0 archive=0 }"
)


def lvm(*args: str, loops: list[str]) -> str:
    acc = "".join(f'"a|^{d}$|",' for d in loops)
    env = dict(os.environ, LVM_SUPPRESS_FD_WARNINGS="1")
    out = subprocess.run(
        ["lvm", args[0], "--driverloaded", "n", "--config", CONFIG % (acc, acc), *args[1:]],
        capture_output=True, text=True, env=env, check=True,
    )
    return out.stdout


def make_images(folder: Path) -> tuple[list[Path], dict]:
    images = [folder / "pv0.img", folder / "pv1.img"]
    sizes = [680 * MiB, 200 * MiB]
    pattern = bytes(range(1, 256)) * (MiB // 255 + 1)
    for img, size in zip(images, sizes):
        with open(img, "wb") as f:  # non-zero bytes everywhere (the PV headers come later)
            for _ in range(size // MiB):
                f.write(pattern[:MiB])
    loops = [subprocess.run(["losetup", "-f", "--show", str(i)], capture_output=True, text=True,
                            check=True).stdout.strip() for i in images]
    try:
        for d in loops:
            subprocess.run(["wipefs", "-qa", d], check=True)
        lvm("pvcreate", "-qq", *loops, loops=loops)
        lvm("vgcreate", "-qq", "-s", "4m", "vgbench", *loops, loops=loops)
        lvm("lvcreate", "-qq", "-an", "-Zn", "-L", "512m", "-n", "lin", "vgbench", loops[0],
            loops=loops)
        lvm("lvcreate", "-qq", "-an", "-Zn", "-i", "2", "-I", "64k", "-L", "256m", "-n", "str",
            "vgbench", *loops, loops=loops)
        report = json.loads(lvm("lvs", "--reportformat", "json", "--units", "b", "--nosuffix",
                                "--segments", "-o", "lv_name,seg_pe_ranges", "vgbench",
                                loops=loops))
        pvs = json.loads(lvm("pvs", "--reportformat", "json", "--units", "b", "--nosuffix",
                             "-o", "pv_name,pe_start", loops=loops))
    finally:
        for d in loops:
            subprocess.run(["losetup", "-d", d], check=False)
    dev_img = dict(zip(loops, images))
    pe_start = {r["pv_name"]: int(r["pe_start"]) for r in pvs["report"][0]["pv"]}
    ranges = {}
    for seg in report["report"][0]["seg"]:
        areas = []
        for rng in seg["seg_pe_ranges"].split():
            dev, span = rng.rsplit(":", 1)
            a, b = (int(x) for x in span.split("-"))
            areas.append((dev_img[dev], pe_start[dev] + a * 4 * MiB, (b - a + 1) * 4 * MiB))
        ranges[seg["lv_name"]] = areas
    return images, ranges


def best(fn, runs: int) -> float:
    return best_interleaved({"": fn}, runs)[""]


def best_interleaved(fns: dict, runs: int) -> dict:
    """Best time of each function over ``runs`` rounds, each round running every function
    once in turn, so that a slow spell of the machine falls on all of them alike."""
    times: dict = {k: [] for k in fns}
    for _ in range(runs):
        for k, fn in fns.items():
            t = time.perf_counter()
            fn()
            times[k].append(time.perf_counter() - t)
    return {k: min(v) for k, v in times.items()}


def read_direct(areas) -> None:
    buf = bytearray(MiB)
    for path, start, length in areas:
        fd = os.open(path, os.O_RDONLY)
        try:
            for off in range(start, start + length, MiB):
                os.preadv(fd, [buf], off)
        finally:
            os.close(fd)


def read_scattered(areas, chunk: int = 64 << 10, digest=None) -> None:
    """Each 1 MiB of the striped LV read straight from the images, with no lvmread code:
    its bytes are every other 64 KiB of each stripe's range, so one preadv per stripe
    fills every other 64 KiB of the buffer (as dm-striped must split the read).
    ``digest`` (a hash object) is fed the bytes, to check they are the LV's."""
    buf = bytearray(MiB)
    mv = memoryview(buf)
    n = len(areas)
    fds = [os.open(path, os.O_RDONLY) for path, _, _ in areas]
    try:
        per = MiB // n
        for k in range(areas[0][2] // per):
            for i, (fd, (_, start, _)) in enumerate(zip(fds, areas)):
                pieces = [mv[p : p + chunk] for p in range(i * chunk, MiB, n * chunk)]
                os.preadv(fd, pieces, start + k * per)
            if digest is not None:
                digest.update(buf)
    finally:
        for fd in fds:
            os.close(fd)


def read_lv(lv, digest=None) -> None:
    buf = bytearray(MiB)
    with lv.open() as f:
        while f.readinto(buf):
            if digest is not None:
                digest.update(buf)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--runs", type=int, default=5)
    ap.add_argument("--keep", metavar="DIR", help="make the images in DIR and keep them")
    args = ap.parse_args()
    folder = Path(args.keep) if args.keep else Path(tempfile.mkdtemp(prefix="lvmread-bench-"))
    folder.mkdir(parents=True, exist_ok=True)
    try:
        images, ranges = make_images(folder)
        imgs = [str(i) for i in images]
        rows = []
        import lvmread

        disks = lvmread.open(imgs)
        for name, size in (("lin", 512), ("str", 256)):
            read_direct(ranges[name])  # warm the page cache
            lv = disks.lv(f"vgbench/{name}")
            fns = {"direct": lambda: read_direct(ranges[name]),  # noqa: B023
                   "ours": lambda: read_lv(lv)}  # noqa: B023
            if name == "str":
                fns["floor"] = lambda: read_scattered(ranges["str"])
            t = best_interleaved(fns, 4 * args.runs)
            direct, ours = t["direct"], t["ours"]
            if name == "lin":
                rows.append(("lin: the same bytes straight from the image, 1 MiB reads",
                             size / direct, ""))
                rows.append(("lin: lvmread LV file object, 1 MiB reads", size / ours,
                             f"{direct / ours:.3f}x the image (target >= 0.95x)"))
                continue
            # the scattered reads must give the LV's bytes, or the comparison means nothing
            theirs, mine = hashlib.sha256(), hashlib.sha256()
            read_scattered(ranges["str"], digest=theirs)
            read_lv(lv, digest=mine)
            assert theirs.digest() == mine.digest(), "scattered reads are not the LV's bytes"
            floor = t["floor"]
            rows.append(("str: contiguous 1 MiB reads of the stripes' ranges", size / direct,
                         "the LV's bytes, in another order"))
            rows.append(("str: each 1 MiB of the LV straight from the images", size / floor,
                         f"{direct / floor:.3f}x contiguous (one preadv per stripe)"))
            rows.append(("str: lvmread LV file object, 1 MiB reads", size / ours,
                         f"{floor / ours:.3f}x the images (target >= 0.95x); "
                         f"{direct / ours:.3f}x contiguous"))
        (path, start, length), = ranges["lin"]
        dd = best(lambda: subprocess.run(
            ["dd", f"if={path}", "of=/dev/null", "bs=1M", f"skip={start // MiB}",
             f"count={length // MiB}"], check=True, capture_output=True), args.runs)
        with open(os.devnull, "wb") as null:
            cat = best(lambda: subprocess.run(
                [*LVMREAD, "cat", "vgbench/lin", *imgs],
                stdout=null, check=True, cwd=ROOT), args.runs)
        rows.append(("dd 512 MiB to /dev/null (whole process)", 512 / dd, f"{dd:.3f} s"))
        rows.append(("lvmread cat 512 MiB to /dev/null", 512 / cat,
                     f"{cat:.3f} s = {cat / dd:.2f}x dd's time (target <= 1.3x)"))
        out_dd, out_cat = folder / "dd.out", folder / "cat.out"
        dd_file = best(lambda: subprocess.run(
            ["dd", f"if={path}", f"of={out_dd}", "bs=1M", f"skip={start // MiB}",
             f"count={length // MiB}"], check=True, capture_output=True), args.runs)
        cat_file = best(lambda: subprocess.run(
            [*LVMREAD, "cat", "vgbench/lin", *imgs, "-o",
             str(out_cat)], check=True, cwd=ROOT), args.runs)
        rows.append(("dd 512 MiB to a file (whole process)", 512 / dd_file, f"{dd_file:.3f} s"))
        rows.append(("lvmread cat -o 512 MiB to a file", 512 / cat_file,
                     f"{cat_file:.3f} s = {cat_file / dd_file:.2f}x dd's time"))
        bare = best(lambda: subprocess.run([sys.executable, "-c", "pass"], check=True), args.runs)
        rows.append(("python3 -c pass (interpreter start)", 0, f"{bare:.3f} s"))
        disks.close()
        w = max(len(r[0]) for r in rows)
        print(f"{'measure':<{w}}  {'MiB/s':>8}  note")
        for label, rate, note in rows:
            shown = f"{rate:8.0f}" if rate else " " * 8
            print(f"{label:<{w}}  {shown}  {note}")
    finally:
        if not args.keep:
            shutil.rmtree(folder, ignore_errors=True)


if __name__ == "__main__":
    main()
