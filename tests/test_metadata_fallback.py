"""Which metadata copy wins when the newest is damaged (issue 9, case 2).

Each test changes bytes of a private copy of an lvm2-made image (``fixtures/single``:
VG vg0, seqnos 1-7 in one ring; ``fixtures/removed``: VG vgrm, seqnos 1-7) the way a
failing disk would, without fixing the checksum, and checks that the copy used is the
highest seqno that is really intact, whatever the damaged bytes say, and that the warning
names the damaged copy and the copy used. ``ls`` exits 0 in every case here: the VG is
read (from an older copy) and the fallback is a warning, as for any other damaged copy.
"""

from __future__ import annotations

import hashlib
import json
import shutil
import struct
import subprocess
import sys
from pathlib import Path

import pytest

from lvmread.ondisk.crc import lvm_crc
from lvmread.vgread.history import History
from lvmread.vgread.scan import open_disks

FIXTURES = Path(__file__).resolve().parent.parent / "fixtures"


def _cli(*args) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "lvmread.cli", *map(str, args)],
        capture_output=True, text=True, check=False,
    )


def _copy(fixture_images, tmp_path, name: str, image: str = "disk.img") -> Path:
    dst = tmp_path / f"{name}-{image}"
    shutil.copyfile(fixture_images.folder(name) / image, dst)
    return dst


def _versions(img: Path) -> dict[int, tuple[int, int]]:
    """seqno -> (offset in the file, length) of every copy in the ring of ``img``."""
    with open_disks([str(img)]) as ds:
        return {v.seqno: (v.file_offset, v.length) for v in History.of(ds).versions}


def _damage(img: Path, seqno: int, old: bytes, new: bytes) -> int:
    """Replace ``old`` by ``new`` in the copy of ``seqno`` (checksum left as it was);
    returns the copy's offset in the file."""
    at, length = _versions(img)[seqno]
    return _damage_at(img, at, length, old, new)


def _damage_at(img: Path, at: int, length: int, old: bytes, new: bytes) -> int:
    with open(img, "r+b") as f:
        f.seek(at)
        text = f.read(length)
        i = text.index(old)
        f.seek(at + i)
        f.write(new)
    return at


def _lvm2_lvs(name: str) -> dict[str, list[str]]:
    """LV name -> seg_pe_ranges of each segment, from lvm2's report of the fixture."""
    rows = json.loads((FIXTURES / name / "lvs.json").read_text())["report"][0]["seg"]
    out: dict[str, list[str]] = {}
    for r in rows:
        out.setdefault(r["lv_name"], []).append(r["seg_pe_ranges"].split(":", 1)[1])
    return out


def _content(name: str) -> dict:
    return json.loads((FIXTURES / name / "content.json").read_text())["lvs"]


def _sha(lv) -> str:
    with lv.open() as f:
        return hashlib.sha256(f.read()).hexdigest()


def _ranges(lv) -> list[str]:
    out = []
    for seg in lv.segments:
        (area,) = seg.areas
        out.append(f"{area.start}-{area.start + seg.area_len - 1}")
    return out


def _fallback_warning(ds) -> str:
    (warn,) = [w for w in ds.warnings if "the newest metadata is damaged" in w]
    return warn


# One byte of the current copy (seqno 7) of fixtures/single, checksum not fixed. Seqno 6
# (lvremove vg0/lvb) is the newest intact copy: lvm2's LVs, lva before its last lvextend.
SINGLE_DAMAGE = {
    "seqno": (b"seqno = 7", b"seqno = 2"),  # the damaged copy claims an older seqno
    "seqno-high": (b"seqno = 7", b"seqno = 9"),
    "lv-name": (b"lvc {", b"lvC {"),
    "id-line": (b"\nid = ", b"\niD = "),  # the first lines no longer identify the copy
    "vg-uuid": (b'id = "92SoEp', b'id = "Z2SoEp'),  # names another VG uuid (vgs.json's)
    "middle": (b"extent_count = 3", b"extent_count = 4"),
}


@pytest.mark.parametrize("case", sorted(SINGLE_DAMAGE))
def test_one_damaged_byte_uses_the_newest_intact_copy(fixture_images, tmp_path, case):
    img = _copy(fixture_images, tmp_path, "single")
    old, new = SINGLE_DAMAGE[case]
    at = _damage(img, 7, old, new)
    at6 = _versions(img)[6][0]
    lvm2 = _lvm2_lvs("single")
    with open_disks([str(img)]) as ds:
        assert not ds.errors
        (vg,) = ds.vgs
        assert vg.seqno == 6
        assert set(vg.lvs) == set(lvm2)  # seqno 7 only extended lva
        assert _ranges(vg.lv("lvc")) == lvm2["lvc"]
        assert _ranges(vg.lv("lva")) == lvm2["lva"][:-1]  # the lvextend of seqno 7
        assert _sha(vg.lv("lvc")) == _content("single")["vg0/lvc"]["sha256"]
        warn = _fallback_warning(ds)
        assert f"{img}: offset {at}" in warn and "checksum mismatch" in warn
        assert "using seqno 6 " in warn and f"from {img}: offset {at6}," in warn
        assert "the newest intact copy on the inputs" in warn
    out = _cli("ls", img)
    assert out.returncode == 0, out.stderr
    assert {ln.split()[1] for ln in out.stdout.splitlines()[1:]} == set(lvm2)
    assert f"offset {at}" in out.stderr and "using seqno 6 " in out.stderr


def test_damaged_seqno_does_not_bound_the_fallback(fixture_images, tmp_path):
    """The issue's case: ``seqno = 7`` read as 2 made seqno 2 "the newest valid copy"."""
    img = _copy(fixture_images, tmp_path, "removed")
    at = _damage(img, 7, b"seqno = 7", b"seqno = 2")
    with open_disks([str(img)]) as ds:
        (vg,) = ds.vgs
        assert vg.seqno == 6  # lvremove vgrm/intact: keep is the only LV left
        assert set(vg.lvs) == set(_lvm2_lvs("removed")) - {"new"}  # new: lvcreate, seqno 7
        assert _sha(vg.lv("keep")) == _content("removed")["vgrm/keep"]["sha256"]
        warn = _fallback_warning(ds)
        assert f"{img}: offset {at}" in warn and "using seqno 6 " in warn
        assert "using seqno 2" not in warn


def test_only_much_older_copies_intact_says_lvs_may_be_missing(fixture_images, tmp_path):
    """Seqnos 5 and 6 left in the ring no longer parse: seqno 4 is the newest intact."""
    img = _copy(fixture_images, tmp_path, "single")
    at = _damage(img, 7, b"lvc {", b"lvC {")
    for s in (5, 6):
        _damage(img, s, b"logical_volumes {", b"logical_volumes (")
    with open_disks([str(img)]) as ds:
        (vg,) = ds.vgs
        assert vg.seqno == 4
        assert set(vg.lvs) == {"lva", "lvb"}
        warn = _fallback_warning(ds)
        assert f"offset {at}" in warn and "using seqno 4 " in warn
        assert "seqnos 5-7 changed is not shown (LVs created since may be missing)" in warn


def _point_header_at(img: Path, seqno: int) -> None:
    """Make the copy of ``seqno`` the committed one (as if the next command was
    interrupted between writing its text and its header); header checksum fixed."""
    with open_disks([str(img)]) as ds:
        (v,) = [v for v in History.of(ds).versions if v.seqno == seqno]
        mda = v.mda.source.start + v.mda.offset
    with open(img, "r+b") as f:
        f.seek(mda + 40)
        f.write(struct.pack("<QQI", v.area_offset, v.length, v.checksum))
        f.seek(mda + 4)
        hdr = f.read(508)
        f.seek(mda)
        f.write(struct.pack("<I", lvm_crc(hdr)))


def test_uncommitted_copy_is_not_used_when_the_committed_one_is_damaged(
    fixture_images, tmp_path
):
    """Seqno 7 was written but never committed (the header points at 6), and 6 is
    damaged: 5, the newest committed intact copy, is used, not the uncommitted 7."""
    img = _copy(fixture_images, tmp_path, "removed")
    _point_header_at(img, 6)
    at = _damage(img, 6, b"seqno = 6", b"seqno = 1")
    at7 = _versions(img)[7][0]
    with open_disks([str(img)]) as ds:
        (late,) = [v for v in History.of(ds).versions if v.seqno == 7]
        assert late.uncommitted and late.state == "uncommitted"
        (vg,) = ds.vgs
        assert vg.seqno == 5  # lvremove vgrm/gone: keep and intact
        assert set(vg.lvs) == {"keep", "intact"}
        removed = json.loads((FIXTURES / "removed" / "content.json").read_text())["removed"]
        assert _sha(vg.lv("intact")) == removed["vgrm/intact"]["sha256"]  # as at seqno 4-5
        warn = _fallback_warning(ds)
        assert f"offset {at}" in warn and "using seqno 5 " in warn
        assert f"seqno 7 at {img}: offset {at7} is newer but was never committed" in warn


def test_second_metadata_area_holds_the_current_copy(fixture_images, tmp_path):
    """fixtures/mda2: two metadata areas on one PV; damage in the first one's current
    copy needs no older version, the second area's intact seqno 3 is used."""
    img = _copy(fixture_images, tmp_path, "mda2")
    with open_disks([str(img)]) as ds:
        (cur,) = [v for v in History.of(ds).versions if v.current and v.mda_index == 0]
    _damage_at(img, cur.file_offset, cur.length, b"seqno = 3", b"seqno = 1")
    with open_disks([str(img)]) as ds:
        (vg,) = ds.vgs
        assert vg.seqno == 3 and vg.sources[0].text.area.index == 1
        assert set(vg.lvs) == set(_lvm2_lvs("mda2"))
        assert any(f"offset {cur.file_offset}" in w and "checksum mismatch" in w
                   for w in ds.warnings)
        assert not any("the newest metadata is damaged" in w for w in ds.warnings)


def test_current_copy_of_another_vg_is_not_trusted(fixture_images, tmp_path):
    """A current copy whose checksum is good and which parses but does not list the PV it
    is on (here the PV's id changed and the checksums recomputed) is damaged: the newest
    intact copy of the VG in the ring is used instead."""
    img = _copy(fixture_images, tmp_path, "single")
    with open_disks([str(img)]) as ds:
        pv_uuid = ds.pvs[0].uuid
        (cur,) = [v for v in History.of(ds).versions if v.current]
    at, length = cur.file_offset, cur.length
    mda = cur.mda.source.start + cur.mda.offset
    with open(img, "r+b") as f:
        f.seek(at)
        text = f.read(length)
        i = text.index(pv_uuid.encode())
        text = text[:i] + (b"Z" if text[i:i + 1] != b"Z" else b"Y") + text[i + 1:]
        f.seek(at)
        f.write(text)
        f.seek(mda + 56)
        f.write(struct.pack("<I", lvm_crc(text)))
        f.seek(mda + 4)
        hdr = f.read(508)
        f.seek(mda)
        f.write(struct.pack("<I", lvm_crc(hdr)))
    with open_disks([str(img)]) as ds:
        (vg,) = ds.vgs
        assert vg.seqno == 6
        assert not vg.missing_pvs
        assert any(f"offset {at}" in w and "does not list this PV" in w for w in ds.warnings)
        warn = _fallback_warning(ds)
        assert f"offset {at}" in warn and "using seqno 6 " in warn
    out = _cli("ls", img)
    assert out.returncode == 0 and "lvc" in out.stdout


def test_seqno_option_is_not_fooled_by_a_damaged_seqno(fixture_images, tmp_path):
    """``--seqno 2`` with the current copy saying (wrongly) ``seqno = 2``: the real
    seqno 2 is used (lva alone, lvm2's first segment of lva)."""
    img = _copy(fixture_images, tmp_path, "single")
    at2 = _versions(img)[2][0]
    _damage(img, 7, b"seqno = 7", b"seqno = 2")
    with open_disks([str(img)], seqno=2) as ds:
        (vg,) = ds.vgs
        assert vg.seqno == 2 and set(vg.lvs) == {"lva"}
        assert _ranges(vg.lv("lva")) == _lvm2_lvs("single")["lva"][:1]
        assert vg.sources[0].text.where == f"{img}: offset {at2}"


def test_header_pointing_into_the_middle_of_a_copy(fixture_images, tmp_path):
    """A header (its own checksum good) that points 512 bytes into seqno 6 and at a
    checksum that does not match: the pointer is not a copy, seqno 6 is not cut short
    by it and nothing in the ring is taken as uncommitted; seqno 7 is the newest intact."""
    img = _copy(fixture_images, tmp_path, "single")
    with open_disks([str(img)]) as ds:
        (v6,) = [v for v in History.of(ds).versions if v.seqno == 6]
        mda = v6.mda.source.start + v6.mda.offset
    with open(img, "r+b") as f:
        f.seek(mda + 40)
        _off, _size, crc = struct.unpack("<QQI", f.read(20))
        f.seek(mda + 40)
        f.write(struct.pack("<QQI", v6.area_offset + 512, 600, crc))
        f.seek(mda + 4)
        hdr = f.read(508)
        f.seek(mda)
        f.write(struct.pack("<I", lvm_crc(hdr)))
    lvm2 = _lvm2_lvs("single")
    with open_disks([str(img)]) as ds:
        vs = History.of(ds).versions
        assert not any(v.uncommitted for v in vs)
        (cur,) = [v for v in vs if v.current]
        assert any("points into the middle of the copy" in p for p in cur.problems)
        assert [v for v in vs if v.seqno == 6][0].usable
        (vg,) = ds.vgs
        assert vg.seqno == 7
        assert {n: _ranges(lv) for n, lv in vg.lvs.items()} == lvm2
        warn = _fallback_warning(ds)
        assert f"offset {cur.file_offset}" in warn and "using seqno 7 " in warn
        assert "the newest intact copy on the inputs" in warn


def test_current_copies_that_differ_at_one_seqno_do_not_follow_argument_order(
    fixture_images, tmp_path
):
    """fixtures/twopv: pv1's current copy rewritten (checksums recomputed) so that it
    names another creation host; both copies have seqno 6. The same copy is used
    whichever PV comes first, and the warning says which and why."""
    pv0 = _copy(fixture_images, tmp_path, "twopv", "pv0.img")
    pv1 = _copy(fixture_images, tmp_path, "twopv", "pv1.img")
    with open_disks([str(pv1)]) as ds:
        (cur,) = [v for v in History.of(ds).versions if v.current]
    mda = cur.mda.source.start + cur.mda.offset
    with open(pv1, "r+b") as f:
        f.seek(cur.file_offset)
        text = f.read(cur.length)
        assert b'creation_host = "vm"' in text
        text = text.replace(b'creation_host = "vm"', b'creation_host = "vM"', 1)
        f.seek(cur.file_offset)
        f.write(text)
        f.seek(mda + 56)
        f.write(struct.pack("<I", lvm_crc(text)))
        f.seek(mda + 4)
        hdr = f.read(508)
        f.seek(mda)
        f.write(struct.pack("<I", lvm_crc(hdr)))
    used = []
    for order in ([pv0, pv1], [pv1, pv0]):
        with open_disks([str(p) for p in order]) as ds:
            (vg,) = ds.vgs
            used.append(vg.sources[0].text.where)
            (warn,) = [w for w in ds.warnings if "different texts" in w]
            assert f"using the one at {used[-1]}" in warn
            assert "as many hold another: the first by input path and offset" in warn
            assert set(vg.lvs) == set(_lvm2_lvs("twopv"))
    assert used[0] == used[1] and used[0].startswith(str(pv0))


def test_seqno_option_ignores_a_uuid_only_the_damaged_copy_names(fixture_images, tmp_path):
    """The current copy's VG uuid damaged: ``--seqno 6`` lists vg0 from seqno 6 and says
    nothing of a VG "left out" (the damaged uuid is no VG); ``--seqno 7`` has no intact
    copy and says which seqnos there are, once."""
    img = _copy(fixture_images, tmp_path, "single")
    _damage(img, 7, *SINGLE_DAMAGE["vg-uuid"])
    with open_disks([str(img)], seqno=6) as ds:
        (vg,) = ds.vgs
        assert vg.seqno == 6 and set(vg.lvs) == set(_lvm2_lvs("single"))
        assert not any("left out" in w for w in ds.warnings)
    out = _cli("ls", "--seqno", 7, img)
    assert out.returncode != 0
    assert "no usable metadata with seqno 7" in out.stderr
    assert out.stderr.count("seqnos found: 1-6") == 1 and "none usable" not in out.stderr


def test_seqno_option_on_an_uncommitted_copy_says_so(fixture_images, tmp_path):
    """Header pointed back at seqno 6: ``--seqno 7`` reads the copy that was never
    committed (what the examiner asked for) and says it was never committed."""
    img = _copy(fixture_images, tmp_path, "removed")
    _point_header_at(img, 6)
    at7 = _versions(img)[7][0]
    with open_disks([str(img)]) as ds:
        assert ds.vgs[0].seqno == 6
    with open_disks([str(img)], seqno=7) as ds:
        (vg,) = ds.vgs
        assert vg.seqno == 7 and set(vg.lvs) == set(_lvm2_lvs("removed"))
        assert any(f"seqno 7 at {img}: offset {at7} was written but never committed" in w
                   for w in ds.warnings)


def test_no_intact_copy_left_is_an_error_not_silence(fixture_images, tmp_path):
    """Every copy in the ring of fixtures/removed no longer parses and the current one
    fails its checksum: ``ls`` lists nothing, so it says the VG is left out and why,
    and exits 1 (before, it exited 0 with only the checksum warning)."""
    img = _copy(fixture_images, tmp_path, "removed")
    at = _damage(img, 7, b"physical_volumes {", b"physical_volumes (")
    for s in range(1, 7):
        _damage(img, s, b"physical_volumes {", b"physical_volumes (")
    with open_disks([str(img)]) as ds:
        assert not ds.vgs
        (err,) = ds.errors
        assert "VG vgrm" in str(err) and "no intact copy" in str(err)
        assert f"offset {at}" in str(err) and "checksum mismatch" in str(err)
    out = _cli("ls", img)
    assert out.returncode == 1 and not out.stdout
    assert "no intact copy of its metadata" in out.stderr


def test_copies_of_a_vg_the_disk_has_left_are_not_used(fixture_images, tmp_path):
    """fixtures/reused: newvg's current copy (seqno 3) damaged. Both VGs in the ring are
    affected, but oldvg's copies list the PV uuid from before ``pvcreate -ff``: it is not
    brought back (with its five LVs on a "missing" PV); newvg falls back to seqno 2."""
    img = _copy(fixture_images, tmp_path, "reused")
    at = _damage(img, 3, b"newb {", b"newB {")
    with open_disks([str(img)]) as ds:
        assert not ds.errors
        (vg,) = ds.vgs
        assert (vg.name, vg.seqno) == ("newvg", 2)
        assert set(vg.lvs) == set(_lvm2_lvs("reused")) - {"newb"}  # newb: seqno 3
        assert _sha(vg.lv("newa")) == _content("reused")["newvg/newa"]["sha256"]
        assert not vg.missing_pvs
        warn = _fallback_warning(ds)
        assert f"offset {at}" in warn and "using seqno 2 " in warn
        assert not any("oldvg" in w for w in ds.warnings)
    out = _cli("ls", img)
    assert out.returncode == 0 and "oldvg" not in out.stdout and "newa" in out.stdout


def test_only_a_vg_the_disk_has_left_is_intact_is_an_error(fixture_images, tmp_path):
    """fixtures/reused with newvg's seqnos 1 and 2 unparsable as well: the ring's only
    intact copies are oldvg's, which list another PV; newvg is reported lost (exit 1),
    oldvg is not offered in its place."""
    img = _copy(fixture_images, tmp_path, "reused")
    at = _damage(img, 3, b"newb {", b"newB {")
    for s in (1, 2):
        _damage(img, s, b"physical_volumes {", b"physical_volumes (")
    with open_disks([str(img)]) as ds:
        assert not ds.vgs
        (err,) = ds.errors
        assert "VG newvg" in str(err) and "no intact copy" in str(err)
        assert f"offset {at}" in str(err)
    out = _cli("ls", img)
    assert out.returncode == 1 and "oldvg" not in out.stdout + out.stderr


def test_diff_defaults_to_the_committed_version(fixture_images, tmp_path):
    """Header pointed back at seqno 6 (7 never committed): ``diff --from 5`` compares
    with 6, the version ``ls`` reads, not with the uncommitted 7; ``--to 7`` still can."""
    img = _copy(fixture_images, tmp_path, "removed")
    _point_header_at(img, 6)
    out = _cli("diff", "--json", "--from", 5, img)
    assert out.returncode == 0, out.stderr
    (d,) = json.loads(out.stdout)
    assert (d["from"]["seqno"], d["to"]["seqno"]) == (5, 6)
    assert [x["name"] for x in d["lvs"]["removed"]] == ["intact"] and not d["lvs"]["created"]
    out = _cli("diff", "--json", "--from", 5, "--to", 7, img)
    (d,) = json.loads(out.stdout)
    assert d["to"]["seqno"] == 7 and [x["name"] for x in d["lvs"]["created"]] == ["new"]


def test_any_changed_byte_of_the_current_copy_gives_the_same_answer(fixture_images, tmp_path):
    """Whatever byte of seqno 7's text of fixtures/single is hit (every 29th, the first
    and the last, its NUL), the VG read is seqno 6 with lvm2's LVs: nothing read from
    the damaged bytes steers the choice."""
    src = _copy(fixture_images, tmp_path, "single")
    at, length = _versions(src)[7]
    at6 = _versions(src)[6][0]
    base = src.read_bytes()
    img = tmp_path / "flip.img"
    lvm2 = set(_lvm2_lvs("single"))
    for i in sorted({*range(0, length, 29), length - 2, length - 1}):
        data = bytearray(base)
        data[at + i] ^= 0x01
        img.write_bytes(data)
        with open_disks([str(img)]) as ds:
            (vg,) = ds.vgs
            assert (vg.seqno, set(vg.lvs)) == (6, lvm2), i
            assert vg.sources[0].text.where == f"{img}: offset {at6}", i
            assert f"offset {at}" in _fallback_warning(ds), i


def test_a_vg_the_pv_was_split_from_is_not_read_from_its_ring(fixture_images, tmp_path):
    """fixtures/split: pv1 left vga for vgb (vgsplit); vga's old copies in pv1's ring list
    pv1. With vgb's current copy damaged and pv1 alone, vgb falls back to its seqno 3 and
    vga is not presented as a VG of pv1 (one warning says it is in the ring); with pv0
    as well, vga is read from pv0 as lvm2 reports it."""
    pv1 = _copy(fixture_images, tmp_path, "split", "pv1.img")
    pv0 = _copy(fixture_images, tmp_path, "split", "pv0.img")
    at = _damage(pv1, 4, b"b1 {", b"bX {")
    lvm2 = _lvm2_lvs("split")
    with open_disks([str(pv1)]) as ds:
        assert not ds.errors
        (vg,) = ds.vgs
        assert (vg.name, vg.seqno, set(vg.lvs)) == ("vgb", 3, {"b0"})  # b1: seqno 4
        assert _ranges(vg.lv("b0")) == lvm2["b0"]
        assert f"offset {at}" in _fallback_warning(ds)
        (note,) = [w for w in ds.warnings if "vga" in w]
        assert "1 other VG(s) (vga)" in note and "not listed" in note
    with open_disks([str(pv0), str(pv1)]) as ds:
        assert [v.name for v in ds.vgs] == ["vga", "vgb"]
        vga = ds.vg("vga")
        assert set(vga.lvs) == {"a0", "a1"} and not vga.missing_pvs
        assert _sha(vga.lv("a1")) == _content("split")["vga/a1"]["sha256"]
