"""Partition tables made by util-linux (sfdisk, fdisk) on plain image files, read back."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import zlib
from pathlib import Path

import pytest

from lvmread.errors import HeaderError, LvmIOError
from lvmread.inputs.source import open_input
from lvmread.ondisk.partitions import (
    LVM_GPT_TYPE,
    GptEntry,
    GptHeader,
    Mbr,
    Partition,
    find_partitions,
    partition_sources,
)

MiB = 1 << 20
SFDISK = shutil.which("sfdisk")
FDISK = shutil.which("fdisk")
needs_sfdisk = pytest.mark.skipif(SFDISK is None, reason="sfdisk (util-linux) not installed")
needs_fdisk = pytest.mark.skipif(FDISK is None, reason="fdisk (util-linux) not installed")

MBR_LAYOUTS = {
    # extended as partition 3, then a primary 4 after it, and two logical partitions
    "ext3": "label: dos\n,8M,83\n,8M,8e\n,30M,5\n,4M,83\n,4M,8e\n,4M,82\n",
    # extended as partition 4 holding three logical partitions
    "ext4": "label: dos\n,8M,83\n,8M,8e\n,4M,83\n,40M,f\n,4M,8e\n,4M,83\n,4M,82\n",
}
GPT_SCRIPT = (
    "label: gpt\n"
    "size=8M, type=L\n"
    'size=8M, type=E6D6D379-F507-44C2-A23C-238F2A3DF928, name="pv one"\n'
    'size=4M, type=C12A7328-F81F-11D2-BA4B-00A0C93EC93B, name="EFI"\n'
    "size=8M\n"
)


def sfdisk(path: Path, script: str, size: int = 64 * MiB) -> list[dict]:
    """Partition a fresh image with sfdisk; return the partitions ``sfdisk --json`` lists."""
    with open(path, "wb") as f:
        f.truncate(size)
    subprocess.run([SFDISK, "-q", str(path)], input=script, text=True, check=True,
                   capture_output=True)
    out = subprocess.run([SFDISK, "--json", str(path)], text=True, check=True,
                         capture_output=True).stdout
    table = json.loads(out)["partitiontable"]
    assert table["sectorsize"] == 512
    return [dict(p, number=int(p["node"][len(str(path)):])) for p in table["partitions"]]


def partitions(path: Path, warnings: list[str] | None = None) -> list[Partition]:
    with open_input(path) as infile:
        return find_partitions(infile.whole, warnings)


def mbr_entry(type: int = 0, lba: int = 0, sectors: int = 0) -> dict:
    return dict(boot=0, chs_first=bytes(3), type=type, chs_last=bytes(3), lba_start=lba,
                num_sectors=sectors)


def mbr_sector(*entries: dict) -> bytes:
    entries += (mbr_entry(),) * (4 - len(entries))
    return Mbr.build(dict(bootstrap=bytes(440), disk_signature=0, reserved=bytes(2),
                          entries=list(entries), magic=b"\x55\xaa"))


def patch(path: Path, offset: int, data: bytes) -> None:
    with open(path, "r+b") as f:
        f.seek(offset)
        f.write(data)


def read_ebr(path: Path, offset: int):
    with open(path, "rb") as f:
        f.seek(offset)
        return Mbr.parse(f.read(512))


@needs_sfdisk
@pytest.mark.parametrize("layout", sorted(MBR_LAYOUTS))
def test_mbr_matches_sfdisk(tmp_path: Path, layout: str) -> None:
    img = tmp_path / "disk.img"
    expected = sfdisk(img, MBR_LAYOUTS[layout])
    warnings: list[str] = []
    found = partitions(img, warnings)
    assert warnings == []
    assert sorted((p.number, p.start, p.size, p.type) for p in found) == sorted(
        (e["number"], e["start"] * 512, e["size"] * 512, int(e["type"], 16)) for e in expected)
    assert sum(p.number >= 5 for p in found) == {"ext3": 2, "ext4": 3}[layout]
    assert all(p.guid is None and p.name is None for p in found)
    with open_input(img) as infile:
        sources = partition_sources(infile)
        assert [s.partition for s in sources] == [p.number for p in found if not p.is_extended]
        assert all(s.name == f"{img}@p{s.partition}" for s in sources)
        assert all(s.file is infile for s in sources)


@needs_sfdisk
def test_gpt_matches_sfdisk(tmp_path: Path) -> None:
    img = tmp_path / "gpt.img"
    expected = sfdisk(img, GPT_SCRIPT)
    warnings: list[str] = []
    found = partitions(img, warnings)
    assert warnings == []
    assert [(p.number, p.start, p.size, p.type, p.guid, p.name) for p in found] == [
        (e["number"], e["start"] * 512, e["size"] * 512, e["type"].lower(), e["uuid"].lower(),
         e.get("name", "")) for e in expected]
    assert found[1].type == LVM_GPT_TYPE and found[1].name == "pv one"
    with open_input(img) as infile:
        assert [s.name for s in partition_sources(infile)] == [f"{img}@p{i}" for i in (1, 2, 3, 4)]


def make_gpt4k(path: Path) -> list[tuple[int, int, str, str]]:
    """A 4096-byte-sector GPT by ``fdisk -b 4096``; returns fdisk's (start, sectors, type, uuid)."""
    with open(path, "wb") as f:
        f.truncate(64 * MiB)
    script = "g\nn\n\n\n+8M\nn\n\n\n+8M\nt\n2\nlvm\nn\n\n\n+4M\nw\n"
    subprocess.run([FDISK, "-b", "4096", str(path)], input=script, text=True, check=True,
                   capture_output=True)
    out = subprocess.run([FDISK, "-b", "4096", "-l", "-o", "Device,Start,Sectors,Type-UUID,UUID",
                          str(path)], text=True, check=True, capture_output=True).stdout
    rows = [line.split() for line in out.splitlines() if line.startswith(str(path))]
    return [(int(r[1]), int(r[2]), r[3].lower(), r[4].lower()) for r in rows]


@needs_fdisk
def test_gpt_4096_byte_sectors(tmp_path: Path) -> None:
    img = tmp_path / "gpt4k.img"
    expected = make_gpt4k(img)
    assert len(expected) == 3
    found = partitions(img)
    assert [(p.start // 4096, p.size // 4096, p.type, p.guid) for p in found] == expected
    assert [p.start % 4096 for p in found] == [0, 0, 0]
    assert found[1].type == LVM_GPT_TYPE
    # A block device tells its sector size; only that one is tried.
    with open_input(img) as infile:
        infile.sector_size = 4096
        assert find_partitions(infile.whole) == found
        infile.sector_size = 512
        with pytest.raises(HeaderError, match="no GPT header"):
            find_partitions(infile.whole)


@needs_fdisk
def test_gpt_4096_backup(tmp_path: Path) -> None:
    img = tmp_path / "gpt4k.img"
    make_gpt4k(img)
    good = partitions(img)
    patch(img, 4096 + 8, b"\xff")  # revision byte of the primary header
    warnings: list[str] = []
    assert partitions(img, warnings) == good
    assert len(warnings) == 1 and "offset 4096" in warnings[0]


@needs_sfdisk
def test_gpt_bad_header_crc_uses_backup(tmp_path: Path) -> None:
    img = tmp_path / "gpt.img"
    sfdisk(img, GPT_SCRIPT)
    good = partitions(img)
    patch(img, 512 + 60, b"\x00\x11")  # inside the disk GUID of the primary header
    warnings: list[str] = []
    assert partitions(img, warnings) == good
    assert len(warnings) == 1
    assert "offset 512" in warnings[0] and "header CRC32 mismatch" in warnings[0]
    assert f"offset {64 * MiB - 512}" in warnings[0]


@needs_sfdisk
def test_gpt_bad_entry_array_crc_uses_backup(tmp_path: Path) -> None:
    img = tmp_path / "gpt.img"
    sfdisk(img, GPT_SCRIPT)
    good = partitions(img)
    patch(img, 1024 + 128 + 56, b"X\x00")  # the name of partition 2 in the primary array
    warnings: list[str] = []
    assert partitions(img, warnings) == good
    assert "entry array CRC32 mismatch" in warnings[0]


@needs_sfdisk
def test_gpt_both_headers_bad(tmp_path: Path) -> None:
    img = tmp_path / "gpt.img"
    sfdisk(img, GPT_SCRIPT)
    patch(img, 512 + 60, b"\x00\x11")
    patch(img, 64 * MiB - 512 + 60, b"\x00\x11")
    with pytest.raises(HeaderError) as info:
        partitions(img)
    err = info.value
    assert err.file == str(img) and err.offset == 512
    assert str(err).startswith(f"{img}: offset 512: primary GPT header: header CRC32 mismatch")
    assert "backup GPT header" in str(err) and "\n" not in str(err)


@needs_sfdisk
def test_gpt_backup_only(tmp_path: Path) -> None:
    img = tmp_path / "gpt.img"
    sfdisk(img, GPT_SCRIPT)
    good = partitions(img)
    patch(img, 512, bytes(512))  # primary header wiped out
    warnings: list[str] = []
    assert partitions(img, warnings) == good
    assert warnings == [f"{img}: no primary GPT header at offset 512; "
                        f"using the backup at offset {64 * MiB - 512}"]
    patch(img, 64 * MiB - 512, bytes(512))
    with pytest.raises(HeaderError, match="no GPT header") as info:
        partitions(img)
    assert info.value.offset == 512


def rewrite_gpt_entry(path: Path, index: int, **changes: int) -> None:
    """Change entry ``index`` in both GPT copies of a 512-byte-sector image, fixing the CRCs."""
    data = bytearray(path.read_bytes())
    for lba in (1, len(data) // 512 - 1):
        h = GptHeader.parse(data[lba * 512:])
        at = h.entries_lba * 512 + index * h.entry_size
        entry = GptEntry.parse(data[at:])
        entry.update(changes)
        data[at:at + GptEntry.sizeof()] = GptEntry.build(entry)
        array = data[h.entries_lba * 512:][:h.num_entries * h.entry_size]
        h.entries_crc32 = zlib.crc32(array)
        h.header_crc32 = 0
        h.header_crc32 = zlib.crc32(GptHeader.build(h)[:h.header_size])
        data[lba * 512:lba * 512 + GptHeader.sizeof()] = GptHeader.build(h)
    path.write_bytes(data)


@needs_sfdisk
def test_gpt_entry_outside_usable_area(tmp_path: Path) -> None:
    img = tmp_path / "gpt.img"
    sfdisk(img, GPT_SCRIPT)
    rewrite_gpt_entry(img, 0, first_lba=1)  # over the GPT header itself
    with pytest.raises(HeaderError, match="partition 1 at LBAs 1..") as info:
        partitions(img)
    assert info.value.offset == 1024


@needs_sfdisk
def test_gpt_truncated_image(tmp_path: Path) -> None:
    img = tmp_path / "gpt.img"
    sfdisk(img, GPT_SCRIPT)
    os.truncate(img, 22 * MiB)  # partition 3 is at 17..21 MiB, partition 4 at 21..29 MiB
    warnings: list[str] = []
    found = partitions(img, warnings)
    assert [p.number for p in found] == [1, 2, 3, 4]
    assert len(warnings) == 1 and "partition 4" in warnings[0]
    with open_input(img) as infile:
        p4 = partition_sources(infile)[3]
        assert p4.size == 8 * MiB and p4.pread(512, 0) == bytes(512)
        with pytest.raises(LvmIOError, match="short read") as info:
            p4.pread(4096, MiB - 1024)
        assert info.value.file == str(img) and info.value.offset == 22 * MiB - 1024


@needs_sfdisk
def test_ebr_loop(tmp_path: Path) -> None:
    img = tmp_path / "disk.img"
    sfdisk(img, MBR_LAYOUTS["ext4"])
    ext_start = read_ebr(img, 0).entries[3].lba_start * 512
    second = ext_start + read_ebr(img, ext_start).entries[1].lba_start * 512
    ebr = read_ebr(img, second)
    ebr.entries[1].lba_start = 0  # link back to the first EBR
    patch(img, second, Mbr.build(ebr))
    with pytest.raises(HeaderError, match="loops back") as info:
        partitions(img)
    assert info.value.file == str(img) and info.value.offset == ext_start


@needs_sfdisk
def test_ebr_outside_extended_partition(tmp_path: Path) -> None:
    img = tmp_path / "disk.img"
    sfdisk(img, MBR_LAYOUTS["ext4"])
    ext = read_ebr(img, 0).entries[3]
    ebr = read_ebr(img, ext.lba_start * 512)
    ebr.entries[1].lba_start = ext.num_sectors  # just past the end of the extended partition
    patch(img, ext.lba_start * 512, Mbr.build(ebr))
    with pytest.raises(HeaderError, match="outside extended partition 4"):
        partitions(img)


def ebr_chain_image(path: Path, count: int) -> None:
    """An MBR whose extended partition holds ``count`` one-sector logical partitions."""
    ext = mbr_entry(0x05, 1, 2 * count)
    sectors = [mbr_sector(ext)]
    for i in range(count):
        link = mbr_entry(0x05, 2 * (i + 1), 2) if i + 1 < count else mbr_entry()
        sectors += [mbr_sector(mbr_entry(0x8E, 1, 1), link), bytes(512)]
    path.write_bytes(b"".join(sectors))


def test_ebr_chain_bounded(tmp_path: Path) -> None:
    img = tmp_path / "chain.img"
    ebr_chain_image(img, 128)
    found = partitions(img)
    assert [p.number for p in found] == list(range(1, 2)) + list(range(5, 133))
    assert found[-1] == Partition(132, (1 + 2 * 127 + 1) * 512, 512, 0x8E)
    ebr_chain_image(img, 129)
    with pytest.raises(HeaderError, match="more than 128 EBRs") as info:
        partitions(img)
    assert info.value.offset == (1 + 2 * 128) * 512


def test_no_partition_table(tmp_path: Path) -> None:
    img = tmp_path / "plain.img"
    img.write_bytes(bytes(4096))
    assert partitions(img) == []
    img.write_bytes(b"\x55\xaa")  # shorter than a sector
    assert partitions(img) == []
    sector = bytearray(mbr_sector(mbr_entry(0x83, 1, 7)))
    img.write_bytes(bytes(sector) + bytes(3584))
    assert partitions(img) == [Partition(1, 512, 7 * 512, 0x83)]
    sector[446] = 0x12  # not a boot flag: a boot sector of something else
    img.write_bytes(bytes(sector) + bytes(3584))
    assert partitions(img) == []


def test_protective_mbr_without_gpt(tmp_path: Path) -> None:
    img = tmp_path / "pmbr.img"
    img.write_bytes(mbr_sector(mbr_entry(0xEE, 1, 0xFFFFFFFF)) + bytes(8192))
    with pytest.raises(HeaderError, match="no GPT header") as info:
        partitions(img)
    assert str(info.value).startswith(f"{img}: offset 512: ")


def test_empty_extended_partition(tmp_path: Path) -> None:
    img = tmp_path / "ext.img"
    img.write_bytes(mbr_sector(mbr_entry(0x85, 2, 8)) + bytes(9 * 512))
    assert partitions(img) == [Partition(1, 1024, 4096, 0x85)]
    with open_input(img) as infile:
        assert partition_sources(infile) == []


def test_partition_past_end_warns(tmp_path: Path) -> None:
    img = tmp_path / "short.img"
    img.write_bytes(mbr_sector(mbr_entry(0x8E, 1, 100)) + bytes(512))
    warnings: list[str] = []
    assert partitions(img, warnings) == [Partition(1, 512, 51200, 0x8E)]
    assert warnings == [f"{img}: partition 1 (bytes 512..51712) reaches past the end (1024 bytes)"]
    patch(img, 446 + 8, bytes(4))  # partition 1 now starts at sector 0
    with pytest.raises(HeaderError, match="starts at sector 0"):
        partitions(img)


@needs_sfdisk
def test_many_truncated_partitions_warn_a_few_then_count(tmp_path: Path) -> None:
    """An image cut short inside a table of 40 partitions: every partition is still listed,
    and the warnings about those past the end name a few, then count the rest."""
    img = tmp_path / "many.img"
    script = "label: gpt\n" + "size=1MiB, type=linux\n" * 40
    expected = sfdisk(img, script, size=48 * MiB)
    with open(img, "r+b") as f:
        f.truncate(4 * MiB)  # partitions 4-40 start past the end (37); the backup GPT is lost too
    warnings: list[str] = []
    parts = partitions(img, warnings)
    assert len(parts) == len(expected) == 40
    past = [w for w in warnings if "reaches past the end" in w]
    assert len(past) == 10 and any("and 27 more such warnings" in w for w in warnings), warnings
