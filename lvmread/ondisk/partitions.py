"""Partition tables: MBR (with the chain of EBRs of an extended partition) and GPT.

A PV may live in a partition of any type (lvm2 merely recognises the LVM types
``0x8e`` and ``e6d6d379-f507-44c2-a23c-238f2a3df928``), so every partition is
reported. Partitions are numbered as Linux does: MBR primaries 1-4 by slot,
logical partitions from 5 in chain order, GPT entries by their index + 1.

An image file does not say its logical sector size, which both MBR and GPT count in:
GPT is tried with 512- and 4096-byte sectors (its header says which is right); an MBR
is read with 4096-byte sectors only when that finds LVM labels 512 does not (see
:func:`find_partitions`). :func:`has_partition_table` is lvm2's own test for "this
whole device is partitioned", which decides whether a label on the whole device counts.
"""

from __future__ import annotations

import zlib
from dataclasses import dataclass

from construct import Array, Bytes, Int8ul, Int32ul, Int64ul, Struct

from ..errors import HeaderError, LabelError, LvmReadError, summarise
from ..inputs.source import InputFile, Source
from . import layout
from .crc import lvm_crc
from .pv import find_label, read_pv

MBR_SIZE = 512
MBR_MAGIC = b"\x55\xaa"
EXTENDED_TYPES = frozenset({0x05, 0x0F, 0x85})  # DOS, Win95 LBA and Linux extended
GPT_PROTECTIVE_TYPE = 0xEE
LVM_MBR_TYPE = 0x8E
LVM_GPT_TYPE = "e6d6d379-f507-44c2-a23c-238f2a3df928"
GPT_SIGNATURE = b"EFI PART"
GPT_SECTOR_SIZES = (512, 4096)  # tried in turn on image files, which do not say
MBR_SECTOR_SIZES = (512, 4096)  # both read on image files; evidence decides
MAX_LOGICAL = 128  # bound on the EBR chain
MAX_GPT_ENTRIES = 1024
MIN_GPT_HEADER = 92

# One slot of the partition table of an MBR or EBR (16 bytes).
MbrEntry = Struct(
    "boot" / Int8ul,  # 0x80 = bootable ("active"), 0x00 = not; anything else: not a table
    "chs_first" / Bytes(3),  # cylinder/head/sector of the first sector (obsolete, ignored)
    "type" / Int8ul,  # partition type: 0 = unused, 0x05/0x0f/0x85 = extended, 0xee = GPT
    "chs_last" / Bytes(3),  # cylinder/head/sector of the last sector (obsolete, ignored)
    "lba_start" / Int32ul,  # first sector; in an EBR relative to the EBR (data entry)
    #                         or to the start of the extended partition (link entry)
    "num_sectors" / Int32ul,  # length in sectors; 0 = unused
)

# Sector 0 of a disk (MBR), also the layout of each EBR of an extended partition.
Mbr = Struct(
    "bootstrap" / Bytes(440),  # boot code
    "disk_signature" / Int32ul,  # disk identifier (unused by EBRs)
    "reserved" / Bytes(2),  # usually zero ("copy-protected" flag)
    "entries" / Array(4, MbrEntry),  # the four partition-table slots
    "magic" / Bytes(2),  # 0x55 0xaa when the sector holds a partition table
)

# GPT header, at LBA 1 (primary) and in the last LBA (backup); little-endian.
GptHeader = Struct(
    "signature" / Bytes(8),  # b"EFI PART"
    "revision" / Int32ul,  # 0x00010000 for GPT 1.0
    "header_size" / Int32ul,  # bytes covered by header_crc32 (92 .. sector size)
    "header_crc32" / Int32ul,  # CRC32 of those bytes with this field taken as zero
    "reserved" / Int32ul,  # zero
    "my_lba" / Int64ul,  # LBA of this header
    "alternate_lba" / Int64ul,  # LBA of the other (primary or backup) header
    "first_usable_lba" / Int64ul,  # first LBA partitions may use
    "last_usable_lba" / Int64ul,  # last LBA partitions may use (inclusive)
    "disk_guid" / Bytes(16),  # disk GUID (mixed-endian)
    "entries_lba" / Int64ul,  # first LBA of this header's partition entry array
    "num_entries" / Int32ul,  # number of slots in the entry array
    "entry_size" / Int32ul,  # bytes per slot (128 * 2^n)
    "entries_crc32" / Int32ul,  # CRC32 of the whole entry array (num_entries * entry_size)
)

# The first 128 bytes of one slot of the GPT partition entry array.
GptEntry = Struct(
    "type_guid" / Bytes(16),  # partition type GUID (mixed-endian); all zero = unused slot
    "unique_guid" / Bytes(16),  # this partition's own GUID (mixed-endian)
    "first_lba" / Int64ul,  # first LBA of the partition
    "last_lba" / Int64ul,  # last LBA of the partition (inclusive)
    "attributes" / Int64ul,  # attribute flags (bit 0: required, 2: legacy BIOS bootable, ...)
    "name" / Bytes(72),  # partition name, UTF-16LE, NUL-padded
)
GPT_ENTRY_SIZE = GptEntry.sizeof()


@dataclass(frozen=True)
class Partition:
    """One partition; ``start`` and ``size`` in bytes from the start of the disk."""

    number: int
    start: int
    size: int
    #: MBR type byte, or lowercase GPT type GUID.
    type: int | str
    #: GPT only: the partition's unique GUID (lowercase) and its name.
    guid: str | None = None
    name: str | None = None

    @property
    def is_extended(self) -> bool:
        """True for an MBR extended partition (the container of the logical ones)."""
        return isinstance(self.type, int) and self.type in EXTENDED_TYPES


def find_partitions(source: Source, warnings: list[str] | None = None) -> list[Partition]:
    """The partitions of ``source`` (MBR or GPT), or [] if it has no partition table.

    Raises HeaderError for a malformed table. Partitions reaching past the end of
    the input (a truncated image) are kept, with a message appended to ``warnings``.
    An MBR on an image file is read with 512-byte sectors unless 4096-byte sectors
    find LVM labels that 512 does not (see :func:`_mbr_by_evidence`).
    """
    if source.size < MBR_SIZE:
        return []
    mbr = Mbr.parse(source.pread(MBR_SIZE, 0))
    if mbr.magic != MBR_MAGIC or any(e.boot not in (0x00, 0x80) for e in mbr.entries):
        return []
    found: list[str] = []
    if any(e.type == GPT_PROTECTIVE_TYPE for e in mbr.entries):
        parts = _find_gpt(source, found)
    elif source.sector_size:
        parts = _find_mbr(source, mbr, source.sector_size, found)
    else:
        parts = _mbr_by_evidence(source, mbr, found)
    if warnings is not None:  # a table of 1,024 truncated partitions: a few, then a count
        warnings.extend(summarise(found, f"{source.name}: and " + "{n} more such warnings"))
    return parts


def has_partition_table(source: Source) -> bool:
    """lvm2's test for a partitioned whole device (``_has_partition_table`` in dev-type.c).

    lvm2's "partitioned" filter does not scan such a device for a PV, whatever sectors
    0-3 hold: an MBR signature with every boot flag 0x00 or 0x80 and at least one slot
    of non-zero length (any type), where a protective slot (0xee) counts only if the GPT
    behind it has an entry with a non-zero type; without the MBR signature, such a GPT
    alone. No checksum is checked (lvm2 checks none). Reads at most a few KiB.
    """
    if source.size < MBR_SIZE:
        return False
    raw = source.pread(MBR_SIZE, 0)
    if raw[510:512] != MBR_MAGIC:
        return _gpt_has_entries(source)
    found = False
    for at in range(446, 510, 16):  # boot flag, type and length of each slot
        boot, kind, length = raw[at], raw[at + 4], int.from_bytes(raw[at + 12:at + 16], "little")
        if boot & 0x7F:
            return False
        if length:
            if kind == GPT_PROTECTIVE_TYPE and not found:
                found = _gpt_has_entries(source)
            else:
                found = True
    return found


def _gpt_has_entries(source: Source) -> bool:
    """A GPT signature at LBA 1 and an entry whose type GUID is not zero (lvm2's check)."""
    for ss in [source.sector_size] if source.sector_size else GPT_SECTOR_SIZES:
        if 2 * ss > source.size or source.pread(len(GPT_SIGNATURE), ss) != GPT_SIGNATURE:
            continue
        h = GptHeader.parse(source.pread(GptHeader.sizeof(), ss))
        if h.entry_size < 8:
            continue
        for i in range(min(h.num_entries, MAX_GPT_ENTRIES)):
            at = h.entries_lba * ss + i * h.entry_size
            if at + 8 > source.size:
                break  # lvm2: a failed read counts as "no partition table"
            if source.pread(8, at) != bytes(8):
                return True
    return False


def partition_sources(infile: InputFile, warnings: list[str] | None = None) -> list[Source]:
    """A :class:`Source` for each partition of ``infile`` except MBR extended containers."""
    return [infile.source(p.start, p.size, p.number)
            for p in find_partitions(infile.whole, warnings) if not p.is_extended]


def _error(source: Source, message: str, offset: int) -> HeaderError:
    return HeaderError(message, file=source.path, offset=source.start + offset)


def _check_end(source: Source, p: Partition, warnings: list[str]) -> None:
    if p.start + p.size > source.size:
        warnings.append(f"{source.name}: partition {p.number} (bytes {p.start}.."
                        f"{p.start + p.size}) reaches past the end ({source.size} bytes)")


# --- MBR -------------------------------------------------------------------

def _find_mbr(source: Source, mbr, ss: int, warnings: list[str]) -> list[Partition]:
    primaries = []
    for number, e in enumerate(mbr.entries, 1):
        if e.num_sectors == 0:  # as Linux: a slot of type 0 with a length is a partition
            continue
        if e.lba_start == 0:
            raise _error(source, f"partition {number} starts at sector 0, over the MBR",
                         446 + 16 * (number - 1))
        p = Partition(number, e.lba_start * ss, e.num_sectors * ss, e.type)
        _check_end(source, p, warnings)
        primaries.append(p)
    logicals: list[Partition] = []
    for ext in primaries:
        if ext.is_extended:
            logicals += _read_ebr_chain(source, ext, ss, 5 + len(logicals), warnings)
    return primaries + logicals


def _read_ebr_chain(source: Source, ext: Partition, ss: int, number: int,
                    warnings: list[str]) -> list[Partition]:
    """The logical partitions in extended partition ``ext``, numbered from ``number``."""
    end = ext.start + ext.size
    next_at: int | None = ext.start
    seen = set()
    out: list[Partition] = []
    while next_at is not None:
        here, next_at = next_at, None
        if not ext.start <= here <= end - MBR_SIZE:
            raise _error(source, f"EBR lies outside extended partition {ext.number} "
                         f"(bytes {ext.start}..{end})", here)
        if here in seen:
            raise _error(source, "the chain of EBRs loops back to an EBR already read", here)
        if len(seen) == MAX_LOGICAL:
            raise _error(source, f"more than {MAX_LOGICAL} EBRs in extended partition "
                         f"{ext.number}", here)
        seen.add(here)
        ebr = Mbr.parse(source.pread(MBR_SIZE, here))
        if ebr.magic != MBR_MAGIC:
            if here == ext.start:  # an empty extended partition
                break
            raise _error(source, "EBR lacks the 0x55AA signature", here + 510)
        for e in ebr.entries[:2]:  # slot 0: the logical partition, slot 1: the next EBR
            if e.num_sectors == 0:
                continue
            if e.type in EXTENDED_TYPES:
                if next_at is None:
                    next_at = ext.start + e.lba_start * ss
            elif e.lba_start == 0:
                raise _error(source, "logical partition starts over its own EBR", here)
            else:
                p = Partition(number + len(out), here + e.lba_start * ss,
                              e.num_sectors * ss, e.type)
                _check_end(source, p, warnings)
                out.append(p)
    return out


def _labelled(source: Source, parts: list[Partition]) -> dict[int, bool]:
    """Start offset -> label evidence of each partition holding an LVM label in sectors
    0-3: True when the label's checksum holds and its pv_header records the partition's
    size as the device size (lvm2 writes the size of the device it was made on)."""
    out = {}
    for p in parts:
        if p.is_extended or p.start >= source.size:
            continue
        try:
            found = find_label(Source(source.file, source.start + p.start, p.size))
        except LvmReadError:  # a partition reaching past a truncated image
            continue
        if found is not None:
            buf = found[1]
            lh = layout.label_header.parse(buf)
            ph = (layout.parse_fixed(layout.pv_header, buf, lh.offset)
                  if lh.offset + layout.fixed_size(layout.pv_header) <= len(buf) else None)
            size = ph["device_size"] if ph is not None else -1
            out[p.start] = size == p.size and lh.crc == lvm_crc(buf[layout.LABEL_CRC_START:])
    return out


@dataclass
class _Reading:
    """The MBR read with one sector size: its partitions, their warnings, labelled starts."""

    sector_size: int
    parts: list[Partition]
    notes: list[str]
    labels: dict[int, bool]
    """Start of each partition with an LVM label -> the label records the partition's size."""
    fits: bool
    """Every partition lies inside the image."""

    @property
    def evidence(self) -> tuple[bool, int, int]:
        return self.fits, sum(self.labels.values()), len(self.labels)

    def describe(self) -> str:
        if not self.labels:
            return f"as {self.sector_size}-byte sectors, no LVM label at a partition start"
        shown = sorted(self.labels)[:4]
        more = f" and {len(self.labels) - 4} more" if len(self.labels) > 4 else ""
        return (f"as {self.sector_size}-byte sectors, LVM labels at bytes "
                f"{', '.join(map(str, shown))}{more} ({sum(self.labels.values())} recording "
                f"their partition's size{'' if self.fits else '; partitions past the end'})")


def _mbr_by_evidence(source: Source, mbr, warnings: list[str]) -> list[Partition]:
    """Read an MBR of an image file, whose sector size is unknown, as 512 or 4096.

    The MBR counts in logical sectors, which the image does not record: a disk with
    4096-byte sectors (as lvm2 sees it through ``losetup --sector-size 4096``) has the
    same MBR bytes with 8 times the offsets. 512 is kept unless the 4096 reading finds
    LVM labels at partition starts the 512 reading does not. It is used without a word
    when 512 finds no label and one of its labels records its partition's size; else
    both readings are weighed (partitions inside the image, labels recording their
    partition's size, labels; 512 on a tie) and a warning names both.
    """
    readings: list[_Reading] = []
    failed: LvmReadError | None = None
    for ss in MBR_SECTOR_SIZES:
        notes: list[str] = []
        try:
            parts = _find_mbr(source, mbr, ss, notes)
        except LvmReadError as exc:
            if ss == 512:
                failed = exc
            continue
        fits = all(p.start + p.size <= source.size for p in parts)
        readings.append(_Reading(ss, parts, notes, _labelled(source, parts), fits))
    small = next((r for r in readings if r.sector_size == 512), None)
    big = next((r for r in readings if r.sector_size == 4096), None)
    if big is None or not set(big.labels) - set(small.labels if small else ()):
        if small is None:
            raise failed or _error(source, "the MBR could not be read", 0)
        pick = small
    elif small is None or (not small.labels and any(big.labels.values())):
        pick = big
    else:
        pick = big if big.evidence > small.evidence else small
        other = small if pick is big else big
        lost = set(other.labels) - set(pick.labels)
        warnings.append(
            f"{source.name}: the image does not say its sector size, and its MBR reads "
            f"{small.describe()}, and {big.describe()}; using {pick.sector_size}-byte "
            f"sectors" + (f" (the labels only the {other.sector_size}-byte reading finds "
                          "are not used)" if lost else ""))
    warnings.extend(pick.notes)
    return pick.parts


# --- GPT -------------------------------------------------------------------

def _guid(raw: bytes) -> str:
    import uuid

    return str(uuid.UUID(bytes_le=bytes(raw)))


def _find_gpt(source: Source, warnings: list[str]) -> list[Partition]:
    """Read the primary GPT, falling back to the backup; try each possible sector size."""
    failures: list[HeaderError] = []
    for ss in [source.sector_size] if source.sector_size else GPT_SECTOR_SIZES:
        for lba in dict.fromkeys((1, source.size // ss - 1)):
            at = lba * ss
            if lba < 1 or at + ss > source.size:
                continue
            raw = source.pread(ss, at)
            if raw[:len(GPT_SIGNATURE)] != GPT_SIGNATURE:
                continue
            try:
                parts = _read_gpt(source, ss, lba, raw, warnings)
            except HeaderError as e:
                failures.append(e)
                continue
            warnings.extend(f"{source.name}: ignoring a GPT header at offset {e.offset}: "
                            f"{e.message}; using the one at offset {at}" for e in failures)
            if lba != 1 and not failures:
                warnings.append(f"{source.name}: no primary GPT header at offset {ss}; "
                                f"using the backup at offset {at}")
            return parts
    if not failures:
        raise _error(source, "protective MBR (type 0xee) but no GPT header", 512)
    first = failures[0]
    message = "; ".join([first.message] + [f"{e.message} (at offset {e.offset})"
                                            for e in failures[1:]])
    if len(failures) == 1:
        message += "; no other GPT header found"
    raise HeaderError(message, file=source.path, offset=first.offset)


def _read_gpt(source: Source, ss: int, lba: int, raw: bytes,
              warnings: list[str]) -> list[Partition]:
    """Validate the GPT header in ``raw`` (read from ``lba``) and read its entries."""
    which = "primary" if lba == 1 else "backup"

    def bad(message: str, at: int = lba * ss) -> HeaderError:
        return _error(source, f"{which} GPT header: {message}", at)

    h = GptHeader.parse(raw)
    if not MIN_GPT_HEADER <= h.header_size <= ss:
        raise bad(f"header size {h.header_size} outside {MIN_GPT_HEADER}..{ss}")
    crc = zlib.crc32(raw[:16] + bytes(4) + raw[20:h.header_size])
    if crc != h.header_crc32:
        raise bad(f"header CRC32 mismatch (stored {h.header_crc32:#010x}, "
                  f"computed {crc:#010x})")
    if h.my_lba != lba:
        raise bad(f"records its own LBA as {h.my_lba} but lies at LBA {lba}")
    first, last = h.first_usable_lba, h.last_usable_lba
    if not 1 <= first <= last or first <= lba <= last:
        raise bad(f"usable LBAs {first}..{last} overlap the header or the MBR")
    if h.num_entries > MAX_GPT_ENTRIES:
        raise bad(f"{h.num_entries} partition entries (at most {MAX_GPT_ENTRIES})")
    if not (GPT_ENTRY_SIZE <= h.entry_size <= 4096 and h.entry_size % 8 == 0):
        raise bad(f"partition entry size {h.entry_size} is not a multiple of 8 in "
                  f"{GPT_ENTRY_SIZE}..4096")
    length = h.num_entries * h.entry_size
    array_first, array_end = h.entries_lba, h.entries_lba + -(-length // ss)
    if length and (array_first < 1 or array_first <= lba < array_end
                   or (array_first <= last and first < array_end)):
        raise bad(f"partition entry array at LBAs {array_first}..{array_end - 1} overlaps "
                  f"the MBR, the header or the usable LBAs")
    if array_first * ss + length > source.size:
        raise bad("partition entry array lies past the end of the input")
    array = source.pread(length, array_first * ss)
    crc = zlib.crc32(array)
    if crc != h.entries_crc32:
        raise bad(f"partition entry array CRC32 mismatch (stored {h.entries_crc32:#010x}, "
                  f"computed {crc:#010x})", array_first * ss)
    parts = []
    for i in range(h.num_entries):
        e = GptEntry.parse(array[i * h.entry_size:][:GPT_ENTRY_SIZE])
        if e.type_guid == bytes(16):
            continue
        if not first <= e.first_lba <= e.last_lba <= last:
            raise bad(f"partition {i + 1} at LBAs {e.first_lba}..{e.last_lba} is outside "
                      f"the usable LBAs {first}..{last}", array_first * ss + i * h.entry_size)
        name = e.name.decode("utf-16-le", errors="replace").split("\0", 1)[0]
        p = Partition(i + 1, e.first_lba * ss, (e.last_lba - e.first_lba + 1) * ss,
                      _guid(e.type_guid), _guid(e.unique_guid), name)
        _check_end(source, p, warnings)
        parts.append(p)
    return parts


# --- where lvm2 looks for PVs ---------------------------------------------------

def label_sources(infile: InputFile, warnings: list[str]) -> list[tuple[Source, int]]:
    """Where lvm2 would look for PVs on one input: (source, label sector) of each label.

    The whole device, if it carries a label and no partition table; else each partition
    that carries one. As lvm2's "partitioned" filter does, a label on the whole device
    is not used when the device holds a partition table (:func:`has_partition_table`):
    such a label is usually left from before the disk was partitioned. It is named in a
    warning; if no partition carries a label, it is the error (never a silent "no PV").
    """
    whole = infile.whole
    found = find_label(whole)
    if found is not None and not has_partition_table(whole):
        return [(whole, found[0])]
    stale = _stale_label(whole, found[0]) if found is not None else None
    try:
        parts = partition_sources(infile, warnings)
    except LvmReadError:
        if stale is not None:
            warnings.append(str(stale))
        raise
    out: list[tuple[Source, int]] = []
    errors: list[LvmReadError] = []
    for part in parts:
        try:
            f = find_label(part)
        except LvmReadError as exc:  # a partition past the end of a truncated image
            errors.append(exc)
            continue
        if f is not None:
            out.append((part, f[0]))
    if stale is not None:
        if not out and not errors:
            stale.message += "; no partition carries an LVM label"
            raise stale
        warnings.append(str(stale))
    if not out and errors:
        raise errors[0]
    warnings.extend(str(exc) for exc in errors)
    if not out:
        raise LabelError(
            "no LVM label in sectors 0-3 of the device or of any partition",
            file=infile.path,
            offset=0,
        )
    return out


def _stale_label(whole: Source, sector: int) -> LabelError:
    """The error (or warning) naming a whole-device label that lvm2 does not use."""
    try:
        pv = f"PV {read_pv(whole).uuid}"
    except LvmReadError as exc:
        pv = f"a PV whose label is unreadable ({exc.message})"
    return LabelError(
        f"LVM label in sector {sector} of the whole device ({pv}) is ignored, as lvm2 "
        "ignores it: the device holds a partition table, so only its partitions are "
        "scanned (a label left from before the disk was partitioned?)",
        file=whole.path,
        offset=whole.start + sector * layout.SECTOR_SIZE,
    )
