"""Where lvmread must read, report and print as lvm2 does (issue 9, case 8).

Each test mutates a copy of a fixture made by real lvm2 (``_edit_text`` rewrites the
current metadata copy and fixes its checksums) and checks the real outcome: bytes against
the fixture's content.json, warnings and errors as the user sees them.
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
from test_hostile import _edit_text

import lvmread
from lvmread.errors import LvmReadError
from lvmread.text.metadata import metadata_warnings, parse_metadata

ROOT = Path(__file__).resolve().parent.parent
MDA = 4096  # the metadata area of the `single` fixture
CONTENT = json.loads((ROOT / "fixtures/single/content.json").read_text())


def _cli(*argv: str, cwd: Path) -> subprocess.CompletedProcess:
    env = dict(os.environ, PYTHONPATH=str(ROOT))
    return subprocess.run([sys.executable, "-m", "lvmread.cli", *argv], cwd=cwd, env=env,
                          capture_output=True, timeout=120)


def _single(fixture_images, tmp_path: Path, pattern: str, repl: str) -> Path:
    img = tmp_path / "disk.img"
    shutil.copyfile(fixture_images.images("single")[0], img)
    with open(img, "r+b") as f:
        _edit_text(f, MDA, pattern, repl)
    return img


# ------------------------------------------------------------ repeated keys


def test_repeated_key_first_value_wins(fixture_images, tmp_path) -> None:
    """lvc's segment names pv0 extent 6, then again extent 0 (lva's). lvm2 (checked with
    lvs --segments on this image: /dev/loop0:6-6, 'WARNING: Ignoring duplicate config
    node: stripes') uses the first; lvmread used the last and read lva's bytes as lvc."""
    img = _single(fixture_images, tmp_path, r'"pv0", 6\n\]\n',
                  '"pv0", 6\n]\nstripes = ["pv0", 0]\n')
    r = _cli("cat", "vg0/lvc", str(img), cwd=tmp_path)
    assert r.returncode == 0, r.stderr
    assert hashlib.sha256(r.stdout).hexdigest() == CONTENT["lvs"]["vg0/lvc"]["sha256"]
    r = _cli("ls", str(img), cwd=tmp_path)
    assert r.returncode == 0
    lines = [ln for ln in r.stderr.decode().splitlines() if "'stripes'" in ln]
    assert len(lines) == 1, r.stderr
    assert "line 89" in lines[0] and "line 86" in lines[0] and "first is used" in lines[0]
    assert "offset 15360" in lines[0]  # which copy


SEGMENT = ('segment1 {\nstart_extent = 0\nextent_count = 1\ntype = "striped"\n'
           'stripe_count = 1\nstripes = ["pv0", 0]\n}\n')


@pytest.mark.parametrize("pattern, repl, section", [
    # a second segment1 in lvc (on lva's extent 0)
    (r'"pv0", 6\n\]\n}\n', '"pv0", 6\n]\n}\n' + SEGMENT, "segment1"),
    # a second lvc section
    (r'"pv0", 6\n\]\n}\n}\n', '"pv0", 6\n]\n}\n}\nlvc {\nid = "x"\nstatus = ["READ"]\n'
     "segment_count = 1\n" + SEGMENT + "}\n", "lvc"),
])
def test_repeated_lv_or_segment_section_refuses_the_lv(
    fixture_images, tmp_path, pattern, repl, section
) -> None:
    """lvm2 reads every LV and segment section in turn: with one given twice it refuses
    the copy (checked on these images: "segment_count and actual number of segments
    disagree", "LV lvc invalid: segment 2 should begin at LE 1"). lvmread kept the last
    one and read lva's extent as lvc; now lvc is refused with the reason, and the other
    LVs still read right."""
    img = _single(fixture_images, tmp_path, pattern, repl)
    with lvmread.open([str(img)]) as ds:
        with ds.lv("vg0/lva").open() as f:
            data = f.read()
        assert hashlib.sha256(data).hexdigest() == CONTENT["lvs"]["vg0/lva"]["sha256"]
        with pytest.raises(LvmReadError, match=f"its section '{section}' is given twice"):
            ds.lv("vg0/lvc").open()
    r = _cli("table", "vg0/lvc", str(img), cwd=tmp_path)
    assert r.returncode == 1 and r.stdout == b""
    assert b"lvm2 reads both and refuses this metadata" in r.stderr


def test_repeated_pv_section_refuses_its_lvs(fixture_images, tmp_path) -> None:
    """A second pv0 section saying its extents start elsewhere. lvm2 (checked on this
    image) lists two PVs on the device and maps the LVs with the last (pe_start 2.00m);
    lvmread silently kept one. Now the LVs on pv0 are refused, naming both lines."""
    pv = ('pv0 {\nid = "0rvety-OzTO-nlEj-J16i-Hne3-pYti-KwDadA"\nstatus = ["ALLOCATABLE"]\n'
          'dev_size = 16384\npe_start = 4096\npe_count = 14\n}\n')
    img = _single(fixture_images, tmp_path, r"pe_count = 14\n}\n", "pe_count = 14\n}\n" + pv)
    r = _cli("cat", "vg0/lva", str(img), cwd=tmp_path)
    assert r.returncode == 1 and r.stdout == b""
    assert b"it uses PV pv0, whose section 'pv0' is given twice (lines 14 and 24)" in r.stderr


def test_repeats_cost_nothing_without_them_and_are_bounded() -> None:
    """No repeat: a plain dict and no warnings. 10,000 repeats: a few lines, the rest
    counted (warnings stay bounded)."""
    tree = parse_metadata("a = 1\nb {\nc = 2\n}\n")
    assert type(tree) is dict and metadata_warnings(tree) == []
    tree = parse_metadata("vg {\n" + "seqno = 1\nseqno = 2\n" * 5000 + "}\n", source="f.vg")
    assert tree == {"vg": {"seqno": 1}}
    w = metadata_warnings(tree)
    assert len(w) == 6
    assert w[0].startswith("f.vg: metadata line 3: 'seqno' in section 'vg'")
    assert w[-1] == "f.vg: metadata repeats 9994 more keys; the first of each is used"


# ------------------------------------------------------------ printing what the disk says


def test_diff_escapes_control_characters(fixture_images, tmp_path) -> None:
    """A description holding a terminal escape and a newline: diff printed them raw."""
    img = _single(fixture_images, tmp_path, 'description = "Write from',
                  'description = "\x1b]0;owned\x07\nWrite from')
    r = _cli("diff", "--from", "5", str(img), cwd=tmp_path)
    assert r.returncode == 0, r.stderr
    out = r.stdout.decode()
    assert "\x1b" not in out and "\x07" not in out
    assert "\\x1b]0;owned\\x07\\nWrite from lvextend" in out
    assert all(ln.startswith(("VG ", "  ")) for ln in out.splitlines())  # no line breaks in
    r = _cli("history", str(img), cwd=tmp_path)
    assert "\x1b" not in r.stdout.decode()


# ------------------------------------------------------------ --metadata DIR


def _current_text(img: Path) -> bytes:
    with lvmread.open([str(img)]) as ds:
        return ds.copies[0].text.data.split(b"\0", 1)[0]


def test_metadata_folder_skips_files_that_are_not_metadata(fixture_images, tmp_path) -> None:
    """A folder with a backup and a README: the command aborted on the README. Now the
    README is skipped with one warning naming it; a folder of many such files gives a
    few lines and a count; a README named as FILE stays an error."""
    img = fixture_images.folder("single") / "disk.img"
    folder = tmp_path / "backup"
    folder.mkdir()
    (folder / "vg0").write_bytes(_current_text(img))
    (folder / "README").write_text("lvm2 backups of this host\n")
    for cmd in (["ls"], ["history"], ["diff", "--from", "5"]):
        r = _cli(*cmd, str(img), "--metadata", str(folder), cwd=tmp_path)
        assert r.returncode == 0, (cmd, r.stderr)
        err = r.stderr.decode().splitlines()
        assert [ln for ln in err if "README" in ln] == [
            f"lvmread: warning: {folder / 'README'}: line 1:1: metadata syntax error: "
            "unexpected 'lvm2' (not metadata; skipped)"], cmd
    r = _cli("ls", "--json", str(img), "--metadata", str(folder), cwd=tmp_path)
    assert {lv["lv_name"] for lv in json.loads(r.stdout)["report"][0]["lv"]} == {"lva", "lvc"}
    for i in range(20):
        (folder / f"notes{i:02}.txt").write_text("x\n")
    r = _cli("ls", str(img), "--metadata", str(folder), cwd=tmp_path)
    assert r.returncode == 0
    skipped = [ln for ln in r.stderr.decode().splitlines() if "skipped" in ln]
    assert len(skipped) == 4 and skipped[-1].endswith("18 more files skipped (not metadata)")
    r = _cli("ls", str(img), "--metadata", str(folder / "README"), cwd=tmp_path)
    assert r.returncode == 1 and b"README: line 1:1" in r.stderr


# ------------------------------------------------------------ impossible PV numbers


@pytest.mark.parametrize("pattern, repl, fault", [
    ("pe_start = 2048", "pe_start = -2048", "pe_start -2048 is negative"),
    ("pe_start = 2048", "pe_start = 36028797018963968", "pe_start 36028797018963968 is beyond"),
    ("pe_count = 14", "pe_count = -14", "pe_count -14 is negative"),
    ("dev_size = 16384", "dev_size = -16384", "dev_size -16384 is negative"),
    ("pe_start = 2048", "pe_start = 18014398509481984",
     "its 14 extents from sector 18014398509481984 end beyond"),
])
def test_impossible_pv_numbers_refuse_its_lvs(
    fixture_images, tmp_path, pattern, repl, fault
) -> None:
    """A negative pe_start was printed into the table (`linear disk.img -2048`) and read
    from; now every LV on the PV is refused with the reason, and `ls` says why."""
    img = _single(fixture_images, tmp_path, pattern, repl)
    table = _cli("table", "vg0/lva", str(img), cwd=tmp_path)
    assert table.returncode == 1 and table.stdout == b""
    err = table.stderr.decode()
    assert f"LV vg0/lva cannot be mapped: it uses PV pv0, whose {fault}" in err
    cat = _cli("cat", "vg0/lvc", str(img), "-o", str(tmp_path / "out"), cwd=tmp_path)
    assert cat.returncode == 1 and fault in cat.stderr.decode()
    assert not (tmp_path / "out").exists()
    ls = _cli("ls", str(img), cwd=tmp_path)
    assert f"VG vg0 PV pv0: {fault}" in ls.stderr.decode()
