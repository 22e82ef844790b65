"""Every metadata version left on disk, compared with what lvm2's own pvck found there.

The oracle guest ran `pvck --dump metadata_all -v` on each PV: its commands.log holds a
line per copy (``metadata at OFFSET length N crc C vg V seqno S id U``) and
metadata_all_*.txt.xz the texts (joined by ``\\n--\\n``). lvmread must find the same
copies, with the same lengths, checksums and texts.
"""

from __future__ import annotations

import json
import lzma
import re
import shutil
import subprocess
import sys

import pytest
from conftest import ORACLE, load_oracle

from lvmread.ondisk.crc import lvm_crc
from lvmread.text.metadata import parse_metadata
from lvmread.vgread.copies import header_fields
from lvmread.vgread.history import History
from lvmread.vgread.ring import scan_pvs
from lvmread.vgread.scan import scan

PVCK_LINE = re.compile(
    r"metadata at (\d+) length (\d+) crc ([0-9a-f]+) vg (\S+) seqno (\d+) id (\S+)"
)
SCENARIOS = [("history", 204), ("history_wrap", 39)]


def _cli(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "lvmread.cli", *map(str, args)],
        capture_output=True, text=True, check=False,
    )


def _pvck(scenario: str) -> tuple[set, list[str]]:
    log = (ORACLE / scenario / "guest" / "commands.log").read_text()
    copies = {
        (int(m[1]), int(m[2]), int(m[3], 16), m[4], int(m[5]), m[6])
        for m in PVCK_LINE.finditer(log)
    }
    (dump,) = (ORACLE / scenario / "guest").glob("metadata_all_*.txt.xz")
    texts = lzma.open(dump).read().decode().split("\n--\n")
    return copies, texts


def _history(paths) -> History:
    with scan([str(p) for p in paths]) as ds:
        return History(scan_pvs(ds.pvs)).verify()


@pytest.fixture(scope="module", params=[s for s, _ in SCENARIOS])
def scenario(request, fixture_images):
    name = request.param
    o = load_oracle(name)
    images = [fixture_images.folder(f"oracle/{name}") / i["file"] for i in o["images"]]
    return name, dict(SCENARIOS)[name], images


def test_same_copies_as_pvck(scenario):
    name, count, images = scenario
    want, texts = _pvck(name)
    assert len(want) == count
    hist = _history(images)
    got = {(v.offset, v.length, v.checksum, v.vg_name, v.seqno, v.vg_uuid) for v in hist.versions}
    assert got == want
    # the texts, in ring order as pvck prints them, byte for byte
    assert [v.text for v in sorted(hist.versions, key=lambda v: v.offset)] == texts


def test_every_copy_complete_and_described(scenario):
    name, count, images = scenario
    hist = _history(images)
    assert len(hist.versions) == count
    assert len({v.seqno for v in hist.versions}) == count
    for v in hist.versions:
        assert v.complete and v.usable and v.parses and not v.problems, v.label
        tree = parse_metadata(v.text)
        # the cheap header-line extraction agrees with the full parse
        assert v.description == tree["description"]
        assert v.creation_time == tree["creation_time"]
        assert v.creation_host == tree["creation_host"]
        assert v.description.startswith("Write from ")
        assert v.pv_uuid and v.mda_index == 0
        assert v.file_offset == v.offset == v.mda.offset + v.area_offset
    current = [v for v in hist.versions if v.current]
    assert len(current) == 1
    (cur,) = current
    assert cur.seqno == max(v.seqno for v in hist.versions)
    assert cur.checksum_ok is True
    assert all(v.checksum_ok is None for v in hist.versions if not v.current)


def test_checksum_covers_the_trailing_nul(scenario):
    """lvm2's raw_locn size and checksum include the NUL after the text."""
    _name, _count, images = scenario
    (cur,) = [v for v in _history(images).versions if v.current]
    text = cur.text.encode()
    assert cur.length == len(text) + 1 == cur.mda.header.raw_locns[0].size
    assert lvm_crc(text + b"\0") == cur.stored_checksum != lvm_crc(text)


def test_wrapped_copy_is_followed_round_the_ring(fixture_images):
    o = load_oracle("history_wrap")
    img = fixture_images.folder("oracle/history_wrap") / o["images"][0]["file"]
    hist = _history([img])
    wrapped = [v for v in hist.versions if v.wrapped]
    assert [v.seqno for v in wrapped] == [120]
    (w,) = wrapped
    assert w.offset + w.length > w.mda.offset + w.mda.size  # it does run past the end
    assert w.complete and w.text.startswith("vg_histwrap {\n")
    # the part after the wrap sits just after the mda_header
    tail = w.length - (w.mda.size - w.area_offset)
    with open(img, "rb") as f:
        f.seek(w.mda.offset + 512)
        assert f.read(tail) == w.data[-tail:]
    # versions 1-84 were overwritten when the ring came round
    assert min(v.seqno for v in hist.versions) == 85


def test_overwritten_copy_is_incomplete_but_listed(fixture_images, tmp_path):
    """A newer copy written inside an older one: the older is kept, marked incomplete,
    with what can still be read of it (seqno, VG) and no crash."""
    o = load_oracle("history_wrap")
    src = fixture_images.folder("oracle/history_wrap") / o["images"][0]["file"]
    img = tmp_path / "overwritten.img"
    shutil.copyfile(src, img)
    hist = _history([img])
    by_seq = {v.seqno: v for v in hist.versions}
    victim, donor = by_seq[100], by_seq[121]
    at = victim.offset + 512  # a 512-byte boundary inside copy 100, before its NUL
    assert victim.length > 512
    with open(img, "r+b") as f:
        f.seek(at)
        f.write(donor.data)
    hist = _history([img])
    got = {v.offset: v for v in hist.versions}
    v100 = got[victim.offset]
    assert v100.seqno == 100 and v100.vg_name == "vg_histwrap"
    assert not v100.ended and not v100.complete and v100.parses is None
    assert v100.state == "incomplete"
    assert any("runs into the copy at area offset" in p for p in v100.problems)
    assert v100.data == victim.data[:512]  # what is left of it, up to the newer copy
    assert got[at].seqno == 121 and got[at].complete
    # copy 101 lost its head to the new text, so it is gone from the list
    assert 101 not in {v.seqno for v in hist.versions}
    out = _cli("history", img)
    assert out.returncode == 0
    assert "seqno 100" in out.stderr and "incomplete" in out.stdout


def test_header_fields_from_both_layouts():
    disk = (
        b'vg {\nid = "x"\nseqno = 3\nlogical_volumes {\nlv {\ncreation_time = 5\n'
        b'creation_host = "lvhost"\n}\n}\n}\n# Generated by LVM2\n\n'
        b'contents = "Text Format Volume Group"\nversion = 1\n\n'
        b'description = "Write from lvcreate \\"a\\" x."\n\n'
        b'creation_host = "h"\t# Linux\ncreation_time = 1700000000\t# Tue\n\n'
    )
    assert header_fields(disk) == {
        "description": 'Write from lvcreate "a" x.',
        "creation_host": "h",
        "creation_time": 1700000000,
    }
    backup = (ORACLE / "history" / "guest" / "vgcfgbackup.txt").read_bytes()
    tree = parse_metadata(backup.decode())
    hf = header_fields(backup)
    assert hf == {k: tree[k] for k in hf}
    # a copy cut short before its header lines: nothing is made up
    assert header_fields(disk[:60]) == dict.fromkeys(hf)


def test_history_cli_json(scenario):
    name, count, images = scenario
    out = _cli("history", "--json", *images)
    assert out.returncode == 0, out.stderr
    rows = json.loads(out.stdout)
    assert len(rows) == count
    want, _ = _pvck(name)
    assert {(r["offset"], r["seqno"]) for r in rows} == {(w[0], w[4]) for w in want}
    for r in rows:
        for key in ("seqno", "vg_name", "creation_time", "description", "pv_uuid", "offset",
                    "checksum_ok", "vg_uuid", "creation_host", "length", "complete",
                    "checksum", "current"):
            assert key in r
        assert r["complete"] is True
        assert re.fullmatch(r"0x[0-9a-f]{8}", r["checksum"])
        assert r["checksum_ok"] is (True if r["current"] else None)
    assert [r["seqno"] for r in rows] == sorted(r["seqno"] for r in rows)
    text = _cli("history", *images)
    assert text.returncode == 0
    lines = text.stdout.splitlines()
    assert lines[0].split()[:3] == ["SEQNO", "VG", "CREATED"]
    assert len(lines) == count + 1
    assert "current" in lines[-1]


def test_history_of_every_fixture_includes_its_current_copy(fixture_images):
    """On the lvm2-made fixtures, the newest copy the history finds is the one ls uses."""
    import lvmread

    for name in ("single", "mda2", "twopv", "mbr", "labelsector", "sector4k"):
        images = fixture_images.images(name)
        hist = _history(images)
        with lvmread.open(images) as disks:
            for vg in disks.vgs:
                mine = [v for v in hist.versions if v.vg_uuid == vg.uuid]
                assert max(v.seqno for v in mine) == vg.seqno, name
                assert all(v.complete for v in mine), name
                cur = [v for v in mine if v.current]
                assert cur and all(v.seqno == vg.seqno and v.checksum_ok for v in cur), name
    # mda2: both metadata areas hold every version, identical
    hist = _history(fixture_images.images("mda2"))
    by_mda: dict[int, dict[int, bytes]] = {}
    for v in hist.versions:
        by_mda.setdefault(v.mda_index, {})[v.seqno] = v.data
    assert set(by_mda) == {0, 1} and by_mda[0] == by_mda[1]
    assert hist.disagreements() == []


def test_no_metadata_text(fixture_images):
    out = _cli("history", *fixture_images.images("nolabel"))
    assert out.returncode == 1
    nomda = fixture_images.folder("nomda") / "nomda.img"
    out = _cli("history", nomda)
    assert out.returncode == 1
    assert out.stderr.strip().splitlines()[-1] == "lvmread: no metadata text found on the inputs"


LIVE = ["single", "twopv", "mda2", "bootloader", "names", "many_lvs", "removed"] + [
    f"oracle/{s}" for s in ("history", "history_wrap", "linear", "multipv", "striped")
]


@pytest.mark.skipif(shutil.which("pvck") is None, reason="lvm2's pvck is not installed")
@pytest.mark.parametrize("folder", LIVE)
def test_same_copies_as_live_pvck(folder, fixture_images):
    """Where lvm2 is installed, its pvck (reading the image file) finds what lvmread finds
    in the first metadata area: the same offsets, lengths, checksums and seqnos."""
    import os

    env = dict(os.environ, LVM_SUPPRESS_FD_WARNINGS="1")
    for img in fixture_images.images(folder):
        out = subprocess.run(["pvck", "--dump", "metadata_all", "-v", str(img)],
                             capture_output=True, text=True, env=env, check=False)
        if out.returncode != 0 and "metadata at" not in out.stdout:
            pytest.skip(f"pvck cannot read {img.name} here: {out.stderr.strip()[:200]}")
        want = {(int(m[1]), int(m[2]), int(m[3], 16), int(m[5]))
                for m in PVCK_LINE.finditer(out.stdout + out.stderr)}
        got = {(v.offset, v.length, v.checksum, v.seqno)
               for v in _history([img]).versions if v.mda_index == 0}
        assert got == want, img.name


def test_uncommitted_copy_is_flagged(fixture_images, tmp_path):
    """A copy written after the one the header points to was never committed (lvm2
    writes the text, then the header): point the header back one version."""
    import struct

    o = load_oracle("history")
    img = tmp_path / "uncommitted.img"
    shutil.copyfile(fixture_images.folder("oracle/history") / o["images"][0]["file"], img)
    by_seq = {v.seqno: v for v in _history([img]).versions}
    prev = by_seq[203]
    with open(img, "r+b") as f:
        f.seek(prev.mda.offset + 40)
        f.write(struct.pack("<QQI", prev.area_offset, prev.length, prev.checksum))
        f.seek(prev.mda.offset + 4)
        hdr = f.read(508)
        f.seek(prev.mda.offset)
        f.write(struct.pack("<I", lvm_crc(hdr)))
    hist = _history([img])
    (cur,) = [v for v in hist.versions if v.current]
    assert cur.seqno == 203 and cur.checksum_ok
    (late,) = [v for v in hist.versions if v.seqno == 204]
    assert late.complete and any("never committed" in p for p in late.problems)
    import lvmread

    with lvmread.open([img]) as disks:
        assert disks.vgs[0].seqno == 203  # lvm2 would use 203 too
