"""Property-based tests (hypothesis) of the binary structures, the metadata grammar, the
model and the whole read path, against inputs a damaged or hostile disk could hold.

* arbitrary bytes, and bytes shaped like a PV (a label with a right or wrong CRC, a
  pv_header with any disk_locn lists, mda_headers with any raw_locns, any text where they
  point), never make lvmread raise anything but :class:`LvmReadError` (the header parsers,
  the metadata area reader, the ring scanner of ``history``, ``dump``, the partition
  tables);
* generated lvm2 VG metadata round-trips through the grammar; arbitrary text gives a dict
  or a :class:`MetadataSyntaxError`;
* arbitrary damage to a parsed VG tree (any value replaced by any type) never makes the
  model, the checks of meaning or the activator raise anything but :class:`LvmReadError`;
* PV images generated from a random VG (linear and striped LVs on 1-3 PVs) read back, LV by
  LV, exactly the bytes an independent reference mapping says, and damaging their
  metadata text (checksums fixed) keeps every CLI command to exit 0/1 with one-line
  messages.

``max_examples`` stay modest to keep the suite fast; no deadlines.
"""

from __future__ import annotations

import contextlib
import io
import os
import struct
import tempfile
import zlib

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from lvmread.errors import LvmIOError, LvmReadError, MetadataSyntaxError
from lvmread.inputs.source import Source
from lvmread.ondisk import layout
from lvmread.ondisk.crc import lvm_crc
from lvmread.text.metadata import parse_metadata

SLOW = settings(max_examples=100, deadline=None,
                suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])
FAST = settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])

U32 = st.integers(0, (1 << 32) - 1)
U64 = st.integers(0, (1 << 64) - 1)
INTERESTING64 = st.one_of(
    st.sampled_from([0, 1, 511, 512, 513, 4096, 1 << 31, 1 << 32, (1 << 63) - 1, 1 << 63,
                     (1 << 64) - 1]),
    st.integers(0, 1 << 16),
    U64,
)


class BytesInput:
    """An in-memory input, shaped like :class:`lvmread.inputs.source.InputFile`."""

    def __init__(self, data: bytes, path: str = "mem.img") -> None:
        self.data = bytes(data)
        self.path = path
        self.size = len(self.data)
        self.sector_size = None
        self.fd = 0
        self.whole = Source(self, 0, self.size)

    closed = False

    def source(self, start: int, size: int, partition=None) -> Source:
        return Source(self, start, size, partition)

    def pread(self, length: int, offset: int) -> bytes:
        if offset < 0 or length < 0 or offset + length > self.size:
            raise LvmIOError("short read", file=self.path, offset=offset)
        return self.data[offset : offset + length]

    def close(self) -> None:
        pass


# ------------------------------------------------------------------ PV-shaped bytes


def _locns(entries: list[tuple[int, int]], terminate: bool) -> list[dict]:
    out = [{"offset": o, "size": s} for o, s in entries]
    return out + [{"offset": 0, "size": 0}] if terminate else out


def _raw_locns(entries: list[tuple[int, int]], terminate: bool) -> bytes:
    return b"".join(struct.pack("<QQ", o, s) for o, s in entries) + bytes(16 * terminate)


def _mostly(draw, right, *wrong, p: int = 9):
    """``right`` nine times in ten (``p`` in ten), else one of ``wrong``."""
    if not wrong or draw(st.integers(0, 9)) < p:
        return right
    return draw(st.sampled_from(wrong))


TEXTS = [b"", b'vg {\nid = "x"\nseqno = 1\n}\n', b"{{{{", b"vg {\nseqno = 1\nphysical_volumes {\n",
         b"\xff" * 40,
         b'vg {\nid = "x"\nseqno = 2\nextent_size = 8\nphysical_volumes {\npv0 {\n'
         b'id = "AAAAAA-AAAA-AAAA-AAAA-AAAA-AAAA-AAAAAA"\npe_start = 32\npe_count = 4\n}\n}\n'
         b'logical_volumes {\n'
         b'lv {\nid = "y"\nstatus = ["VISIBLE"]\nsegment1 {\nstart_extent = 0\nextent_count = 2\n'
         b'type = "striped"\nstripe_count = 1\nstripes = ["pv0", 1]\n}\n}\n}\n}\n'
         b'contents = "Text Format Volume Group"\n']


@st.composite
def pv_bytes(draw) -> bytes:
    """A device of 8-64 KiB shaped like a PV: a label in sector 0-3, a pv_header with any
    disk_locn lists, mda headers where it says, text where they point; each field right
    most of the time (so that the parsers get past it), else odd or boundary values, each
    checksum right most of the time."""
    size = draw(st.sampled_from([8192, 16384, 65536]))
    img = bytearray(size)
    sector = draw(st.integers(0, 3))
    mdas = []
    for off in draw(st.lists(st.sampled_from([2048, 4096]), max_size=2, unique=True)):
        msize = min(draw(st.sampled_from([1024, 2048, 4096, 1 << 20])), size - off)
        mdas.append((off, _mostly(draw, msize, msize + 1, 0, 511, 1 << 63)))
    mdas += draw(st.lists(st.tuples(INTERESTING64, INTERESTING64), max_size=1))
    data_areas = draw(st.lists(st.tuples(INTERESTING64, INTERESTING64), max_size=2))
    # built by hand: a list may lack its terminator (construct cannot build that)
    uuid = _mostly(draw, b"A" * 32, draw(st.binary(min_size=32, max_size=32)), p=7)
    hdr = (uuid + struct.pack("<Q", draw(INTERESTING64))
           + _raw_locns([(o or 1, s) for o, s in data_areas], _mostly(draw, True, False))
           + _raw_locns([(o or 1, s) for o, s in mdas], _mostly(draw, True, False)))
    ext = (struct.pack("<II", draw(st.sampled_from([0, 1, 2, 7])), draw(U32))
           + _raw_locns(draw(st.lists(st.tuples(INTERESTING64, INTERESTING64), max_size=1)),
                        draw(st.booleans())))
    offset = _mostly(draw, 32, 0, 40, 480, 600)
    body = (hdr + ext)[: max(0, 512 - offset)]
    label = bytearray(512)
    label[offset : offset + len(body)] = body[: max(0, 512 - offset)]
    label[:32] = layout.label_header.build({
        "id": layout.LABEL_ID, "sector": _mostly(draw, sector, 9, 1 << 63),
        "crc": 0, "offset": offset, "type": _mostly(draw, layout.LVM2_LABEL_TYPE, b"LVM2 002")})
    if _mostly(draw, True, False):  # with a right checksum, the parser gets past it
        label[16:20] = struct.pack("<I", lvm_crc(bytes(label[20:])))
    img[sector * 512 : sector * 512 + 512] = label
    wrap = 1 << 64
    for off, msize in mdas:
        if not 2048 <= off <= size - 512:
            continue
        text = draw(st.sampled_from(TEXTS))
        data = text + b"\0"
        rl_off = _mostly(draw, 512, 0, 511, 1024, msize - 1, msize, 1 << 63, p=7) % wrap
        rl_size = _mostly(draw, len(data), 0, 1, msize, msize - 511, wrap - 1, p=7) % wrap
        mh = layout.mda_header.build({
            "checksum": 0, "magic": _mostly(draw, layout.FMTT_MAGIC, bytes(16)),
            "version": _mostly(draw, 1, 0, 2),
            "start": _mostly(draw, off, 0, off + 512),
            "size": msize % wrap,
            "raw_locns": [{"offset": rl_off, "size": rl_size,
                           "checksum": _mostly(draw, lvm_crc(data), 0),
                           "flags": _mostly(draw, 0, 1, 2)},
                          {"offset": 0, "size": 0, "checksum": 0, "flags": 0}],
        })
        mh = mh + bytes(512 - len(mh))
        if _mostly(draw, True, False):
            mh = struct.pack("<I", lvm_crc(mh[4:])) + mh[4:]
        img[off : off + 512] = mh
        at = off + 512
        img[at : at + len(data)] = data[: max(0, size - at)]
        img = img[:size]
    return bytes(img)


def _pv_paths(src: Source) -> None:
    """Everything lvmread does with one device, from the label to the ring."""
    from lvmread.model.volumes import build_vg
    from lvmread.ondisk.dump import dump_pv
    from lvmread.ondisk.pv import find_label, read_pv
    from lvmread.vgread.ring import scan_area
    from lvmread.vgread.scan import attach_devices, parse_copy
    from lvmread.vgread.validate import check_vg

    try:
        found = find_label(src)  # a short read (a partition past the end) is an LvmIOError
    except LvmReadError:
        return
    if found is not None:
        dump_pv(src, found[0])
    try:
        pv = read_pv(src)
    except LvmReadError:
        return
    for mda in pv.metadata_areas:
        assert mda.error is None or isinstance(mda.error, LvmReadError)
        with contextlib.suppress(LvmReadError):
            text = mda.current()
            if text is not None:
                vg = build_vg(parse_copy(text).tree)
                attach_devices(vg, [pv], [])
                check_vg(vg)
        with contextlib.suppress(LvmReadError):
            for v in scan_area(mda, pv):
                assert v.length is None or v.length >= 0
                v.as_dict()


@FAST
@given(data=st.binary(max_size=4096))
def test_arbitrary_bytes_only_lvmread_errors(data: bytes) -> None:
    _pv_paths(BytesInput(data).whole)


@SLOW
@given(data=pv_bytes())
def test_pv_shaped_bytes_only_lvmread_errors(data: bytes) -> None:
    _pv_paths(BytesInput(data).whole)


@SLOW
@given(data=pv_bytes(), start=st.sampled_from([0, 512, 1024]), cut=st.integers(0, 65536))
def test_sources_inside_an_input(data: bytes, start: int, cut: int) -> None:
    """A partition that starts anywhere, or reaches past the end of its input."""
    f = BytesInput(bytes(start) + data[:cut])
    _pv_paths(f.source(start, len(data)))


@st.composite
def partition_bytes(draw) -> bytes:
    size = draw(st.sampled_from([4096, 65536, 1 << 20]))
    img = bytearray(size)
    entries = []
    for _ in range(4):
        entries.append(struct.pack(
            "<B3sB3sII", draw(st.sampled_from([0, 0x80, 0x81])), b"\0\0\0",
            draw(st.sampled_from([0, 0x05, 0x0F, 0x85, 0x8E, 0xEE, 0x83])), b"\0\0\0",
            draw(st.one_of(st.integers(0, 2048), U32)), draw(st.one_of(st.integers(0, 2048), U32))))
    img[446:510] = b"".join(entries)
    img[510:512] = b"\x55\xaa"
    if draw(st.booleans()):  # a GPT header at LBA 1 with right CRCs and odd fields
        n = draw(st.sampled_from([0, 1, 4, 128, 2000, (1 << 32) - 1]))
        esize = draw(st.sampled_from([0, 8, 128, 136, 4096, (1 << 32) - 1]))
        ents_lba = draw(st.sampled_from([0, 1, 2, 3, 1 << 40]))
        first, last = draw(st.sampled_from([(34, max(34, size // 512 - 34)), (0, 5), (2, 1),
                                            (3, 1 << 63)]))
        arr = bytearray(min(max(0, n * esize), 1 << 16))
        for i in range(0, min(4, n)):
            if esize >= 128 and (i + 1) * esize <= len(arr):
                arr[i * esize : i * esize + 16] = draw(st.binary(min_size=16, max_size=16))
                arr[i * esize + 32 : i * esize + 48] = struct.pack(
                    "<QQ", draw(st.one_of(st.integers(0, 64), U64)),
                    draw(st.one_of(st.integers(0, 2048), U64)))
        hdr = bytearray(struct.pack("<8sIII4xQQQQ16sQIII", b"EFI PART", 0x10000,
                                    draw(st.sampled_from([92, 91, 512, 513])), 0, 1,
                                    size // 512 - 1, first, last, b"\1" * 16, ents_lba, n,
                                    esize, zlib.crc32(bytes(arr))))
        hsize = struct.unpack_from("<I", hdr, 12)[0]
        hdr += bytes(512 - len(hdr))
        hdr[16:20] = struct.pack("<I", zlib.crc32(bytes(hdr[:min(hsize, 512)])))
        img[512:1024] = hdr
        if ents_lba * 512 + len(arr) <= size and ents_lba >= 2:
            img[ents_lba * 512 : ents_lba * 512 + len(arr)] = arr
    return bytes(img)


@SLOW
@given(data=partition_bytes())
def test_partition_tables_only_header_errors(data: bytes) -> None:
    from lvmread.ondisk.partitions import find_partitions, has_partition_table

    warnings: list[str] = []
    assert has_partition_table(BytesInput(data).whole) in (True, False)
    try:
        parts = find_partitions(BytesInput(data).whole, warnings)
    except LvmReadError:
        return
    for p in parts:
        assert p.start >= 0 and p.size >= 0


# ---------------------------------------------------------------------- grammar

NAME = st.from_regex(r"[A-Za-z_][A-Za-z0-9_.+\-]{0,12}", fullmatch=True)
STRING = st.text(st.characters(blacklist_categories=("Cs",), blacklist_characters="\0"),
                 max_size=20)
SCALAR = st.one_of(st.integers(-(1 << 70), 1 << 70), STRING)
VALUE = st.one_of(SCALAR, st.lists(st.one_of(st.integers(-(1 << 64), 1 << 64), STRING),
                                   max_size=6))
TREE = st.recursive(
    st.dictionaries(NAME, VALUE, max_size=5),
    lambda inner: st.dictionaries(NAME, st.one_of(VALUE, inner), max_size=5),
    max_leaves=25,
)


def _quote(s: str) -> str:
    return '"' + s.replace("\\", "\\\\").replace('"', '\\"') + '"'


def _val(v) -> str:
    if isinstance(v, list):
        return "[" + ", ".join(_val(x) for x in v) + "]"
    return str(v) if isinstance(v, int) else _quote(v)


def write_text(tree: dict, indent: str = "", comments: bool = False) -> str:
    """lvm2's text style (sections, ``key = value``, one-line arrays)."""
    out = []
    for k, v in tree.items():
        if isinstance(v, dict):
            out.append(f"{indent}{k} {{" + (" # section\n" if comments else "\n"))
            out.append(write_text(v, indent + "\t", comments))
            out.append(f"{indent}}}\n")
        else:
            out.append(f"{indent}{k} = {_val(v)}" + ("\t# c\n" if comments else "\n"))
    return "".join(out)


@FAST
@given(tree=TREE, comments=st.booleans())
def test_generated_metadata_round_trips(tree: dict, comments: bool) -> None:
    assert parse_metadata(write_text(tree, comments=comments)) == tree


GRAMMAR_ALPHABET = st.sampled_from(list('{}[]=",#\\\n \t-+.0123456789abcxyz_') + ["\x00", "é"])


@FAST
@given(text=st.one_of(st.text(GRAMMAR_ALPHABET, max_size=120), st.text(max_size=60)),
       depth=st.sampled_from([0, 0, 3, 200]))
def test_arbitrary_text_gives_a_dict_or_a_syntax_error(text: str, depth: int) -> None:
    text = "a {\n" * depth + text + "}\n" * depth
    try:
        tree = parse_metadata(text, source="x")
    except MetadataSyntaxError as exc:
        assert exc.file == "x" and "\n" not in str(exc)
        return
    assert isinstance(tree, dict)


# ------------------------------------------------------------------ a random VG

EXTENT = 16  # sectors (8 KiB extents keep the images small)
PE_START = 64  # sectors: label in sector 1, mda at 4096 up to 32 KiB


def _uuid(draw_int: int) -> str:
    s = f"{draw_int:032d}".replace("0", "A")[:32]
    return "-".join((s[:6], s[6:10], s[10:14], s[14:18], s[18:22], s[22:26], s[26:]))


@st.composite
def vg_layouts(draw) -> dict:
    """A VG as lvm2 would write it: PVs, LVs of linear and striped segments on free PEs."""
    npv = draw(st.integers(1, 3))
    pe_counts = [draw(st.integers(4, 24)) for _ in range(npv)]
    free = [list(range(n)) for n in pe_counts]
    lvs = {}
    for i in range(draw(st.integers(1, 4))):
        segs = []
        le = 0
        for _ in range(draw(st.integers(1, 3))):
            have = [p for p in range(npv) if free[p]]
            if not have:
                break
            stripes = draw(st.integers(1, min(3, len(have))))
            pvs = draw(st.permutations(have))[:stripes]
            per = draw(st.integers(1, max(1, min(len(free[p]) for p in pvs) // 2 or 1)))
            per = min(per, *(len(free[p]) for p in pvs))
            areas = []
            for p in pvs:  # a run of contiguous free extents, or the first free one
                run = free[p][0]
                k = 1
                while k < per and run + k in free[p]:
                    k += 1
                per = min(per, k)
            for p in pvs:
                start = free[p][0]
                for e in range(start, start + per):
                    free[p].remove(e)
                areas.append((p, start))
            stripe_size = draw(st.sampled_from([1, 2, 4, 8, 16])) if stripes > 1 else 0
            segs.append({"start": le, "count": per * stripes, "areas": areas,
                         "stripe_size": stripe_size})
            le += per * stripes
        if segs:
            lvs[f"lv{i}"] = segs
    return {"pe_counts": pe_counts, "lvs": lvs}


def vg_text(lay: dict, seqno: int = 3) -> bytes:
    pvs = {}
    for i, n in enumerate(lay["pe_counts"]):
        pvs[f"pv{i}"] = {"id": _uuid(i + 1), "device": f"/dev/fake{i}", "status": ["ALLOCATABLE"],
                         "flags": [], "dev_size": PE_START + n * EXTENT, "pe_start": PE_START,
                         "pe_count": n}
    lvs = {}
    for j, (name, segs) in enumerate(lay["lvs"].items()):
        lv: dict = {"id": _uuid(100 + j), "status": ["READ", "WRITE", "VISIBLE"], "flags": [],
                    "creation_time": 1700000000, "creation_host": "h",
                    "segment_count": len(segs)}
        for k, s in enumerate(segs, 1):
            seg: dict = {"start_extent": s["start"], "extent_count": s["count"],
                         "type": "striped", "stripe_count": len(s["areas"])}
            if s["stripe_size"]:
                seg["stripe_size"] = s["stripe_size"]
            seg["stripes"] = [x for p, st_ in s["areas"] for x in (f"pv{p}", st_)]
            lv[f"segment{k}"] = seg
        lvs[name] = lv
    tree = {"vgprop": {"id": _uuid(99), "seqno": seqno, "format": "lvm2",
                       "status": ["RESIZEABLE", "READ", "WRITE"], "flags": [],
                       "extent_size": EXTENT, "max_lv": 0, "max_pv": 0, "metadata_copies": 0,
                       "physical_volumes": pvs, "logical_volumes": lvs},
            "contents": "Text Format Volume Group", "version": 1, "description": "",
            "creation_host": "h", "creation_time": 1700000000}
    return write_text(tree).encode()


def pv_image(index: int, pe_count: int, text: bytes) -> bytes:
    """A PV: label in sector 1, one mda at 4096, the extents filled with a pattern that
    names the PV and the sector."""
    size = (PE_START + pe_count * EXTENT) * 512
    img = bytearray(size)
    mda_off, mda_size = 4096, PE_START * 512 - 4096
    body = layout.pv_header.build({
        "uuid": _uuid(index + 1).replace("-", "").encode(), "device_size": size,
        "data_areas": _locns([(PE_START * 512, 0)], True),
        "metadata_areas": _locns([(mda_off, mda_size)], True),
    }) + layout.pv_header_extension.build(
        {"version": 2, "flags": 1, "bootloader_areas": _locns([], True)})
    label = bytearray(512)
    label[:32] = layout.label_header.build({"id": layout.LABEL_ID, "sector": 1, "crc": 0,
                                            "offset": 32, "type": layout.LVM2_LABEL_TYPE})
    label[32 : 32 + len(body)] = body
    label[16:20] = struct.pack("<I", lvm_crc(bytes(label[20:])))
    img[512:1024] = label
    text = text[: mda_size - 512 - 1] + b"\0"
    mh = bytearray(layout.mda_header.build({
        "checksum": 0, "magic": layout.FMTT_MAGIC, "version": 1, "start": mda_off,
        "size": mda_size,
        "raw_locns": [{"offset": 512, "size": len(text), "checksum": lvm_crc(text), "flags": 0},
                      {"offset": 0, "size": 0, "checksum": 0, "flags": 0}]}))
    mh += bytes(512 - len(mh))
    mh[:4] = struct.pack("<I", lvm_crc(bytes(mh[4:])))
    img[mda_off : mda_off + 512] = mh
    img[mda_off + 512 : mda_off + 512 + len(text)] = text
    for s in range(PE_START, size // 512):
        img[s * 512 : s * 512 + 16] = struct.pack("<QQ", index + 1, s)
    return bytes(img)


def expected_lv(lay: dict, name: str, images: list[bytes]) -> bytes:
    """The LV's bytes by an independent reference of linear and striped mapping."""
    out = []
    for s in lay["lvs"][name]:
        n = len(s["areas"])
        for q in range(s["count"] * EXTENT):
            if n == 1:
                p, start = s["areas"][0]
                sector = PE_START + start * EXTENT + q
            else:
                chunk, off = divmod(q, s["stripe_size"])
                p, start = s["areas"][chunk % n]
                sector = PE_START + start * EXTENT + (chunk // n) * s["stripe_size"] + off
            out.append(images[p][sector * 512 : sector * 512 + 512])
    return b"".join(out)


def _write(folder: str, images: list[bytes]) -> list[str]:
    paths = []
    for i, data in enumerate(images):
        path = os.path.join(folder, f"pv{i}.img")
        with open(path, "wb") as f:
            f.write(data)
        paths.append(path)
    return paths


@SLOW
@given(lay=vg_layouts())
def test_generated_vgs_read_back_exactly(lay: dict) -> None:
    import lvmread

    text = vg_text(lay)
    images = [pv_image(i, n, text) for i, n in enumerate(lay["pe_counts"])]
    with tempfile.TemporaryDirectory() as d:
        paths = _write(d, images)
        with lvmread.open(paths) as ds:
            assert not ds.errors, ds.errors
            (vg,) = ds.vgs
            assert sorted(vg.lvs) == sorted(lay["lvs"])
            for name in lay["lvs"]:
                lv = ds.lv(f"vgprop/{name}")
                assert not lv.problems, lv.problems
                with lv.open() as f:
                    assert f.read() == expected_lv(lay, name, images), name


def _gone(err: str) -> bool:
    """Exit 2 names an LV or VG the damage took away."""
    return "no logical volume" in err or "no volume group" in err


def _cli(argv: list[str]) -> tuple[int, str]:
    from lvmread.cli import main

    err = io.StringIO()
    with contextlib.redirect_stdout(io.StringIO()), contextlib.redirect_stderr(err):
        rc = main(argv)
    return rc, err.getvalue()


_KEYS = st.sampled_from([b"start_extent", b"extent_count", b"stripe_count", b"stripe_size",
                         b"pe_start", b"pe_count", b"extent_size", b"seqno", b"segment_count"])
_NUMS = st.sampled_from([b"0", b"1", b"-1", b"3", b"2147483648", b"4294967296",
                         b"9223372036854775807", b"18446744073709551615",
                         b"100000000000000000000000", b"-9223372036854775808"])


@st.composite
def damaged_text(draw, lay: dict) -> bytes:
    text = vg_text(lay)
    for _ in range(draw(st.integers(1, 3))):
        how = draw(st.sampled_from(["number", "ref", "cut", "type", "area"]))
        if how == "number":
            key = draw(_KEYS)
            at = text.find(key + b" = ")
            if at >= 0:
                at += len(key) + 3
                end = text.find(b"\n", at)
                text = text[:at] + draw(_NUMS) + text[end:]
        elif how == "ref":
            old = draw(st.sampled_from([b'"pv0"', b'"pv1"']))
            new = draw(st.sampled_from([b'"pv2"', b'"pv7"', b'"lv0"', b'"lv1"', b'""']))
            text = text.replace(old, new, 1)
        elif how == "cut":
            text = text[: draw(st.integers(0, len(text)))]
        elif how == "type":
            new = draw(st.sampled_from([b'"zero"', b'"error"', b'"raid1"', b'"thin"', b'"x"']))
            text = text.replace(b'"striped"', new, 1)
        else:
            at = text.find(b'stripes = ["')
            if at >= 0:
                end = text.find(b"]", at)
                text = text[:at] + b"stripes = [" + draw(st.sampled_from(
                    [b'"pv0"', b'"pv0", -1', b'"pv0", 18446744073709551615, "pv0", 0',
                     b'"lv0", 0', b""])) + text[end:]
    return text


@settings(max_examples=80, deadline=None,
          suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])
@given(data=st.data(), lay=vg_layouts())
def test_damaged_metadata_keeps_the_cli_to_one_line_errors(data, lay: dict) -> None:
    """Metadata text damaged (its checksums fixed, so the damage reaches the parser and the
    model): every command exits 0 or 1 (2 for an LV or VG the damage removed) without a
    traceback, with one line per message."""
    text = data.draw(damaged_text(lay))
    images = [pv_image(i, n, text) for i, n in enumerate(lay["pe_counts"])]
    with tempfile.TemporaryDirectory() as d:
        paths = _write(d, images)
        runs = [["ls", *paths], ["ls", "--json", *paths]]
        for name in lay["lvs"]:
            runs.append(["table", f"vgprop/{name}", *paths])
            runs.append(["cat", f"vgprop/{name}", *paths, "-o", os.devnull, "--partial"])
        for argv in runs:
            rc, err = _cli(argv)
            assert rc in (0, 1) or (rc == 2 and _gone(err)), (argv, rc, err)
            assert all(line.startswith("lvmread: ") for line in err.splitlines()), err


# ------------------------------------------------------------- damaged VG trees


def _paths(tree, prefix=()):
    yield prefix
    if isinstance(tree, dict):
        for k, v in tree.items():
            yield from _paths(v, prefix + (k,))
    elif isinstance(tree, list):
        for i, v in enumerate(tree):
            yield from _paths(v, prefix + (i,))


ANY = st.recursive(
    st.one_of(st.none(), st.integers(-(1 << 70), 1 << 70), st.text(max_size=8),
              st.sampled_from(["pv0", "pv1", "lv0", "lv1", "striped", "zero", "raid1", "thin",
                               "snapshot", "mirror", "error", ""]),
              st.floats(allow_nan=True)),
    lambda inner: st.one_of(st.lists(inner, max_size=4),
                            st.dictionaries(st.text(max_size=4), inner, max_size=3)),
    max_leaves=6,
)


@settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(lay=vg_layouts(), data=st.data())
def test_damaged_trees_only_metadata_errors(lay: dict, data) -> None:
    """Any value of a VG tree replaced by anything: building the model, checking it for
    meaning, reporting and planning the device-mapper tables raise only LvmReadError."""
    from lvmread.activator.plan import plan
    from lvmread.model.volumes import build_vg
    from lvmread.report.lvs import full_report, table
    from lvmread.vgread.validate import check_vg

    tree = parse_metadata(vg_text(lay).decode())
    for _ in range(data.draw(st.integers(1, 4))):
        paths = [p for p in _paths(tree) if p]
        path = data.draw(st.sampled_from(paths))
        node = tree
        for k in path[:-1]:
            node = node[k]
        node[path[-1]] = data.draw(ANY)
    try:
        vg = build_vg(tree, source="t")
    except LvmReadError:
        return
    check_vg(vg)
    with contextlib.suppress(LvmReadError):
        full_report([vg])
        table([vg])
    for lv in list(vg.lvs.values()):
        for partial in (False, True):
            with contextlib.suppress(LvmReadError):
                plan(lv, lambda pv: f"dev_{pv.key}", partial)


# ------------------------------------------------------------------- dm tables


@FAST
@given(text=st.text(st.sampled_from(list("0123456789 linearstripedzoe\\#\n\t:-x")), max_size=80))
def test_dm_table_text_only_table_errors(text: str) -> None:
    from lvmread.dm import DMTableError, parse_table

    try:
        entries = parse_table(text)
    except DMTableError:
        return
    for e in entries:
        assert e.start >= 0 and e.length >= 0
