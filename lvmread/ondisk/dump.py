"""``lvmread dump``: every field of the on-disk headers, like ``pvck --dump headers``.

For each PV on an input (the whole device, or each partition that carries a label):
the label_header, the pv_header with its data and metadata area lists, the
pv_header_extension with its bootloader areas, and the mda_header of every metadata
area with both raw_locn slots, then the metadata text the header points to. Each field
comes with its byte offset from the start of the PV (as pvck prints them) and its size;
every checksum is recomputed and marked good or bad, and every other value lvm2 checks
(label sector, offsets, magic, version, area start and size) is marked too. Nothing
needs to be valid for the dump to be made: it reads the bytes as they are.

The text output has pvck's lines (``label_header.crc 0x7350ebc7``) with lvmread's notes
after `` # `` and pvck's ``CHECK:`` lines for what fails.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, Optional

from ..errors import LvmReadError
from ..limits import MAX_METADATA_TEXT
from . import layout
from .crc import lvm_crc

if TYPE_CHECKING:
    from ..inputs.source import Source


def _hex(n: int) -> str:
    """As pvck prints numbers in hex (``0x0``, ``0x7350ebc7``)."""
    return f"{n:#x}"


def _hex32(n: int) -> str:
    return f"{n:#010x}"


def _chars(raw: bytes) -> str:
    """Bytes as pvck shows them: printable ASCII, anything else as ``?``."""
    return "".join(chr(b) if 32 <= b < 127 else "?" for b in raw)


class _Dump:
    """Collects the lines and the JSON of one PV's dump."""

    def __init__(self, source: Source) -> None:
        self.src = source
        self.lines: list[str] = []
        self.checks: list[str] = []

    def line(self, text: str, note: Optional[str] = None) -> None:
        self.lines.append(f"{text} # {note}" if note else text)

    def check(self, msg: str) -> None:
        self.lines.append(f"CHECK: {msg}")
        self.checks.append(msg)

    def read(self, length: int, at: int) -> Optional[bytes]:
        if at < 0 or at + length > self.src.size:
            return None
        try:
            return self.src.pread(length, at)
        except LvmReadError:
            return None


def _f(at: int, size: int, value: Any, **extra: Any) -> dict[str, Any]:
    d: dict[str, Any] = {"at": at, "size": size, "value": value}
    d.update(extra)
    return d


_LABEL = layout.spans(layout.label_header)
_PV = layout.spans(layout.pv_header)
_EXT = layout.spans(layout.pv_header_extension)
_LOCN = layout.spans(layout.disk_locn)
_MDA = layout.spans(layout.mda_header)
_RAW = layout.spans(layout.raw_locn)


def _field(spans: dict[str, tuple[int, int]], name: str, base: int, value: Any,
           **extra: Any) -> dict[str, Any]:
    """:func:`_f` for field ``name`` of a struct at ``base``, its place from ``spans``."""
    at, size = spans[name]
    return _f(base + at, size, value, **extra)


def _locn_list(
    d: _Dump, buf: bytes, base: int, pos: int, prefix: str, first_index: int, what: str
) -> tuple[list[dict], Optional[dict], int, int]:
    """Read a disk_locn list as pvck does (an entry with offset 0 ends it).

    Returns (entries, terminator or None, next position in buf, next index).
    """
    entries = []
    di = first_index
    while True:
        if pos + layout.DISK_LOCN_SIZE > len(buf):
            d.check(f"{prefix}.disk_locn[{di}] list does not end inside the label sector")
            return entries, None, pos, di
        locn = layout.disk_locn.parse(buf[pos : pos + layout.DISK_LOCN_SIZE])
        off, size = locn.offset, locn.size
        at = base + pos
        end = off == 0
        note = "location list end" if end else what
        d.line(f"{prefix}.disk_locn[{di}] at {at}", note)
        d.line(f"{prefix}.disk_locn[{di}].offset {off}")
        d.line(f"{prefix}.disk_locn[{di}].size {size}")
        entry = {"index": di, "at": at, "offset": _field(_LOCN, "offset", at, off),
                 "size": _field(_LOCN, "size", at, size)}
        pos += layout.DISK_LOCN_SIZE
        di += 1
        if end:
            if size:
                d.check(f"{prefix}.disk_locn[{di - 1}] ends the list but has size {size}")
            return entries, entry, pos, di
        entries.append(entry)


def dump_pv(source: Source, label_sector: int) -> dict[str, Any]:
    """The dump of the PV whose label is in ``label_sector`` of ``source``."""
    d = _Dump(source)
    out: dict[str, Any] = {
        "device": source.name,
        "path": source.path,
        "device_start": source.start,
        "device_size": source.size,
        "label_sector": label_sector,
    }
    lh_at = label_sector * layout.SECTOR_SIZE
    buf = d.read(layout.SECTOR_SIZE, lh_at)
    if buf is None:
        d.check(f"failed to read label_header at {lh_at}")
        out.update(checks=d.checks, ok=False, lines=d.lines)
        return out
    lh = layout.label_header.parse(buf)
    lid, lsector, lcrc, loffset, ltype = lh.id, lh.sector, lh.crc, lh.offset, lh.type
    lh_size = layout.LABEL_HEADER_SIZE
    crc = lvm_crc(buf[layout.LABEL_CRC_START :])
    d.line(f"label_header at {lh_at}")
    d.line(f"label_header.id {_chars(lid)}")
    d.line(f"label_header.sector {lsector}")
    d.line(
        f"label_header.crc {_hex(lcrc)}",
        "checksum good" if crc == lcrc else f"checksum BAD, computed {_hex(crc)}",
    )
    d.line(f"label_header.offset {loffset}")
    d.line(f"label_header.type {_chars(ltype)}")
    if lid != layout.LABEL_ID:
        d.check(f"label_header.id expected {layout.LABEL_ID.decode()}")
    if lsector != label_sector:
        d.check(f"label_header.sector expected {label_sector}")
    if crc != lcrc:
        d.check(f"label_header.crc expected {_hex(crc)}")
    if loffset != lh_size:
        d.check(f"label_header.offset expected {lh_size}")
    if ltype != layout.LVM2_LABEL_TYPE:
        d.check(f"label_header.type expected {layout.LVM2_LABEL_TYPE.decode()}")
    out["label_header"] = {
        "at": lh_at,
        "size": lh_size,
        "id": _field(_LABEL, "id", lh_at, _chars(lid), expected=layout.LABEL_ID.decode(),
                     ok=lid == layout.LABEL_ID),
        "sector": _field(_LABEL, "sector", lh_at, lsector, expected=label_sector,
                         ok=lsector == label_sector),
        "crc": _field(
            _LABEL, "crc", lh_at, _hex32(lcrc), computed=_hex32(crc), ok=crc == lcrc,
            covers=[lh_at + layout.LABEL_CRC_START, lh_at + layout.SECTOR_SIZE],
        ),
        "offset": _field(_LABEL, "offset", lh_at, loffset, expected=lh_size,
                         ok=loffset == lh_size),
        "type": _field(_LABEL, "type", lh_at, _chars(ltype),
                       expected=layout.LVM2_LABEL_TYPE.decode(),
                       ok=ltype == layout.LVM2_LABEL_TYPE),
    }

    # pv_header: pvck reads it right after the label_header whatever `offset` says
    pvh = lh_size
    pvh_at = lh_at + pvh
    ph = layout.parse_fixed(layout.pv_header, buf, pvh)
    uuid_raw, dev_size = ph["uuid"], ph["device_size"]
    d.line(f"pv_header at {pvh_at}")
    d.line(f"pv_header.pv_uuid {_chars(uuid_raw)}")
    d.line(f"pv_header.device_size {dev_size}")
    from .pv import format_uuid

    uuid_ok = all(chr(b).isascii() and (chr(b).isalnum() or chr(b) in "!#") for b in uuid_raw)
    if not uuid_ok:
        d.check("pv_header.pv_uuid invalid format")
    if dev_size and dev_size > source.size:
        d.line(f"# pv_header.device_size is larger than the device ({source.size} bytes)")
    data, data_end, pos, di = _locn_list(
        d, buf, lh_at, pvh + layout.fixed_size(layout.pv_header), "pv_header", 0,
        "location of data area",
    )
    mdas, mda_end, pos, di = (
        _locn_list(d, buf, lh_at, pos, "pv_header", di, "location of metadata area")
        if data_end is not None
        else ([], None, pos, di)
    )
    out["pv_header"] = {
        "at": pvh_at,
        "pv_uuid": _field(_PV, "uuid", pvh_at, _chars(uuid_raw), formatted=format_uuid(uuid_raw),
                          ok=uuid_ok),
        "device_size": _field(_PV, "device_size", pvh_at, dev_size),
        "data_areas": data,
        "data_areas_end": data_end,
        "metadata_areas": mdas,
        "metadata_areas_end": mda_end,
    }

    # pv_header_extension: after the metadata area list's terminator
    ext: Optional[dict[str, Any]] = None
    ext_size = layout.fixed_size(layout.pv_header_extension)
    if mda_end is not None and pos + ext_size <= len(buf):
        ext_at = lh_at + pos
        fixed = layout.parse_fixed(layout.pv_header_extension, buf, pos)
        version, flags = fixed["version"], fixed["flags"]
        d.line(f"pv_header_extension at {ext_at}")
        d.line(f"pv_header_extension.version {version}")
        names = ["PV_EXT_USED"] if flags & layout.PV_EXT_USED else []
        d.line(f"pv_header_extension.flags {flags}", " ".join(names) or None)
        boot, boot_end, pos, _ = _locn_list(
            d, buf, lh_at, pos + ext_size, "pv_header_extension", 0, "bootloader area"
        )
        ext = {
            "at": ext_at,
            "version": _field(_EXT, "version", ext_at, version),
            "flags": _field(_EXT, "flags", ext_at, flags, names=names),
            "bootloader_areas": boot,
            "bootloader_areas_end": boot_end,
        }
    out["pv_header_extension"] = ext

    if not mdas:
        d.line("zero metadata copies")
    out["mda_headers"] = [
        _dump_mda(d, i + 1, m["offset"]["value"], m["size"]["value"]) for i, m in enumerate(mdas)
    ]
    stored = [m["raw_locns"][0]["checksum"]["value"] for m in out["mda_headers"]
              if m.get("raw_locns")]
    if len(stored) > 1 and len(set(stored)) > 1 and "0x00000000" not in stored:
        d.check("mdas have different raw_locn[0].checksum values")
    out["checks"] = d.checks
    out["ok"] = not d.checks
    out["lines"] = d.lines
    return out


def _dump_mda(d: _Dump, num: int, mda_at: int, mda_size: int) -> dict[str, Any]:
    name = f"mda_header_{num}"
    res: dict[str, Any] = {"index": num, "at": mda_at, "area_size": mda_size}
    buf = d.read(layout.MDA_HEADER_SIZE, mda_at)
    if buf is None:
        d.check(f"failed to read {name} at {mda_at}")
        res["readable"] = False
        return res
    res["readable"] = True
    hdr = layout.parse_fixed(layout.mda_header, buf)
    csum, magic, version = hdr["checksum"], hdr["magic"], hdr["version"]
    start, size = hdr["start"], hdr["size"]
    crc = lvm_crc(buf[layout.MDA_CRC_START :])
    magic_hex = "0x" + magic.hex()
    d.line(f"{name} at {mda_at}", "metadata area")
    d.line(
        f"{name}.checksum {_hex(csum)}",
        "checksum good" if crc == csum else f"checksum BAD, computed {_hex(crc)}",
    )
    d.line(f"{name}.magic {magic_hex}")
    d.line(f"{name}.version {version}")
    d.line(f"{name}.start {start}")
    d.line(f"{name}.size {size}")
    if crc != csum:
        d.check(f"{name}.checksum expected {_hex(crc)}")
    if magic != layout.FMTT_MAGIC:
        d.check(f"{name}.magic expected 0x{layout.FMTT_MAGIC.hex()}")
    if version != layout.FMTT_VERSION:
        d.check(f"{name}.version expected {layout.FMTT_VERSION}")
    if start != mda_at:
        d.check(f"{name}.start does not match pv_header.disk_locn.offset {mda_at}")
    if size != mda_size:
        d.check(f"{name}.size does not match pv_header.disk_locn.size {mda_size}")
    res.update(
        checksum=_field(_MDA, "checksum", mda_at, _hex32(csum), computed=_hex32(crc),
                        ok=crc == csum,
                        covers=[mda_at + layout.MDA_CRC_START, mda_at + layout.MDA_HEADER_SIZE]),
        magic=_field(_MDA, "magic", mda_at, magic_hex, expected="0x" + layout.FMTT_MAGIC.hex(),
                     ok=magic == layout.FMTT_MAGIC),
        version=_field(_MDA, "version", mda_at, version, expected=layout.FMTT_VERSION,
                       ok=version == layout.FMTT_VERSION),
        start=_field(_MDA, "start", mda_at, start, expected=mda_at, ok=start == mda_at),
        size=_field(_MDA, "size", mda_at, size, expected=mda_size, ok=size == mda_size),
    )
    rls = []
    for ri in range(2):
        pos = layout.RAW_LOCNS_START + layout.RAW_LOCN_SIZE * ri
        at = mda_at + pos
        raw = layout.raw_locn.parse(buf[pos : pos + layout.RAW_LOCN_SIZE])
        off, sz, rcsum, flags = raw.offset, raw.size, raw.checksum, raw.flags
        wrapped = off + sz > mda_size
        role = "commit" if ri == 0 else "precommit"
        d.line(f"{name}.raw_locn[{ri}] at {at}", role + (" wrapped" if wrapped else ""))
        d.line(f"{name}.raw_locn[{ri}].offset {off}")
        d.line(f"{name}.raw_locn[{ri}].size {sz}")
        d.line(f"{name}.raw_locn[{ri}].checksum {_hex(rcsum)}")
        ign = flags & layout.RAW_LOCN_IGNORED
        d.line(f"{name}.raw_locn[{ri}].flags {_hex(flags)}", "RAW_LOCN_IGNORED" if ign else None)
        rl = {
            "index": ri, "at": at, "role": role, "wrapped": wrapped,
            "offset": _field(_RAW, "offset", at, off), "size": _field(_RAW, "size", at, sz),
            "checksum": _field(_RAW, "checksum", at, _hex32(rcsum)),
            "flags": _field(_RAW, "flags", at, flags,
                            names=["RAW_LOCN_IGNORED"] if ign else []),
        }
        if ri == 1 and off:
            d.check(f"{name}.raw_locn[{ri}] for precommit not empty")
        if off and not ign and sz > mda_size - layout.MDA_HEADER_SIZE:
            d.check(f"{name}.raw_locn[{ri}].size larger than metadata area size")
        if off and not (layout.MDA_HEADER_SIZE <= off < mda_size):
            d.check(f"{name}.raw_locn[{ri}].offset lies outside the metadata area")
        rls.append(rl)
    res["raw_locns"] = rls
    off = rls[0]["offset"]["value"]
    sz = min(rls[0]["size"]["value"], max(mda_size - layout.MDA_HEADER_SIZE, 0))
    if sz > MAX_METADATA_TEXT:  # a damaged size must not make the dump read a whole disk
        d.check(f"{name}.raw_locn[0].size {sz} is over lvmread's limit of "
                f"{MAX_METADATA_TEXT} bytes; the text is not read")
        sz = 0
    if off and not rls[0]["flags"]["names"] and layout.MDA_HEADER_SIZE <= off < mda_size and sz:
        res["metadata_text"] = _dump_text(d, num, mda_at, mda_size, off, sz,
                                          int(rls[0]["checksum"]["value"], 16))
    return res


def _dump_text(
    d: _Dump, num: int, mda_at: int, mda_size: int, off: int, size: int, stored: int
) -> dict[str, Any]:
    from ..text.metadata import parse_metadata

    at = mda_at + off
    first = min(size, mda_size - off)
    a = d.read(first, at)
    b = d.read(size - first, mda_at + layout.MDA_HEADER_SIZE) if size > first else b""
    if a is None or b is None:
        d.check(f"failed to read metadata text at {at} size {size}")
        return {"at": at, "size": size, "readable": False}
    data = a + b
    crc = lvm_crc(data)
    vgname, seqno, err = None, 0, None
    try:
        tree = parse_metadata(data.split(b"\0", 1)[0].decode("utf-8", "replace"))
        for k, v in tree.items():
            if isinstance(v, dict):
                vgname = k
                s = v.get("seqno")
                seqno = s if isinstance(s, int) else 0
                break
    except LvmReadError as exc:
        err = str(exc)
    good = crc == stored
    d.line(
        f"metadata text at {at} crc {_hex(crc)} # vgname {vgname or '?'} seqno {seqno}",
        None,
    )
    d.lines[-1] += "; checksum good" if good else f"; checksum BAD, header has {_hex(stored)}"
    if not good:
        d.check(f"metadata text at {at} crc does not match mda_header_{num}.raw_locn[0].checksum")
    if err is not None:
        d.check(f"failed to parse metadata text at {at} size {size}: {err}")
    return {
        "at": at,
        "size": size,
        "readable": True,
        "wrapped": size > first,
        "checksum": {"value": _hex32(crc), "expected": _hex32(stored), "ok": good,
                     "covers": "the text and its trailing NUL"},
        "ends_with_nul": data.endswith(b"\0"),
        "vg_name": vgname,
        "seqno": seqno if vgname else None,
        "parses": err is None,
        "parse_error": err,
    }


def dump_input(path: str) -> dict[str, Any]:
    """Dump every PV of one input where lvm2 would look
    (:func:`~lvmread.ondisk.partitions.label_sources`): the whole device if it has a label
    and no partition table, else its partitions."""
    from ..inputs.source import open_input
    from .partitions import label_sources

    warnings: list[str] = []
    with open_input(path) as infile:
        pvs = [dump_pv(source, sector) for source, sector in label_sources(infile, warnings)]
    return {"path": path, "pvs": pvs, "warnings": warnings}


def format_dump(result: dict[str, Any]) -> str:
    """The text of one input's dump: per PV a ``#`` line naming it, then pvck's lines."""
    out = []
    for pv in result["pvs"]:
        where = pv["device"]
        if pv["device_start"]:
            where += f" (starts at byte {pv['device_start']} of {pv['path']}; offsets below " \
                     "are from the start of the PV)"
        out.append(f"# {where}")
        out.extend(f"  {line}" for line in pv["lines"])
    return "\n".join(out)
