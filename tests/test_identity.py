"""Which VG, which PV device, which mapped device: names that two things share.

Two VGs of one name (two machines' disks, each made by its own lvm2 run: fixtures
``samename_a``/``samename_b``), a PV uuid on two devices (a stale clone: fixture ``clone``),
two PV sections with one uuid, and dm names past the kernel's 127 bytes (``longdm``).
Every read is checked against the sha256 the fixture's ``content.json`` recorded.
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
from conftest import FIXTURES, ROOT
from test_hostile import build

import lvmread
from lvmread.errors import ActivationError, AmbiguousNameError


def _content(fixture: str) -> dict:
    return json.loads((FIXTURES / fixture / "content.json").read_text())["lvs"]


def _vg_uuid(fixture: str) -> str:
    report = json.loads((FIXTURES / fixture / "vgs.json").read_text())["report"]
    (row,) = [r for entry in report for r in entry["vg"]]
    return row["vg_uuid"]


def _sha(lv) -> str:
    with lv.open() as f:
        return hashlib.sha256(f.read()).hexdigest()


def run(*argv: str) -> subprocess.CompletedProcess:
    env = dict(os.environ, PYTHONPATH=str(ROOT) + os.pathsep + os.environ.get("PYTHONPATH", ""))
    cp = subprocess.run([sys.executable, "-m", "lvmread.cli", *argv], capture_output=True,
                        env=env, timeout=120, check=False)
    assert b"Traceback" not in cp.stderr, cp.stderr
    return cp


def _warnings(cp: subprocess.CompletedProcess) -> list[str]:
    return [w for w in cp.stderr.decode().splitlines() if w.startswith("lvmread: warning: ")]


@pytest.fixture
def same_name(fixture_images) -> tuple[str, str]:
    (a,) = fixture_images.images("samename_a")
    (b,) = fixture_images.images("samename_b")
    return str(a), str(b)


# ------------------------------------------------------------ case 3: one VG name, two VGs


@pytest.mark.parametrize("order", [0, 1])
def test_same_vg_name_reads_each_vg_from_its_own_disk(same_name, order) -> None:
    a, b = same_name
    ua, ub = _vg_uuid("samename_a"), _vg_uuid("samename_b")
    with lvmread.open([a, b] if order == 0 else [b, a]) as disks:
        assert not disks.errors
        assert [vg.uuid for vg in disks] == sorted([ua, ub])  # both, in the same order
        dup = [w for w in disks.warnings if "VG name vg0" in w]
        assert len(dup) == 1 and ua in dup[0] and ub in dup[0]
        with pytest.raises(AmbiguousNameError, match="VGUUID/LV"):
            disks.vg("vg0")
        with pytest.raises(AmbiguousNameError, match="VGUUID/LV"):
            disks.lv("vg0/lva")
        # each VG's lva (different sizes and contents) read from its own disk, whichever
        # is opened first: one device-mapper namespace per VG
        for uuid, fixture in ((ua, "samename_a"), (ub, "samename_b")):
            for spec, want in _content(fixture).items():
                lv = disks.lv(f"{uuid}/{spec.split('/', 1)[1]}")
                assert lv.vg is disks.vg(uuid)
                assert lv.size == want["size"]
                assert _sha(lv) == want["sha256"], (uuid, spec)
                assert disks.lv(lv.uuid) is lv  # an LV uuid still works


def test_same_vg_name_cli(same_name) -> None:
    a, b = same_name
    ua, ub = _vg_uuid("samename_a"), _vg_uuid("samename_b")
    want_a, want_b = _content("samename_a")["vg0/lva"], _content("samename_b")["vg0/lva"]

    ls = run("ls", b, a)
    assert ls.returncode == 0, ls.stderr
    rows = [line.split() for line in ls.stdout.decode().splitlines()[1:]]
    assert [(r[0], r[1]) for r in rows] == [("vg0", "lva"), ("vg0", "lva"), ("vg0", "lvb")]
    (warning,) = _warnings(ls)
    assert ua in warning and ub in warning

    for argv in (("table", "vg0/lva", b, a), ("cat", "vg0/lva", a, b, "-o", os.devnull),
                 ("table", "--vg", "vg0", "lva", a, b)):
        cp = run(*argv)
        assert cp.returncode == 2, cp.stderr
        err = cp.stderr.decode().splitlines()[-1]
        assert "ambiguous" in err and "VGUUID/LV" in err and "--vg UUID" in err
        assert ua in err and ub in err

    for spec, extra, want in ((f"{ua}/lva", (), want_a), (f"{ub}/lva", (), want_b),
                              ("lva", ("--vg", ua), want_a), ("vg0/lva", ("--vg", ub), want_b)):
        for inputs in ((a, b), (b, a)):
            cat = run("cat", spec, *inputs, *extra)
            assert cat.returncode == 0, cat.stderr
            assert hashlib.sha256(cat.stdout).hexdigest() == want["sha256"], (spec, extra)
            table = run("table", spec, *inputs, *extra)
            assert table.returncode == 0, table.stderr
            assert table.stdout.decode().split()[1] == str(want["size"] // 512)

    # --seqno 3: only samename_b's VG has that version; the error says which vg0 lacks it
    cp = run("table", "--seqno", "3", "vg0/lva", a, b)
    assert cp.returncode == 2
    assert f"VG vg0 {ua} (seqnos found: 1-2)" in cp.stderr.decode()

    only = run("ls", "--vg", ub, a, b)
    assert only.returncode == 0 and not _warnings(only), only.stderr
    assert only.stdout.decode().count("\nvg0 ") == 2  # lva and lvb of samename_b


def test_history_save_keeps_every_copy_of_two_same_named_vgs(same_name, tmp_path) -> None:
    """Both disks are called disk.img and both VGs vg0: the copies' file names collided
    and the save stopped half way ('exists; not overwritten')."""
    a, b = same_name
    cp = run("history", "-q", "--save", str(tmp_path / "saved"), a, b)
    assert cp.returncode == 0, cp.stderr
    files = sorted((tmp_path / "saved").iterdir())
    assert [f.name for f in files] == [
        "vg0-seqno1-disk.img-mda0-4608.vg", "vg0-seqno1-disk.img-mda0-4608~2.vg",
        "vg0-seqno2-disk.img-mda0-5632.vg", "vg0-seqno2-disk.img-mda0-5632~2.vg",
        "vg0-seqno3-disk.img-mda0-7168.vg"]
    uuids = {_vg_uuid("samename_a"): 0, _vg_uuid("samename_b"): 0}
    for f in files:
        (uuid,) = [u for u in uuids if f'id = "{u}"' in f.read_text()]
        uuids[uuid] += 1
    assert sorted(uuids.values()) == [2, 3]


def test_cloned_vg_shares_pv_and_lv_uuids(fixture_images, tmp_path) -> None:
    """A disk copied and given a new VG uuid (as vgimportclone would, without renaming):
    same VG name, PV uuid and LV uuid in two VGs. Each VG keeps its own disk; the LV
    uuid, like the name, is refused as ambiguous."""
    (orig,) = fixture_images.images("samename_a")
    (tmp_path / "a").mkdir()
    (tmp_path / "b").mkdir()
    a = tmp_path / "a" / "disk.img"
    shutil.copyfile(orig, a)
    new_uuid = "Clone0-AAAA-BBBB-CCCC-DDDD-EEEE-FFFFFF"
    recipe = {"fixture": "samename_a", "ops": [
        {"file": "disk.img", "text": {"mda": 4096, "sub": ['^(vg0 \\{\\nid = )"[^"]*"',
                                                             f'\\1"{new_uuid}"']}},
    ]}
    (b,) = build(recipe, fixture_images, tmp_path / "b")
    want = _content("samename_a")["vg0/lva"]
    for inputs in ([str(a), b], [b, str(a)]):
        with lvmread.open(inputs) as disks:
            assert not disks.errors
            old = disks.vg(_vg_uuid("samename_a"))
            new = disks.vg(new_uuid)
            assert old.pvs["pv0"].device.name == str(a)
            assert new.pvs["pv0"].device.name == b
            assert old.lvs["lva"].uuid == new.lvs["lva"].uuid
            with pytest.raises(AmbiguousNameError, match="VGUUID/LV"):
                disks.lv(old.lvs["lva"].uuid)
            assert _sha(old.lvs["lva"]) == _sha(new.lvs["lva"]) == want["sha256"]


def test_input_named_like_a_partition(fixture_images, tmp_path) -> None:
    """``disk.img@p1`` (a file) beside partition 1 of ``disk.img``: two sources of one
    name, in two VGs; each VG's LVs read from their own."""
    (mbr,) = fixture_images.images("mbr")
    (other,) = fixture_images.images("samename_a")
    disk = tmp_path / "disk.img"
    shutil.copyfile(mbr, disk)
    shutil.copyfile(other, tmp_path / "disk.img@p1")
    for inputs in ([disk, tmp_path / "disk.img@p1"], [tmp_path / "disk.img@p1", disk]):
        with lvmread.open(inputs) as disks:
            assert not disks.errors
            for fixture in ("mbr", "samename_a"):
                for spec, want in _content(fixture).items():
                    assert _sha(disks.lv(spec)) == want["sha256"], spec


# ------------------------------------------------------------ case 4: one PV uuid, two devices


@pytest.mark.parametrize("order", [0, 1])
def test_stale_clone_is_not_used_whatever_the_order(fixture_images, order) -> None:
    imgs = {p.name: str(p) for p in fixture_images.images("clone")}
    inputs = [imgs["disk.img"], imgs["clone.img"]]
    if order:
        inputs.reverse()
    with lvmread.open(inputs) as disks:
        assert not disks.errors
        (vg,) = disks
        assert vg.seqno == 4
        (pv,) = vg.pvs.values()
        assert pv.device.name == imgs["disk.img"]
        (note,) = [w for w in disks.warnings if w.startswith("Not using device")]
        assert note.startswith(f"Not using device {imgs['clone.img']} for PV {pv.uuid}")
        assert "metadata in use" in note
        for spec, want in _content("clone").items():
            assert _sha(disks.lv(spec)) == want["sha256"], spec
    cat = run("cat", "vgclone/lva", *inputs)
    assert cat.returncode == 0, cat.stderr
    assert hashlib.sha256(cat.stdout).hexdigest() == _content("clone")["vgclone/lva"]["sha256"]
    assert any(f"Not using device {imgs['clone.img']}" in w for w in _warnings(cat))


def test_many_copies_of_one_pv_give_one_warning(fixture_images) -> None:
    imgs = {p.name: str(p) for p in fixture_images.images("clone")}
    with lvmread.open([imgs["clone.img"]] * 6 + [imgs["disk.img"]]) as disks:
        assert disks.vg("vgclone").pvs["pv0"].device.name == imgs["disk.img"]
        (note,) = [w for w in disks.warnings if w.startswith("Not using device")]
        assert note.startswith(f"Not using devices {imgs['clone.img']}, ")
        assert " and 2 more for PV " in note
        assert _sha(disks.lv("vgclone/lvb")) == _content("clone")["vgclone/lvb"]["sha256"]


def test_identical_clone_of_another_size(fixture_images, tmp_path) -> None:
    """Both devices hold the same metadata: the one whose size is the PV's recorded
    dev_size is used, whichever comes first."""
    (orig,) = fixture_images.images("samename_a")
    small, big = tmp_path / "b-same-size.img", tmp_path / "a-grown.img"
    shutil.copyfile(orig, small)
    shutil.copyfile(orig, big)
    os.truncate(big, orig.stat().st_size + (1 << 20))
    want = _content("samename_a")["vg0/lva"]["sha256"]
    for inputs in ([small, big], [big, small]):
        with lvmread.open(inputs) as disks:
            assert disks.vg("vg0").pvs["pv0"].device.name == str(small)
            (note,) = [w for w in disks.warnings if w.startswith("Not using device")]
            assert str(big) in note and "recorded size" in note
            assert _sha(disks.lv("vg0/lva")) == want


def test_diverged_clone_of_the_same_seqno(fixture_images, tmp_path) -> None:
    """Two devices of one PV uuid whose copies have the same seqno but differ (a clone
    that went its own way): the copy, and so the device, never depend on input order."""
    (tmp_path / "b").mkdir()
    recipe = {"fixture": "samename_a", "ops": [
        {"file": "disk.img", "text": {"mda": 4096, "sub": ['creation_host = "[^"]*"',
                                                             'creation_host = "other"']}},
    ]}
    (b,) = build(recipe, fixture_images, tmp_path / "b")
    a = str(tmp_path / "a.img")
    shutil.copyfile(fixture_images.images("samename_a")[0], a)
    for inputs in ([a, b], [b, a]):
        with lvmread.open(inputs) as disks:
            (vg,) = disks
            assert vg.sources[0].text.area.source.path == a
            assert vg.lvs["lva"].creation_host != "other"
            assert vg.pvs["pv0"].device.name == a
            assert any(w.startswith(f"{b}: offset") and "differs" in w for w in disks.warnings)
            assert any(w.startswith(f"Not using device {b} ") for w in disks.warnings)


# ------------------------------------------------------------ two PV sections, one uuid


def test_two_pv_sections_with_one_uuid(fixture_images, tmp_path) -> None:
    """lvm2 reads such metadata (both sections on the one device) but vg_validate calls it
    invalid: a present PV is never reported missing, and no LV on those sections is read
    (one of them is not the PV its uuid says)."""
    recipe = {"fixture": "samename_b", "ops": [
        {"file": "disk.img", "text": {"mda": 4096, "sub": [
            '(pv0 \\{\\nid = ("[^"]*")[\\s\\S]*?pe_count = 6\\n\\}\\n)',
            '\\1\\npv1 {\\nid = \\2\\ndevice = "/dev/sdz"\\n\\nstatus = ["ALLOCATABLE"]\\n'
            'flags = []\\ndev_size = 8192\\npe_start = 2048\\npe_count = 6\\n}\\n']}},
        {"file": "disk.img", "text": {"mda": 4096, "sub": ['"pv0", 3\\n', '"pv1", 3\\n']}},
    ]}
    (img,) = build(recipe, fixture_images, tmp_path)
    with lvmread.open([img]) as disks:
        assert not disks.errors
        (vg,) = disks
        assert [pv.key for pv in vg.pvs.values() if pv.missing] == []
        assert vg.lvs["lvb"].segments[0].areas[0].pv.key == "pv1"
        assert not any("missing" in w for w in disks.warnings)
        assert any("duplicate PV id" in w and "pv0, pv1" in w for w in disks.warnings)
        for name in ("lva", "lvb"):
            with pytest.raises(ActivationError, match="uuid another PV of the VG has too"):
                vg.lvs[name].open()
    cat = run("cat", "vg0/lvb", img, "-o", os.devnull)
    assert cat.returncode == 1
    assert cat.stderr.decode().splitlines()[-1].startswith("lvmread: LV vg0/lvb cannot be mapped")


# ------------------------------------------------------------ dm names past 127 bytes


def test_dm_name_longer_than_the_kernel_allows_is_read(fixture_images, tmp_path) -> None:
    """lvm2 accepts this VG and LV ("VG/LV" in 122 characters); their dm name, dashes
    doubled, is 182 bytes. Userspace reading is not bound by the kernel's 127."""
    (img,) = fixture_images.images("longdm")
    ((spec, want),) = _content("longdm").items()
    vg, lv = spec.split("/")
    assert len(f"{vg.replace('-', '--')}-{lv.replace('-', '--')}") == 182
    cat = run("cat", spec, str(img), "-o", str(tmp_path / "out"))
    assert cat.returncode == 0, cat.stderr
    assert hashlib.sha256((tmp_path / "out").read_bytes()).hexdigest() == want["sha256"]
    with lvmread.open([img]) as disks:
        assert _sha(disks.lv(spec)) == want["sha256"]


def test_kernel_path_keeps_the_name_limit() -> None:
    from lvmread.dm import DeviceMapper, DMError
    from lvmread.dm.kernel import pack_ioctl

    with pytest.raises(ValueError, match="longer than 127 bytes"):
        pack_ioctl("x" * 128)
    with DeviceMapper() as dm, pytest.raises(DMError, match="longer than 127 bytes"):
        dm.create("x" * 128, "0 8 zero")
    with DeviceMapper(max_name_bytes=None) as dm:
        assert dm.create("x" * 300, "0 8 zero").read(4096) == bytes(4096)


def test_fixtures_are_real_and_small() -> None:
    for name in ("samename_a", "samename_b", "clone", "longdm"):
        assert sum(p.stat().st_size for p in (FIXTURES / name).iterdir()) < 64 * 1024
    assert Path(FIXTURES / "clone" / "clone.img.xz").exists()
