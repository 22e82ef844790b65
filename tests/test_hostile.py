"""Regression tests for what fuzzing (tests/fuzz.py) and the property tests found.

Each ``tests/fuzz_regressions/*.json`` is a recipe: a fixture, the changes that make the
failing input (byte writes, truncations, checksum fixes, an edit of the metadata text with
its checksums fixed), the commands that failed on it and what they must do now. The inputs
are rebuilt from the fixtures here; the commands run as processes with a time and a memory
bound (a regression must not take the test run down with it). Recipes saved by
``tests/fuzz.py --out`` (plain byte writes) can be dropped into the folder as they are.

The other tests pin bugs that need no damaged image: ``cat -o /dev/null``, an output that
is an input, read errors and unwritable outputs during ``cat``, ``history --save`` onto a
file, and the cost of ``--seqno`` on a VG with thousands of LVs.
"""

from __future__ import annotations

import json
import os
import re
import resource
import shutil
import struct
import subprocess
import sys
import time
from pathlib import Path

import pytest

import lvmread
from lvmread.errors import LvmIOError, LvmReadError
from lvmread.ondisk.crc import lvm_crc

ROOT = Path(__file__).resolve().parent.parent
RECIPES = sorted((Path(__file__).parent / "fuzz_regressions").glob("*.json"))
MEMORY = 1 << 30
TIMEOUT = 120


# ------------------------------------------------------------------ recipes


def _fix_lvm_crc(f, at: int, start: int, end: int) -> None:
    f.seek(start)
    data = f.read(end - start)
    f.seek(at)
    f.write(struct.pack("<I", lvm_crc(data)))


def _edit_text(f, mda: int, pattern: str, repl: str) -> None:
    """Rewrite the current metadata copy of the area at ``mda`` (no wrap), fixing raw_locn
    0 and the mda_header checksum as lvm2 would have written them."""
    f.seek(mda + 8 + 32)
    off, size = struct.unpack("<QQ", f.read(16))
    f.seek(mda + 32)
    (area,) = struct.unpack("<Q", f.read(8))
    f.seek(mda + off)
    text = f.read(size).split(b"\0", 1)[0]
    new = re.sub(pattern.encode(), repl.encode(), text) + b"\0"
    assert new != text + b"\0", f"{pattern!r} not in the text"
    assert off + len(new) <= area, "the edited text does not fit the ring without a wrap"
    f.seek(mda + off)
    f.write(new)
    f.seek(mda + 48)
    f.write(struct.pack("<QI", len(new), lvm_crc(new)))
    _fix_lvm_crc(f, mda, mda + 4, mda + 512)


def build(recipe: dict, fixture_images, dest: Path) -> list[str]:
    """Copies of the recipe's fixture images in ``dest`` with its changes applied."""
    src = fixture_images.images(recipe["fixture"])
    for img in src:
        shutil.copyfile(img, dest / img.name)
    for op in recipe["ops"]:
        path = dest / op["file"]
        with open(path, "r+b") as f:
            if "truncate" in op:
                f.truncate(op["truncate"])
            elif "hex" in op:
                f.seek(op["at"])
                f.write(bytes.fromhex(op["hex"]))
            elif "zero" in op:
                f.seek(op["at"])
                f.write(bytes(op["zero"]))
            elif "label_crc" in op:  # the label sector at this offset
                at = op["label_crc"]
                _fix_lvm_crc(f, at + 16, at + 20, at + 512)
            elif "mda_crc" in op:
                at = op["mda_crc"]
                _fix_lvm_crc(f, at, at + 4, at + 512)
            elif "text" in op:
                _edit_text(f, op["text"]["mda"], *op["text"]["sub"])
            else:
                raise AssertionError(f"unknown recipe operation {op}")
    if "metadata_hex" in recipe:
        (dest / "meta.vg").write_bytes(bytes.fromhex(recipe["metadata_hex"]))
    return [str(dest / img.name) for img in src]


def _limits() -> None:
    resource.setrlimit(resource.RLIMIT_AS, (MEMORY, MEMORY))


def run(argv: list[str], cwd: Path) -> subprocess.CompletedProcess:
    env = dict(os.environ, PYTHONPATH=str(ROOT) + os.pathsep + os.environ.get("PYTHONPATH", ""))
    return subprocess.run([sys.executable, "-m", "lvmread.cli", *argv], capture_output=True,
                          text=True, errors="replace", cwd=cwd, env=env, timeout=TIMEOUT,
                          preexec_fn=_limits, check=False)


def _default_commands(paths: list[str]) -> list[list[str]]:
    cmds = [["ls", "IMAGES"], ["ls", "IMAGES", "--json"], ["history", "IMAGES"],
            ["dump", "IMAGES"]]
    try:
        with lvmread.open(paths) as ds:
            for vg in ds:
                for lv in list(vg.lvs.values())[:4]:
                    cmds.append(["table", f"{vg.name}/{lv.name}", "IMAGES"])
                    cmds.append(["cat", f"{vg.name}/{lv.name}", "IMAGES", "--partial", "-o",
                                 os.devnull])
    except LvmReadError:
        pass
    return cmds


def _expand(cmd: list[str], paths: list[str], meta: Path) -> list[str]:
    out: list[str] = []
    for a in cmd:
        if a == "IMAGES":
            out.extend(paths)
        elif a.startswith("IMAGE:"):  # tests/fuzz.py names one image so
            out.extend(p for p in paths if Path(p).name == a[len("IMAGE:"):])
        elif a == "META" or a.endswith("/meta.vg"):
            out.append(str(meta))
        elif a.startswith("/") and not a.startswith("/dev/") and Path(a).name.endswith(".img"):
            out.extend(p for p in paths if Path(p).name == Path(a).name)  # fuzz.py paths
        else:
            out.append(a)
    return out


@pytest.mark.parametrize("path", RECIPES, ids=[p.stem for p in RECIPES])
def test_fuzz_regression(path: Path, fixture_images, tmp_path) -> None:
    recipe = json.loads(path.read_text())
    paths = build(recipe, fixture_images, tmp_path)
    commands = recipe.get("commands") or _default_commands(paths)
    if "command" in recipe and "commands" not in recipe:  # a recipe as tests/fuzz.py saves it
        commands = [recipe["command"], *commands]
    allowed = recipe.get("expect_rc", [0, 1])
    stderr_all = stdout_all = ""
    for cmd in commands:
        if cmd and cmd[0] == "api":
            continue
        argv = _expand(cmd, paths, tmp_path / "meta.vg")
        started = time.monotonic()
        cp = run(argv, tmp_path)
        took = time.monotonic() - started
        what = f"lvmread {' '.join(cmd)}: exit {cp.returncode}\n{cp.stderr[-2000:]}"
        assert "Traceback" not in cp.stderr, what
        assert cp.returncode in allowed or (
            cp.returncode == 2 and re.search(r"no (logical volume|volume group|usable)", cp.stderr)
        ), what
        assert all(line.startswith("lvmread: ") for line in cp.stderr.splitlines()), what
        assert took < TIMEOUT / 2, what
        stderr_all += cp.stderr
        stdout_all += cp.stdout
    # the commands did reach the code that failed
    for text in recipe.get("stderr_contains", []):
        assert text in stderr_all, (text, stderr_all[-2000:])
    for text in recipe.get("stdout_contains", []):
        assert text in stdout_all, (text, stdout_all[-2000:])


def test_recipes_are_small() -> None:
    for path in RECIPES:
        assert path.stat().st_size < 64 << 10, path


# --------------------------------------------------------------- other findings


def test_cat_to_dev_null(fixture_images, tmp_path) -> None:
    """``cat -o /dev/null`` ftruncate()d a character device: OSError, a traceback."""
    img = fixture_images.images("single")[0]
    cp = run(["cat", "vg0/lva", str(img), "-o", os.devnull], tmp_path)
    assert cp.returncode == 0 and not cp.stderr, cp.stderr
    # an all-zero LV (holes all the way) too
    many = fixture_images.images("many_lvs")[0]
    cp = run(["cat", "vgmany/lv0001", str(many), "-o", os.devnull], tmp_path)
    assert cp.returncode == 0 and not cp.stderr, cp.stderr


def test_cat_output_onto_an_input_is_refused(fixture_images, tmp_path) -> None:
    """``cat -o disk.img`` truncated the input it was about to read (O_TRUNC)."""
    img = tmp_path / "disk.img"
    shutil.copyfile(fixture_images.images("single")[0], img)
    before = img.read_bytes()
    link = tmp_path / "other-name.img"
    os.link(img, link)
    for out in (img, link):
        cp = run(["cat", "vg0/lva", str(img), "-o", str(out)], tmp_path)
        assert cp.returncode == 2, cp.stderr
        assert "never writes to its inputs" in cp.stderr
    with open(img, "ab") as stdout:  # `lvmread cat ... >> disk.img`
        env = dict(os.environ, PYTHONPATH=str(ROOT))
        cp2 = subprocess.run([sys.executable, "-m", "lvmread.cli", "cat", "vg0/lva", str(img)],
                             stdout=stdout, stderr=subprocess.PIPE, env=env, check=False)
    assert cp2.returncode == 2, cp2.stderr
    assert img.read_bytes() == before


def test_read_error_during_cat_is_one_line(fixture_images, tmp_path) -> None:
    """An image that shrinks while an LV is read: DMIOError escaped ``cat`` as a traceback."""
    from lvmread.copy import copy_lv

    img = tmp_path / "disk.img"
    shutil.copyfile(fixture_images.images("single")[0], img)
    with lvmread.open([str(img)]) as ds:
        with ds.lv("vg0/lva").open() as src:
            os.truncate(img, 1 << 20)
            with pytest.raises(LvmIOError, match="cannot read the LV at byte 0"):
                list(copy_lv(src, str(tmp_path / "out")))


def test_unwritable_output_is_one_line(fixture_images, tmp_path) -> None:
    img = fixture_images.images("single")[0]
    cp = run(["cat", "vg0/lva", str(img), "-o", str(tmp_path / "no" / "dir" / "x")], tmp_path)
    assert cp.returncode == 1, cp.stderr
    assert cp.stderr.startswith("lvmread: ") and "cannot write" in cp.stderr
    assert len(cp.stderr.splitlines()) == 1


def test_history_save_onto_a_file(fixture_images, tmp_path) -> None:
    """``history --save FILE`` (an existing file, an input even) raised FileExistsError."""
    import argparse

    from lvmread.cli import build_parser

    subs = next(a.choices for a in build_parser()._actions
                if isinstance(a, argparse._SubParsersAction))
    if "history" not in subs or "save" not in {a.dest for a in subs["history"]._actions}:
        pytest.skip("no history --save")
    img = fixture_images.images("single")[0]
    cp = run(["history", str(img), "--save", str(img)], tmp_path)
    assert cp.returncode == 1, cp.stderr
    assert "Traceback" not in cp.stderr and "cannot make the folder" in cp.stderr


def test_reuse_check_is_not_quadratic() -> None:
    """``--seqno`` compares the LVs of one version with every later one: 1,000 LVs in 17
    versions took 9 s (every LV against every extent of every version)."""
    from lvmread.forensics.reuse import reuse_warnings
    from lvmread.model.volumes import build_vg

    def vg(seqno: int, n: int, shift: int):
        lvs = {}
        for i in range(n):
            lvs[f"lv{i}"] = {"id": f"u{i}", "status": ["VISIBLE"], "segment1": {
                "start_extent": 0, "extent_count": 1, "type": "striped", "stripe_count": 1,
                "stripes": ["pv0", (i + shift) % (n + 10)]}}
        return build_vg({"vg": {"id": "v", "seqno": seqno, "extent_size": 8,
                                "physical_volumes": {"pv0": {"id": "p", "pe_start": 8,
                                                             "pe_count": n + 10}},
                                "logical_volumes": lvs}})

    n = 3000
    old = vg(1, n, 0)
    later = [vg(s, n, s) for s in range(2, 8)]
    started = time.monotonic()
    found = reuse_warnings(old, later)
    took = time.monotonic() - started
    assert len(found) > n * 0.9  # nearly every LV's extent went to another LV later
    assert took < 10, f"{took:.1f} s"  # 54 million pairs before; well under a second now


# ------------------------------------------------- sizes that drive memory use


def _pv_with_text(path: Path, size: int, mda_size: int, text: bytes,
                  rl_size: int | None = None) -> None:
    """A sparse PV image: label in sector 1, one metadata area at 4096 of ``mda_size``
    bytes whose raw_locn 0 points at ``text`` (checksums right)."""
    from lvmread.ondisk import layout

    data = text + b"\0"
    with open(path, "wb") as f:
        f.truncate(size)
        body = (b"A" * 32 + struct.pack("<Q", size)
                + struct.pack("<QQ", 4096 + mda_size, 0) + bytes(16)
                + struct.pack("<QQ", 4096, mda_size) + bytes(16)
                + struct.pack("<II", 2, 1) + bytes(16))
        label = bytearray(512)
        label[:32] = layout.label_header.build({"id": layout.LABEL_ID, "sector": 1, "crc": 0,
                                                "offset": 32, "type": layout.LVM2_LABEL_TYPE})
        label[32:32 + len(body)] = body
        label[16:20] = struct.pack("<I", lvm_crc(bytes(label[20:])))
        f.seek(512)
        f.write(label)
        mh = bytearray(layout.mda_header.build({
            "checksum": 0, "magic": layout.FMTT_MAGIC, "version": 1, "start": 4096,
            "size": mda_size,
            "raw_locns": [{"offset": 512, "size": rl_size or len(data),
                           "checksum": lvm_crc(data), "flags": 0},
                          {"offset": 0, "size": 0, "checksum": 0, "flags": 0}]}))
        mh += bytes(512 - len(mh))
        mh[:4] = struct.pack("<I", lvm_crc(bytes(mh[4:])))
        f.seek(4096)
        f.write(mh)
        f.write(data)


def _bounded(argv: list[str], cwd: Path) -> subprocess.CompletedProcess:
    cp = run(argv, cwd)
    assert "MemoryError" not in cp.stderr and "Traceback" not in cp.stderr, cp.stderr[-2000:]
    assert cp.returncode in (0, 1), cp.stderr[-2000:]
    return cp


def test_dump_does_not_read_a_claimed_huge_text(tmp_path) -> None:
    """raw_locn 0 claiming a 1.5 GiB text (in a sparse 1.5 GiB image): ``dump`` read it
    all (MemoryError under a 1 GiB limit); it is over the text limit and not read now."""
    img = tmp_path / "big.img"
    size = 3 << 29
    _pv_with_text(img, size, size - 4096 - (1 << 20), b'vg {\nseqno = 1\n}\n',
                  rl_size=size - (2 << 20))
    for cmd in ("ls", "history", "dump"):
        cp = _bounded([cmd, str(img)], tmp_path)
    assert "over lvmread's limit" in cp.stdout


@pytest.mark.parametrize("kind", ["assignments", "string", "blanks"])
def test_long_texts_lex_in_bounded_memory(tmp_path, kind: str) -> None:
    """16 MB of metadata text made of one run of assignments, one string, or blanks after
    a brace: the lexer's regexes repeated a group per character (or per assignment) and
    Python's re kept state for each, some 100 bytes a character: 1-2 GB."""
    n = 12 << 20  # under lvmread's 16 MiB limit on one metadata text, so it is parsed
    if kind == "assignments":
        body = b"a = 1\n" * (n // 6)
    elif kind == "string":
        body = b'd = "' + b"x" * n + b'"\n'
    else:
        body = b"s {" + b" " * n + b"}\n"
    text = b'vg {\nid = "x"\nseqno = 1\nextent_size = 8\n' + body + b"}\n"
    img = tmp_path / "text.img"
    _pv_with_text(img, 64 << 20, 48 << 20, text)
    for cmd in ("ls", "history"):
        _bounded([cmd, str(img)], tmp_path)


def test_deeply_nested_sections(fixture_images, tmp_path) -> None:
    """Sections nested 5,000 deep (in the current copy, its checksums fixed, and in a
    --metadata file): the LALR parser took them, then comparing the disk's and the file's
    trees recursed past Python's limit (RecursionError). Nesting is bounded now."""
    img = tmp_path / "disk.img"
    shutil.copyfile(fixture_images.images("single")[0], img)
    nest = "a {\n" * 5000 + "}\n" * 5000
    with open(img, "r+b") as f:
        _edit_text(f, 4096, "seqno = 7\n", "seqno = 7\n" + nest)
    with lvmread.open([str(img)]) as ds:
        text = ds.copies[0].text.data if ds.copies else None
    assert text is None  # the nested copy is not used
    meta = tmp_path / "backup.vg"
    with open(img, "rb") as f:
        f.seek(4096 + 48)
        (size,) = struct.unpack("<Q", f.read(8))
        f.seek(4096 + 40)
        (off,) = struct.unpack("<Q", f.read(8))
        f.seek(4096 + off)
        meta.write_bytes(f.read(size).rstrip(b"\0"))
    err = ""
    for argv in (["ls", str(img)], ["ls", str(img), "--metadata", str(meta)],
                 ["history", str(img), "--metadata", str(meta)],
                 ["diff", str(img), "--from", "5", "--metadata", str(meta)],
                 ["dump", str(img)]):
        cp = _bounded(argv, tmp_path)
        err += cp.stderr + cp.stdout
    assert "sections nest more than 64 deep" in err


@pytest.mark.skipif(not os.path.exists("/dev/full"), reason="no /dev/full")
@pytest.mark.parametrize("command", [["ls"], ["table", "vg0/lva"], ["cat", "vg0/lva"]])
def test_full_output_is_one_line(fixture_images, tmp_path, command) -> None:
    """stdout on a full disk: one line and status 1 from every command, not a traceback."""
    img = fixture_images.images("single")[0]
    with open("/dev/full", "wb") as full:
        cp = subprocess.run([sys.executable, "-m", "lvmread.cli", *command, str(img)],
                            stdout=full, stderr=subprocess.PIPE, text=True, check=False,
                            cwd=ROOT, timeout=TIMEOUT)
    assert cp.returncode == 1, cp.stderr
    assert len(cp.stderr.splitlines()) == 1, cp.stderr
    assert cp.stderr.startswith("lvmread: ") and "No space left on device" in cp.stderr


def test_closed_pipe_ends_quietly(fixture_images) -> None:
    """A reader that stops early (`lvmread cat ... | head -c 100`): status 1, nothing on
    stderr, also through the command's fast exit."""
    img = fixture_images.images("single")[0]
    proc = subprocess.Popen([sys.executable, "-m", "lvmread.cli", "cat", "vg0/lva", str(img)],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, cwd=ROOT)
    head = proc.stdout.read(100)
    proc.stdout.close()
    err = proc.stderr.read()
    assert proc.wait(timeout=TIMEOUT) == 1
    assert len(head) == 100 and err == b""


def test_partial_copy_joins_foreseen_and_unforeseen_errors(tmp_path) -> None:
    """With --partial, ranges mapped to ``error`` are skipped and a real read error zeros
    its whole chunk; runs that touch are reported once, and the rest is copied."""
    from lvmread.copy import CHUNK, copy_lv
    from lvmread.dm import DeviceMapper, DMIOError

    MiB = 1 << 20
    data = bytes(range(1, 256)) * (16 * MiB // 255 + 1)

    class FailingDisk:  # a disk with an unreadable sector at 5 MiB
        size = 16 * MiB

        def preadinto(self, buf, offset):
            if offset < 5 * MiB + 4096 and offset + len(buf) > 5 * MiB:
                raise DMIOError("I/O error", device="disk")
            buf[:] = data[offset : offset + len(buf)]

    assert CHUNK == 4 * MiB
    with DeviceMapper() as dm:
        dm.add_device("disk", FailingDisk())
        md = dm.create("lv", "0 16384 linear disk 0\n16384 2048 error\n18432 8192 linear disk "
                             f"{8 * MiB // 512}")
        assert md.error_ranges() == [(8 * MiB, MiB)]
        out = tmp_path / "out"
        warnings = list(copy_lv(md, str(out), partial=True))
    assert warnings == [f"bytes {4 * MiB}-{9 * MiB - 1} could not be read (a missing PV, or "
                        "past the end of a truncated image); wrote zeros"]
    got = out.read_bytes()
    assert len(got) == 13 * MiB
    assert got[: 4 * MiB] == data[: 4 * MiB] and got[4 * MiB : 9 * MiB] == bytes(5 * MiB)
    assert got[9 * MiB :] == data[8 * MiB : 12 * MiB]


def test_copy_skips_zero_and_error_runs_whole(tmp_path) -> None:
    """A 64 GiB LV of zeros and errors around one MiB of data: to a file, holes and the
    data; to /dev/null, nothing is read but the data; warnings name the error run."""
    from lvmread.copy import copy_lv
    from lvmread.dm import DeviceMapper

    GiB, MiB = 1 << 30, 1 << 20
    img = tmp_path / "data.img"
    data = bytes(range(1, 256)) * (MiB // 255 + 1)
    img.write_bytes(data[:MiB])
    with DeviceMapper() as dm:
        dm.add_device("img", str(img))
        md = dm.create("lv", f"0 {32 * GiB // 512} zero\n{32 * GiB // 512} {MiB // 512} linear "
                             f"img 0\n{(32 * GiB + MiB) // 512} {(32 * GiB - MiB) // 512} error")
        assert md.size == 64 * GiB
        out = tmp_path / "lv.bin"
        warnings = list(copy_lv(md, str(out), partial=True))
        assert warnings == [f"bytes {32 * GiB + MiB}-{64 * GiB - 1} could not be read (a "
                            "missing PV, or past the end of a truncated image); wrote zeros"]
        assert list(copy_lv(md, os.devnull, partial=True)) == warnings
    assert out.stat().st_size == 64 * GiB and out.stat().st_blocks * 512 <= 2 * MiB
    with open(out, "rb") as f:
        f.seek(32 * GiB - 4096)
        assert f.read(4096 + MiB + 4096) == bytes(4096) + data[:MiB] + bytes(4096)
