"""The ring walk: every copy of metadata text still in a metadata area.

lvm2 writes each new version of the metadata text (text + NUL) at the next 512-byte
boundary after the current one, wrapping to just after the mda_header, and then points
the header at it; the older texts stay until the ring comes round and overwrites them.
:func:`scan_area` finds them the way ``pvck --dump metadata_all`` does: at each 512-byte
boundary of the ring, a line ``<vgname> {`` followed by ``id = `` and ``seqno = `` lines
starts a copy, and the copy ends at its NUL (following the wrap back to offset 512).

A copy is *complete* when its NUL comes before the start of any other copy (else a newer
copy overwrote its tail) and its text parses. What can be read cheaply (VG name, uuid,
seqno from the first lines; description, creation host and time from the header lines)
is kept for incomplete copies too. Old copies carry no checksum of their own: lvm2
stores one only for the copy the header points to, so ``checksum_ok`` is ``None`` for
the others (their checksum is still computed, over text + NUL as lvm2 does).
"""

from __future__ import annotations

import bisect
import re
from typing import Iterable, Optional

from ..errors import LvmReadError
from ..ondisk import layout
from ..ondisk.crc import lvm_crc
from ..ondisk.pv import MetadataArea, PVDevice
from .copies import Version, header_fields, hex32

_HEAD = re.compile(
    rb'([A-Za-z0-9._+\-]{1,128}) \{[^\n]{0,128}\nid = "?([^"\n]{0,128})"?[^\n]{0,128}\n'
    rb"seqno = (\d{1,20})"
)
MAX_AREA = 128 << 20
"""Metadata areas larger than this (a damaged pv_header?) are not scanned for old copies."""



def _identify(v: Version, head: Optional[re.Match]) -> None:
    if head is not None:
        v.vg_name = head.group(1).decode("ascii")
        v.vg_uuid = head.group(2).decode("ascii", "replace")
        v.seqno = int(head.group(3))
    hf = header_fields(v.data)
    v.description = hf["description"]
    v.creation_host = hf["creation_host"]
    v.creation_time = hf["creation_time"]


class _NulFinder:
    """The first NUL at or after a position of ``data``, for positions asked in ascending
    order: each byte is searched at most once however many positions are asked about."""

    def __init__(self, data: bytes) -> None:
        self.data = data
        self.since = len(data) + 1  # no answer yet
        self.at = -1  # the first NUL at or after ``since`` (-1: none up to the end)

    def __call__(self, pos: int) -> int:
        if not (self.since <= pos and (self.at < 0 or self.at >= pos)):
            self.since, self.at = pos, self.data.find(b"\0", pos)
        return self.at


def scan_area(mda: MetadataArea, pv: Optional[PVDevice] = None) -> list[Version]:
    """Every copy of metadata text in one metadata area, in ring order.

    Works without a usable mda_header (the area's place comes from the pv_header);
    the header, when usable, marks the copies it points to and their stored checksums.
    """
    src = mda.source
    size = min(mda.size, src.size - mda.offset)
    hdr = layout.MDA_HEADER_SIZE
    if size <= hdr:
        return []
    if size > MAX_AREA:
        raise LvmReadError(
            f"metadata area {mda.index} claims {mda.size} bytes; not scanned for old copies "
            f"(over {MAX_AREA >> 20} MiB)",
            file=src.path,
            offset=src.start + mda.offset,
        )
    ring = src.pread(size - hdr, mda.offset + hdr)
    rsize = len(ring)
    doubled = ring + ring  # a copy that wraps reads on into the second half
    pointers: dict[int, tuple[int, int, bool]] = {}  # ring pos -> (size, checksum, commit?)
    if mda.header is not None:
        for i, rl in enumerate(mda.header.raw_locns[:2]):
            if (rl.offset or rl.size) and hdr <= rl.offset < size and 0 < rl.size <= rsize:
                pointers.setdefault(rl.offset - hdr, (rl.size, rl.checksum, i == 0))

    starts: dict[int, Optional[re.Match]] = {}
    match = _HEAD.match
    find = doubled.find
    pos = find(b" {", 0, rsize + 256)
    # Only boundaries whose first line can be "name {" are tried (a fast pre-filter).
    for p in range(0, rsize, layout.SECTOR_SIZE):
        if pos < 0:
            break
        if pos < p:
            pos = find(b" {", p, rsize + 256)
            if pos < 0:
                break
        if pos - p > 130:
            continue
        m = match(doubled, p)
        if m is not None:
            starts[p] = m
    scanned = sorted(starts)
    inside: dict[int, int] = {}  # pointer -> start of the copy it points into the middle of
    for p, (psize, pcrc, _commit) in pointers.items():
        if p in starts:
            continue
        starts[p] = _HEAD.match(doubled, p)
        q = bisect.bisect_left(scanned, p) - 1  # the copy before it (-1: the last, wrapped)
        if scanned and lvm_crc(doubled[p:p + psize]) != pcrc:
            qs = scanned[q] if q >= 0 else scanned[q] - rsize
            end = find(b"\0", scanned[q], scanned[q] + rsize)
            if end >= 0 and end - scanned[q] + qs > p:
                inside[p] = scanned[q]
    # a pointer into the middle of a copy whose text fails its checksum was not written
    # there: it does not cut that copy short
    limits = sorted(p for p in starts if p not in inside)
    order = sorted(starts)
    nul_after = _NulFinder(doubled)
    versions = []
    for p in order:
        j = bisect.bisect_right(limits, p)
        nxt = limits[j] if j < len(limits) else (limits[0] + rsize if limits else p + rsize)
        limit = nxt if nxt > p else p + rsize
        v = Version(
            vg_name=None,
            vg_uuid=None,
            seqno=None,
            data=b"",
            source=src.path,
            pv_name=src.name,
            pv_uuid=pv.uuid if pv is not None else None,
            mda_index=mda.index,
            area_offset=p + hdr,
            offset=mda.offset + p + hdr,
            file_offset=src.start + mda.offset + p + hdr,
            mda=mda,
        )
        ptr = pointers.get(p)
        if ptr is not None:
            psize, pcrc, commit = ptr
            v.current, v.precommit = commit, not commit
            v.stored_checksum = pcrc
            v.data = doubled[p : p + psize]
            v.length = psize
            v.ended = v.data.endswith(b"\0") and b"\0" not in v.data[:-1]
            if not v.data.endswith(b"\0"):
                v.problems.append("the text the header points to does not end in a NUL")
            elif not v.ended:
                v.problems.append("the text the header points to holds a NUL before its end")
            if p + psize > limit:
                v.problems.append(
                    f"the text the header points to runs into another copy at area offset "
                    f"{(limit % rsize) + hdr}"
                )
        else:
            # each copy's own span only (the spans tile the ring, so this is one pass);
            # past it, the first NUL comes from one forward scan shared by every copy
            end = find(b"\0", p, limit)
            if end >= 0:
                v.data = doubled[p : end + 1]
                v.length = end + 1 - p
                v.ended = True
            else:
                v.data = doubled[p:limit]
                end = nul_after(limit)
                if end < 0 or end >= p + rsize:
                    v.problems.append("no terminating NUL in the whole ring")
                else:
                    v.problems.append(
                        f"overwritten: the text runs into the copy at area offset "
                        f"{(limit % rsize) + hdr} before its end"
                    )
        if p in inside:
            v.problems.append(
                f"the header points into the middle of the copy at area offset "
                f"{inside[p] + hdr}"
            )
        v.wrapped = p + len(v.data) > rsize
        v.checksum = lvm_crc(v.data)
        if v.checksum_ok is False:
            v.problems.append(
                f"checksum mismatch (header stores {hex32(v.stored_checksum)}, "
                f"computed {hex32(v.checksum)})"
            )
        _identify(v, starts[p])
        if v.vg_name is None:
            v.problems.append("does not start with the 'vgname {', 'id = ', 'seqno = ' lines")
        versions.append(v)
    _mark_uncommitted(versions, {p + hdr for p in inside})
    return versions


def _mark_uncommitted(versions: list[Version], astray: set[int]) -> None:
    """Flag the copies of a ring (in ring order) that were written after its committed copy.

    With an intact committed copy (its stored checksum matches, so its seqno is what lvm2
    wrote) that is every copy of its VG with a higher seqno. When the committed copy is
    damaged its seqno cannot be trusted, so the ring order tells instead: walking on from
    the committed copy, lvm2's copies go from the oldest to the one just before it, so a
    leading run of copies newer than the last one was written after it. Nothing is
    inferred from a header that points into the middle of a copy (``astray``: their area
    offsets): no copy is known to have been written after it.
    """
    for i, cur in enumerate(versions):
        if not cur.current or cur.area_offset in astray:
            continue
        if cur.checksum_ok and cur.ended and cur.vg_uuid and cur.seqno is not None:
            late = [v for v in versions
                    if v.vg_uuid == cur.vg_uuid and v.seqno is not None and v.seqno > cur.seqno]
            why = f"newer than the committed copy (seqno {cur.seqno}) of this area"
        else:
            walk = [v for v in versions[i + 1:] + versions[:i] if v.seqno is not None]
            same = [v for v in walk if walk and v.vg_uuid == walk[0].vg_uuid]
            late = []
            if len(same) >= 2:
                for v in same:
                    if v.seqno is None or same[-1].seqno is None or v.seqno <= same[-1].seqno:
                        break
                    late.append(v)
            why = f"written after the (damaged) committed copy at {cur.where} of this area"
        for v in late:
            v.uncommitted = True
            v.problems.append(f"{why}: written but never committed (an interrupted command?)")


def scan_pvs(pvs: Iterable[PVDevice], warnings: Optional[list[str]] = None) -> list[Version]:
    """The copies in every metadata area of every PV (headers unusable or not)."""
    out: list[Version] = []
    for pv in pvs:
        for mda in pv.metadata_areas:
            if mda.error is not None and warnings is not None:
                warnings.append(f"{mda.error} (copies in this area found by scanning only)")
            try:
                out.extend(scan_area(mda, pv))
            except LvmReadError as exc:
                if warnings is not None:
                    warnings.append(str(exc))
    return out
