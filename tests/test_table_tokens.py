"""Device tokens in tables name each input unambiguously, whatever its path (issue 9, case 7).

Inputs at paths with spaces, tabs, ``#``, newlines, backslashes, quotes, non-UTF-8 bytes, of
``M:m`` or ``vg-lv`` shape, and a file ``X@p1`` beside partition 1 of ``X``: ``ls``, ``table``
and ``cat`` work, every table line parses back (:mod:`lvmread.dm`) to the input it names, and
the bytes read are the fixture's (its content.json sha256; the images are lvm2's own).
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import subprocess
import sys

import pytest
from conftest import FIXTURES
from hypothesis import given
from hypothesis import strategies as st

import lvmread
from lvmread.activator.plan import line_token
from lvmread.dm import (
    DeviceMapper,
    DMTableError,
    escape_arg,
    parse_table,
    parse_table_line,
    split_args,
    split_table_args,
)
from lvmread.inputs.source import input_name

SINGLE = json.loads((FIXTURES / "single" / "content.json").read_text())["lvs"]
MBR = json.loads((FIXTURES / "mbr" / "content.json").read_text())["lvs"]


def _cli(*args, cwd=None):
    return subprocess.run([sys.executable, "-m", "lvmread.cli", *args], capture_output=True,
                          cwd=cwd, check=False, timeout=120)


def _sha256(f) -> str:
    h = hashlib.sha256()
    while chunk := f.read(1 << 20):
        h.update(chunk)
    return h.hexdigest()


# -- the table syntax (lvmread.dm) ------------------------------------------------------------

@pytest.mark.parametrize("arg,written", [
    ("/tmp/lvmread-disk.img", "/tmp/lvmread-disk.img"),  # an ordinary path as it is
    ('q"uote\'s', 'q"uote\'s'),
    ("a b", "a\\ b"),
    ("a\tb", "a\\\tb"),
    ("a\\b", "a\\\\b"),
    ("a#b", "a\\x23b"),
    ("a\nb\rc\x1b", "a\\x0ab\\x0dc\\x1b"),
    ("a\u2028b", "a\\xe2\\x80\\xa8b"),  # a line separator to str.splitlines
    ("caf\u00e9", "caf\u00e9"),  # printable UTF-8 as it is
    (os.fsdecode(b"\xff\xfe"), "\\xff\\xfe"),  # a non-UTF-8 path's raw bytes
])
def test_escape_arg(arg, written):
    assert escape_arg(arg) == written
    assert split_table_args(written) == [arg]
    entry = parse_table_line(f"0 8 linear {written} 0")
    assert entry is not None and entry.args == (arg, "0")
    assert entry.format() == f"0 8 linear {written} 0"


@given(st.binary(min_size=1).filter(lambda b: b"\0" not in b))
def test_any_path_is_one_line_and_reads_back(raw):
    path = os.fsdecode(raw)
    written = escape_arg(path)
    bare = written.replace("\\\\", "").replace("\\ ", "").replace("\\\t", "")
    assert bare.isprintable() and "#" not in bare and " " not in bare
    line = f"0 8 linear {written} 2048"
    assert len(line.splitlines()) == 1
    assert parse_table(line + "\n")[0].args == (path, "2048")
    assert os.fsencode(split_table_args(written)[0]) == raw


def test_activator_writes_tokens_as_the_table_syntax_does():
    for c in map(chr, [*range(0x20, 0x80), 0xA0, 0xE9, 0x2028, 0xDCFF]):
        assert line_token(f"a{c}b") == escape_arg(f"a{c}b")


def test_kernel_split_keeps_its_rules():
    """The kernel's own splitting (ioctl parameter strings) knows no ``\\x``; a line refuses
    a NUL."""
    assert split_args("a\\x41 b") == ["ax41", "b"]
    assert split_table_args("a\\x41 b\\x4 c\\xzz") == ["aA", "bx4", "cxzz"]
    with pytest.raises(DMTableError, match="line 3: .*NUL"):
        parse_table("0 1 zero\n\n1 8 linear a\\x00b 0\n")


def test_dm_registers_and_prints_any_name(tmp_path):
    names = ["with space", "hash#tag", "new\nline", "back\\slash", os.fsdecode(b"raw\xff")]
    with DeviceMapper(host_devices=False) as dm:
        for i, name in enumerate(names):
            img = tmp_path / f"{i}.img"
            img.write_bytes(bytes([i + 1]) * 4096)
            dm.add_device(name, img)
        text = "".join(f"{8 * i} 8 linear {escape_arg(n)} 0\n" for i, n in enumerate(names))
        md = dm.create("lv", text)
        assert md.table_text() == text
        assert md.read() == b"".join(bytes([i + 1]) * 4096 for i in range(len(names)))


# -- input names (lvmread.inputs.source) ------------------------------------------------

def test_input_name_of_partitions():
    assert input_name("/tmp/disk.img") == "/tmp/disk.img"
    assert input_name("/tmp/disk.img", 2) == "/tmp/disk.img@p2"
    assert input_name("/mnt/@home/me@host.img", 1) == "/mnt/@home/me@host.img@p1"
    assert input_name("X@p1") == "X@@p1"  # the file, not partition 1 of X
    assert input_name("X", 1) == "X@p1"
    assert input_name("X@", 1) == "X@@@p1"
    assert input_name("X@@p1") == "X@@@@p1"
    assert input_name("X@p") == "X@p" and input_name("Xp1") == "Xp1"
    assert input_name("@" * 5000 + "x") == "@" * 5000 + "x"


@given(st.lists(st.tuples(st.text("@p12/x", min_size=1),
                          st.none() | st.integers(1, 12)), min_size=2, max_size=6, unique=True))
def test_input_names_are_unique(inputs):
    assert len({input_name(path, part) for path, part in inputs}) == len(inputs)


# -- the commands, on lvm2's images at awkward paths --------------------------------------------

AWKWARD = [
    # (file name, as the table writes it)
    ("with space.img", "with\\ space.img"),
    ("tab\there.img", "tab\\\there.img"),
    ("hash#tag.img", "hash\\x23tag.img"),
    ("new\nline.img", "new\\x0aline.img"),
    ("back\\slash.img", "back\\\\slash.img"),
    ('quote"s.img', 'quote"s.img'),
    (os.fsdecode(b"raw\xff\xfe.img"), "raw\\xff\\xfe.img"),
    ("7:0", "./7:0"),  # not the device number 7:0
    ("vg0-lva", "./vg0-lva"),  # not the mapped device of vg0/lva
    ("X@p1", "X@@p1"),  # not partition 1 of X
]


@pytest.fixture(scope="module")
def single_img(fixture_images):
    return fixture_images.images("single")[0]


@pytest.mark.parametrize("name,token", AWKWARD, ids=[repr(n) for n, _ in AWKWARD])
def test_commands_at_awkward_paths(single_img, tmp_path, name, token):
    shutil.copyfile(single_img, tmp_path / name)
    arg = os.fsencode(name)
    ls = _cli("ls", arg, cwd=tmp_path)
    assert ls.returncode == 0, ls.stderr
    rows = ls.stdout.decode().splitlines()
    assert [r.split()[:2] for r in rows] == [["VG", "LV"], ["vg0", "lva"], ["vg0", "lvc"]]

    ordinary = _cli("table", "vg0/lva", str(single_img))
    table = _cli("table", "vg0/lva", arg, cwd=tmp_path)
    assert table.returncode == 0, table.stderr
    text = table.stdout.decode()
    assert text == ordinary.stdout.decode().replace(str(single_img), token)
    assert {e.args[0] for e in parse_table(text)} == {split_table_args(token)[0]}

    for spec, want in SINGLE.items():
        cat = _cli("cat", spec, arg, cwd=tmp_path)
        assert cat.returncode == 0, cat.stderr
        assert hashlib.sha256(cat.stdout).hexdigest() == want["sha256"], spec


def test_absolute_devno_shaped_path(single_img, tmp_path):
    (tmp_path / "7:0").mkdir()
    path = tmp_path / "7:0" / "7:0"
    shutil.copyfile(single_img, path)
    table = _cli("table", "vg0/lva", str(path))
    assert table.returncode == 0, table.stderr
    assert {e.args[0] for e in parse_table(table.stdout.decode())} == {str(path)}
    cat = _cli("cat", "vg0/lva", str(path))
    assert hashlib.sha256(cat.stdout).hexdigest() == SINGLE["vg0/lva"]["sha256"]


def _check_tables_read_back(disks, content):
    """Each LV's printed table, loaded into a device mapper that knows every input of every
    VG by the token tables print for it (one token per input: two inputs never share one),
    names the inputs the LV is read from: the same bytes as lvm2 wrote."""
    from lvmread.activator.plan import image_token

    with DeviceMapper(host_devices=False, max_name_bytes=None) as dm:
        for vg in disks:
            for pv in vg.pvs.values():
                if pv.device is not None and image_token(pv) not in dm:
                    src = pv.device.source
                    dm.add_device(image_token(pv), src.path, start=src.start, size=src.size)
        for i, (spec, want) in enumerate(sorted(content.items())):
            lv = disks.lv(spec)
            with lv.open() as f:
                assert _sha256(f) == want["sha256"], spec
            md = dm.create(f"check{i}", lv.table())
            assert md.table_text() == lv.table()
            assert _sha256(md) == want["sha256"], spec
            for entry in parse_table(lv.table()):
                dev = dm.lookup(entry.args[0])
                pv = next(p for p in lv.vg.pvs.values()
                          if p.device is not None and p.device.source.name in entry.args[0])
                src = pv.device.source
                assert (dev.path, dev.start, dev.size) == (src.path, src.start, src.size), spec


@pytest.mark.parametrize("order", ["file first", "disk first"])
def test_file_named_like_a_partition(fixture_images, tmp_path, order):
    """``X@p1`` (a file: VG vg0) beside X, whose partition 1 holds a PV of vgmbr: each LV
    reads its own VG's bytes, in either order of the inputs."""
    shutil.copyfile(fixture_images.images("mbr")[0], tmp_path / "X")
    shutil.copyfile(fixture_images.images("single")[0], tmp_path / "X@p1")
    inputs = ["X@p1", "X"] if order == "file first" else ["X", "X@p1"]

    ls = _cli("ls", *inputs, cwd=tmp_path)
    assert ls.returncode == 0, ls.stderr
    rows = {tuple(r.split()[:2]): r.split()[-1] for r in ls.stdout.decode().splitlines()[1:]}
    assert rows[("vg0", "lvc")] == "X@@p1(6)"
    assert rows[("vgmbr", "lvp1")] == "X@p1(0)"

    assert _cli("table", "vg0/lvc", *inputs, cwd=tmp_path).stdout == b"0 1024 linear X@@p1 8192\n"
    table = _cli("table", "vgmbr/lvp1", *inputs, cwd=tmp_path).stdout.decode()
    assert [e.args[0] for e in parse_table(table)] == ["X@p1"]
    for spec, want in {**SINGLE, **MBR}.items():
        cat = _cli("cat", spec, *inputs, cwd=tmp_path)
        assert cat.returncode == 0, cat.stderr
        assert hashlib.sha256(cat.stdout).hexdigest() == want["sha256"], spec

    with lvmread.open([str(tmp_path / i) for i in inputs]) as disks:
        assert not disks.errors
        _check_tables_read_back(disks, {**SINGLE, **MBR})


def test_awkward_tables_read_back_in_the_library(fixture_images, tmp_path, monkeypatch):
    """Whole disks (single) and partitions (mbr, gpt) at every awkward path, relative to
    the working directory as on the command line above."""
    for fixture in ("single", "mbr", "gpt"):
        content = json.loads((FIXTURES / fixture / "content.json").read_text())["lvs"]
        folder = tmp_path / fixture
        folder.mkdir()
        monkeypatch.chdir(folder)
        for name, _ in AWKWARD:
            shutil.copyfile(fixture_images.images(fixture)[0], name)
            with lvmread.open([name]) as disks:
                assert not disks.errors
                _check_tables_read_back(disks, content)


def test_kernel_parameter_strings_carry_any_path():
    """The kernel's ioctl form (no ``\\x``: a backslash before whitespace) of a non-UTF-8 path
    with a space and a newline: its bytes as they are, read back the same."""
    from lvmread.dm import TableEntry
    from lvmread.dm.kernel import pack_target_specs, unpack_target_specs

    path = os.fsdecode(b"/img/raw\xff a\nb")
    specs, count = pack_target_specs([TableEntry(0, 8, "linear", (path, "0"))])
    assert b"/img/raw\xff\\ a\\\nb 0\0" in specs
    assert unpack_target_specs(specs, count)[0].args == (path, "0")
