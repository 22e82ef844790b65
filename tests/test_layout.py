"""lvm2's on-disk structures as construct definitions, against lvm2's ``pvck --dump headers``.

Every oracle disk was written by real lvm2; its ``guest/pvck_headers_<dev>.txt`` lists every
field of the label, the pv_header, its extension and the mda_header with the offset lvm2
found each at. Each field parsed here must equal it, and every field pvck prints is checked.
"""

from __future__ import annotations

import lzma
import re
from pathlib import Path

import pytest
from conftest import ORACLE, load_oracle
from construct import ConstructError, Container, ListContainer
from hypothesis import given, settings
from hypothesis import strategies as st

from lvmread.ondisk import layout

# --- pvck --dump headers --------------------------------------------------------------


def parse_pvck(path: Path) -> tuple[dict[str, str], dict[str, int], dict[str, str]]:
    """(field -> value text, structure -> absolute offset, structure -> `#` comment)."""
    values: dict[str, str] = {}
    at: dict[str, int] = {}
    comments: dict[str, str] = {}
    for line in path.read_text().splitlines():
        if not line.strip():
            continue
        body, _, comment = line.partition("#")
        parts = body.split()
        if parts[0] == "metadata":  # metadata text at N crc X  (checked separately)
            continue
        if len(parts) == 3 and parts[1] == "at":
            at[parts[0]] = int(parts[2])
            comments[parts[0]] = comment.strip()
        else:
            name, value = line.split(maxsplit=1)  # label_header.type is "LVM2 001"
            values[name] = value
    return values, at, comments


def pvck_text_line(path: Path) -> tuple[int, int, str, int]:
    """(absolute offset, crc, vg name, seqno) of ``metadata text at N crc X # vgname V seqno S``."""
    m = re.search(
        r"^\s*metadata text at (\d+) crc (0x[0-9a-f]+) # vgname (\S+) seqno (\d+)",
        path.read_text(),
        re.M,
    )
    assert m, path
    return int(m.group(1)), int(m.group(2), 16), m.group(3), int(m.group(4))


def _oracle_disks() -> list[tuple[str, str, str]]:
    out = []
    for scen in sorted(p.parent.name for p in ORACLE.glob("*/oracle.json")):
        for img in load_oracle(scen)["images"]:
            out.append((scen, img["file"], img["guest_dev"].rsplit("/", 1)[1]))
    return out


DISKS = _oracle_disks()


def _head(scenario: str, image: str, n: int = 2 << 20) -> bytes:
    """The first ``n`` bytes of an oracle image (decompressing only that much)."""
    with lzma.open(ORACLE / scenario / f"{image}.xz") as f:
        return f.read(n)


def plain(obj):
    """A construct result as plain dicts/lists, without construct's private ``_io`` keys."""
    if isinstance(obj, Container):
        return {k: plain(v) for k, v in obj.items() if not k.startswith("_")}
    if isinstance(obj, ListContainer):
        return [plain(v) for v in obj]
    return obj


def cont(obj):
    """Plain dicts/lists as construct Containers, for ``build``.

    (The RepeatUntil predicates of layout.py read ``entry.offset``, so a list of plain
    dicts does not build; see test_build_accepts_plain_dicts.)
    """
    if isinstance(obj, dict):
        return Container({k: cont(v) for k, v in obj.items()})
    if isinstance(obj, list):
        return [cont(v) for v in obj]
    return obj


# --- structure sizes ------------------------------------------------------------------


def test_fixed_sizes() -> None:
    assert layout.label_header.sizeof() == 32
    assert layout.disk_locn.sizeof() == 16
    assert layout.raw_locn.sizeof() == 24
    assert len(layout.FMTT_MAGIC) == 16
    assert layout.LABEL_ID == b"LABELONE" and layout.LVM2_LABEL_TYPE == b"LVM2 001"


# --- every field against pvck ---------------------------------------------------------


def _decode(head: bytes) -> tuple[dict[str, object], dict[str, int], dict[str, str], list]:
    """Parse a disk head with the construct structs into pvck's names.

    Returns (field -> value, structure -> absolute offset, structure -> kind, raw parts).
    """
    values: dict[str, object] = {}
    at: dict[str, int] = {}
    kinds: dict[str, str] = {}
    sector = next(s for s in range(4) if head[512 * s : 512 * s + 8] == b"LABELONE")
    label_at = 512 * sector
    sec = head[label_at : label_at + 512]

    lh = layout.label_header.parse(sec)
    at["label_header"] = label_at
    values.update(
        {
            "label_header.id": lh.id.decode(),
            "label_header.sector": lh.sector,
            "label_header.crc": lh.crc,
            "label_header.offset": lh.offset,
            "label_header.type": lh.type.decode(),
        }
    )

    pv_at = label_at + lh.offset
    ph = layout.pv_header.parse(sec[lh.offset :])
    at["pv_header"] = pv_at
    values["pv_header.pv_uuid"] = ph.uuid.decode()
    values["pv_header.device_size"] = ph.device_size
    locns = [(e, "data area") for e in ph.data_areas] + [
        (e, "metadata area") for e in ph.metadata_areas
    ]
    for i, (e, kind) in enumerate(locns):
        name = f"pv_header.disk_locn[{i}]"
        at[name] = pv_at + 40 + 16 * i
        kinds[name] = "location list end" if (e.offset, e.size) == (0, 0) else f"location of {kind}"
        values[f"{name}.offset"] = e.offset
        values[f"{name}.size"] = e.size

    ext_at = pv_at + 40 + 16 * len(locns)
    ext = layout.pv_header_extension.parse(head[ext_at : label_at + 512])
    at["pv_header_extension"] = ext_at
    values["pv_header_extension.version"] = ext.version
    values["pv_header_extension.flags"] = ext.flags
    for i, e in enumerate(ext.bootloader_areas):
        name = f"pv_header_extension.disk_locn[{i}]"
        at[name] = ext_at + 8 + 16 * i
        kinds[name] = "location list end" if (e.offset, e.size) == (0, 0) else "bootloader area"
        values[f"{name}.offset"] = e.offset
        values[f"{name}.size"] = e.size

    mdas = []
    for n, area in enumerate((e for e in ph.metadata_areas if e.offset or e.size), start=1):
        mda_at = area.offset
        mh = layout.mda_header.parse(head[mda_at : mda_at + 512])
        mdas.append(mh)
        pre = f"mda_header_{n}"
        at[pre] = mda_at
        kinds[pre] = "metadata area"
        values.update(
            {
                f"{pre}.checksum": mh.checksum,
                f"{pre}.magic": mh.magic,
                f"{pre}.version": mh.version,
                f"{pre}.start": mh.start,
                f"{pre}.size": mh.size,
            }
        )
        for i, rl in enumerate(mh.raw_locns):
            name = f"{pre}.raw_locn[{i}]"
            at[name] = mda_at + 40 + 24 * i
            kinds[name] = ("commit", "precommit")[i] if i < 2 else ""
            values[f"{name}.offset"] = rl.offset
            values[f"{name}.size"] = rl.size
            values[f"{name}.checksum"] = rl.checksum
            values[f"{name}.flags"] = rl.flags
    return values, at, kinds, [lh, ph, ext, mdas]


def _pvck_value(name: str, text: str) -> object:
    if name.endswith((".id", ".type", ".pv_uuid")):
        return text
    if name.endswith(".magic"):
        assert text.startswith("0x")
        return bytes.fromhex(text[2:])
    return int(text, 0)  # decimal, or 0x... for crc/checksum/flags


@pytest.fixture(scope="module", params=DISKS, ids=[d[1] for d in DISKS])
def disk(request):
    scenario, image, dev = request.param
    pvck = ORACLE / scenario / "guest" / f"pvck_headers_{dev}.txt"
    return pvck, _head(scenario, image)


def test_every_field_matches_pvck(disk) -> None:
    pvck, head = disk
    want_values, want_at, want_comments = parse_pvck(pvck)
    got_values, got_at, got_kinds, _ = _decode(head)

    assert set(got_values) == set(want_values)
    for name, text in want_values.items():
        assert got_values[name] == _pvck_value(name, text), name
    assert got_at == want_at
    for name, comment in want_comments.items():
        if name in got_kinds and comment:
            assert got_kinds[name] == comment, name


def test_constants_and_text_location(disk) -> None:
    pvck, head = disk
    values, _, _, (lh, ph, ext, mdas) = _decode(head)
    assert lh.id == layout.LABEL_ID and lh.type == layout.LVM2_LABEL_TYPE
    assert ext.version == 2 and ext.flags & layout.PV_EXT_USED
    # Lists end with their zero terminator, which construct keeps.
    for lst in (ph.data_areas, ph.metadata_areas, ext.bootloader_areas):
        assert (lst[-1].offset, lst[-1].size) == (0, 0)
    (mh,) = mdas
    assert mh.magic == layout.FMTT_MAGIC and mh.version == layout.FMTT_VERSION
    assert mh.start == ph.metadata_areas[0].offset and mh.size == ph.metadata_areas[0].size
    text_at, crc, _vg, _seqno = pvck_text_line(pvck)
    assert text_at == mh.start + mh.raw_locns[0].offset
    assert crc == mh.raw_locns[0].checksum


def test_build_gives_back_the_real_bytes(disk) -> None:
    """Building the parsed real structures reproduces lvm2's bytes exactly."""
    _, head = disk
    _, at, _, (lh, ph, ext, mdas) = _decode(head)
    label_at = at["label_header"]
    assert layout.label_header.build(lh) == head[label_at : label_at + 32]
    raw = layout.pv_header.build(ph)
    assert raw == head[at["pv_header"] : at["pv_header"] + len(raw)]
    raw = layout.pv_header_extension.build(ext)
    ext_at = at["pv_header_extension"]
    assert raw == head[ext_at : ext_at + len(raw)]
    raw = layout.mda_header.build(mdas[0])
    mda_at = at["mda_header_1"]
    assert raw == head[mda_at : mda_at + len(raw)]
    # The rest of the label sector and of the mda header is zero.
    assert (
        head[ext_at + len(layout.pv_header_extension.build(ext)) : label_at + 512].strip(b"\0")
        == b""
    )
    assert head[mda_at + len(raw) : mda_at + 512].strip(b"\0") == b""


# --- property tests: build then parse -------------------------------------------------

u32 = st.integers(0, 2**32 - 1)
u64 = st.integers(0, 2**64 - 1)
locn = st.fixed_dictionaries({"offset": u64, "size": u64}).filter(
    lambda d: d["offset"] or d["size"]
)
END = {"offset": 0, "size": 0}
locn_list = st.lists(locn, max_size=6).map(lambda lst: [*lst, END])
rlocn = st.fixed_dictionaries({"offset": u64, "size": u64, "checksum": u32, "flags": u32}).filter(
    lambda d: any(d.values())
)
RL_END = {"offset": 0, "size": 0, "checksum": 0, "flags": 0}


@settings(max_examples=200, deadline=None)
@given(
    st.fixed_dictionaries(
        {
            "id": st.binary(min_size=8, max_size=8),
            "sector": u64,
            "crc": u32,
            "offset": u32,
            "type": st.binary(min_size=8, max_size=8),
        }
    )
)
def test_label_header_roundtrip(value) -> None:
    raw = layout.label_header.build(cont(value))
    assert len(raw) == 32
    assert plain(layout.label_header.parse(raw)) == value


@settings(max_examples=200, deadline=None)
@given(
    st.fixed_dictionaries(
        {
            "uuid": st.binary(min_size=32, max_size=32),
            "device_size": u64,
            "data_areas": locn_list,
            "metadata_areas": locn_list,
        }
    )
)
def test_pv_header_roundtrip(value) -> None:
    raw = layout.pv_header.build(cont(value))
    assert len(raw) == 40 + 16 * (len(value["data_areas"]) + len(value["metadata_areas"]))
    assert plain(layout.pv_header.parse(raw)) == value
    assert plain(layout.pv_header.parse(raw + b"\xaa" * 64)) == value  # stops at the ends


@settings(max_examples=200, deadline=None)
@given(st.fixed_dictionaries({"version": u32, "flags": u32, "bootloader_areas": locn_list}))
def test_pv_header_extension_roundtrip(value) -> None:
    raw = layout.pv_header_extension.build(cont(value))
    assert len(raw) == 8 + 16 * len(value["bootloader_areas"])
    assert plain(layout.pv_header_extension.parse(raw)) == value


@settings(max_examples=200, deadline=None)
@given(
    st.fixed_dictionaries(
        {
            "checksum": u32,
            "magic": st.binary(min_size=16, max_size=16),
            "version": u32,
            "start": u64,
            "size": u64,
            "raw_locns": st.lists(rlocn, max_size=4).map(lambda lst: [*lst, RL_END]),
        }
    )
)
def test_mda_header_roundtrip(value) -> None:
    raw = layout.mda_header.build(cont(value))
    assert len(raw) == 40 + 24 * len(value["raw_locns"])
    assert plain(layout.mda_header.parse(raw.ljust(512, b"\0"))) == value


@settings(max_examples=100, deadline=None)
@given(offset=u64, size=u64, checksum=u32, flags=u32)
def test_raw_locn_roundtrip(offset, size, checksum, flags) -> None:
    value = {"offset": offset, "size": size, "checksum": checksum, "flags": flags}
    raw = layout.raw_locn.build(cont(value))
    assert raw == (
        offset.to_bytes(8, "little")
        + size.to_bytes(8, "little")
        + checksum.to_bytes(4, "little")
        + flags.to_bytes(4, "little")
    )
    assert plain(layout.raw_locn.parse(raw)) == value


def test_build_accepts_plain_dicts() -> None:
    value = {
        "uuid": b"U" * 32,
        "device_size": 8 << 20,
        "data_areas": [{"offset": 1 << 20, "size": 0}, END],
        "metadata_areas": [END],
    }
    raw = layout.pv_header.build(value)
    assert plain(layout.pv_header.parse(raw)) == value


def test_out_of_range_values_do_not_build() -> None:
    with pytest.raises(ConstructError):
        layout.label_header.build(
            {"id": b"LABELONE", "sector": -1, "crc": 0, "offset": 32, "type": b"LVM2 001"}
        )
    with pytest.raises(ConstructError):
        layout.raw_locn.build({"offset": 0, "size": 0, "checksum": 2**32, "flags": 0})
    with pytest.raises(ConstructError):
        layout.label_header.build(
            {"id": b"SHORT", "sector": 1, "crc": 0, "offset": 32, "type": b"LVM2 001"}
        )


# --- property tests: random bytes -----------------------------------------------------

STRUCTS = {
    "label_header": layout.label_header,
    "pv_header": layout.pv_header,
    "pv_header_extension": layout.pv_header_extension,
    "mda_header": layout.mda_header,
}


@pytest.mark.parametrize("name", list(STRUCTS))
@settings(max_examples=200, deadline=None)
@given(data=st.one_of(st.binary(max_size=512), st.binary(max_size=64).map(lambda b: b + bytes(48))))
def test_random_bytes_raise_only_construct_errors(name: str, data: bytes) -> None:
    try:
        STRUCTS[name].parse(data)
    except ConstructError:
        pass


def test_unterminated_lists_raise_construct_errors() -> None:
    # A pv_header whose data-area list never ends inside the sector.
    body = b"U" * 32 + (4096).to_bytes(8, "little") + b"\x01" * 472
    with pytest.raises(ConstructError):
        layout.pv_header.parse(body)
    with pytest.raises(ConstructError):
        layout.mda_header.parse(b"\x00" * 40 + b"\x01" * 472)


def test_offsets_come_from_the_structs():
    """The sizes and offsets pv.py and dump.py use are those of lvm2's layout.h structs."""
    assert layout.SECTOR_SIZE == 512 and layout.MDA_HEADER_SIZE == layout.SECTOR_SIZE
    assert layout.LABEL_HEADER_SIZE == 32 and layout.LABEL_CRC_START == 20
    assert layout.spans(layout.label_header) == {
        "id": (0, 8), "sector": (8, 8), "crc": (16, 4), "offset": (20, 4), "type": (24, 8)}
    assert layout.DISK_LOCN_SIZE == 16 and layout.RAW_LOCN_SIZE == 24
    assert layout.fixed_size(layout.pv_header) == 40  # uuid[32], device_size
    assert layout.fixed_size(layout.pv_header_extension) == 8
    assert layout.MDA_CRC_START == 4 and layout.RAW_LOCNS_START == 40
    assert layout.spans(layout.mda_header)["size"] == (32, 8)
    buf = bytes(range(64))
    fixed = layout.parse_fixed(layout.mda_header, buf)
    assert fixed["magic"] == buf[4:20]
    assert fixed["start"] == int.from_bytes(buf[24:32], "little")
    assert "raw_locns" not in fixed
