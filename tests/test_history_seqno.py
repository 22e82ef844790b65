"""``--seqno N``: read an older version of the metadata, so a removed LV can be listed and
read back, with a warning where a later version gave its extents to another LV.

fixtures/removed (made by lvm2, see make_fixtures.sh fx_removed): `keep`, `gone` and
`intact` were created and filled (seqno 4), then `gone` and `intact` removed and `new`
created over the first extents of `gone`. content.json "removed" records what each
removed LV held at seqno 4 and which of its bytes `new` overwrote.
"""

from __future__ import annotations

import hashlib
import json
import subprocess
import sys

import pytest
from conftest import FIXTURES, load_oracle

from lvmread.errors import UsageError
from lvmread.vgread.scan import open_disks

CONTENT = json.loads((FIXTURES / "removed" / "content.json").read_text())
REMOVED = CONTENT["removed"]


def _cli(*args, text: bool = True) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "lvmread.cli", *map(str, args)],
        capture_output=True, text=text, check=False,
    )


def _sector(lv: str, n: int) -> bytes:
    return f"{lv + ' sector ' + str(n):<511}\n".encode()


@pytest.fixture(scope="module")
def image(fixture_images):
    return fixture_images.folder("removed") / "disk.img"


def test_removed_lv_reads_back_byte_identical(image):
    rec = REMOVED["vgrm/intact"]
    assert rec["overwritten"] == []
    out = _cli("cat", "--seqno", rec["seqno"], "vgrm/intact", image, text=False)
    assert out.returncode == 0, out.stderr
    assert len(out.stdout) == rec["size"]
    assert hashlib.sha256(out.stdout).hexdigest() == rec["sha256"]
    # nothing later took its extents: no warning about overwritten data
    assert b"overwritten" not in out.stderr
    assert b"using seqno 4" in out.stderr


def test_partly_reused_lv_warns_and_keeps_the_rest(image, tmp_path):
    rec = REMOVED["vgrm/gone"]
    dest = tmp_path / "gone.bin"
    out = _cli("cat", "--seqno", rec["seqno"], "vgrm/gone", image, "-o", dest)
    assert out.returncode == 0, out.stderr
    data = dest.read_bytes()
    assert len(data) == rec["size"]
    assert hashlib.sha256(data).hexdigest() == rec["sha256_now"]
    taken = {(o["lv_offset"], o["length"]) for o in rec["overwritten"]}
    assert taken
    # every byte new did not take is gone's own content, as written at seqno 4
    for off in range(0, rec["size"], 512):
        if any(a <= off < a + n for a, n in taken):
            continue
        assert data[off : off + 512] == _sector("gone", off // 512), off
    # and where new did take them, the warning says so, naming new and the seqno
    warn = [line for line in out.stderr.splitlines() if "vgrm/gone (seqno 4)" in line]
    assert len(warn) == 1
    assert "went to LV vgrm/new in seqno 7" in warn[0]
    assert "extents 2-3" in warn[0] and "overwritten" in warn[0]
    # the warning about gone is not repeated for an LV that is untouched
    other = _cli("cat", "--seqno", 4, "vgrm/keep", image, text=False)
    assert other.returncode == 0 and b"vgrm/gone" not in other.stderr
    assert hashlib.sha256(other.stdout).hexdigest() == CONTENT["lvs"]["vgrm/keep"]["sha256"]


def test_ls_and_table_at_an_older_seqno(image):
    out = _cli("ls", "--seqno", 4, "--json", image)
    assert out.returncode == 0, out.stderr
    lvs = {lv["lv_name"] for lv in json.loads(out.stdout)["report"][0]["lv"]}
    assert lvs == {"keep", "gone", "intact"}
    assert "vgrm/gone (seqno 4)" in out.stderr  # ls warns for every LV of that version
    now = _cli("ls", "--json", image)
    assert {lv["lv_name"] for lv in json.loads(now.stdout)["report"][0]["lv"]} == {"keep", "new"}
    table = _cli("table", "--seqno", 4, "vgrm/gone", image)
    assert table.returncode == 0
    # gone was PE 2-5: 512 KiB extents after a 1 MiB pe_start
    assert table.stdout == f"0 4096 linear {image} {2048 + 2 * 1024}\n"


def test_library_seqno_and_same_activator(image):
    with open_disks([str(image)], seqno=4) as ds:
        vg = ds.vg("vgrm")
        assert vg.seqno == 4 and set(vg.lvs) == {"keep", "gone", "intact"}
        gone, intact = vg.lv("gone"), vg.lv("intact")
        assert gone.vg.activator is ds.activator is intact.vg.activator
        with intact.open() as f:
            assert hashlib.sha256(f.read()).hexdigest() == REMOVED["vgrm/intact"]["sha256"]
        assert list(ds.lv_warnings) == [gone.uuid]
        assert vg.sources[0].seqno == 4 and vg.sources[0].text.offset > 512
    with pytest.raises(UsageError, match="seqno 99"):
        open_disks([str(image)], seqno=99)


def test_seqno_errors_are_one_line(image):
    out = _cli("ls", "--seqno", 99, image)
    assert out.returncode == 2
    (line,) = out.stderr.splitlines()
    assert "seqno 99" in line and "1-7" in line
    out = _cli("cat", "--seqno", 7, "vgrm/gone", image)
    assert out.returncode == 2 and "no logical volume gone" in out.stderr
    out = _cli("cat", "--seqno", 4, "nosuchvg/gone", image)
    assert out.returncode == 2 and "nosuchvg" in out.stderr
    out = _cli("ls", "--seqno", "x", image)
    assert out.returncode == 2


def test_rename_and_every_version_of_the_oracle(fixture_images):
    o = load_oracle("history")
    img = fixture_images.folder("oracle/history") / o["images"][0]["file"]
    # before the lvrename (seqno 204) keep1r was keep1; keep2 (seqno 203) is the same LV
    with open_disks([str(img)], seqno=203) as ds:
        vg = ds.vgs[0]
        assert set(vg.lvs) == {"keep1", "keep2"}
        assert vg.lv("keep1").uuid == o["lvs_full"]["report"][0]["lv"][0]["lv_uuid"]
        for name, want in (("keep1", "keep1r"), ("keep2", "keep2")):
            with vg.lv(name).open() as f:
                assert hashlib.sha256(f.read()).hexdigest() == o["lv_sha256"][want]["sha256"]
        assert not ds.lv_warnings
    # every version builds; the temporary LVs come and go
    with open_disks([str(img)], seqno=7) as ds:
        assert set(ds.vgs[0].lvs) == {"keep1", "tmp3"}
        (msg,) = ds.lv_warnings[ds.vgs[0].lv("tmp3").uuid]
        assert "went to LV vg_history/tmp4 in seqno 9" in msg
        assert "vg_history/keep2 holds them" in msg


def test_gaps_in_the_history_are_reported(fixture_images):
    o = load_oracle("history_wrap")
    img = fixture_images.folder("oracle/history_wrap") / o["images"][0]["file"]
    with open_disks([str(img)], seqno=85) as ds:
        assert ds.vgs[0].seqno == 85
        assert not any("no longer on the inputs" in w for w in ds.warnings)
    out = _cli("ls", "--seqno", 84, img)
    assert out.returncode == 2 and "85-123" in out.stderr


def test_lost_versions_after_the_one_read_are_reported(fixture_images, tmp_path):
    import shutil

    from lvmread.vgread.history import History

    o = load_oracle("history_wrap")
    src = fixture_images.folder("oracle/history_wrap") / o["images"][0]["file"]
    img = tmp_path / "gap.img"
    shutil.copyfile(src, img)
    with open_disks([str(img)]) as ds:
        by_seq = {v.seqno: v for v in History.of(ds).versions}
    with open(img, "r+b") as f:  # a copy of 121 written inside 100: 100 cut short, 101 lost
        f.seek(by_seq[100].offset + 512)
        f.write(by_seq[121].data)
    with open_disks([str(img)], seqno=99) as ds:
        (gap,) = [w for w in ds.warnings if "are not on the inputs" in w]
        assert "seqno(s) 100-101 after 99" in gap


def test_seqno_with_several_vgs(fixture_images):
    single = fixture_images.folder("single") / "disk.img"
    o = load_oracle("history_wrap")
    wrap = fixture_images.folder("oracle/history_wrap") / o["images"][0]["file"]
    with open_disks([str(single), str(wrap)], seqno=5) as ds:
        assert [vg.name for vg in ds.vgs] == ["vg0"]
        assert any("VG vg_histwrap (seqnos found: 85-123) has no version with seqno 5; it is "
                   "left out" in w for w in ds.warnings)
    with open_disks([str(single), str(wrap)], seqno=100) as ds:
        assert [(vg.name, vg.seqno) for vg in ds.vgs] == [("vg_histwrap", 100)]
    with pytest.raises(UsageError, match="VG vg0"):
        open_disks([str(single), str(wrap)], seqno=100, vg="vg0")
    out = _cli("ls", "--vg", "vg0", single, wrap)
    assert out.returncode == 0 and "vg_histwrap" not in out.stdout and "vg0" in out.stdout
    out = _cli("table", "--seqno", 100, "vg_histwrap/keepa", single, wrap)
    assert out.returncode == 0 and out.stdout.startswith("0 4096 linear ")
