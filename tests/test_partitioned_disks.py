"""Where lvm2 looks for PVs on a disk: a stale whole-disk label beside a partition table,
and an MBR written for 4096-byte sectors in an image file (which does not say its sector
size). Fixtures ``stale`` and ``mbr4k``, made by lvm2 and sfdisk (fixtures/README.md)."""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import struct
import subprocess
import sys
from pathlib import Path

import pytest
from conftest import FIXTURES

from lvmread.errors import LvmReadError
from lvmread.inputs.source import open_input
from lvmread.ondisk.crc import lvm_crc
from lvmread.ondisk.partitions import find_partitions, has_partition_table

ROOT = Path(__file__).resolve().parent.parent
P1_STALE = 4096 * 512  # stale: p1 starts at sector 4096 (fixtures/make_fixtures.sh)


def run(*argv: str) -> subprocess.CompletedProcess:
    env = dict(os.environ, PYTHONPATH=str(ROOT) + os.pathsep + os.environ.get("PYTHONPATH", ""))
    out = subprocess.run([sys.executable, "-m", "lvmread.cli", *argv], capture_output=True,
                         text=True, env=env, timeout=120, check=False)
    assert "Traceback" not in out.stderr
    return out


def rows(name: str, report: str, kind: str) -> list[dict]:
    data = json.loads((FIXTURES / name / report).read_text())
    return [r for rep in data["report"] for r in rep.get(kind, [])]


def label_uuid(image: Path, at: int) -> str:
    """The PV uuid of the label sector at byte ``at``, read straight from the bytes."""
    with open(image, "rb") as f:
        f.seek(at)
        sector = f.read(512)
    assert sector[:8] == b"LABELONE"
    (offset,) = struct.unpack_from("<I", sector, 20)  # label_header.offset_xl
    raw = sector[offset:offset + 32].decode()
    cuts = [0, 6, 10, 14, 18, 22, 26, 32]
    return "-".join(raw[a:b] for a, b in zip(cuts, cuts[1:]))


def copy(fixture_images, name: str, dest: Path) -> Path:
    (img,) = fixture_images.images(name)
    out = dest / img.name
    shutil.copyfile(img, out)
    return out


def patch(path: Path, at: int, data: bytes) -> None:
    with open(path, "r+b") as f:
        f.seek(at)
        f.write(data)


def warnings_of(out: subprocess.CompletedProcess) -> list[str]:
    return [line for line in out.stderr.splitlines() if line.startswith("lvmread: warning: ")]


def assert_ls_is_lvm2s(name: str, out: subprocess.CompletedProcess, image: Path) -> None:
    """``ls --json`` lists exactly the VGs, PVs and LVs lvm2 reported for the fixture."""
    assert out.returncode == 0, out.stderr
    report = json.loads(out.stdout)["report"]
    devices = json.loads((FIXTURES / name / "devices.json").read_text())
    pv_names = {}
    for dev, spec in devices.items():
        img, _, part = spec.partition("#")
        pv_names[dev] = str(image.parent / img) + (f"@{part}" if part else "")
    want_pvs = {(pv_names[r["pv_name"]], r["pv_uuid"], r["vg_name"])
                for r in rows(name, "pvs.json", "pv") if r["pv_uuid"]}
    got_pvs = {(r["pv_name"], r["pv_uuid"], r["vg_name"]) for e in report for r in e["pv"]}
    assert got_pvs == want_pvs
    assert {(r["vg_name"], r["vg_uuid"]) for e in report for r in e["vg"]} == {
        (r["vg_name"], r["vg_uuid"]) for r in rows(name, "vgs.json", "vg")}
    assert {(r["lv_name"], r["lv_uuid"]) for e in report for r in e["lv"]} == {
        (r["lv_name"], r["lv_uuid"]) for r in rows(name, "lvs.json", "seg")}


def assert_content(name: str, image: Path, tmp_path: Path) -> None:
    """``cat`` of every LV gives the sha256 the fixture recorded."""
    content = json.loads((FIXTURES / name / "content.json").read_text())["lvs"]
    assert content
    for spec, want in content.items():
        dest = tmp_path / "lv.bin"
        out = run("cat", spec, str(image), "-o", str(dest))
        assert out.returncode == 0, out.stderr
        assert hashlib.sha256(dest.read_bytes()).hexdigest() == want["sha256"], spec
        dest.unlink()


# ---------------------------------------------------------------- stale whole-disk label


def test_stale_whole_disk_label_is_ignored_like_lvm2(fixture_images, tmp_path) -> None:
    (image,) = fixture_images.images("stale")
    stale = label_uuid(image, 512)
    assert stale not in {r["pv_uuid"] for r in rows("stale", "pvs.json", "pv")}
    out = run("ls", "--json", str(image))
    assert_ls_is_lvm2s("stale", out, image)
    assert "vgold" not in out.stdout
    (warning,) = warnings_of(out)
    assert f"{image}: offset 512: LVM label in sector 1 of the whole device (PV {stale})" \
        in warning
    assert "lvm2 ignores it" in warning and "partition table" in warning
    assert_content("stale", image, tmp_path)


def test_stale_label_dump_and_history_see_the_partition(fixture_images) -> None:
    (image,) = fixture_images.images("stale")
    out = run("dump", "--json", str(image))
    assert out.returncode == 0, out.stderr
    (inp,) = json.loads(out.stdout)["inputs"]
    assert [pv["device"] for pv in inp["pvs"]] == [f"{image}@p1"]
    assert len(inp["warnings"]) == 1 and "offset 512" in inp["warnings"][0]
    out = run("history", str(image))
    assert out.returncode == 0, out.stderr
    (vg,) = rows("stale", "vgs.json", "vg")
    lines = out.stdout.splitlines()[1:]
    assert lines and all(" vgnew " in line and f"{image}@p1" in line for line in lines)
    assert int(lines[-1].split()[0]) == int(vg["vg_seqno"])
    assert len(warnings_of(out)) == 1


def test_stale_label_alone_is_an_error_that_names_it(fixture_images, tmp_path) -> None:
    """No partition carries a label: lvm2 would see no PV; lvmread says why, naming the
    whole-disk label it does not use, and exits 1 (never a silent empty listing)."""
    image = copy(fixture_images, "stale", tmp_path)
    stale = label_uuid(image, 512)
    patch(image, P1_STALE + 512, bytes(512))  # p1's label
    for cmd in (["ls"], ["ls", "--json"], ["dump"], ["history"]):
        out = run(*cmd, str(image))
        assert out.returncode == 1, cmd
        (line,) = out.stderr.splitlines()
        assert line.startswith(f"lvmread: {image}: offset 512: LVM label in sector 1 of the "
                               f"whole device (PV {stale}) is ignored"), line
        assert line.endswith("no partition carries an LVM label"), line


@pytest.mark.parametrize("slot0, partitioned, vg", [
    ({"boot": 0x81}, False, "vgold"),  # not a partition table (lvm2 and Linux alike)
    ({"sectors": 0}, False, "vgold"),  # a table without partitions
    ({"type": 0x00}, True, "vgnew"),  # a type-0 slot with a length is a partition
    ({"type": 0xEE}, False, "vgold"),  # a protective MBR with no GPT behind it
])
def test_partition_table_rule_is_lvm2s(fixture_images, tmp_path, slot0, partitioned,
                                       vg) -> None:
    """lvm2's rule (dev-type.c ``_has_partition_table``) decides whether the whole-disk
    label counts; each variant of the stale fixture's MBR slot 1."""
    image = copy(fixture_images, "stale", tmp_path)
    for field, at, fmt in (("boot", 446, "<B"), ("type", 450, "<B"), ("sectors", 458, "<I")):
        if field in slot0:
            patch(image, at, struct.pack(fmt, slot0[field]))
    with open_input(image) as infile:
        assert has_partition_table(infile.whole) is partitioned
    out = run("ls", "--json", str(image))
    assert out.returncode == 0, out.stderr
    report = json.loads(out.stdout)["report"]
    assert [v["vg_name"] for e in report for v in e["vg"]] == [vg]
    assert len(warnings_of(out)) == (1 if partitioned else 0), out.stderr


def test_gpt_rule_counts_only_a_gpt_with_entries(fixture_images) -> None:
    """The gpt fixture is partitioned; a whole-disk PV and an MBR with no slot are not."""
    with open_input(fixture_images.images("gpt")[0]) as infile:
        assert has_partition_table(infile.whole)
    with open_input(fixture_images.images("single")[0]) as infile:
        assert not has_partition_table(infile.whole)


# ---------------------------------------------------------------- MBR in 4096-byte sectors


def test_mbr_4096_byte_sectors_matches_lvm2(fixture_images, tmp_path) -> None:
    (image,) = fixture_images.images("mbr4k")
    out = run("ls", "--json", str(image))
    assert_ls_is_lvm2s("mbr4k", out, image)
    assert out.stderr == ""
    assert_content("mbr4k", image, tmp_path)
    with open_input(image) as infile:
        parts = find_partitions(infile.whole)
        assert [(p.number, p.start, p.size) for p in parts] == [
            (1, 256 * 4096, 1536 * 4096), (2, 1792 * 4096, 2304 * 4096),
            (5, 2048 * 4096, 1536 * 4096)]
        infile.sector_size = 512  # a block device that says 512: only 512 is read
        assert find_partitions(infile.whole)[0].start == 256 * 512


def test_mbr_512_is_not_misread_as_4096(fixture_images) -> None:
    """Read as 4096-byte sectors, the mbr fixture's p1 lands on its p5 label: no new
    label, so 512 stands, without a warning."""
    (image,) = fixture_images.images("mbr")
    with open_input(image) as infile:
        warnings: list[str] = []
        parts = find_partitions(infile.whole, warnings)
        assert warnings == []
        assert [p.start for p in parts] == [2048 * 512, 14336 * 512, 16384 * 512, 28672 * 512]
        infile.sector_size = 4096
        with pytest.raises(LvmReadError, match="outside|short read|past"):
            find_partitions(infile.whole)
    out = run("ls", str(image))
    assert out.returncode == 0 and out.stderr == ""


def test_mbr_read_both_ways_warns(fixture_images, tmp_path) -> None:
    """A label where the 512-byte reading puts p1 as well: ambiguous; the 4096 reading has
    more labels (both fit the image) and is used, with one warning naming both."""
    image = copy(fixture_images, "mbr4k", tmp_path)
    with open(image, "rb") as f:
        f.seek(256 * 4096)
        head = f.read(2048)
    patch(image, 256 * 512, head)
    out = run("ls", "--json", str(image))
    assert_ls_is_lvm2s("mbr4k", out, image)
    (warning,) = warnings_of(out)
    assert warning == (
        f"lvmread: warning: {image}: the image does not say its sector size, and its MBR "
        "reads as 512-byte sectors, LVM labels at bytes 131072 (0 recording their "
        "partition's size), and as 4096-byte sectors, LVM labels at bytes 1048576, 8388608 "
        "(2 recording their partition's size); using 4096-byte sectors (the labels only "
        "the 512-byte reading finds are not used)")


def test_mbr_4096_labels_that_do_not_record_their_partition_warn(fixture_images,
                                                                    tmp_path) -> None:
    """512 finds no label and 4096 finds labels, but none records its partition's size
    (a PV image stored 8 times further in than a partition starts?): still used, but
    not without a word."""
    image = copy(fixture_images, "mbr4k", tmp_path)
    for start in (256 * 4096, 2048 * 4096):  # p1, p5: pv_header.device_size, label CRC
        at = start + 512
        with open(image, "r+b") as f:
            f.seek(at + 32 + 32)
            f.write(struct.pack("<Q", 1536 * 4096 + 4096))
            f.seek(at + 20)
            crc = lvm_crc(f.read(492))
            f.seek(at + 16)
            f.write(struct.pack("<I", crc))
    out = run("ls", "--json", str(image))
    assert out.returncode == 0, out.stderr
    report = json.loads(out.stdout)["report"]
    assert [v["vg_name"] for e in report for v in e["vg"]] == ["vg4kmbr"]
    mbr = [w for w in warnings_of(out) if "its MBR reads" in w]
    assert mbr == [
        f"lvmread: warning: {image}: the image does not say its sector size, and its MBR "
        "reads as 512-byte sectors, no LVM label at a partition start, and as 4096-byte "
        "sectors, LVM labels at bytes 1048576, 8388608 (0 recording their partition's "
        "size); using 4096-byte sectors"]


@pytest.mark.skipif(os.geteuid() != 0 or shutil.which("losetup") is None,
                    reason="needs root and losetup to attach a 4096-byte-sector loop device")
def test_mbr4k_through_a_4k_loop_device(fixture_images, tmp_path) -> None:
    """A block device says its sector size: through a read-only 4 KiB loop device, the
    same PVs and the same bytes."""
    (image,) = fixture_images.images("mbr4k")
    try:
        dev = subprocess.run(["losetup", "-r", "-f", "--show", "--sector-size", "4096",
                              str(image)], capture_output=True, text=True,
                             check=True).stdout.strip()
    except subprocess.CalledProcessError as exc:
        pytest.skip(f"losetup failed: {exc.stderr.strip()}")
    try:
        out = run("ls", "--json", dev)
        assert out.returncode == 0 and out.stderr == "", out.stderr
        report = json.loads(out.stdout)["report"]
        assert sorted(r["pv_name"] for e in report for r in e["pv"]) == [f"{dev}@p1",
                                                                          f"{dev}@p5"]
        content = json.loads((FIXTURES / "mbr4k" / "content.json").read_text())["lvs"]
        for spec, want in content.items():
            dest = tmp_path / "lv.bin"
            assert run("cat", spec, dev, "-o", str(dest)).returncode == 0
            assert hashlib.sha256(dest.read_bytes()).hexdigest() == want["sha256"], spec
    finally:
        subprocess.run(["losetup", "-d", dev], check=False)
