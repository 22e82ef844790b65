"""The library API as a script (an initramfs helper, a forensic notebook) uses it."""

from __future__ import annotations

import hashlib
import io
import json

import pytest
from conftest import FIXTURES, ORACLE

import lvmread


def test_open_one_path_find_by_name_and_uuid(fixture_images):
    image = fixture_images.images("single")[0]
    content = json.loads((FIXTURES / "single" / "content.json").read_text())["lvs"]
    with lvmread.open(image) as disks:
        assert [vg.name for vg in disks] == ["vg0"] and len(disks) == 1
        lv = disks.vg("vg0").lv("lva")
        assert disks.lv(lv.uuid) is lv is disks.lv("vg0/lva")
        assert disks.vg(disks.vgs[0].uuid) is disks.vgs[0]
        with lv.open() as f:
            assert isinstance(f, io.RawIOBase) and f.readable() and f.seekable()
            assert not f.writable()
            assert hashlib.sha256(f.read()).hexdigest() == content["vg0/lva"]["sha256"]
        assert lv.table().splitlines()[0].split()[2] == "linear"
        with pytest.raises(lvmread.LvmReadError, match="no logical volume nosuch"):
            disks.vg("vg0").lv("nosuch")


def test_open_an_older_version_and_a_backup_file(fixture_images):
    images = fixture_images.images("oracle/history")
    with lvmread.open(images, seqno=5) as disks:
        vg = disks.vg("vg_history")
        assert vg.seqno == 5 and "tmp2" in vg.lvs
    backup = ORACLE / "history" / "guest" / "vgcfgbackup.txt"
    with lvmread.open(images, metadata=[backup], vg="vg_history") as disks:
        assert [vg.name for vg in disks] == ["vg_history"]
        assert sorted(disks.vg("vg_history").lvs) == ["keep1r", "keep2"]
