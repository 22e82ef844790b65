"""Every LV of every fixture reads back byte-identical to what was written into it,
and its table matches the one lvm2 loaded into a real kernel (the oracle)."""

from __future__ import annotations

import hashlib
import json
import subprocess
import sys

import pytest
from conftest import FIXTURES, ORACLE_SCENARIOS, load_oracle

import lvmread
from lvmread.errors import ActivationError

# Scenarios made only of linear and striped LVs: every LV in them must map and read.
LINEAR_STRIPED = {"linear", "striped", "multipv", "history", "history_wrap"}


def _mappable(lv, scenario: str) -> bool:
    """Whether the activator maps ``lv``; LVs of types it cannot map yet must say so."""
    try:
        lv.table()
        return True
    except ActivationError as exc:
        assert scenario not in LINEAR_STRIPED, exc
        assert "cannot be mapped yet" in str(exc)
        return False

CONTENT_FIXTURES = sorted(
    p.parent.name
    for p in FIXTURES.glob("*/content.json")
    if json.loads(p.read_text())["lvs"]
)


def _sha256(f, chunk: int = 1 << 20) -> str:
    h = hashlib.sha256()
    while True:
        b = f.read(chunk)
        if not b:
            return h.hexdigest()
        h.update(b)


def _sector(lv_name: str, n: int) -> bytes:
    return f"{lv_name + ' sector ' + str(n):<511}\n".encode()


@pytest.mark.parametrize("name", CONTENT_FIXTURES)
def test_fixture_lvs_read_back(name, fixture_images):
    content = json.loads((FIXTURES / name / "content.json").read_text())["lvs"]
    with lvmread.open(fixture_images.images(name)) as disks:
        assert not disks.errors
        for spec, want in content.items():
            lv = disks.lv(spec)
            with lv.open() as f:
                assert f.size == want["size"] == lv.size
                assert _sha256(f) == want["sha256"], spec
                # a read that crosses segment and stripe boundaries at odd offsets
                if f.size > 3 * 512:
                    f.seek(f.size // 2 - 700)
                    n = (f.size // 2 - 700) // 512
                    data = f.read(1400)
                    expect = b"".join(_sector(lv.name, k) for k in range(n, n + 4))
                    off = (f.size // 2 - 700) % 512
                    assert data == expect[off : off + 1400]


@pytest.fixture(scope="module", params=ORACLE_SCENARIOS)
def oracle(request, fixture_images):
    name = request.param
    o = load_oracle(name)
    folder = fixture_images.folder(f"oracle/{name}")
    return o, folder, name


def test_oracle_lvs_match_kernel_hashes(oracle):
    """Each LV reads as the kernel read it; LVs of types not mapped yet fail cleanly."""
    o, folder, scenario = oracle
    with lvmread.open([folder / i["file"] for i in o["images"]]) as disks:
        vg = disks.vgs[0]
        for lv_name, want in o["lv_sha256"].items():
            lv = vg.lv(lv_name)
            if not _mappable(lv, scenario):
                with pytest.raises(lvmread.LvmReadError, match="cannot be mapped yet"):
                    lv.open()
                continue
            with lv.open() as f:
                assert f.size == want["size_bytes"]
                assert _sha256(f) == want["sha256"], lv_name


def test_oracle_tables_equal_lvm2s(oracle):
    """`lvmread table` prints, line for line, the table lvm2 loaded (device numbers mapped)."""
    o, folder, scenario = oracle
    images = [str(folder / i["file"]) for i in o["images"]]
    devno = {i["guest_majmin"]: str(folder / i["file"]) for i in o["images"]}
    want: dict[str, list[str]] = {}
    for line in o["dmsetup_table"]:
        name, _, table = line.partition(": ")
        words = [devno.get(w, w) for w in table.split()]
        want.setdefault(name, []).append(" ".join(words))
    vg = o["vgs"]["report"][0]["vg"][0]["vg_name"]
    with lvmread.open(images) as disks:
        mappable = {lv.name for lv in disks.vg(vg).lvs.values() if _mappable(lv, scenario)}
    for dm_name, lines in want.items():
        lv = dm_name[len(vg) + 1 :]
        if lv not in mappable:
            continue
        out = subprocess.run(
            [sys.executable, "-m", "lvmread.cli", "table", f"{vg}/{lv}", *images],
            capture_output=True, text=True, check=False,
        )
        assert out.returncode == 0, out.stderr
        assert out.stdout.splitlines() == lines


def test_cat_writes_sparse_identical_file(fixture_images, tmp_path):
    o = load_oracle("multipv")
    images = [str(p) for p in fixture_images.images("oracle/multipv")]
    dest = tmp_path / "span.bin"
    out = subprocess.run(
        [sys.executable, "-m", "lvmread.cli", "cat", "vg_multipv/span", *images, "-o", str(dest)],
        capture_output=True, text=True, check=False,
    )
    assert out.returncode == 0, out.stderr
    with open(dest, "rb") as f:
        assert _sha256(f) == o["lv_sha256"]["span"]["sha256"]
    stdout = subprocess.run(
        [sys.executable, "-m", "lvmread.cli", "cat", "vg_multipv/small", *images],
        capture_output=True, check=False,
    )
    assert stdout.returncode == 0
    assert hashlib.sha256(stdout.stdout).hexdigest() == o["lv_sha256"]["small"]["sha256"]


def test_lv_by_uuid_and_missing_pv(fixture_images):
    pv0, pv1 = fixture_images.images("twopv")
    with lvmread.open([pv0, pv1]) as disks:
        lv = disks.lv("vgtwo/span")
        assert disks.lv(lv.uuid) is lv
        assert not lv.partial
        full = lv.open().read()
        first = lv.segments[0]
        on_pv0 = first.areas[0].pv.name == str(pv0)
    # with pv1 gone the LV is partial: refused without --partial; with it, the extents on
    # pv0 read as before and those on pv1 raise I/O errors
    with lvmread.open([pv0]) as disks:
        part = disks.lv("vgtwo/span")
        assert part.partial
        assert any("missing" in w for w in disks.warnings)
        with pytest.raises(lvmread.LvmReadError, match="partial"):
            part.open()
        table = part.table(partial=True)
        assert "vgtwo-span-missing_" in table
        with part.open(partial=True) as f:
            assert f.size == len(full)
            n = first.extent_count * part.vg.extent_size_bytes
            if on_pv0:
                assert f.read(n) == full[:n]
                with pytest.raises(OSError):
                    f.read(1 << 20)
            else:
                with pytest.raises(OSError):
                    f.read(n)


def test_cat_leaves_zero_chunks_as_holes(fixture_images, tmp_path):
    """An LV never written reads as zeros and lands as a file of holes, at its full size."""
    image = fixture_images.images("many_lvs")[0]
    dest = tmp_path / "lv.bin"
    out = subprocess.run(
        [sys.executable, "-m", "lvmread.cli", "cat", "vgmany/lv0007", str(image), "-o", str(dest)],
        capture_output=True, text=True, check=False,
    )
    assert out.returncode == 0, out.stderr
    with lvmread.open([image]) as disks:
        size = disks.lv("vgmany/lv0007").size
    assert dest.stat().st_size == size > 0
    assert dest.stat().st_blocks == 0
    assert dest.read_bytes() == bytes(size)


def test_ls_shows_missing_pv_and_partial_lv(fixture_images):
    pv0, _pv1 = fixture_images.images("twopv")
    out = subprocess.run(
        [sys.executable, "-m", "lvmread.cli", "ls", "--json", str(pv0)],
        capture_output=True, text=True, check=False,
    )
    assert out.returncode == 0, out.stderr
    assert "missing" in out.stderr
    report = json.loads(out.stdout)["report"][0]
    names = {pv["pv_name"] for pv in report["pv"]}
    assert names == {str(pv0), "[unknown]"}
    attrs = {lv["lv_name"]: lv["lv_attr"] for lv in report["lv"]}
    assert attrs["span"][8] == "p" and attrs["striped"][8] == "p"


def _cat(args, **kw):
    return subprocess.run([sys.executable, "-m", "lvmread.cli", "cat", *map(str, args)],
                          capture_output=True, check=False, **kw)


@pytest.mark.parametrize("cut", [4 << 20, 9216 * 512 + 300 * 1024 + 512])
def test_truncated_image_reads_with_partial(fixture_images, tmp_path, cut):
    """An image cut short (a partial dd): the LV is refused without --partial, with it the
    extents still there read back and the missing end reads as I/O errors (zeros from cat)."""
    full_img = fixture_images.images("single")[0]
    with lvmread.open([full_img]) as disks:
        full_lv = disks.lv("vg0/lva")
        full = full_lv.open().read()
        lvm2_table = full_lv.table()
    img = tmp_path / "cut.img"
    img.write_bytes(open(full_img, "rb").read()[:cut])
    with lvmread.open([img]) as disks:
        assert any("truncated image" in w for w in disks.warnings)
        lv = disks.lv("vg0/lva")
        with pytest.raises(lvmread.LvmReadError, match=r"past the end of \S*cut.img.*--partial"):
            lv.open()
        # the table is the one lvm2 would load; with --partial, the end is a filler
        assert lv.table().replace(str(img), "X") == lvm2_table.replace(str(full_img), "X")
        assert "linear vg0-lva-missing_2_0 0" in lv.table(partial=True)
        # the third area starts at sector 9216 of the image: what is there of it reads back
        there = 2 * 2048 * 512 + max(0, cut - 9216 * 512)
        with lv.open(partial=True) as f:
            assert f.error_ranges() == [(there, len(full) - there)]
            assert f.read(there) == full[:there]
            with pytest.raises(OSError):
                f.read(512)
    out = _cat(["vg0/lva", img])
    assert out.returncode != 0 and b"--partial" in out.stderr
    out = _cat(["vg0/lva", img, "--partial"])
    assert out.returncode == 0, out.stderr
    assert out.stdout == full[:there] + bytes(len(full) - there)
    assert f"bytes {there}-{len(full) - 1} could not be read".encode() in out.stderr


def test_striped_lv_on_a_missing_pv_reads_the_other_stripe(fixture_images, tmp_path):
    """With --partial, the chunks on the PV that is there are read; those on the missing
    one are zeros; the warnings name the first runs, then count them all."""
    pv0, pv1 = fixture_images.images("twopv")
    with lvmread.open([pv0, pv1]) as disks:
        full = disks.lv("vgtwo/striped").open().read()
    with lvmread.open([pv0]) as disks:
        with disks.lv("vgtwo/striped").open(partial=True) as f:
            holes = f.error_ranges()
    cs = 64 << 10
    assert len(holes) == len(full) // cs // 2 and all(n == cs for _, n in holes)
    expected = bytearray(full)
    for o, n in holes:
        expected[o : o + n] = bytes(n)
    out = _cat(["vgtwo/striped", pv0, "--partial", "-q"])
    assert out.returncode == 0, out.stderr
    assert out.stdout == expected and out.stdout != full
    lines = out.stderr.decode().splitlines()
    assert len(lines) == 11 and lines[0].endswith(
        f"bytes {holes[0][0]}-{holes[0][0] + cs - 1} could not be read (a missing PV, or past "
        "the end of a truncated image); wrote zeros"
    )
    assert f"in all, {len(holes) * cs} bytes in {len(holes)} ranges" in lines[-1]
