"""Metadata backup and archive files (``--metadata FILE``) as a source of metadata.

The oracle guest ran ``vgcfgbackup -f guest/vgcfgbackup.txt`` (the format of
/etc/lvm/backup/VG and /etc/lvm/archive/*.vg: header first, indented, comments). With the
metadata area of the image zeroed, that file alone must give back the VG, and its LVs
must read as the kernel read them.
"""

from __future__ import annotations

import hashlib
import json
import lzma
import shutil
import subprocess
import sys

import pytest
from conftest import ORACLE, load_oracle

from lvmread.vgread.backup import read_metadata_file
from lvmread.vgread.scan import open_disks


def _cli(*args, text: bool = True) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "lvmread.cli", *map(str, args)],
        capture_output=True, text=text, check=False,
    )


def _zero_mdas(img) -> None:
    """Zero every metadata area of the PV on ``img`` (header and ring), as a wipe would."""
    from lvmread.inputs.source import open_input
    from lvmread.ondisk.pv import read_pv

    with open_input(str(img)) as f:
        areas = [(m.offset, m.size) for m in read_pv(f.whole).metadata_areas]
    with open(img, "r+b") as f:
        for off, size in areas:
            f.seek(off)
            f.write(bytes(size))


@pytest.fixture()
def zeroed(fixture_images, tmp_path):
    def make(scenario):
        o = load_oracle(scenario)
        imgs = []
        for i in o["images"]:
            dst = tmp_path / i["file"]
            shutil.copyfile(fixture_images.folder(f"oracle/{scenario}") / i["file"], dst)
            _zero_mdas(dst)
            imgs.append(dst)
        return o, imgs, ORACLE / scenario / "guest" / "vgcfgbackup.txt"

    return make


@pytest.mark.parametrize("scenario", ["history", "multipv"])
def test_backup_file_stands_in_for_zeroed_metadata(zeroed, scenario):
    o, imgs, backup = zeroed(scenario)
    with open_disks([str(p) for p in imgs]) as ds:
        assert ds.vgs == []  # nothing left on the disks
    with open_disks([str(p) for p in imgs], metadata=[str(backup)]) as ds:
        assert not ds.errors
        (vg,) = ds.vgs
        assert vg.name == o["vgs"]["report"][0]["vg"][0]["vg_name"]
        assert vg.seqno == int(o["vgs"]["report"][0]["vg"][0]["vg_seqno"])
        assert not vg.missing_pvs
        assert vg.sources[0].pv == str(backup)
        assert set(o["lv_sha256"]) == {lv.name for lv in vg.lvs.values() if lv.visible}
        for name, want in o["lv_sha256"].items():
            with vg.lv(name).open() as f:
                assert hashlib.sha256(f.read()).hexdigest() == want["sha256"], name
    name, want = next(iter(o["lv_sha256"].items()))
    out = _cli("cat", f"{vg.name}/{name}", *imgs, "--metadata", backup, text=False)
    assert out.returncode == 0, out.stderr
    assert hashlib.sha256(out.stdout).hexdigest() == want["sha256"]
    ls = _cli("ls", *imgs, "--metadata", backup)
    assert ls.returncode == 0 and name in ls.stdout


def test_backup_file_fields():
    v = read_metadata_file(str(ORACLE / "history" / "guest" / "vgcfgbackup.txt"))
    assert (v.vg_name, v.seqno, v.kind) == ("vg_history", 204, "file")
    assert v.vg_uuid == "LfFNr0-N9ng-ZqIE-qHxW-9cB8-QZdn-nYP9jx"
    assert v.description == "vgcfgbackup -f /out/history/vgcfgbackup.txt vg_history"
    assert v.creation_time == 1795770243 and v.creation_host == "(none)"
    assert v.complete and v.usable and v.problems == []
    d = v.as_dict()
    assert d["pv_uuid"] is None and d["offset"] is None and d["source"].endswith(".txt")


def _old_text(seqno: int) -> str:
    """The on-disk text of one old version, as `pvck --dump metadata_all` saved it."""
    dump = ORACLE / "history" / "guest" / "metadata_all_vdg.txt.xz"
    for text in lzma.open(dump).read().decode().split("\n--\n"):
        if f"\nseqno = {seqno}\n" in text:
            return text
    raise AssertionError(seqno)


def test_archive_folder_and_seqno(zeroed, tmp_path):
    o, imgs, backup = zeroed("history")
    archive = tmp_path / "archive"
    archive.mkdir()
    shutil.copyfile(backup, archive / "vg_history")
    (archive / "vg_history_00149-1.vg").write_text(_old_text(149))
    with open_disks([str(p) for p in imgs], metadata=[str(archive)]) as ds:
        assert ds.vgs[0].seqno == 204  # the newest file
    with open_disks([str(p) for p in imgs], metadata=[str(archive)], seqno=149) as ds:
        vg = ds.vgs[0]
        assert vg.seqno == 149 and set(vg.lvs) == {"keep1", "tmp74"}
        assert vg.sources[0].pv.endswith("vg_history_00149-1.vg")
    out = _cli("history", *imgs, "--metadata", archive, "--json")
    rows = json.loads(out.stdout)
    assert [(r["seqno"], r["kind"]) for r in rows] == [(149, "file"), (204, "file")]
    diff = _cli("diff", *imgs, "--metadata", archive, "--from", 149, "--json")
    assert diff.returncode == 0, diff.stderr
    (d,) = json.loads(diff.stdout)
    assert [x["name"] for x in d["lvs"]["removed"]] == ["tmp74"]
    assert [x["name"] for x in d["lvs"]["created"]] == ["keep2"]


def test_file_older_than_the_disks_is_used_with_a_warning(fixture_images, tmp_path):
    o = load_oracle("history")
    img = fixture_images.folder("oracle/history") / o["images"][0]["file"]
    old = tmp_path / "old.vg"
    old.write_text(_old_text(149))
    with open_disks([str(img)], metadata=[str(old)]) as ds:
        assert ds.vgs[0].seqno == 149
        (w,) = [w for w in ds.warnings if "old.vg" in w]
        assert "the disks hold newer metadata (seqno 204" in w
    # the same version as on disk: no warning
    same = ORACLE / "history" / "guest" / "vgcfgbackup.txt"
    with open_disks([str(img)], metadata=[str(same)]) as ds:
        assert ds.vgs[0].seqno == 204 and ds.warnings == []
    # a file and the disk at one seqno that differ: said, the file is used
    changed = tmp_path / "changed.vg"
    changed.write_text(same.read_text().replace("keep2 {", "keepX {"))
    with open_disks([str(img)], metadata=[str(changed)]) as ds:
        assert set(ds.vgs[0].lvs) == {"keep1r", "keepX"}
        assert any("both have seqno 204 but differ" in w for w in ds.warnings)
    # with --seqno, the copy on disk is preferred and the difference reported
    with open_disks([str(img)], metadata=[str(changed)], seqno=204) as ds:
        assert set(ds.vgs[0].lvs) == {"keep1r", "keep2"}
        assert any("differs from the copy on disk" in w for w in ds.warnings)


def test_bad_metadata_files_are_one_line_errors(fixture_images, tmp_path):
    img = fixture_images.folder("single") / "disk.img"
    out = _cli("ls", img, "--metadata", tmp_path / "missing.vg")
    assert out.returncode == 1
    (line,) = out.stderr.splitlines()
    assert "missing.vg" in line and "cannot read metadata file" in line
    junk = tmp_path / "junk.vg"
    junk.write_text("this is { not metadata\n")
    out = _cli("ls", img, "--metadata", junk)
    assert out.returncode == 1
    (line,) = out.stderr.splitlines()
    assert "junk.vg" in line and "line" in line
    empty = tmp_path / "empty"
    empty.mkdir()
    out = _cli("ls", img, "--metadata", empty)
    assert out.returncode == 2 and "no metadata files" in out.stderr


def test_file_of_a_vg_not_on_the_images(fixture_images):
    img = fixture_images.folder("single") / "disk.img"
    other = ORACLE / "history_wrap" / "guest" / "vgcfgbackup.txt"
    out = _cli("ls", img, "--metadata", other)
    assert out.returncode == 0
    assert "vg0" in out.stdout and "vg_histwrap" in out.stdout
    assert "is missing" in out.stderr


def test_history_save_feeds_metadata(fixture_images, tmp_path):
    """`history --save` writes copies as files that `--metadata` reads back: versions
    taken from a disk before its metadata area was wiped."""
    o = load_oracle("history")
    src = fixture_images.folder("oracle/history") / o["images"][0]["file"]
    img = tmp_path / "disk.img"
    shutil.copyfile(src, img)
    saved = tmp_path / "saved"
    out = _cli("history", img, "--vg", "vg_history", "--seqno", 149, "--save", saved)
    assert out.returncode == 0, out.stderr
    assert len(out.stdout.splitlines()) == 2  # the header and seqno 149
    (f,) = saved.iterdir()
    assert f.name == "vg_history-seqno149-disk.img-mda0-231424.vg"
    again = _cli("history", img, "--seqno", 149, "--save", saved)
    assert again.returncode == 2 and "not overwritten" in again.stderr
    _zero_mdas(img)
    ls = _cli("ls", "--json", img, "--metadata", f)
    assert ls.returncode == 0, ls.stderr
    assert {lv["lv_name"] for lv in json.loads(ls.stdout)["report"][0]["lv"]} == {
        "keep1", "tmp74"}
