"""Damaged metadata: when the newest copy fails a check (checksum, syntax, header), the
newest valid copy on any PV (old ones in the ring included) is used, with a warning that
names the damaged copy and the check; copies that disagree at one seqno are reported.

Each test damages a private copy of an lvm2-made image the way a failing disk or a bad
write would: a changed byte in the text (checksum no longer matches), a changed text with
the checksums recomputed (only the parser can tell), a zeroed mda_header.
"""

from __future__ import annotations

import hashlib
import shutil
import struct
import subprocess
import sys

import pytest
from conftest import load_oracle

from lvmread.ondisk.crc import lvm_crc
from lvmread.vgread.history import History
from lvmread.vgread.scan import open_disks


def _cli(*args) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "lvmread.cli", *map(str, args)],
        capture_output=True, text=True, check=False,
    )


def _current(img):
    """(mda offset, text offset from the device start, text size) of each current copy."""
    with open_disks([str(img)]) as ds:
        out = []
        for v in History.of(ds).versions:
            if v.current:
                out.append((v.mda.offset, v.offset, v.length))
        return out


def _rewrite(img, mda_offset: int, at: int, old: bytes, new: bytes, fix: bool) -> None:
    """Replace ``old`` by ``new`` (same length) in the text at ``at``; with ``fix``,
    recompute the raw_locn checksum and the mda_header checksum as lvm2 would."""
    assert len(old) == len(new)
    with open(img, "r+b") as f:
        f.seek(mda_offset + 40)
        _off, size = struct.unpack("<QQ", f.read(16))
        f.seek(at)
        text = f.read(size)
        assert text.count(old) >= 1, old
        text = text.replace(old, new, 1)
        f.seek(at)
        f.write(text)
        if fix:
            f.seek(mda_offset + 56)
            f.write(struct.pack("<I", lvm_crc(text)))
            f.seek(mda_offset)
            hdr = f.read(512)
            f.seek(mda_offset)
            f.write(struct.pack("<I", lvm_crc(hdr[4:])))


@pytest.fixture()
def history_img(fixture_images, tmp_path):
    o = load_oracle("history")
    src = fixture_images.folder("oracle/history") / o["images"][0]["file"]
    dst = tmp_path / "history0.img"
    shutil.copyfile(src, dst)
    return dst, o


def _sha(lv) -> str:
    with lv.open() as f:
        return hashlib.sha256(f.read()).hexdigest()


def test_checksum_damage_falls_back_to_the_previous_version(history_img):
    img, o = history_img
    ((mda, at, _size),) = _current(img)
    _rewrite(img, mda, at, b"keep1r", b"keep1R", fix=False)
    with open_disks([str(img)]) as ds:
        assert not ds.errors
        vg = ds.vgs[0]
        assert vg.seqno == 203
        assert set(vg.lvs) == {"keep1", "keep2"}  # 204 (the rename) is the damaged one
        assert _sha(vg.lv("keep1")) == o["lv_sha256"]["keep1r"]["sha256"]
        assert _sha(vg.lv("keep2")) == o["lv_sha256"]["keep2"]["sha256"]
        (warn,) = [w for w in ds.warnings if "the newest metadata is damaged" in w]
        assert f"seqno 204 at {img}: offset {at}" in warn
        assert "checksum mismatch" in warn
        assert "using seqno 203" in warn and "what seqno 204 changed is not shown" in warn
    out = _cli("ls", img)
    assert out.returncode == 0
    assert "keep1 " in out.stdout and "checksum mismatch" in out.stderr
    hist = _cli("history", img)
    assert "bad-checksum" in hist.stdout


def test_syntax_damage_with_valid_checksums(history_img):
    img, o = history_img
    ((mda, at, _size),) = _current(img)
    _rewrite(img, mda, at, b"logical_volumes {", b"logical_volumes (", fix=True)
    with open_disks([str(img)]) as ds:
        vg = ds.vgs[0]
        assert vg.seqno == 203
        (warn,) = [w for w in ds.warnings if "the newest metadata is damaged" in w]
        assert "syntax error" in warn and f"offset {at}" in warn
    out = _cli("dump", img)
    assert out.returncode == 1
    assert "failed to parse metadata text" in out.stdout
    assert "checksum good" in out.stdout


def test_zeroed_mda_header_copies_found_by_scanning(history_img):
    img, o = history_img
    ((mda, _at, _size),) = _current(img)
    with open(img, "r+b") as f:
        f.seek(mda)
        f.write(bytes(512))
    with open_disks([str(img)]) as ds:
        vg = ds.vgs[0]
        assert vg.seqno == 204
        assert _sha(vg.lv("keep1r")) == o["lv_sha256"]["keep1r"]["sha256"]
        assert any("header checksum mismatch" in w for w in ds.warnings)
        assert any("using seqno 204" in w for w in ds.warnings)


def test_zeroed_area_says_what_to_do(history_img):
    img, _o = history_img
    ((mda, _at, _size),) = _current(img)
    with open(img, "r+b") as f:
        f.seek(mda)
        f.write(bytes(1044480))
    out = _cli("ls", img)
    assert not out.stdout
    assert "holds no metadata text at all" in out.stderr and "--metadata" in out.stderr


def test_other_pv_holds_the_same_seqno(fixture_images, tmp_path):
    o = load_oracle("multipv")
    imgs = []
    for i in o["images"]:
        dst = tmp_path / i["file"]
        shutil.copyfile(fixture_images.folder("oracle/multipv") / i["file"], dst)
        imgs.append(dst)
    ((mda, at, _size),) = _current(imgs[0])
    _rewrite(imgs[0], mda, at, b"seqno = ", b"seqnO = ", fix=False)
    with open_disks([str(p) for p in imgs]) as ds:
        vg = ds.vgs[0]
        newest = vg.seqno
        assert vg.sources[0].pv == str(imgs[1])
        assert any(f"{imgs[0]}: offset {at}" in w and "checksum mismatch" in w
                   for w in ds.warnings)
        # no older version was needed
        assert not any("the newest metadata is damaged" in w for w in ds.warnings)
        for name, want in o["lv_sha256"].items():
            assert _sha(vg.lv(name)) == want["sha256"]
    # both damaged: the newest valid copy left in either ring
    ((mda1, at1, _),) = _current(imgs[1])
    _rewrite(imgs[1], mda1, at1, b"seqno = ", b"seqnO = ", fix=False)
    with open_disks([str(p) for p in imgs]) as ds:
        assert ds.vgs[0].seqno == newest - 1
        (warn,) = [w for w in ds.warnings if "the newest metadata is damaged" in w]
        assert str(imgs[0]) in warn and str(imgs[1]) in warn


def test_copies_that_disagree_at_one_seqno(fixture_images, tmp_path):
    o = load_oracle("multipv")
    imgs = []
    for i in o["images"]:
        dst = tmp_path / i["file"]
        shutil.copyfile(fixture_images.folder("oracle/multipv") / i["file"], dst)
        imgs.append(dst)
    ((mda, at, _size),) = _current(imgs[1])
    # a different text with valid checksums: a writer that went wrong, or tampering
    _rewrite(imgs[1], mda, at, b'creation_host = "(none)"', b'creation_host = "(nOne)"',
             fix=True)
    with open_disks([str(p) for p in imgs]) as ds:
        assert not ds.errors
        assert any("differs from the copy with the same seqno" in w for w in ds.warnings)
    out = _cli("history", *imgs)
    assert out.returncode == 0
    assert "copies differ" in out.stderr
