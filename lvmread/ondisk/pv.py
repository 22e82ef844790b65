"""The physical device: the LVM label, the pv_header, its extension and the metadata areas.

:func:`read_pv` finds the label in the first four sectors of a
:class:`~lvmread.inputs.source.Source` and checks everything lvm2 checks; a
:class:`PVDevice` then gives each metadata area, the metadata text its header points to,
and the raw bytes of the ring for forensic use.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Optional

from construct import ConstructError

from ..errors import ChecksumError, HeaderError, LabelError, LvmIOError, LvmReadError
from ..limits import MAX_METADATA_TEXT
from . import layout
from .crc import lvm_crc

if TYPE_CHECKING:
    from ..inputs.source import Source




UUID_CHARS = frozenset("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789!#")
"""The characters of an lvm2 uuid (lib/uuid/uuid.c)."""


def valid_uuid(text: Optional[str]) -> bool:
    """Whether ``text`` reads as an lvm2 uuid (``id_read_format``): 32 of
    :data:`UUID_CHARS`, dashes anywhere. lvm2 refuses metadata whose VG id does not."""
    if not text:
        return False
    s = text.replace("-", "")
    return len(s) == 32 and all(c in UUID_CHARS for c in s)


def format_uuid(raw: bytes | str) -> str:
    """Format a 32-character LVM uuid the way lvm2 prints it (6-4-4-4-4-4-6)."""
    s = raw.decode("ascii", "replace") if isinstance(raw, bytes) else raw
    s = s.replace("-", "")
    if len(s) != layout.ID_LEN:
        return s
    cuts = (6, 10, 14, 18, 22, 26)
    parts, last = [], 0
    for c in cuts:
        parts.append(s[last:c])
        last = c
    parts.append(s[last:])
    return "-".join(parts)


@dataclass(frozen=True)
class Area:
    """A byte range of the device (a ``disk_locn``)."""

    offset: int
    size: int


@dataclass
class MetadataText:
    """One copy of the metadata text inside a metadata area."""

    area: MetadataArea
    offset: int
    """Offset of the text from the start of the metadata area."""
    size: int
    """Length in bytes, the trailing NUL included."""
    stored_checksum: Optional[int]
    """The checksum the mda_header records, or None for a copy found by scanning."""
    computed_checksum: int
    data: bytes
    """The raw bytes (wrap resolved), the trailing NUL included."""
    wrapped: bool = False

    @property
    def checksum_ok(self) -> bool:
        return self.stored_checksum is None or self.stored_checksum == self.computed_checksum

    @property
    def text(self) -> str:
        return self.data.rstrip(b"\0").decode("utf-8", "replace")

    @property
    def device_offset(self) -> int:
        """Offset of the text from the start of the device (the PV)."""
        return self.area.offset + self.offset

    @property
    def where(self) -> str:
        """``file: offset N`` with N counted from the start of the input file."""
        return f"{self.area.source.path}: offset {self.area.source.start + self.device_offset}"


@dataclass
class MetadataArea:
    """One metadata area of a PV: its mda_header and the ring buffer after it."""

    source: Source
    index: int
    offset: int
    """Offset of the area from the start of the device (from the pv_header)."""
    size: int
    header: Optional[object] = None
    """The parsed mda_header, or None if it could not be read."""
    error: Optional[LvmReadError] = None
    """Why the header is unusable, if it is."""

    @property
    def ignored(self) -> bool:
        return bool(
            self.header is not None
            and self.header.raw_locns
            and self.header.raw_locns[0].flags & layout.RAW_LOCN_IGNORED
        )

    def _file_offset(self, offset: int) -> int:
        return self.source.start + self.offset + offset

    def read_ring(self, offset: int, size: int) -> tuple[bytes, bool]:
        """Read ``size`` bytes of the ring from ``offset``, wrapping to just after the header."""
        ring_end = self.size
        first = min(size, ring_end - offset)
        data = self.source.pread(first, self.offset + offset)
        wrapped = first < size
        if wrapped:
            data += self.source.pread(size - first, self.offset + layout.MDA_HEADER_SIZE)
        return data, wrapped

    def current(self) -> Optional[MetadataText]:
        """The metadata text the header points to (raw_locn 0), or None if there is none.

        Raises :class:`HeaderError` for a location outside the area and
        :class:`ChecksumError` when the text's checksum does not match.
        """
        if self.header is None or not self.header.raw_locns:
            return None
        rl = self.header.raw_locns[0]
        if rl.offset == 0 and rl.size == 0:
            return None
        ring = self.size - layout.MDA_HEADER_SIZE
        if rl.size > MAX_METADATA_TEXT:
            raise HeaderError(
                f"metadata text of {rl.size} bytes is larger than lvmread's limit of "
                f"{MAX_METADATA_TEXT} bytes",
                file=self.source.path,
                offset=self._file_offset(0),
            )
        if not (layout.MDA_HEADER_SIZE <= rl.offset < self.size) or not (0 < rl.size <= ring):
            raise HeaderError(
                f"metadata location (offset {rl.offset}, size {rl.size}) lies outside the "
                f"metadata area of {self.size} bytes",
                file=self.source.path,
                offset=self._file_offset(0),
            )
        data, wrapped = self.read_ring(rl.offset, rl.size)
        copy = MetadataText(
            area=self,
            offset=rl.offset,
            size=rl.size,
            stored_checksum=rl.checksum,
            computed_checksum=lvm_crc(data),
            data=data,
            wrapped=wrapped,
        )
        if not copy.checksum_ok:
            raise ChecksumError(
                f"metadata text checksum mismatch (stored {rl.checksum:#010x}, "
                f"computed {copy.computed_checksum:#010x})",
                file=self.source.path,
                offset=self._file_offset(rl.offset),
            )
        return copy


@dataclass
class PVDevice:
    """A physical volume as found on a device: label, pv_header, extension, metadata areas."""

    source: Source
    label_sector: int
    label: object
    uuid: str
    device_size: int
    data_areas: list[Area]
    metadata_areas: list[MetadataArea]
    ext_version: int = 0
    ext_flags: int = 0
    bootloader_areas: list[Area] = field(default_factory=list)

    @property
    def name(self) -> str:
        return self.source.name

    @property
    def pe_start(self) -> Optional[int]:
        """Byte offset of the first extent as the pv_header records it."""
        return self.data_areas[0].offset if self.data_areas else None


_LABEL = layout.spans(layout.label_header)
_MDA = layout.spans(layout.mda_header)


def _areas(entries) -> list[Area]:
    return [Area(e.offset, e.size) for e in entries if e.offset or e.size]


def find_label(source: Source) -> Optional[tuple[int, bytes]]:
    """Return (sector number, sector bytes) of the first ``LABELONE`` in sectors 0-3."""
    n = layout.LABEL_SCAN_SECTORS * layout.SECTOR_SIZE
    head = source.pread(min(n, source.size), 0) if source.size else b""
    for sector in range(layout.LABEL_SCAN_SECTORS):
        buf = head[sector * layout.SECTOR_SIZE : (sector + 1) * layout.SECTOR_SIZE]
        if len(buf) == layout.SECTOR_SIZE and buf.startswith(layout.LABEL_ID):
            return sector, buf
    return None


def read_pv(source: Source) -> PVDevice:
    """Read and check the LVM label, pv_header, extension and mda headers of ``source``.

    Raises :class:`LabelError` when there is no valid label, :class:`ChecksumError`
    for a bad label CRC, :class:`HeaderError` for a malformed pv_header. Faults in
    a metadata-area header do not raise: they are kept in :attr:`MetadataArea.error`.
    """
    found = find_label(source)
    if found is None:
        raise LabelError("no LVM label in sectors 0-3", file=source.path, offset=source.start)
    sector, buf = found
    at = source.start + sector * layout.SECTOR_SIZE
    lh = layout.label_header.parse(buf)
    if lh.sector != sector:
        raise LabelError(
            f"label found in sector {sector} says it is in sector {lh.sector}",
            file=source.path,
            offset=at,
        )
    crc = lvm_crc(buf[layout.LABEL_CRC_START :])
    if crc != lh.crc:
        raise ChecksumError(
            f"label checksum mismatch (stored {lh.crc:#010x}, computed {crc:#010x})",
            file=source.path,
            offset=at,
        )
    if lh.type != layout.LVM2_LABEL_TYPE:
        raise LabelError(
            f"label type {lh.type!r} is not {layout.LVM2_LABEL_TYPE!r}", file=source.path, offset=at
        )
    if not layout.LABEL_HEADER_SIZE <= lh.offset < layout.SECTOR_SIZE:
        raise HeaderError(
            f"pv_header offset {lh.offset} lies outside the label sector",
            file=source.path,
            offset=at + _LABEL["offset"][0],
        )
    body = buf[lh.offset :]
    try:
        ph = layout.pv_header.parse(body)
    except ConstructError:
        raise HeaderError(
            "pv_header area lists do not end inside the label sector",
            file=source.path,
            offset=at + lh.offset,
        ) from None
    used = _pv_header_len(ph)
    ext_version = ext_flags = 0
    boot: list[Area] = []
    if len(body) - used >= layout.fixed_size(layout.pv_header_extension):
        try:
            ext = layout.pv_header_extension.parse(body[used:])
            ext_version, ext_flags = ext.version, ext.flags
            if ext_version:
                boot = _areas(ext.bootloader_areas)
        except ConstructError:
            if layout.parse_fixed(layout.pv_header_extension, body, used)["version"]:
                raise HeaderError(
                    "pv_header extension's bootloader list does not end inside the label sector",
                    file=source.path,
                    offset=at + lh.offset + used,
                ) from None
    pv = PVDevice(
        source=source,
        label_sector=sector,
        label=lh,
        uuid=format_uuid(ph.uuid),
        device_size=ph.device_size,
        data_areas=_areas(ph.data_areas),
        metadata_areas=[],
        ext_version=ext_version,
        ext_flags=ext_flags,
        bootloader_areas=boot,
    )
    for i, a in enumerate(_areas(ph.metadata_areas)):
        pv.metadata_areas.append(read_mda(source, i, a))
    return pv


def _pv_header_len(ph) -> int:
    return layout.fixed_size(layout.pv_header) + layout.DISK_LOCN_SIZE * (
        len(ph.data_areas) + len(ph.metadata_areas)
    )


def read_mda(source: Source, index: int, area: Area) -> MetadataArea:
    """Read and check the mda_header of one metadata area."""
    mda = MetadataArea(source=source, index=index, offset=area.offset, size=area.size)
    at = source.start + area.offset
    try:
        if area.size < layout.MDA_HEADER_SIZE:
            raise HeaderError(
                f"metadata area {index} (offset {area.offset}, size {area.size}) is smaller "
                f"than its {layout.MDA_HEADER_SIZE}-byte header",
                file=source.path,
                offset=at,
            )
        if area.offset + area.size > source.size:
            raise LvmIOError(
                f"metadata area {index} (offset {area.offset}, size {area.size}) runs past the "
                f"end of the input at {source.size} bytes (truncated image?)",
                file=source.path,
                offset=at,
            )
        buf = source.pread(layout.MDA_HEADER_SIZE, area.offset)
        hdr = layout.mda_header.parse(buf)
        crc = lvm_crc(buf[layout.MDA_CRC_START :])
        if crc != hdr.checksum:
            raise ChecksumError(
                f"metadata area {index} header checksum mismatch "
                f"(stored {hdr.checksum:#010x}, computed {crc:#010x})",
                file=source.path,
                offset=at,
            )
        if hdr.magic != layout.FMTT_MAGIC:
            raise HeaderError(
                f"metadata area {index} header has wrong magic {hdr.magic!r}",
                file=source.path,
                offset=at + _MDA["magic"][0],
            )
        if hdr.version != layout.FMTT_VERSION:
            raise HeaderError(
                f"metadata area {index} header version {hdr.version} is not 1",
                file=source.path,
                offset=at + _MDA["version"][0],
            )
        if hdr.start != area.offset:
            raise HeaderError(
                f"metadata area {index} header start {hdr.start} is not the area's offset "
                f"{area.offset}",
                file=source.path,
                offset=at + _MDA["start"][0],
            )
        if hdr.size != area.size:
            raise HeaderError(
                f"metadata area {index} header size {hdr.size} is not the area's size {area.size}",
                file=source.path,
                offset=at + _MDA["size"][0],
            )
        mda.header = hdr
    except ConstructError:
        mda.error = HeaderError(
            f"metadata area {index} raw location list is not terminated",
            file=source.path,
            offset=at + layout.RAW_LOCNS_START,
        )
    except LvmReadError as exc:
        mda.error = exc
    return mda
