#!/usr/bin/env python3
"""Fuzz lvmread with mutated copies of the real lvm2 fixture images.

A deterministic, seeded, structure-aware mutator. lvmread's own parsers locate, in each
fixture image (``fixtures/`` and ``fixtures/oracle/``), the label sector, the pv_header
and its disk_locn lists, the pv_header_extension, every mda_header with its raw_locn
slots, the metadata text each header points to, the older copies left in the ring
buffer, and the MBR/GPT partition tables. Each case stacks one to three mutations:

* binary fields set to boundary integers (0, 1, -1, 2^31, 2^32, 2^63, 2^64-1, ...) or
  to values near the structure's own (area size +-1, file size, ...), bits flipped,
  sectors smashed, each with or without recomputing the checksum that covers them
  (``lvm_crc`` for labels and mda headers, CRC32 for GPT), so that a mutation also gets
  past the checksum and reaches the layers behind it;
* metadata text edits: numbers (segment extents, stripe counts, pe_start, seqno, ...)
  replaced by huge, negative or odd values, names swapped, sections deleted or
  duplicated, braces removed or added, PV/LV references changed (cycles included),
  stripe lists shortened or lengthened, segment types changed, deep nesting, noise and
  truncation at random points; written back with the raw_locn size and checksum and the
  mda_header checksum fixed (the text reaches the parser and the model), or in place
  without fixing them (the fallback to older copies runs);
* the image truncated at a random or interesting point.

Every mutated input goes through lvmread in-process (fast; thousands of cases): the
library API (open, each LV's table and reads) and every CLI command through
``lvmread.cli.main``; only :class:`LvmReadError` (and the device mapper's errors for
reads) may come out, stderr lines must each be one ``lvmread: ...`` line, a time bound
(SIGALRM) and a memory bound (RLIMIT_AS) hold. A share of the inputs also goes through
the command line as subprocesses (``python -m lvmread.cli``) with a timeout and an
RLIMIT_AS limit: exit status 0 or 1, no traceback, one line per message.

A failing input is saved as a recipe (``--out``): the fixture name and the byte writes
(offset + hex) and truncations that make it, which ``--replay`` (and
tests/test_hostile.py) rebuild from the fixture.

    python3 tests/fuzz.py                         # 2000 in-process cases, 100 via subprocess
    python3 tests/fuzz.py --cases 5000 --subprocess 300 --time 1800 --seed 7
    python3 tests/fuzz.py --replay tests/fuzz-out/finding-0001.json
"""

from __future__ import annotations

import argparse
import contextlib
import io
import json
import lzma
import os
import random
import re
import resource
import shutil
import signal
import struct
import subprocess
import sys
import tempfile
import time
import traceback
import zlib
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable, Optional

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from lvmread.dm.errors import DMError  # noqa: E402
from lvmread.errors import LvmReadError  # noqa: E402
from lvmread.ondisk.crc import lvm_crc  # noqa: E402

FIXTURES = ROOT / "fixtures"
MiB = 1 << 20
CAT_LIMIT = 256 * MiB
"""LVs larger than this (a mutated zero/error segment can make an LV exabytes long, as
lvm2's own --virtualsize may) are read in samples, not copied whole by ``cat``."""

BOUNDARY = [
    0, 1, 2, 3, 0x7F, 0x80, 0xFF, 0x100, 511, 512, 513, 4095, 4096, 0x7FFF, 0x8000, 0xFFFF,
    1 << 16, (1 << 31) - 1, 1 << 31, (1 << 32) - 1, 1 << 32, 1 << 40, 1 << 53, 1 << 62,
    (1 << 63) - 1, 1 << 63, (1 << 64) - 2, (1 << 64) - 1,
]
TEXT_NUMBERS = [
    "0", "1", "-1", "2", "3", "7", "-7", "2147483647", "2147483648", "4294967295", "4294967296",
    "9007199254740993", "9223372036854775807", "9223372036854775808", "-9223372036854775808",
    "18446744073709551615", "18446744073709551616", "1000000000000000000000000000000",
    "-1000000000000000000000", "0x7fffffffffffffff", "0xffffffffffffffff", "1e400", "1.5",
    "-0", "nan", "inf", "99999999999999999999999999999999999999999999999999999", "00", "+5",
]
SEGMENT_TYPES = [
    "striped", "linear", "zero", "error", "free", "thin", "thin-pool", "mirror", "snapshot",
    "raid1", "raid5", "raid0", "raid10", "cache", "cache-pool", "vdo", "writecache",
    "integrity", "bogus", "",
]
NOISE = [b"\0", b"\xff", b'"', b"\\", b"#", b"[", b"]", b"{", b"}", b"\n", b"=", b",", b" ",
         b"\xc3", b"\xe2\x80\xae", b"\r", b"\t", b"-", b"9"]


# ------------------------------------------------------------------------ fixtures


@dataclass
class Fixture:
    """A set of images used together (one fixture folder)."""

    name: str
    images: list[str]
    base: Path
    sizes: dict[str, int] = field(default_factory=dict)


def list_fixtures() -> list[str]:
    names = set()
    for xz in FIXTURES.rglob("*.img.xz"):
        names.add(str(xz.parent.relative_to(FIXTURES)))
    return sorted(names)


def load_fixture(name: str, cache: Path) -> Fixture:
    """Decompress the images of fixture ``name`` under ``cache`` (once) and describe them."""
    src = FIXTURES / name
    dest = cache / "base" / name
    dest.mkdir(parents=True, exist_ok=True)
    images = []
    for xz in sorted(src.glob("*.img.xz")):
        out = dest / xz.name[: -len(".xz")]
        if not out.exists():
            tmp = out.with_suffix(".part")
            with lzma.open(xz) as fin, open(tmp, "wb") as fout:
                while True:
                    chunk = fin.read(MiB)
                    if not chunk:
                        break
                    if chunk.count(0) == len(chunk):
                        fout.seek(len(chunk), os.SEEK_CUR)
                    else:
                        fout.write(chunk)
                fout.truncate()
            os.chmod(tmp, 0o444)
            tmp.rename(out)
        images.append(out.name)
    fx = Fixture(name, images, dest)
    fx.sizes = {img: (dest / img).stat().st_size for img in images}
    return fx


# ------------------------------------------------------------------ where things lie


@dataclass
class Crc:
    """A checksum to recompute after a mutation: where it is stored and what it covers."""

    kind: str  # "lvm" (lvm_crc, 4 bytes), "gpt" (zlib.crc32 with the field zeroed)
    file: str
    at: int
    start: int
    end: int
    order: int = 0  # lower first (a GPT entry array before its header)


@dataclass
class Field:
    file: str
    at: int
    width: int
    name: str
    crc: Optional[Crc]
    hint: list[int] = field(default_factory=list)  # values worth trying for this field
    text: bool = False  # bytes (magic, type, uuid), not an integer


@dataclass
class TextLoc:
    """A metadata text in a ring: the current copy (raw_locn 0 points to it) or an old one."""

    file: str
    mda_at: int  # absolute offset of the metadata area in the file
    mda_size: int
    offset: int  # from the start of the area
    size: int  # with the NUL
    current: bool
    rl_at: Optional[int]  # absolute offset of raw_locn[0] (current copies)
    crc: Crc  # the mda_header checksum
    vg: str = ""


@dataclass
class FixtureMap:
    fields: list[Field] = field(default_factory=list)
    texts: list[TextLoc] = field(default_factory=list)
    sectors: list[tuple[str, int]] = field(default_factory=list)  # interesting sectors
    cuts: list[tuple[str, int]] = field(default_factory=list)  # interesting truncation points
    header_ranges: list[tuple[str, int, int]] = field(default_factory=list)


def _locn_fields(out: FixtureMap, img: str, buf: bytes, at0: int, pos: int, prefix: str,
                 crc: Crc, hints: list[int]) -> int:
    i = 0
    while pos + 16 <= len(buf):
        off, size = struct.unpack_from("<QQ", buf, pos)
        out.fields.append(Field(img, at0 + pos, 8, f"{prefix}[{i}].offset", crc, hints))
        out.fields.append(Field(img, at0 + pos + 8, 8, f"{prefix}[{i}].size", crc, hints))
        pos += 16
        i += 1
        if off == 0 and size == 0:
            break
    return pos


def discover(fx: Fixture) -> FixtureMap:
    """Locate every structure of the fixture's images with lvmread's own parsers."""
    from lvmread.inputs.source import open_input
    from lvmread.ondisk.partitions import find_partitions
    from lvmread.vgread.ring import scan_area
    from lvmread.vgread.scan import find_pvs

    out = FixtureMap()
    for img in fx.images:
        path = fx.base / img
        fsize = fx.sizes[img]
        out.cuts += [(img, n) for n in (0, 1, 511, 512, 1024, 2048, 4096, fsize // 2, fsize - 1)]
        out.sectors += [(img, 0), (img, 512)]
        out.header_ranges.append((img, 0, min(fsize, 8192)))
        with open_input(str(path)) as infile:
            try:
                parts = find_partitions(infile.whole, [])
            except LvmReadError:
                parts = []
            if parts:
                _partition_fields(out, img, infile, parts)
            try:
                pvs = find_pvs(infile, [])
            except LvmReadError:
                pvs = []
            for pv in pvs:
                _pv_fields(out, img, pv, fsize, scan_area)
    return out


def _partition_fields(out: FixtureMap, img: str, infile, parts) -> None:
    hints = [p.start // 512 for p in parts] + [(p.start + p.size) // 512 for p in parts]
    for i in range(4):
        at = 446 + 16 * i
        out.fields.append(Field(img, at, 1, f"mbr[{i}].boot", None, [0, 0x80, 0x81]))
        out.fields.append(Field(img, at + 4, 1, f"mbr[{i}].type", None,
                                [0, 5, 0x0F, 0x85, 0x8E, 0xEE, 0x83]))
        out.fields.append(Field(img, at + 8, 4, f"mbr[{i}].lba_start", None, hints))
        out.fields.append(Field(img, at + 12, 4, f"mbr[{i}].num_sectors", None, hints))
    for p in parts:
        out.cuts.append((img, p.start))
        out.cuts.append((img, p.start + p.size // 2))
        if p.is_extended:  # the first EBR
            for i in range(2):
                at = p.start + 446 + 16 * i
                out.fields.append(Field(img, at + 4, 1, f"ebr[{i}].type", None, [0, 5, 0x83]))
                out.fields.append(Field(img, at + 8, 4, f"ebr[{i}].lba_start", None, hints + [0]))
                out.fields.append(Field(img, at + 12, 4, f"ebr[{i}].num_sectors", None, hints))
            out.sectors.append((img, p.start))
    raw = infile.whole.pread(512, 512) if infile.size >= 1024 else b""
    if raw[:8] != b"EFI PART":
        return
    hsize, = struct.unpack_from("<I", raw, 12)
    ents_lba, n, esize = struct.unpack_from("<QII", raw, 72)
    arr_at, arr_len = ents_lba * 512, n * esize
    ecrc = Crc("gpt", img, 512 + 88, arr_at, arr_at + arr_len, order=0)
    hcrc = Crc("gpt", img, 512 + 16, 512, 512 + hsize, order=1)
    ghints = [1, 2, 33, 34, ents_lba, n, esize, infile.size // 512 - 1, infile.size // 512]
    for name, off, w in (("revision", 8, 4), ("header_size", 12, 4), ("my_lba", 24, 8),
                         ("alternate_lba", 32, 8), ("first_usable", 40, 8),
                         ("last_usable", 48, 8), ("entries_lba", 72, 8),
                         ("num_entries", 80, 4), ("entry_size", 84, 4),
                         ("entries_crc", 88, 4)):
        out.fields.append(Field(img, 512 + off, w, f"gpt.{name}", hcrc, ghints))
    out.sectors.append((img, arr_at))
    for i in range(min(n, 4)):
        at = arr_at + i * esize
        out.fields.append(Field(img, at, 16, f"gpt.entry[{i}].type", ecrc, text=True))
        out.fields.append(Field(img, at + 32, 8, f"gpt.entry[{i}].first_lba", ecrc, ghints + hints))
        out.fields.append(Field(img, at + 40, 8, f"gpt.entry[{i}].last_lba", ecrc, ghints + hints))
    # one CRC field covers another: keep the entry array CRC fix before the header's
    out.fields.append(Field(img, arr_at + 32, 8, "gpt.entry[0].first_lba+hdr", hcrc, hints))


def _pv_fields(out: FixtureMap, img: str, pv, fsize: int, scan_area) -> None:
    src = pv.source
    label_at = src.start + pv.label_sector * 512
    with open(src.path, "rb") as f:
        f.seek(label_at)
        buf = f.read(512)
    lcrc = Crc("lvm", img, label_at + 16, label_at + 20, label_at + 512)
    out.sectors.append((img, label_at))
    out.cuts += [(img, label_at + 100), (img, label_at + 511)]
    size_hints = [src.size, src.size - 1, src.size + 1, src.start, fsize, fsize + 512]
    for m in pv.metadata_areas:
        size_hints += [m.offset, m.size, m.offset + m.size, m.size - 511, m.size + 1]
    for a in pv.data_areas:
        size_hints += [a.offset, a.size, a.offset + 1, src.size - a.offset]
    out.fields += [
        Field(img, label_at, 8, "label.id", lcrc, text=True),
        Field(img, label_at + 8, 8, "label.sector", lcrc, [0, 1, 2, 3, 4]),
        Field(img, label_at + 16, 4, "label.crc", None),
        Field(img, label_at + 20, 4, "label.offset", lcrc, [0, 31, 32, 33, 472, 480, 504, 511]),
        Field(img, label_at + 24, 8, "label.type", lcrc, text=True),
    ]
    ph = label_at + pv.label.offset
    if pv.label.offset + 40 <= 512:
        rel = pv.label.offset
        out.fields.append(Field(img, ph, 32, "pv_header.uuid", lcrc, text=True))
        out.fields.append(Field(img, ph + 32, 8, "pv_header.device_size", lcrc, size_hints))
        pos = _locn_fields(out, img, buf, label_at, rel + 40, "pv_header.data", lcrc, size_hints)
        pos = _locn_fields(out, img, buf, label_at, pos, "pv_header.mda", lcrc, size_hints)
        if pos + 8 <= 512:
            out.fields.append(Field(img, label_at + pos, 4, "ext.version", lcrc, [0, 1, 2, 3]))
            out.fields.append(Field(img, label_at + pos + 4, 4, "ext.flags", lcrc, [0, 1, 2]))
            _locn_fields(out, img, buf, label_at, pos + 8, "ext.boot", lcrc, size_hints)
    for mda in pv.metadata_areas:
        at = src.start + mda.offset
        mcrc = Crc("lvm", img, at, at + 4, at + 512, order=2)
        out.sectors.append((img, at))
        out.cuts += [(img, at + 40), (img, at + 512), (img, at + mda.size // 2)]
        out.header_ranges.append((img, at, 512))
        ring = mda.size - 512
        hints = [0, 511, 512, 513, mda.size - 1, mda.size, mda.size + 1, ring, ring + 1,
                 mda.offset, src.size, fsize]
        rl = mda.header.raw_locns[0] if mda.header is not None and mda.header.raw_locns else None
        if rl is not None:
            hints += [rl.offset, rl.size, rl.offset + rl.size, mda.size - rl.offset,
                      mda.size - rl.offset + 1, rl.size - 1, rl.size + 1]
        out.fields += [
            Field(img, at, 4, "mda.checksum", None),
            Field(img, at + 4, 16, "mda.magic", mcrc, text=True),
            Field(img, at + 20, 4, "mda.version", mcrc, [0, 1, 2]),
            Field(img, at + 24, 8, "mda.start", mcrc, hints),
            Field(img, at + 32, 8, "mda.size", mcrc, hints),
        ]
        for r in range(2):
            b = at + 40 + 24 * r
            out.fields += [
                Field(img, b, 8, f"raw_locn[{r}].offset", mcrc, hints),
                Field(img, b + 8, 8, f"raw_locn[{r}].size", mcrc, hints),
                Field(img, b + 16, 4, f"raw_locn[{r}].checksum", mcrc),
                Field(img, b + 20, 4, f"raw_locn[{r}].flags", mcrc, [0, 1, 2, 3]),
            ]
        try:
            versions = scan_area(mda, pv)
        except LvmReadError:
            versions = []
        for v in versions:
            if v.length is None or v.area_offset is None:
                continue
            if v.current and rl is not None:
                out.texts.append(TextLoc(img, at, mda.size, v.area_offset, v.length, True,
                                         at + 40, mcrc, v.vg_name or ""))
                out.cuts.append((img, at + v.area_offset + v.length // 2))
            elif not v.current and not v.precommit:
                out.texts.append(TextLoc(img, at, mda.size, v.area_offset, v.length, False,
                                         None, mcrc, v.vg_name or ""))


# ------------------------------------------------------------------------- patches


class Patch:
    """Byte writes and truncations over a fixture's images; reads see the writes."""

    def __init__(self, fx: Fixture) -> None:
        self.fx = fx
        self.writes: list[tuple[str, int, bytes]] = []
        self.truncs: dict[str, int] = {}
        self.dirty: dict[tuple[str, int], Crc] = {}
        self.notes: list[str] = []

    def size(self, img: str) -> int:
        return self.truncs.get(img, self.fx.sizes[img])

    def read(self, img: str, at: int, n: int) -> bytes:
        with open(self.fx.base / img, "rb") as f:
            f.seek(at)
            buf = bytearray(f.read(n))
        buf += bytes(max(0, n - len(buf)))
        for wimg, wat, data in self.writes:
            if wimg != img or wat >= at + n or wat + len(data) <= at:
                continue
            lo, hi = max(at, wat), min(at + n, wat + len(data))
            buf[lo - at : hi - at] = data[lo - wat : hi - wat]
        return bytes(buf)

    def write(self, img: str, at: int, data: bytes, crc: Optional[Crc] = None) -> None:
        if at < 0 or not data:
            return
        self.writes.append((img, at, bytes(data)))
        if crc is not None:
            self.dirty[(crc.file, crc.at)] = crc

    def truncate(self, img: str, size: int) -> None:
        self.truncs[img] = min(size, self.size(img))

    def fix_crcs(self) -> None:
        for crc in sorted(self.dirty.values(), key=lambda c: c.order):
            data = self.read(crc.file, crc.start, crc.end - crc.start)
            if crc.kind == "lvm":
                self.writes.append((crc.file, crc.at, struct.pack("<I", lvm_crc(data))))
            else:  # gpt: the CRC field itself counts as zero
                rel = crc.at - crc.start
                if 0 <= rel < len(data):
                    data = data[:rel] + bytes(4) + data[rel + 4:]
                self.writes.append((crc.file, crc.at, struct.pack("<I", zlib.crc32(data))))
        self.dirty.clear()

    def ops(self) -> list[dict]:
        """The patch as recipe operations: merged writes (hex) and truncations."""
        out: list[dict] = []
        for img, at, data in self.writes:
            last = out[-1] if out else None
            if (last is not None and "hex" in last and last["file"] == img
                    and last["at"] + len(last["hex"]) // 2 == at):
                last["hex"] += data.hex()
            else:
                out.append({"file": img, "at": at, "hex": data.hex()})
        for img, size in self.truncs.items():
            out.append({"file": img, "truncate": size})
        return out


def apply_ops(base: Path, work: Path, ops: list[dict]) -> list[tuple]:
    """Apply recipe ``ops`` to the images in ``work`` (copies of those in ``base``);
    return what :func:`restore` needs to undo them."""
    undo = []
    for op in ops:
        path = work / op["file"]
        fd = os.open(path, os.O_RDWR)
        try:
            if "truncate" in op:
                old = os.fstat(fd).st_size
                os.ftruncate(fd, op["truncate"])
                undo.append((op["file"], "truncate", op["truncate"], old))
            else:
                data = bytes.fromhex(op["hex"])
                os.pwrite(fd, data, op["at"])
                undo.append((op["file"], "write", op["at"], len(data)))
        finally:
            os.close(fd)
    return undo


def restore(base: Path, work: Path, undo: list[tuple]) -> None:
    for img, kind, a, b in reversed(undo):
        fd = os.open(work / img, os.O_RDWR)
        try:
            with open(base / img, "rb") as src:
                if kind == "write":
                    src.seek(a)
                    data = src.read(b)
                    os.pwrite(fd, data, a)
                    if len(data) < b:  # the write extended the file
                        os.ftruncate(fd, os.fstat(src.fileno()).st_size)
                else:
                    os.ftruncate(fd, b)
                    src.seek(a)
                    pos = a
                    while pos < b:
                        chunk = src.read(MiB)
                        if not chunk:
                            break
                        if chunk.count(0) != len(chunk):
                            os.pwrite(fd, chunk, pos)
                        pos += len(chunk)
        finally:
            os.close(fd)


# ------------------------------------------------------------------------ mutators


def _int_value(rng: random.Random, f: Field, orig: int) -> int:
    r = rng.random()
    if f.hint and r < 0.35:
        v = rng.choice(f.hint) + rng.choice([0, 0, 0, -1, 1, -512, 512])
    elif r < 0.75:
        v = rng.choice(BOUNDARY)
    elif r < 0.9:
        v = orig + rng.choice([-1, 1, -512, 512, orig, -orig, 1 << 32])
    else:
        v = rng.getrandbits(8 * f.width)
    return v % (1 << (8 * f.width))


def mut_field(rng: random.Random, fmap: FixtureMap, p: Patch, only: str = "") -> str:
    fields = [f for f in fmap.fields if f.name.startswith(only)] or fmap.fields
    if not fields:
        return mut_bitflip(rng, fmap, p)
    f = rng.choice(fields)
    orig = p.read(f.file, f.at, f.width)
    if f.text:
        choice = rng.randrange(4)
        if choice == 0:
            new = bytes(f.width)
        elif choice == 1:
            new = bytes(rng.getrandbits(8) for _ in range(f.width))
        elif choice == 2:
            b = bytearray(orig)
            b[rng.randrange(f.width)] ^= 1 << rng.randrange(8)
            new = bytes(b)
        else:
            new = orig[::-1]
        desc = f"{f.name}={new.hex()}"
    else:
        v = _int_value(rng, f, int.from_bytes(orig, "little"))
        new = v.to_bytes(f.width, "little")
        desc = f"{f.name}={v}"
    fix = f.crc is not None and rng.random() < 0.8
    p.write(f.file, f.at, new, f.crc if fix else None)
    return desc + (" +crc" if fix else "")


def mut_bitflip(rng: random.Random, fmap: FixtureMap, p: Patch) -> str:
    img, start, length = rng.choice(fmap.header_ranges)
    crc = None
    for f in fmap.fields:  # the checksum covering this range, if any
        if f.crc and f.file == img and f.crc.start <= start + 8 < f.crc.end:
            crc = f.crc
            break
    n = rng.choice([1, 1, 2, 3, 8])
    out = []
    for _ in range(n):
        at = start + rng.randrange(length)
        b = p.read(img, at, 1)[0] ^ (1 << rng.randrange(8))
        p.write(img, at, bytes([b]))
        out.append(at)
    if crc is not None and rng.random() < 0.6:
        p.dirty[(crc.file, crc.at)] = crc
        return f"bitflip {img}@{out} +crc"
    return f"bitflip {img}@{out}"


def mut_sector(rng: random.Random, fmap: FixtureMap, p: Patch) -> str:
    img, at = rng.choice(fmap.sectors)
    kind = rng.choice(["zero", "ff", "random", "copy"])
    if kind == "zero":
        data = bytes(512)
    elif kind == "ff":
        data = b"\xff" * 512
    elif kind == "random":
        data = bytes(rng.getrandbits(8) for _ in range(512))
    else:  # another interesting sector's bytes (a label where an mda header was, ...)
        oimg, oat = rng.choice(fmap.sectors)
        data = p.read(oimg, oat, 512)
    p.write(img, at, data)
    return f"sector {img}@{at}={kind}"


def mut_truncate(rng: random.Random, fmap: FixtureMap, p: Patch) -> str:
    if rng.random() < 0.7:
        img, at = rng.choice(fmap.cuts)
    else:
        img = rng.choice(p.fx.images)
        at = rng.randrange(p.fx.sizes[img] + 1)
    at = max(0, min(at, p.fx.sizes[img]))
    p.truncate(img, at)
    return f"truncate {img} to {at}"


def _read_text(p: Patch, t: TextLoc) -> bytes:
    ring = t.mda_size - 512
    rel = t.offset - 512
    if rel < 0 or ring <= 0:
        return b""
    first = min(t.size, ring - rel)
    data = p.read(t.file, t.mda_at + t.offset, first)
    if first < t.size:
        data += p.read(t.file, t.mda_at + 512, t.size - first)
    return data


def _write_ring(p: Patch, t: TextLoc, data: bytes) -> None:
    ring = t.mda_size - 512
    rel = t.offset - 512
    first = min(len(data), ring - rel)
    p.write(t.file, t.mda_at + t.offset, data[:first])
    if first < len(data):
        p.write(t.file, t.mda_at + 512, data[first:])


_SECTION = re.compile(rb"(?m)^[ \t]*([A-Za-z0-9_.+\-]+)[ \t]*\{")
_NUMBER = re.compile(rb"(?m)^([ \t]*)([A-Za-z_]+)([ \t]*=[ \t]*)(-?[0-9]+)")
_AREA_NUM = re.compile(rb'("[^"\n]*",[ \t]*)([0-9]+)')
_QUOTED = re.compile(rb'"([^"\n]*)"')
_TYPE = re.compile(rb'(type[ \t]*=[ \t]*)"([^"\n]*)"')
_STRIPES = re.compile(rb"(stripes|mirrors|raids)[ \t]*=[ \t]*\[([^\]]*)\]")
_SEG_KEYS = (b"start_extent", b"extent_count", b"stripe_count", b"stripe_size", b"pe_start",
             b"pe_count", b"extent_size", b"seqno", b"dev_size", b"region_size", b"chunk_size",
             b"area_count", b"segment_count", b"ba_start", b"ba_size", b"max_lv", b"max_pv",
             b"transaction_id", b"device_id", b"read_ahead", b"metadata_copies")


def _block(text: bytes, start: int) -> int:
    """End (after the matching ``}``) of the section whose ``{`` is at or after ``start``."""
    depth = 0
    i = text.find(b"{", start)
    if i < 0:
        return len(text)
    while i < len(text):
        c = text[i]
        if c == 0x7B:
            depth += 1
        elif c == 0x7D:
            depth -= 1
            if depth == 0:
                return i + 1
        i += 1
    return len(text)


def _names(text: bytes) -> list[bytes]:
    return [m.group(1) for m in _SECTION.finditer(text)]


def edit_text(rng: random.Random, text: bytes, room: int = 1 << 20) -> tuple[bytes, str]:
    """One random edit of metadata text (``room``: bytes the ring can hold)."""
    ops = ["num", "num", "segnum", "segnum", "areanum", "swap", "ref", "ref", "delete", "dup",
           "brace", "stripes", "type", "truncate", "noise", "cycle", "deep", "line", "dupline",
           "seqno", "bigarray", "string", "inflate"]
    op = rng.choice(ops)
    if op == "inflate":  # fill the ring: one huge string, array, run of keys or blanks
        n = max(0, room - len(text) - 64)
        kind = rng.choice(["string", "array", "carray", "run", "blanks"])
        if kind == "string":
            add = b'd = "' + b"x" * n + b'"\n'
        elif kind in ("array", "carray"):
            add = (b"t = [" + (b"# c\n" if kind == "carray" else b"")
                   + b", ".join(b'"%d"' % i for i in range(n // 9)) + b"]\n")
        elif kind == "run":
            add = b"k = 1\n" * (n // 6)
        else:
            add = b"s {" + b" " * n + b"}\n"
        at = text.find(b"\n", text.find(b"{")) + 1
        return text[:at] + add + text[at:], f"inflate {kind} {len(add)} bytes"
    if op in ("num", "segnum"):
        ms = list(_NUMBER.finditer(text))
        if op == "segnum":
            ms = [m for m in ms if m.group(2) in _SEG_KEYS] or ms
        if not ms:
            return text, "num: none"
        m = rng.choice(ms)
        val = rng.choice(TEXT_NUMBERS + [str(int(m.group(4)) + rng.choice([-1, 1, 2, 100]))])
        return (text[: m.start(4)] + val.encode() + text[m.end(4):],
                f"{m.group(2).decode()}={val}")
    if op == "areanum":
        ms = list(_AREA_NUM.finditer(text))
        if not ms:
            return text, "areanum: none"
        m = rng.choice(ms)
        val = rng.choice(TEXT_NUMBERS)
        return text[: m.start(2)] + val.encode() + text[m.end(2):], f"area start={val}"
    if op == "swap":
        ms = list(_SECTION.finditer(text))
        if len(ms) < 2:
            return text, "swap: none"
        a, b = sorted(rng.sample(ms, 2), key=lambda m: m.start())
        na, nb = a.group(1), b.group(1)
        out = (text[: a.start(1)] + nb + text[a.end(1): b.start(1)] + na + text[b.end(1):])
        return out, f"swap sections {na!r} {nb!r}"
    if op == "ref":
        ms = [m for m in _QUOTED.finditer(text)]
        if not ms:
            return text, "ref: none"
        m = rng.choice(ms)
        names = _names(text)
        choices = names + [b"pv0", b"pv1", b"pv9", b"", b"x" * 300, b"pv0\\", b"../..",
                           b"physical_volumes", b"logical_volumes"]
        new = rng.choice(choices)
        return (text[: m.start(1)] + new + text[m.end(1):],
                f"string {m.group(1)[:40]!r} -> {new[:40]!r}")
    if op in ("delete", "dup"):
        ms = list(_SECTION.finditer(text))
        if not ms:
            return text, f"{op}: none"
        m = rng.choice(ms)
        end = _block(text, m.start())
        body = text[m.start(): end]
        if op == "delete":
            return text[: m.start()] + text[end:], f"delete section {m.group(1)!r}"
        if rng.random() < 0.5:
            return text[:end] + b"\n" + body + text[end:], f"duplicate section {m.group(1)!r}"
        renamed = body.replace(m.group(1), m.group(1) + b"_dup", 1)
        return text[:end] + b"\n" + renamed + text[end:], f"copy section {m.group(1)!r}"
    if op == "brace":
        idx = [i for i, c in enumerate(text) if c in (0x7B, 0x7D)]
        if not idx or rng.random() < 0.3:
            at = rng.randrange(len(text) + 1)
            ch = rng.choice([b"{", b"}", b"}}", b"x {"])
            return text[:at] + ch + text[at:], f"insert {ch!r} at {at}"
        at = rng.choice(idx)
        return text[:at] + text[at + 1:], f"remove {text[at:at + 1]!r} at {at}"
    if op == "stripes":
        ms = list(_STRIPES.finditer(text))
        if not ms:
            return text, "stripes: none"
        m = rng.choice(ms)
        items = [x.strip() for x in m.group(2).split(b",") if x.strip()]
        how = rng.choice(["drop", "dup", "odd", "empty", "many"])
        if how == "drop" and len(items) >= 2:
            items = items[:-2]
        elif how == "dup":
            items = items + items
        elif how == "odd":
            items = items[:-1]
        elif how == "empty":
            items = []
        else:
            items = (items or [b'"pv0"', b"0"]) * 64
        new = b"[" + b", ".join(items) + b"]"
        return text[: m.start(2) - 1] + new + text[m.end(2) + 1:], f"{m.group(1).decode()} {how}"
    if op == "type":
        ms = list(_TYPE.finditer(text))
        if not ms:
            return text, "type: none"
        m = rng.choice(ms)
        t = rng.choice(SEGMENT_TYPES).encode()
        return text[: m.start(2)] + t + text[m.end(2):], f"type={t.decode()!r}"
    if op == "truncate":
        at = rng.randrange(len(text) + 1)
        return text[:at], f"text cut at {at}"
    if op == "noise":
        at = rng.randrange(len(text) + 1)
        junk = b"".join(rng.choice(NOISE) for _ in range(rng.randint(1, 4)))
        if rng.random() < 0.5 and at < len(text):
            return text[:at] + junk + text[at + 1:], f"noise {junk!r} over {at}"
        return text[:at] + junk + text[at:], f"noise {junk!r} at {at}"
    if op == "cycle":
        # an LV's areas name an LV (itself, or another that names it back)
        ms = [m for m in _STRIPES.finditer(text)]
        lvs = _lv_names(text)
        if not ms or not lvs:
            return text, "cycle: none"
        m = rng.choice(ms)
        owner = _owner_lv(text, m.start(), lvs) or rng.choice(lvs)
        target = owner if rng.random() < 0.5 else rng.choice(lvs)
        new = b'stripes = ["' + target + b'", 0]'
        out = text[: m.start()] + new + text[m.end():]
        out = re.sub(rb"stripe_count = \d+", b"stripe_count = 1", out, count=0)
        return out, f"cycle {owner!r} -> {target!r}"
    if op == "deep":
        n = rng.choice([64, 1000, 20000])
        at = text.find(b"{")
        if at < 0:
            return text, "deep: none"
        nest = b"a {\n" * n + b"}\n" * n
        return text[: at + 1] + b"\n" + nest + text[at + 1:], f"nest {n} deep"
    if op in ("line", "dupline"):
        lines = text.split(b"\n")
        i = rng.randrange(len(lines))
        if op == "line":
            del lines[i]
        else:
            lines.insert(i, lines[i])
        return b"\n".join(lines), f"{op} {i}"
    if op == "seqno":
        m = re.search(rb"seqno = (\d+)", text)
        if not m:
            return text, "seqno: none"
        val = rng.choice([b"0", b"1", str(int(m.group(1)) + 1).encode(), b"99999999999",
                          b"18446744073709551615", b"99999999999999999999"])
        return text[: m.start(1)] + val + text[m.end(1):], f"seqno={val.decode()}"
    if op == "bigarray":
        at = text.find(b"\n", text.find(b"{")) + 1
        n = rng.choice([1000, 30000])
        arr = b"tags = [" + b", ".join(b'"t%d"' % i for i in range(n)) + b"]\n"
        return text[:at] + arr + text[at:], f"array of {n}"
    # string: a long or odd string value
    ms = list(_QUOTED.finditer(text))
    if not ms:
        return text, "string: none"
    m = rng.choice(ms)
    new = rng.choice([b"\\", b"a\\\"b", b"\n", b"x" * 5000, b"\xff\xfe", b"%s%n", b"\\\\"])
    return text[: m.start(1)] + new + text[m.end(1):], f"string -> {new[:20]!r}"


def _lv_names(text: bytes) -> list[bytes]:
    i = text.find(b"logical_volumes {")
    if i < 0:
        return []
    end = _block(text, i)
    out = []
    depth = 0
    j = text.find(b"{", i) + 1
    for m in re.finditer(rb"([A-Za-z0-9_.+\-]+)[ \t]*\{|\}", text[j:end]):
        if m.group(1) is not None:
            if depth == 0:
                out.append(m.group(1))
            depth += 1
        else:
            depth -= 1
    return out


def _owner_lv(text: bytes, pos: int, lvs: list[bytes]) -> Optional[bytes]:
    best = None
    for name in lvs:
        i = text.rfind(b"\n" + name + b" {", 0, pos)
        if i < 0:
            i = text.rfind(b"\t" + name + b" {", 0, pos)
        if i >= 0 and (best is None or i > best[0]):
            best = (i, name)
    return best[1] if best else None


def mut_text(rng: random.Random, fmap: FixtureMap, p: Patch, current: bool = True) -> str:
    texts = [t for t in fmap.texts if t.current == current] or fmap.texts
    if not texts:
        return mut_field(rng, fmap, p)
    t = rng.choice(texts)
    data = _read_text(p, t)
    text = data.split(b"\0", 1)[0]
    descs = []
    ring = t.mda_size - 512
    for _ in range(rng.choice([1, 1, 1, 2, 3])):
        text, d = edit_text(rng, text, ring - 1)
        descs.append(d)
    new = text[: max(0, ring - 1)] + b"\0"
    mode = "fix" if (t.current and rng.random() < 0.8) else "keep"
    targets = [t]
    if t.current and rng.random() < 0.5:  # every current copy of this VG alike
        targets = [o for o in fmap.texts if o.current and o.vg == t.vg]
    for o in targets:
        if mode == "fix":
            _write_ring(p, o, new)
            assert o.rl_at is not None
            p.write(o.file, o.rl_at + 8, struct.pack("<Q", len(new)))
            ring_data = new
            p.write(o.file, o.rl_at + 16, struct.pack("<I", lvm_crc(ring_data)), o.crc)
        else:
            _write_ring(p, o, new)
    where = "current" if t.current else "old copy"
    return f"text[{where},{mode},x{len(targets)}]: " + "; ".join(descs)


MUTATORS: list[tuple[float, Callable[..., str]]] = [
    (3, lambda r, m, p: mut_field(r, m, p, "label")),
    (3, lambda r, m, p: mut_field(r, m, p, "pv_header")),
    (1, lambda r, m, p: mut_field(r, m, p, "ext")),
    (3, lambda r, m, p: mut_field(r, m, p, "mda")),
    (4, lambda r, m, p: mut_field(r, m, p, "raw_locn")),
    (2, lambda r, m, p: mut_field(r, m, p, "")),
    (1, lambda r, m, p: mut_field(r, m, p, "mbr")),
    (1, lambda r, m, p: mut_field(r, m, p, "gpt")),
    (2, mut_bitflip),
    (1, mut_sector),
    (2, mut_truncate),
    (14, lambda r, m, p: mut_text(r, m, p, True)),
    (2, lambda r, m, p: mut_text(r, m, p, False)),
]


def make_metadata_file(rng: random.Random, fx: Fixture, fmap: FixtureMap) -> tuple[bytes, str]:
    """A backup file (``--metadata``) made from a current metadata text, edited 0-2 times,
    sometimes in the backup layout (header keys first)."""
    t = rng.choice([x for x in fmap.texts if x.current] or fmap.texts)
    text = _read_text(Patch(fx), t).split(b"\0", 1)[0]
    descs = []
    if rng.random() < 0.3:  # lvm2's backup layout: the header keys first
        at = text.find(b"\ncontents = ")
        if at > 0:
            text = text[at + 1:] + b"\n" + text[: at + 1]
            descs.append("backup layout")
    for _ in range(rng.choice([0, 1, 1, 2])):
        text, d = edit_text(rng, text)
        descs.append(d)
    return text, "; ".join(descs) or "unchanged"


def make_case(rng: random.Random, fx: Fixture, fmap: FixtureMap) -> tuple[list[dict], str]:
    p = Patch(fx)
    weights = [w for w, _ in MUTATORS]
    descs = []
    for _ in range(rng.choice([1, 1, 1, 2, 2, 3])):
        fn = rng.choices([f for _, f in MUTATORS], weights)[0]
        descs.append(fn(rng, fmap, p))
    p.fix_crcs()
    return p.ops(), " | ".join(descs)


# ---------------------------------------------------------------------- commands


def subcommands() -> dict:
    """name -> argparse subparser, from lvmread.cli.build_parser() (new commands included)."""
    from lvmread.cli import build_parser

    parser = build_parser()
    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction):
            return dict(action.choices)
    return {}


def _dests(sub) -> dict:
    return {a.dest: a for a in sub._actions}


def commands_for(paths: list[str], lvs: list[str], seqnos: list[int], rng: random.Random,
                 max_lvs: int = 4, metadata: Optional[str] = None) -> list[list[str]]:
    """The CLI invocations to try on one input set (``metadata``: a metadata file to give
    with ``--metadata`` too)."""
    subs = subcommands()
    out: list[list[str]] = []
    if metadata is not None:
        for name, sub in subs.items():
            d = _dests(sub)
            if "metadata" in d and "lv" not in d and "seq_from" not in d:
                out.append([name, *paths, "--metadata", metadata])
        for lv in lvs[:1]:
            out.append(["cat", lv, *paths, "--metadata", metadata, "-o", os.devnull])
    picked = lvs if len(lvs) <= max_lvs else rng.sample(lvs, max_lvs)
    for name, sub in subs.items():
        d = _dests(sub)
        if "lv" in d:
            for lv in picked:
                base = [name, lv, *paths]
                if name == "cat":
                    base += ["-o", os.devnull]
                out.append(base)
                if "partial" in d and rng.random() < 0.5:
                    out.append(base + ["--partial"])
            continue
        required = [a for a in sub._actions if a.required and a.option_strings]
        if "seq_from" in d:
            if seqnos:
                out.append([name, *paths, "--from", str(rng.choice(seqnos))])
            continue
        if required:
            continue  # a new command with required options this script does not know
        out.append([name, *paths])
        if "json" in d:
            out.append([name, *paths, "--json"])
        if "seqno" in d and seqnos:
            out.append([name, *paths, "--seqno", str(rng.choice(seqnos))])
    return out


# ------------------------------------------------------------------------ checking


class FuzzTimeout(BaseException):
    pass


def _alarm(signum, frame):
    raise FuzzTimeout()


@dataclass
class Finding:
    kind: str
    detail: str
    command: list[str]
    signature: str


def _signature(exc: BaseException) -> str:
    tb = traceback.extract_tb(exc.__traceback__)
    frames = [f for f in tb if "lvmread" in f.filename] or list(tb)
    where = f"{Path(frames[-1].filename).name}:{frames[-1].lineno}" if frames else "?"
    return f"{type(exc).__name__} at {where}"


def check_stderr(err: str) -> Optional[str]:
    for line in err.splitlines():
        if line.strip() and not line.startswith("lvmread: "):
            return line[:200]
    return None


def run_cli_inprocess(
    argv: list[str], timeout: float
) -> tuple[int, str, str, Optional[BaseException]]:
    from lvmread.cli import main

    out, err = io.StringIO(), io.StringIO()
    rc = None
    exc: Optional[BaseException] = None
    signal.setitimer(signal.ITIMER_REAL, timeout)
    try:
        with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
            rc = main(argv)
    except SystemExit as e:
        rc = e.code if isinstance(e.code, int) else 2
    except BaseException as e:  # noqa: B036 - everything else is a finding
        exc = e
    finally:
        signal.setitimer(signal.ITIMER_REAL, 0)
    return (rc if rc is not None else -1), out.getvalue(), err.getvalue(), exc


def api_checks(paths: list[str], rng: random.Random, timeout: float) -> tuple[list, list, list]:
    """The library API on one input set: returns (findings, LV specs, seqnos)."""
    import lvmread

    findings: list[Finding] = []
    lvs: list[str] = []
    seqnos: list[int] = []
    signal.setitimer(signal.ITIMER_REAL, timeout)
    step = "open"
    try:
        try:
            ds = lvmread.open(paths)
        except LvmReadError:
            return findings, lvs, seqnos
        with ds:
            str(ds.warnings)
            [str(e) for e in ds.errors]
            for vg in ds:
                for lv in list(vg.lvs.values()):
                    lvs.append(f"{vg.name}/{lv.name}")
                    step = f"{vg.name}/{lv.name}"
                    for partial in (False, True):
                        try:
                            lv.table(partial=partial)
                        except LvmReadError:
                            pass
                    try:
                        f = lv.open(partial=True)
                    except LvmReadError:
                        continue
                    with f:
                        size = f.size
                        f.error_ranges()
                        for at in {0, max(0, size - 4096), rng.randrange(size + 1), size,
                                   size + 512}:
                            try:
                                f.seek(at)
                                f.read(4096)
                                f.seek(at)
                                f.readinto(bytearray(rng.choice((512, 70000, 1 << 20))))
                            except DMError:
                                pass
            try:
                from lvmread.vgread.history import History

                seqnos = sorted({v.seqno for v in History.of(ds).verify().versions
                                 if v.seqno is not None and v.usable})
            except (LvmReadError, ImportError):
                pass
    except LvmReadError:
        pass
    except BaseException as e:  # noqa: B036
        kind = "hang" if isinstance(e, FuzzTimeout) else (
            "memory" if isinstance(e, MemoryError) else "exception")
        findings.append(Finding(kind, "".join(traceback.format_exception(type(e), e,
                                                                         e.__traceback__))[-3000:],
                                ["api", step, *paths], _signature(e)))
    finally:
        signal.setitimer(signal.ITIMER_REAL, 0)
    return findings, lvs, seqnos[:50]


def check_inprocess(paths: list[str], rng: random.Random, timeout: float, max_lvs: int = 4,
                    metadata: Optional[str] = None
                    ) -> tuple[list[Finding], int, list[str], list[int]]:
    findings, lvs, seqnos = api_checks(paths, rng, timeout)
    cmds = commands_for(paths, lvs, seqnos, rng, max_lvs, metadata)
    for argv in cmds:
        rc, _out, err, exc = run_cli_inprocess(argv, timeout)
        if exc is not None:
            kind = "hang" if isinstance(exc, FuzzTimeout) else (
                "memory" if isinstance(exc, MemoryError) else "exception")
            tb = "".join(traceback.format_exception(type(exc), exc, exc.__traceback__))
            findings.append(Finding(kind, tb[-3000:], argv, _signature(exc)))
            continue
        if rc not in (0, 1):
            if not (rc == 2 and _usage_ok(argv, err)):
                findings.append(Finding("status", f"exit {rc}: {err[-500:]}", argv,
                                        f"exit {rc} {argv[0]}"))
        bad = check_stderr(err)
        if bad is not None:
            findings.append(Finding("stderr", bad, argv, f"stderr {argv[0]}: {bad[:40]}"))
    return findings, len(cmds), lvs, seqnos


def _usage_ok(argv: list[str], err: str) -> bool:
    """Exit 2 is right for a --seqno or LV the mutated input does not have, and for a VG
    name that a mutated uuid made ambiguous (two VGs carry it)."""
    return ("--seqno" in argv or "--from" in argv or "no logical volume" in err
            or "no volume group" in err or "is ambiguous" in err)


def _limit(mem: int) -> Callable[[], None]:
    def pre() -> None:
        resource.setrlimit(resource.RLIMIT_AS, (mem, mem))

    return pre


def run_cli_subprocess(argv: list[str], timeout: float, mem: int) -> Optional[Finding]:
    env = dict(os.environ, PYTHONPATH=str(ROOT))
    try:
        cp = subprocess.run([sys.executable, "-m", "lvmread.cli", *argv], capture_output=True,
                            text=True, errors="replace", timeout=timeout, cwd=str(ROOT), env=env,
                            preexec_fn=_limit(mem), check=False)
    except subprocess.TimeoutExpired:
        return Finding("hang", f"no exit within {timeout} s", argv, f"timeout {argv[0]}")
    err = cp.stderr
    if "Traceback" in err:
        last = err.strip().splitlines()[-1]
        kind = "memory" if "MemoryError" in err else "traceback"
        return Finding(kind, err[-3000:], argv, f"{kind} {last[:80]}")
    if cp.returncode not in (0, 1) and not (cp.returncode == 2 and _usage_ok(argv, err)):
        return Finding("status", f"exit {cp.returncode}: {err[-500:]}", argv,
                       f"exit {cp.returncode} {argv[0]}")
    bad = check_stderr(err)
    if bad is not None:
        return Finding("stderr", bad, argv, f"stderr {argv[0]}: {bad[:40]}")
    return None


# --------------------------------------------------------------------------- main


@dataclass
class Stats:
    cases: int = 0
    cli_runs: int = 0
    sub_inputs: int = 0
    sub_runs: int = 0
    ok_open: int = 0
    findings: dict = field(default_factory=dict)  # kind -> count
    signatures: dict = field(default_factory=dict)  # signature -> (count, recipe path)
    per_fixture: dict = field(default_factory=dict)
    slowest: list = field(default_factory=list)  # (seconds, fixture, mutation)


def save_recipe(out: Path, n: int, fx: Fixture, ops: list[dict], desc: str, f: Finding,
                seed: int, case: int, meta: Optional[bytes] = None) -> Path:
    out.mkdir(parents=True, exist_ok=True)
    path = out / f"finding-{n:04d}.json"
    command = [("IMAGE:" + Path(a).name) if a.startswith(str(fx.base.parent.parent)) else a
               for a in f.command]
    path.write_text(json.dumps({
        "fixture": fx.name, "seed": seed, "case": case, "mutation": desc, "kind": f.kind,
        "signature": f.signature, "command": command, "detail": f.detail[-1500:], "ops": ops,
        **({"metadata_hex": meta.hex()} if meta is not None else {}),
    }, indent=1) + "\n")
    return path


def _record(stats: Stats, fx: Fixture, ops, desc, findings, args, case, out: Path,
            meta: Optional[bytes] = None) -> None:
    for f in findings:
        stats.findings[f.kind] = stats.findings.get(f.kind, 0) + 1
        count, path = stats.signatures.get(f.signature, (0, None))
        if path is None:
            path = save_recipe(out, len(stats.signatures) + 1, fx, ops, desc, f, args.seed, case,
                               meta if "--metadata" in f.command else None)
            print(f"  FINDING {f.kind}: {f.signature}  [{fx.name}] {desc[:120]}\n"
                  f"    {' '.join(Path(a).name if '/' in a else a for a in f.command)[:150]}"
                  f"  -> {path}", flush=True)
        stats.signatures[f.signature] = (count + 1, path)


def _work_copy(fx: Fixture, work_root: Path) -> Path:
    work = work_root / fx.name
    if not work.exists():
        work.mkdir(parents=True)
        for img in fx.images:
            shutil.copyfile(fx.base / img, work / img)
            os.chmod(work / img, 0o644)
    return work


def fuzz(args) -> int:
    rng = random.Random(args.seed)
    cache = Path(args.cache)
    names = args.fixtures or list_fixtures()
    print(f"fixtures: {len(names)}; seed {args.seed}; {args.cases} in-process cases, "
          f"{args.subprocess} via subprocess; time budget {args.time:.0f} s", flush=True)
    fixtures = {n: load_fixture(n, cache) for n in names}
    maps = {n: discover(fx) for n, fx in fixtures.items()}
    for n, m in maps.items():
        print(f"  {n}: {len(m.fields)} fields, {len(m.texts)} texts "
              f"({sum(t.current for t in m.texts)} current)", flush=True)
    weights = [0.3 if n == "many_lvs" else (0.5 if n.startswith("nolabel") else 1.0)
               for n in names]
    work_root = Path(tempfile.mkdtemp(prefix="lvmread-fuzz-", dir=args.tmp))
    out = Path(args.out)
    stats = Stats()
    signal.signal(signal.SIGALRM, _alarm)
    if args.mem:
        soft, hard = resource.getrlimit(resource.RLIMIT_AS)
        resource.setrlimit(resource.RLIMIT_AS, (args.mem * 2, hard))
    t0 = time.monotonic()
    sub_jobs: list[tuple] = []
    sub_every = max(1, args.cases // args.subprocess) if args.subprocess else 0
    try:
        for case in range(args.cases):
            if time.monotonic() - t0 > args.time:
                print(f"time budget reached after {case} cases", flush=True)
                break
            name = rng.choices(names, weights)[0]
            fx, fmap = fixtures[name], maps[name]
            crng = random.Random(rng.getrandbits(64))
            ops, desc = make_case(crng, fx, fmap)
            meta, meta_path = None, None
            if fmap.texts and crng.random() < args.metadata_rate:
                meta, mdesc = make_metadata_file(crng, fx, fmap)
                meta_path = str(work_root / "meta.vg")
                Path(meta_path).write_bytes(meta)
                desc += f" || --metadata file: {mdesc}"
            work = _work_copy(fx, work_root)
            undo = apply_ops(fx.base, work, ops)
            started = time.monotonic()
            try:
                paths = [str(work / img) for img in fx.images]
                findings, nruns, lvs, seqnos = check_inprocess(paths, crng, args.timeout,
                                                               metadata=meta_path)
                stats.cases += 1
                stats.cli_runs += nruns
                stats.ok_open += bool(lvs)
                stats.per_fixture[name] = stats.per_fixture.get(name, 0) + 1
                _record(stats, fx, ops, desc, findings, args, case, out, meta)
                if sub_every and case % sub_every == 0 and len(sub_jobs) < args.subprocess:
                    sub_jobs.append((case, name, ops, desc, lvs, seqnos, meta))
            finally:
                restore(fx.base, work, undo)
            took = time.monotonic() - started
            stats.slowest = sorted(stats.slowest + [(took, name, desc[:100])], reverse=True)[:5]
            if args.verbose:
                print(f"{case:6d} {name:24s} {desc[:100]}", flush=True)
            elif case and case % 250 == 0:
                print(f"  {case} cases, {time.monotonic() - t0:.0f} s, "
                      f"{sum(stats.findings.values())} findings", flush=True)
        t_in = time.monotonic() - t0
        if sub_jobs:
            print(f"subprocess phase: {len(sub_jobs)} inputs", flush=True)
            _subprocess_phase(sub_jobs, fixtures, work_root, stats, args, out, t0)
    finally:
        shutil.rmtree(work_root, ignore_errors=True)
    total = time.monotonic() - t0
    _summary(stats, t_in, total)
    return 1 if stats.findings else 0


def _subprocess_phase(jobs, fixtures, work_root: Path, stats: Stats, args, out: Path,
                      t0: float) -> None:
    """Each job gets its own copy of the images (the runs are concurrent)."""
    deadline = t0 + args.time * 1.5
    pool = ThreadPoolExecutor(max_workers=args.jobs)
    try:
        for i, (case, name, ops, desc, lvs, seqnos, meta) in enumerate(jobs):
            if time.monotonic() > deadline:
                print(f"time budget reached after {i} subprocess inputs", flush=True)
                break
            fx = fixtures[name]
            d = work_root / f"sub{i}"
            d.mkdir()
            for img in fx.images:
                shutil.copyfile(fx.base / img, d / img)
                os.chmod(d / img, 0o644)
            apply_ops(fx.base, d, ops)
            paths = [str(d / img) for img in fx.images]
            crng = random.Random(case)
            meta_path = None
            if meta is not None:
                meta_path = str(d / "meta.vg")
                Path(meta_path).write_bytes(meta)
            cmds = commands_for(paths, lvs, seqnos, crng, 2, meta_path)
            results = list(pool.map(
                lambda argv: run_cli_subprocess(argv, args.timeout, args.mem), cmds))
            stats.sub_inputs += 1
            stats.sub_runs += len(cmds)
            _record(stats, fx, ops, desc, [f for f in results if f is not None], args, case,
                    out, meta)
            shutil.rmtree(d, ignore_errors=True)
            if i and i % 25 == 0:
                print(f"  {i} subprocess inputs, {stats.sub_runs} runs", flush=True)
    finally:
        pool.shutdown()


def _summary(stats: Stats, t_in: float, total: float) -> None:
    rows = [
        ("in-process inputs (mutated image sets)", str(stats.cases)),
        ("  of which lvmread still found LVs", str(stats.ok_open)),
        ("in-process CLI command runs", str(stats.cli_runs)),
        ("subprocess inputs", str(stats.sub_inputs)),
        ("subprocess command runs", str(stats.sub_runs)),
        ("in-process time", f"{t_in:.0f} s"),
        ("total time", f"{total:.0f} s"),
    ]
    for kind in ("exception", "traceback", "hang", "memory", "status", "stderr"):
        rows.append((f"findings: {kind}", str(stats.findings.get(kind, 0))))
    rows.append(("distinct findings (signatures)", str(len(stats.signatures))))
    w = max(len(r[0]) for r in rows)
    print()
    print(f"{'':{w}}  count")
    for k, v in rows:
        print(f"{k:{w}}  {v:>6}")
    if stats.per_fixture:
        print("\ncases per fixture: " + ", ".join(f"{k} {v}" for k, v in
                                                  sorted(stats.per_fixture.items())))
    if stats.slowest:
        print("slowest inputs (all commands): " + "; ".join(
            f"{t:.1f} s {n}" for t, n, _ in stats.slowest))
    for sig, (count, path) in sorted(stats.signatures.items()):
        print(f"  {count:5d}  {sig}  ({path})")


def replay(args) -> int:
    recipe = json.loads(Path(args.replay).read_text())
    fx = load_fixture(recipe["fixture"], Path(args.cache))
    work = Path(tempfile.mkdtemp(prefix="lvmread-replay-", dir=args.tmp))
    try:
        for img in fx.images:
            shutil.copyfile(fx.base / img, work / img)
            os.chmod(work / img, 0o644)
        apply_ops(fx.base, work, recipe["ops"])
        paths = [str(work / img) for img in fx.images]
        meta_path = None
        if "metadata_hex" in recipe:
            meta_path = str(work / "meta.vg")
            Path(meta_path).write_bytes(bytes.fromhex(recipe["metadata_hex"]))
        print(f"{recipe['fixture']}: {recipe.get('mutation', '')}")
        signal.signal(signal.SIGALRM, _alarm)
        if args.mem:
            resource.setrlimit(resource.RLIMIT_AS,
                               (args.mem * 2, resource.getrlimit(resource.RLIMIT_AS)[1]))
        findings, n, lvs, _ = check_inprocess(paths, random.Random(0), args.timeout, 50,
                                              meta_path)
        print(f"{n} in-process command runs; LVs: {', '.join(lvs) or 'none'}")
        for f in findings:
            print(f"--- {f.kind}: {' '.join(f.command)}\n{f.detail}")
        if args.keep:
            print(f"images kept in {work}")
        return 1 if findings else 0
    finally:
        if not args.keep:
            shutil.rmtree(work, ignore_errors=True)


def main(argv: Optional[list[str]] = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--seed", type=int, default=1)
    p.add_argument("--cases", type=int, default=2000, help="in-process cases (mutated inputs)")
    p.add_argument("--subprocess", type=int, default=100,
                   help="how many of those inputs also go through the CLI as subprocesses")
    p.add_argument("--time", type=float, default=1800, help="time budget in seconds")
    p.add_argument("--timeout", type=float, default=10, help="seconds per command")
    p.add_argument("--mem", type=int, default=1 << 30, help="RLIMIT_AS per command (bytes)")
    p.add_argument("--jobs", type=int, default=os.cpu_count() or 2)
    p.add_argument("--fixtures", nargs="*", help="fixture folders (default: all)")
    p.add_argument("--metadata-rate", type=float, default=0.25,
                   help="share of cases that also get a (mutated) --metadata file")
    p.add_argument("--out", default=str(ROOT / "tests" / "fuzz-out"),
                   help="where failing inputs are saved as recipes")
    p.add_argument("--cache", default=os.path.join(tempfile.gettempdir(), "lvmread-fuzz-cache"),
                   help="decompressed fixture images")
    p.add_argument("--tmp", default=None, help="folder for the mutated copies")
    p.add_argument("--replay", metavar="RECIPE", help="rebuild one saved input and check it")
    p.add_argument("--keep", action="store_true", help="with --replay: keep the images")
    p.add_argument("-v", "--verbose", action="store_true")
    args = p.parse_args(argv)
    if args.replay:
        return replay(args)
    return fuzz(args)


if __name__ == "__main__":
    sys.exit(main())
