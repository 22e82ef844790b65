"""LVM2's on-disk binary structures, as construct definitions.

These follow lvm2's ``lib/label/label.h`` and ``lib/format_text/layout.h``. All
integers are little-endian. Sectors in the label are 512-byte units whatever the
device's logical sector size.
"""

from __future__ import annotations

from typing import Any

from construct import Bytes, Int32ul, Int64ul, RepeatUntil, SizeofError, Struct

from ..limits import SECTOR_SIZE  # noqa: F401 (the layout counts in it)

LABEL_SCAN_SECTORS = 4
"""lvm2 looks for the label in the first four sectors of a device."""

LABEL_ID = b"LABELONE"
LVM2_LABEL_TYPE = b"LVM2 001"
FMTT_MAGIC = b" LVM2 x[5A%r0N*>"
"""The magic of every metadata-area header (``FMTT_MAGIC`` in layout.h)."""
FMTT_VERSION = 1
MDA_HEADER_SIZE = SECTOR_SIZE
"""The mda_header's share of its area (lvm2's MDA_HEADER_SIZE)."""
RAW_LOCN_IGNORED = 0x00000001
"""raw_locn flag: this metadata area is ignored (``pvchange --metadataignore``)."""
PV_EXT_USED = 0x00000001
"""pv_header_extension flag: the PV belongs to a VG."""
ID_LEN = 32

# struct label_header: the first 32 bytes of the label sector.
label_header = Struct(
    "id" / Bytes(8),  # "LABELONE"
    "sector" / Int64ul,  # sector number of this label; must be the sector it is found in
    "crc" / Int32ul,  # lvm_crc of bytes 20..511 of the sector (from `offset` to the end)
    "offset" / Int32ul,  # byte offset of the pv_header from the start of the sector
    "type" / Bytes(8),  # label type: "LVM2 001"
)


def spans(struct: Struct) -> dict[str, tuple[int, int]]:
    """(offset, size) of each field of ``struct`` before its first field of variable size."""
    out: dict[str, tuple[int, int]] = {}
    at = 0
    for sub in struct.subcons:
        try:
            size = sub.sizeof()
        except SizeofError:
            break
        out[sub.name] = (at, size)
        at += size
    return out


def fixed_size(struct: Struct) -> int:
    """The size of the fields of ``struct`` before its first field of variable size."""
    return sum(size for _, size in spans(struct).values())


def parse_fixed(struct: Struct, buf: bytes, pos: int = 0) -> dict[str, Any]:
    """The fields of ``struct`` before its first field of variable size, from ``buf[pos:]``
    (what can be read of a header whose lists may not end)."""
    subs = {sub.name: sub for sub in struct.subcons}
    return {name: subs[name].parse(buf[pos + at : pos + at + size])
            for name, (at, size) in spans(struct).items()}


LABEL_HEADER_SIZE = label_header.sizeof()
LABEL_CRC_START = spans(label_header)["offset"][0]
"""The label CRC covers the sector from this byte (the ``offset`` field) to its end."""

# struct disk_locn: one area of the device; a zero entry ends a list of them.
disk_locn = Struct(
    "offset" / Int64ul,  # byte offset from the start of the device
    "size" / Int64ul,  # bytes; 0 for a data area means "to the end of the device"
)


def _is_end(entry, _lst, _ctx) -> bool:
    return entry["offset"] == 0 and entry["size"] == 0


DISK_LOCN_SIZE = disk_locn.sizeof()

# A list of disk_locn ending at an all-zero entry (the terminator is kept as the
# last element; use `areas()` to drop it).
disk_locn_list = RepeatUntil(_is_end, disk_locn)

# struct pv_header: follows the label header in the same sector.
pv_header = Struct(
    "uuid" / Bytes(ID_LEN),  # PV uuid, 32 characters without dashes
    "device_size" / Int64ul,  # size of the device in bytes when the PV was created
    "data_areas" / disk_locn_list,  # where the extents lie (normally one area from pe_start)
    "metadata_areas" / disk_locn_list,  # the metadata areas (0, 1 or 2)
)

# struct pv_header_extension: follows the metadata-area list (lvm2 2.02.110 and later).
pv_header_extension = Struct(
    "version" / Int32ul,  # extension version (2 today); 0 means no extension
    "flags" / Int32ul,  # PV_EXT_USED when the PV is in a VG
    "bootloader_areas" / disk_locn_list,  # bootloader areas (pvcreate --bootloaderareasize)
)

# struct raw_locn: where one copy of the metadata text lies inside a metadata area.
raw_locn = Struct(
    "offset" / Int64ul,  # byte offset of the text from the start of the metadata area
    "size" / Int64ul,  # length of the text in bytes, including its trailing NUL
    "checksum" / Int32ul,  # lvm_crc of the text (the wrapped part included)
    "flags" / Int32ul,  # RAW_LOCN_IGNORED
)

# struct mda_header: the first 512 bytes of every metadata area.
mda_header = Struct(
    "checksum" / Int32ul,  # lvm_crc of bytes 4..511 of this header
    "magic" / Bytes(16),  # FMTT_MAGIC
    "version" / Int32ul,  # FMTT_VERSION (1)
    "start" / Int64ul,  # absolute byte offset of this metadata area on the device
    "size" / Int64ul,  # size of the metadata area in bytes, this header included
    "raw_locns" / RepeatUntil(
        lambda e, _l, _c: not (e["offset"] or e["size"] or e["checksum"] or e["flags"]),
        raw_locn,
    ),  # [0] is the committed metadata; lvm2 leaves [1] zero (the list's end)
)
MDA_CRC_START = spans(mda_header)["magic"][0]
"""The mda_header CRC covers its bytes from here (after the checksum) to MDA_HEADER_SIZE."""
RAW_LOCN_SIZE = raw_locn.sizeof()
RAW_LOCNS_START = fixed_size(mda_header)
"""Where the mda_header's raw_locn list starts."""

__all__ = [
    "DISK_LOCN_SIZE",
    "LABEL_HEADER_SIZE",
    "RAW_LOCNS_START",
    "RAW_LOCN_SIZE",
    "fixed_size",
    "parse_fixed",
    "spans",
    "FMTT_MAGIC",
    "FMTT_VERSION",
    "ID_LEN",
    "LABEL_CRC_START",
    "LABEL_ID",
    "LABEL_SCAN_SECTORS",
    "LVM2_LABEL_TYPE",
    "MDA_CRC_START",
    "MDA_HEADER_SIZE",
    "PV_EXT_USED",
    "RAW_LOCN_IGNORED",
    "SECTOR_SIZE",
    "disk_locn",
    "label_header",
    "mda_header",
    "pv_header",
    "pv_header_extension",
    "raw_locn",
]
