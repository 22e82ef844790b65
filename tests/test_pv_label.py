"""read_pv and MetadataArea.current() on real lvm2 disks, and on mutated copies of them.

Positive tests compare with what lvm2 itself reported about the same disks: ``pvck --dump
headers`` and ``pvs`` of the oracle scenarios, ``pvs``/``vgs`` of the other fixtures. Negative
tests flip bytes in a copy of a real image and check the error class, the file and the
absolute offset that ``str(err)`` names.
"""

from __future__ import annotations

import json
import lzma
import re
import shutil
from contextlib import contextmanager
from pathlib import Path

import pytest
from conftest import FIXTURES, ORACLE, load_oracle

from lvmread.errors import ChecksumError, HeaderError, LabelError, LvmIOError
from lvmread.inputs.source import open_input
from lvmread.ondisk import layout
from lvmread.ondisk.crc import lvm_crc
from lvmread.ondisk.pv import Area, PVDevice, format_uuid, read_pv
from lvmread.text.metadata import parse_metadata

# --- oracle data ----------------------------------------------------------------------


def pvck_values(path: Path) -> dict[str, str]:
    """``name value`` lines of pvck --dump headers (``name at N`` lines left out)."""
    out = {}
    for line in path.read_text().splitlines():
        parts = line.split()
        if len(parts) >= 2 and parts[1] != "at" and parts[0] != "metadata":
            out[parts[0]] = line.split(maxsplit=1)[1]
    return out


def pvck_text(path: Path) -> tuple[int, int, str, int]:
    """(absolute offset, crc, vg name, seqno) of ``metadata text at N crc X # vgname V seqno S``."""
    m = re.search(
        r"^\s*metadata text at (\d+) crc (0x[0-9a-f]+) # vgname (\S+) seqno (\d+)",
        path.read_text(),
        re.M,
    )
    assert m, path
    return int(m.group(1)), int(m.group(2), 16), m.group(3), int(m.group(4))


def metadata_versions(path: Path) -> dict[int, str]:
    """seqno -> text of every version in a ``pvck --dump metadata_all`` file."""
    out = {}
    for block in lzma.open(path).read().decode().split("\n--\n"):
        m = re.search(r"^seqno = (\d+)$", block, re.M)
        assert m, block[:200]
        out[int(m.group(1))] = block
    return out


def _b(v: str) -> int:
    assert v.endswith("B"), v
    return int(v[:-1])


ORACLE_DISKS = [
    (scen, img["file"], img["guest_dev"])
    for scen in sorted(p.parent.name for p in ORACLE.glob("*/oracle.json"))
    for img in load_oracle(scen)["images"]
]


@contextmanager
def opened(path: Path):
    with open_input(path) as infile:
        yield infile.whole


_OPEN: list = []


@pytest.fixture(autouse=True)
def _close_inputs():
    yield
    while _OPEN:
        _OPEN.pop().close()


def pv_of(path: Path) -> PVDevice:
    """read_pv of an image; the input stays open (for current()) until the test ends."""
    infile = open_input(path)
    _OPEN.append(infile)
    return read_pv(infile.whole)


# --- read_pv on the oracle disks ------------------------------------------------------


@pytest.fixture(scope="module", params=ORACLE_DISKS, ids=[d[1] for d in ORACLE_DISKS])
def oracle_disk(request, fixture_images):
    scen, image, dev = request.param
    short = dev.rsplit("/", 1)[1]
    path = fixture_images.folder(f"oracle/{scen}") / image
    pvck = ORACLE / scen / "guest" / f"pvck_headers_{short}.txt"
    pvs = [
        row
        for entry in load_oracle(scen)["pvs"]["report"]
        for row in entry["pv"]
        if row["pv_name"] == dev
    ]
    assert len(pvs) == 1
    versions = metadata_versions(ORACLE / scen / "guest" / f"metadata_all_{short}.txt.xz")
    return path, pvck_values(pvck), pvck_text(pvck), pvs[0], versions


def test_read_pv_matches_lvm2(oracle_disk) -> None:
    path, pvck, _, pvs, _ = oracle_disk
    with opened(path) as src:
        pv = read_pv(src)
        assert pv.source is src and pv.name == str(path)
        assert pv.label_sector == int(pvck["label_header.sector"]) == 1
        assert pv.label.crc == int(pvck["label_header.crc"], 16)
        assert pv.uuid == pvs["pv_uuid"] == format_uuid(pvck["pv_header.pv_uuid"])
        assert pv.device_size == int(pvck["pv_header.device_size"]) == _b(pvs["dev_size"])
        assert pv.pe_start == int(pvck["pv_header.disk_locn[0].offset"]) == _b(pvs["pe_start"])
        assert pv.data_areas == [Area(pv.pe_start, int(pvck["pv_header.disk_locn[0].size"]))]
        assert pv.ext_version == int(pvck["pv_header_extension.version"]) == 2
        assert pv.ext_flags == int(pvck["pv_header_extension.flags"]) == layout.PV_EXT_USED
        assert pv.bootloader_areas == [] and _b(pvs["pv_ba_size"]) == 0
        assert len(pv.metadata_areas) == int(pvs["pv_mda_count"]) == 1
        (mda,) = pv.metadata_areas
        assert mda.error is None and not mda.ignored
        assert mda.index == 0 and mda.source is src
        assert mda.offset == int(pvck["pv_header.disk_locn[2].offset"]) == 4096
        assert mda.size == int(pvck["pv_header.disk_locn[2].size"]) == _b(pvs["pv_mda_size"])
        assert mda.header.checksum == int(pvck["mda_header_1.checksum"], 16)
        assert mda.header.start == mda.offset and mda.header.size == mda.size


def test_current_text_matches_lvm2(oracle_disk) -> None:
    path, pvck, (text_at, crc, vgname, seqno), _, versions = oracle_disk
    with opened(path) as src:
        cur = read_pv(src).metadata_areas[0].current()
        assert cur is not None
        assert cur.offset == int(pvck["mda_header_1.raw_locn[0].offset"])
        assert cur.size == int(pvck["mda_header_1.raw_locn[0].size"]) == len(cur.data)
        assert cur.device_offset == text_at
        assert cur.stored_checksum == cur.computed_checksum == crc and cur.checksum_ok
        assert not cur.wrapped
        assert cur.data.endswith(b"\0") and b"\0" not in cur.data[:-1]
        assert cur.where == f"{path}: offset {text_at}"
        meta = parse_metadata(cur.text, cur.where)
    assert next(iter(meta)) == vgname  # on disk the VG section comes first
    assert meta[vgname]["seqno"] == seqno
    assert meta["contents"] == "Text Format Volume Group" and meta["version"] == 1
    # The same text lvm2's own `pvck --dump metadata_all` printed for that seqno.
    assert cur.text == versions[seqno]
    assert seqno == max(versions)


# --- read_pv on the other single-image fixtures ---------------------------------------

PLAIN_FIXTURES = [
    "bootloader",
    "labelsector",
    "mda2",
    "names",
    "nomda",
    "sector4k",
    "single",
    "twopv",
]


@pytest.mark.parametrize("name", PLAIN_FIXTURES)
def test_fixture_pvs_match_lvm2(name: str, fixture_images) -> None:
    folder = fixture_images.folder(name)
    devices = json.loads((FIXTURES / name / "devices.json").read_text())
    pvs = json.loads((FIXTURES / name / "pvs.json").read_text())["report"][0]["pv"]
    (vg,) = json.loads((FIXTURES / name / "vgs.json").read_text())["report"][0]["vg"]
    for row in pvs:
        image = devices[row["pv_name"]]
        assert "#" not in image
        with opened(folder / image) as src:
            pv = read_pv(src)
            assert pv.uuid == row["pv_uuid"]
            assert pv.pe_start == int(row["pe_start"])
            assert pv.device_size == int(row["dev_size"])
            assert pv.label_sector == (3 if name == "labelsector" else 1)
            assert pv.ext_flags & layout.PV_EXT_USED
            ba = [Area(int(row["pv_ba_start"]), int(row["pv_ba_size"]))]
            assert pv.bootloader_areas == (ba if int(row["pv_ba_size"]) else [])
            assert len(pv.metadata_areas) == int(row["pv_mda_count"])
            if pv.metadata_areas:
                assert min(m.size for m in pv.metadata_areas) == int(row["pv_mda_size"])
            for mda in pv.metadata_areas:
                assert mda.error is None
                cur = mda.current()
                assert cur is not None and cur.checksum_ok
                meta = parse_metadata(cur.text, cur.where)
                assert meta[vg["vg_name"]]["seqno"] == int(vg["vg_seqno"])
                assert meta[vg["vg_name"]]["id"] == vg["vg_uuid"]
            if name == "mda2":
                first, second = pv.metadata_areas
                assert first.offset == 4096
                assert second.offset + second.size == pv.device_size  # the second at the end
                assert first.current().data == second.current().data


# --- mutated copies: helpers ----------------------------------------------------------

VICTIMS = ["multipv/multipv0.img", "history/history0.img"]


@pytest.fixture(params=VICTIMS)
def victim(request, fixture_images, tmp_path) -> Path:
    """A private copy of a real image, to be mutated."""
    scen, image = request.param.split("/")
    dst = tmp_path / image
    shutil.copyfile(fixture_images.folder(f"oracle/{scen}") / image, dst)
    return dst


def read_at(path: Path, offset: int, n: int) -> bytes:
    with open(path, "rb") as f:
        f.seek(offset)
        return f.read(n)


def write_at(path: Path, offset: int, data: bytes) -> None:
    with open(path, "r+b") as f:
        f.seek(offset)
        f.write(data)


def flip(path: Path, offset: int, mask: int = 0xFF) -> None:
    write_at(path, offset, bytes([read_at(path, offset, 1)[0] ^ mask]))


def fix_label_crc(path: Path, sector: int = 1) -> None:
    sec = read_at(path, 512 * sector, 512)
    write_at(path, 512 * sector + 16, lvm_crc(sec[20:]).to_bytes(4, "little"))


def fix_mda_crc(path: Path, mda_at: int = 4096) -> None:
    hdr = read_at(path, mda_at, 512)
    write_at(path, mda_at, lvm_crc(hdr[4:]).to_bytes(4, "little"))


def set_raw_locn(path: Path, offset: int, size: int, checksum: int, mda_at: int = 4096) -> None:
    rl = layout.raw_locn.build({"offset": offset, "size": size, "checksum": checksum, "flags": 0})
    write_at(path, mda_at + 40, rl)
    fix_mda_crc(path, mda_at)


def assert_where(err, path: Path, offset: int) -> None:
    assert err.file == str(path)
    assert err.offset == offset
    assert str(err).startswith(f"{path}: offset {offset}: ")


# --- mutated copies: the label --------------------------------------------------------


def test_label_crc_field_flipped(victim: Path) -> None:
    flip(victim, 512 + 16)
    with pytest.raises(ChecksumError) as ei:
        pv_of(victim)
    assert_where(ei.value, victim, 512)
    assert "label checksum" in str(ei.value)


@pytest.mark.parametrize("where", [20, 32, 40, 511])  # offset field, uuid, size, last byte
def test_label_covered_byte_flipped(victim: Path, where: int) -> None:
    flip(victim, 512 + where, 0x01)
    with pytest.raises(ChecksumError) as ei:
        pv_of(victim)
    assert_where(ei.value, victim, 512)


def test_label_sector_field_changed(victim: Path) -> None:
    # The sector field (bytes 8..15) is not covered by the CRC: only the check on it catches this.
    write_at(victim, 512 + 8, (2).to_bytes(8, "little"))
    with pytest.raises(LabelError) as ei:
        pv_of(victim)
    assert_where(ei.value, victim, 512)
    assert "sector 1" in str(ei.value) and "sector 2" in str(ei.value)


def test_label_moved_to_wrong_sector(victim: Path) -> None:
    sec = read_at(victim, 512, 512)
    write_at(victim, 512, bytes(512))
    write_at(victim, 1024, sec)
    with pytest.raises(LabelError) as ei:
        pv_of(victim)
    assert_where(ei.value, victim, 1024)


def test_label_moved_with_its_sector_field(victim: Path) -> None:
    """lvm2 accepts a label in any of sectors 0-3 when its sector field says so."""
    want = pv_of(victim)
    sec = bytearray(read_at(victim, 512, 512))
    sec[8:16] = (3).to_bytes(8, "little")
    write_at(victim, 512, bytes(512))
    write_at(victim, 1536, bytes(sec))
    pv = pv_of(victim)
    assert pv.label_sector == 3
    assert (pv.uuid, pv.device_size, pv.data_areas) == (
        want.uuid,
        want.device_size,
        want.data_areas,
    )


def test_label_type_changed(victim: Path) -> None:
    write_at(victim, 512 + 24, b"LVM2 002")
    with pytest.raises(ChecksumError):  # the type is covered by the CRC
        pv_of(victim)
    fix_label_crc(victim)
    with pytest.raises(LabelError) as ei:
        pv_of(victim)
    assert_where(ei.value, victim, 512)
    assert "LVM2 002" in str(ei.value)


def test_no_label(victim: Path) -> None:
    write_at(victim, 0, bytes(2048))
    with pytest.raises(LabelError) as ei:
        pv_of(victim)
    assert_where(ei.value, victim, 0)


def test_label_id_damaged(victim: Path) -> None:
    write_at(victim, 512, b"LABELTWO")
    with pytest.raises(LabelError) as ei:
        pv_of(victim)
    assert_where(ei.value, victim, 0)


def test_pv_header_offset_outside_sector(victim: Path) -> None:
    write_at(victim, 512 + 20, (600).to_bytes(4, "little"))
    fix_label_crc(victim)
    with pytest.raises(HeaderError) as ei:
        pv_of(victim)
    assert_where(ei.value, victim, 512 + 20)


def test_pv_header_list_unterminated(victim: Path) -> None:
    # uuid and size kept; from the first disk_locn to the end of the sector, no zero entry.
    write_at(victim, 512 + 32 + 40, b"\x01" * (512 - 72))
    fix_label_crc(victim)
    with pytest.raises(HeaderError) as ei:
        pv_of(victim)
    assert_where(ei.value, victim, 512 + 32)


# --- mutated copies: the mda header ---------------------------------------------------


def test_mda_header_crc_flipped(victim: Path) -> None:
    flip(victim, 4096)
    pv = pv_of(victim)  # a bad metadata area does not stop read_pv
    (mda,) = pv.metadata_areas
    assert isinstance(mda.error, ChecksumError)
    assert_where(mda.error, victim, 4096)
    assert mda.header is None and mda.current() is None


def test_mda_covered_byte_flipped(victim: Path) -> None:
    flip(victim, 4096 + 40, 0x10)  # raw_locn[0].offset
    (mda,) = pv_of(victim).metadata_areas
    assert isinstance(mda.error, ChecksumError)
    assert_where(mda.error, victim, 4096)


@pytest.mark.parametrize(
    ("field_at", "value"),
    [
        (4, b" LVM2 x[5A%r0N*?"),  # magic
        (20, (2).to_bytes(4, "little")),  # version
        (24, (8192).to_bytes(8, "little")),  # start
        (32, (4096).to_bytes(8, "little")),  # size
    ],
    ids=["magic", "version", "start", "size"],
)
def test_mda_header_field_wrong(victim: Path, field_at: int, value: bytes) -> None:
    write_at(victim, 4096 + field_at, value)
    (mda,) = pv_of(victim).metadata_areas
    assert isinstance(mda.error, ChecksumError)  # the CRC catches it first
    fix_mda_crc(victim)
    (mda,) = pv_of(victim).metadata_areas
    assert isinstance(mda.error, HeaderError)
    assert_where(mda.error, victim, 4096 + field_at)
    assert mda.header is None and mda.current() is None


def test_mda_raw_locn_list_unterminated(victim: Path) -> None:
    write_at(victim, 4096 + 40, b"\x01" * (512 - 40))
    fix_mda_crc(victim)
    (mda,) = pv_of(victim).metadata_areas
    assert isinstance(mda.error, HeaderError)
    assert_where(mda.error, victim, 4096 + 40)


# --- mutated copies: the metadata text ------------------------------------------------


def _current_locn(path: Path) -> tuple[int, int, int]:
    rl = layout.raw_locn.parse(read_at(path, 4096 + 40, 24))
    return rl.offset, rl.size, rl.checksum


def _area_size(path: Path) -> int:
    return layout.mda_header.parse(read_at(path, 4096, 512)).size


@pytest.mark.parametrize(
    "locn",
    [
        lambda area, off, size: (area, size),  # starts at the end of the area
        lambda area, off, size: (area + 4096, size),  # beyond it
        lambda area, off, size: (100, size),  # inside the mda header
        lambda area, off, size: (0, size),  # at the header
        lambda area, off, size: (off, area),  # longer than the ring
        lambda area, off, size: (off, 0),  # empty
        lambda area, off, size: (2**63, size),  # absurd
    ],
    ids=["at-end", "beyond", "in-header", "zero-offset", "too-long", "empty", "huge"],
)
def test_raw_locn_outside_area(victim: Path, locn) -> None:
    off, size, crc = _current_locn(victim)
    new_off, new_size = locn(_area_size(victim), off, size)
    set_raw_locn(victim, new_off, new_size, crc)
    (mda,) = pv_of(victim).metadata_areas
    assert mda.error is None  # the header itself is fine
    with pytest.raises(HeaderError) as ei:
        mda.current()
    assert_where(ei.value, victim, 4096)
    assert f"offset {new_off}" in str(ei.value)


@pytest.mark.parametrize("where", ["first", "middle", "nul"])
def test_metadata_text_byte_flipped(victim: Path, where: str) -> None:
    off, size, crc = _current_locn(victim)
    text_at = 4096 + off
    pos = {"first": 0, "middle": size // 2, "nul": size - 1}[where]
    flip(victim, text_at + pos, 0x01)
    (mda,) = pv_of(victim).metadata_areas
    with pytest.raises(ChecksumError) as ei:
        mda.current()
    assert_where(ei.value, victim, text_at)
    assert f"{crc:#010x}" in str(ei.value)


def test_metadata_text_checksum_field_wrong(victim: Path) -> None:
    off, size, crc = _current_locn(victim)
    set_raw_locn(victim, off, size, crc ^ 1)
    (mda,) = pv_of(victim).metadata_areas
    with pytest.raises(ChecksumError) as ei:
        mda.current()
    assert_where(ei.value, victim, 4096 + off)


def test_no_current_text(victim: Path) -> None:
    set_raw_locn(victim, 0, 0, 0)
    (mda,) = pv_of(victim).metadata_areas
    assert mda.error is None and mda.current() is None


def test_ignored_flag(victim: Path) -> None:
    off, size, crc = _current_locn(victim)
    write_at(victim, 4096 + 40 + 20, layout.RAW_LOCN_IGNORED.to_bytes(4, "little"))
    fix_mda_crc(victim)
    (mda,) = pv_of(victim).metadata_areas
    assert mda.ignored
    assert mda.current().checksum_ok  # the text is still there to read


# --- truncated images -----------------------------------------------------------------


def test_truncated_while_open_label(victim: Path) -> None:
    with opened(victim) as src:
        with open(victim, "r+b") as f:
            f.truncate(100)
        with pytest.raises(LvmIOError) as ei:
            read_pv(src)
    assert ei.value.file == str(victim) and str(victim) in str(ei.value)
    assert ei.value.offset is not None and f"offset {ei.value.offset}" in str(ei.value)


def test_truncated_while_open_mda(victim: Path) -> None:
    with opened(victim) as src:
        with open(victim, "r+b") as f:
            f.truncate(4096 + 100)
        (mda,) = read_pv(src).metadata_areas
    assert isinstance(mda.error, LvmIOError)
    assert mda.error.file == str(victim) and str(victim) in str(mda.error)


def test_truncated_while_open_text(victim: Path) -> None:
    off, size, _ = _current_locn(victim)
    with opened(victim) as src:
        (mda,) = read_pv(src).metadata_areas
        with open(victim, "r+b") as f:
            f.truncate(4096 + off + size // 2)
        with pytest.raises(LvmIOError) as ei:
            mda.current()
    assert_where(ei.value, victim, 4096 + off)


def test_truncated_after_metadata_still_reads(victim: Path) -> None:
    with open(victim, "r+b") as f:
        f.truncate(1 << 20 | 8192)
    pv = pv_of(victim)
    assert pv.metadata_areas[0].error is None


@pytest.mark.parametrize("size", [5000, 300000])
def test_truncated_image_is_an_io_error(victim: Path, size: int) -> None:
    with open(victim, "r+b") as f:
        f.truncate(size)
    try:
        pv = pv_of(victim)
    except LvmIOError as exc:
        err = exc
    else:
        err = pv.metadata_areas[0].error
    assert isinstance(err, LvmIOError)
    assert err.file == str(victim) and "offset " in str(err)


def test_truncated_image_is_reported(victim: Path) -> None:
    """Whatever the class, a truncated image is an error naming the file and the area."""
    with open(victim, "r+b") as f:
        f.truncate(5000)
    (mda,) = pv_of(victim).metadata_areas
    assert isinstance(mda.error, (HeaderError, LvmIOError))
    assert_where(mda.error, victim, 4096)


@pytest.mark.parametrize("image", ["ext4.img", "random.img"])
def test_real_disks_without_a_label(image: str, fixture_images) -> None:
    path = fixture_images.folder("nolabel") / image
    with pytest.raises(LabelError) as ei:
        pv_of(path)
    assert_where(ei.value, path, 0)


def test_empty_file(tmp_path: Path) -> None:
    empty = tmp_path / "empty.img"
    empty.write_bytes(b"")
    with pytest.raises(LabelError) as ei:
        pv_of(empty)
    assert_where(ei.value, empty, 0)


# --- the ring buffer wraps ------------------------------------------------------------


@pytest.fixture
def histwrap(fixture_images, tmp_path) -> Path:
    dst = tmp_path / "histwrap0.img"
    shutil.copyfile(fixture_images.folder("oracle/history_wrap") / "histwrap0.img", dst)
    return dst


def test_natural_wrap(histwrap: Path) -> None:
    """An older copy lvm2 itself wrote across the ring end: point raw_locn[0] at it."""
    area_size = _area_size(histwrap)
    assert area_size == 61440
    area = read_at(histwrap, 4096, area_size)
    # The copy whose text runs into the end of the area without a NUL.
    starts = [m.start() for m in re.finditer(rb"vg_histwrap \{\n", area)]
    (start,) = [s for s in starts if area.find(b"\0", s) == -1]
    head = area[start:]
    tail = area[512 : area.index(b"\0", 512) + 1]
    data = head + tail
    set_raw_locn(histwrap, start, len(data), lvm_crc(data))

    (mda,) = pv_of(histwrap).metadata_areas
    cur = mda.current()
    assert cur.wrapped and cur.checksum_ok
    assert cur.data == data and cur.size == len(data)
    assert cur.device_offset == 4096 + start
    meta = parse_metadata(cur.text, cur.where)
    seqno = meta["vg_histwrap"]["seqno"]
    versions = metadata_versions(ORACLE / "history_wrap" / "guest" / "metadata_all_vdh.txt.xz")
    assert cur.text == versions[seqno]
    assert len(head) < len(data)  # it really wraps


@pytest.mark.parametrize("k", [1, 7, 512, "all-but-one"])
def test_moved_text_wraps(histwrap: Path, k) -> None:
    """The current text rewritten as [last k bytes of the area] + [right after the header]."""
    area_size = _area_size(histwrap)
    off, size, crc = _current_locn(histwrap)
    data = read_at(histwrap, 4096 + off, size)
    k = size - 1 if k == "all-but-one" else k
    write_at(histwrap, 4096 + area_size - k, data[:k])
    write_at(histwrap, 4096 + 512, data[k:])
    set_raw_locn(histwrap, area_size - k, size, crc)

    (mda,) = pv_of(histwrap).metadata_areas
    cur = mda.current()
    assert cur.wrapped and cur.checksum_ok
    assert cur.data == data
    assert parse_metadata(cur.text)["vg_histwrap"]["seqno"] == 123


def test_text_ending_at_ring_end_does_not_wrap(histwrap: Path) -> None:
    area_size = _area_size(histwrap)
    off, size, crc = _current_locn(histwrap)
    data = read_at(histwrap, 4096 + off, size)
    write_at(histwrap, 4096 + area_size - size, data)
    set_raw_locn(histwrap, area_size - size, size, crc)
    cur = pv_of(histwrap).metadata_areas[0].current()
    assert not cur.wrapped and cur.checksum_ok and cur.data == data


def test_wrapped_text_bad_checksum(histwrap: Path) -> None:
    area_size = _area_size(histwrap)
    off, size, crc = _current_locn(histwrap)
    data = read_at(histwrap, 4096 + off, size)
    write_at(histwrap, 4096 + area_size - 100, data[:100])
    write_at(histwrap, 4096 + 512, data[100:])
    flip(histwrap, 4096 + 512 + 10, 0x01)  # in the wrapped part
    set_raw_locn(histwrap, area_size - 100, size, crc)
    with pytest.raises(ChecksumError) as ei:
        pv_of(histwrap).metadata_areas[0].current()
    assert_where(ei.value, histwrap, 4096 + area_size - 100)
