"""Every version of the metadata still on the disks: the copy each mda_header points to and
the older copies lvm2 left behind in the ring buffer of every metadata area.

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

:class:`History` gathers the versions of every PV (and of metadata files given with
``--metadata``), picks the copy to use for a seqno, finds damaged current copies and
the extents later versions gave to other LVs.
"""

from __future__ import annotations

import bisect
import functools
import re
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Iterable, Iterator, Optional

from . import activate, layout
from .crc import lvm_crc
from .errors import LvmReadError, MetadataError, UsageError, summarise
from .metadata import over_limit, syntax, unquote

if TYPE_CHECKING:
    from .model import VolumeGroup
    from .pv import MetadataArea, PVDevice
    from .scan import DiskSet, MetadataCopy

# The first three lines of a copy as lvm2 writes it: "vg {", 'id = "..."', "seqno = N".
_HEAD = re.compile(
    rb'([A-Za-z0-9._+\-]{1,128}) \{[^\n]{0,128}\nid = "?([^"\n]{0,128})"?[^\n]{0,128}\n'
    rb"seqno = (\d{1,20})"
)
_CONTENTS = b'contents = "Text Format Volume Group"'
MAX_AREA = 128 << 20
"""Metadata areas larger than this (a damaged pv_header?) are not scanned for old copies."""


@functools.cache
def _header_keys() -> dict[str, re.Pattern[bytes]]:
    """The header lines' patterns; the string is the grammar's QUOTED (an unrolled loop:
    a 4 MiB description costs no group per character)."""
    quoted = syntax().patterns["QUOTED"].encode()
    return {
        "description": re.compile(rb"^description = (" + quoted + rb")", re.M),
        "creation_host": re.compile(rb"^creation_host = (" + quoted + rb")", re.M),
        "creation_time": re.compile(rb"^creation_time = (\d+)", re.M),
    }


def header_fields(data: bytes) -> dict[str, Any]:
    """description, creation_host and creation_time from the header lines of a text.

    On disk those lines follow the VG section; in backup files they precede it. Either
    way they come after the ``contents = "Text Format Volume Group"`` line and start in
    column 0 (an LV's ``creation_time`` inside the VG section comes before that line on
    disk and is indented in backup files), so they are searched for after it.
    """
    out: dict[str, Any] = {"description": None, "creation_host": None, "creation_time": None}
    start = data.find(_CONTENTS)
    if start < 0:
        return out
    for key, rx in _header_keys().items():
        m = rx.search(data, start)
        if m is not None:
            raw = m.group(1)
            text = raw.decode("utf-8", "replace")
            out[key] = int(text) if key == "creation_time" else unquote(text)
    return out


def hex32(n: Optional[int]) -> Optional[str]:
    return None if n is None else f"{n:#010x}"


@dataclass
class Version:
    """One copy of a VG's metadata text: in a metadata area, or in a metadata file."""

    vg_name: Optional[str]
    vg_uuid: Optional[str]
    seqno: Optional[int]
    data: bytes = field(repr=False)
    """The text and its NUL when complete; otherwise the bytes that could be recovered."""
    checksum: int = 0
    """lvm_crc of ``data`` (text + NUL, as lvm2 computes the checksum it stores)."""
    source: str = ""
    """The input file (image, device or metadata file) it was read from."""
    pv_name: Optional[str] = None
    """The PV's input name (``disk.img`` or ``disk.img@p2``); None for a metadata file."""
    pv_uuid: Optional[str] = None
    mda_index: Optional[int] = None
    """0 for the first metadata area of the PV, 1 for the second."""
    area_offset: Optional[int] = None
    """Offset of the text from the start of its metadata area."""
    offset: Optional[int] = None
    """Offset of the text from the start of the PV (what ``pvck`` prints)."""
    file_offset: Optional[int] = None
    """Offset of the text from the start of the input file."""
    length: Optional[int] = None
    """Bytes of text + NUL; None when no end was found."""
    wrapped: bool = False
    ended: bool = False
    """The terminating NUL was found before any other copy starts."""
    current: bool = False
    """The mda_header's raw_locn[0] (the committed metadata) points here."""
    precommit: bool = False
    """The mda_header's raw_locn[1] (precommitted metadata) points here."""
    stored_checksum: Optional[int] = None
    """The checksum the mda_header records (only for the copies it points to)."""
    parses: Optional[bool] = None
    """Whether the text parses (None until :meth:`History.verify` ran)."""
    parse_error: Optional[str] = None
    description: Optional[str] = None
    creation_host: Optional[str] = None
    creation_time: Optional[int] = None
    problems: list[str] = field(default_factory=list)
    uncommitted: bool = False
    """Written after the committed copy of its area (lvm2 writes the text, then the
    header): a command that never finished; not used in place of a committed copy."""
    kind: str = "disk"
    """``disk`` (a metadata area) or ``file`` (a backup/archive file)."""
    mda: Optional[MetadataArea] = field(default=None, repr=False)
    tree: Optional[dict] = field(default=None, repr=False)

    @property
    def checksum_ok(self) -> Optional[bool]:
        """Checksum against the header's (None where lvm2 stored none)."""
        if self.stored_checksum is None:
            return None
        return self.stored_checksum == self.checksum

    @property
    def complete(self) -> bool:
        """The whole text is there: ended before any other copy and (if checked) parses."""
        if self.kind == "file":
            return self.parses is not False
        return self.ended and self.parses is not False and self.vg_name is not None

    @property
    def usable(self) -> bool:
        """Complete, parsed, and not contradicted by a stored checksum."""
        return self.complete and self.parses is True and self.checksum_ok is not False

    @property
    def text(self) -> str:
        return self.data.split(b"\0", 1)[0].decode("utf-8", "replace")

    @property
    def where(self) -> str:
        if self.kind == "file" or self.file_offset is None:
            return self.source
        return f"{self.source}: offset {self.file_offset}"

    @property
    def label(self) -> str:
        """``VG vg0 seqno 7 at disk.img: offset 5120`` for messages."""
        name = self.vg_name or "?"
        seq = "?" if self.seqno is None else self.seqno
        return f"VG {name} seqno {seq} at {self.where}"

    @property
    def state(self) -> str:
        """One word for listings."""
        if self.kind == "file":
            return "file" if self.parses is not False else "unparsable"
        if self.checksum_ok is False:
            return "bad-checksum"
        if not self.ended:
            return "incomplete"
        if self.parses is False:
            return "unparsable"
        if self.current:
            return "current"
        if self.precommit:
            return "precommit"
        if self.uncommitted:
            return "uncommitted"
        return "old"

    def as_dict(self) -> dict[str, Any]:
        """The JSON object ``lvmread history --json`` prints for this copy."""
        from .report import format_time

        return {
            "seqno": self.seqno,
            "vg_name": self.vg_name,
            "vg_uuid": self.vg_uuid,
            "creation_time": self.creation_time,
            "creation_time_text": format_time(self.creation_time) or None,
            "creation_host": self.creation_host,
            "description": self.description,
            "kind": self.kind,
            "source": self.source,
            "pv_name": self.pv_name,
            "pv_uuid": self.pv_uuid,
            "mda": self.mda_index,
            "offset": self.offset,
            "area_offset": self.area_offset,
            "file_offset": self.file_offset,
            "length": self.length,
            "wrapped": self.wrapped,
            "current": self.current,
            "precommit": self.precommit,
            "uncommitted": self.uncommitted,
            "complete": self.complete,
            "parses": self.parses,
            "checksum": hex32(self.checksum),
            "checksum_stored": hex32(self.stored_checksum),
            "checksum_ok": self.checksum_ok,
            "state": self.state,
            "problems": list(self.problems),
        }


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


class _Kept:
    """What lark's internal list rules need from their children: ``children``."""

    __slots__ = ("children",)

    def __init__(self, children: list) -> None:
        self.children = children


@functools.cache
def _checker():
    """The metadata grammar with no-op callbacks: checks syntax without building dicts.

    The same grammar file as :func:`lvmread.metadata.parse_metadata` (so both accept the
    same texts); listing hundreds of versions then costs a lex and an LALR pass each.
    """
    from .metadata import MAX_DEPTH, TooDeep, lark_runtime

    rt = lark_runtime()

    class _Check(rt.Transformer):  # type: ignore[misc,name-defined]
        __visit_tokens__ = False

        def __default__(self, data, children, meta):
            return _Kept(children) if str(data).startswith("__") else None

        def section(self, children):  # how deep sections nest, as parse_metadata bounds it
            depth = 1 + max((c for c in children if type(c) is int), default=0)
            if depth > MAX_DEPTH:
                raise TooDeep()
            return depth

    return rt.parser(_Check())


def check_syntax(text: str, source: Optional[str] = None) -> Optional[str]:
    """None when ``text`` parses with the metadata grammar, else why not (the message
    :func:`~lvmread.metadata.parse_metadata` gives, with its line number)."""
    from .metadata import TooDeep, lark_runtime, parse_metadata

    try:
        _checker().parse(text)
        return None
    except (lark_runtime().LarkError, TooDeep):
        pass
    try:
        parse_metadata(text, source=source)
    except LvmReadError as exc:
        return exc.message if exc.line is None else f"line {exc.line}: {exc.message}"
    return None


def verify_versions(versions: Iterable[Version], cache: Optional[dict] = None) -> None:
    """Check the syntax of every copy whose text ended (each distinct text once)."""
    cache = {} if cache is None else cache
    for v in versions:
        if v.parses is not None:
            continue
        if v.kind != "file" and not v.ended:
            continue
        too_big = over_limit(len(v.data) - (1 if v.data.endswith(b"\0") else 0))
        if too_big is not None:  # the same bound as for a current copy or a file
            v.parses, v.parse_error = False, too_big
            v.problems.append(f"not parsed: {too_big}")
            continue
        key = v.data
        if key not in cache:
            cache[key] = check_syntax(v.text, v.where)
        err = cache[key]
        v.parses = err is None
        if err is not None:
            v.parse_error = err
            v.problems.append(f"does not parse: {err}")


def parse_version(v: Version, cache: Optional[dict] = None) -> dict:
    """The parsed text of a version (parsed on first use; identical texts share a tree)."""
    from .metadata import parse_metadata

    if v.tree is not None:
        return v.tree
    verify_versions([v])
    if not v.parses:
        raise LvmReadError(f"{v.label}: {v.parse_error or 'the text is incomplete'}")
    cache = {} if cache is None else cache
    tree = cache.get(v.data)
    if tree is None:
        tree = cache[v.data] = parse_metadata(v.text, source=v.where)
    v.tree = tree
    _check_tree(v, tree)
    return tree


def _check_tree(v: Version, tree: dict) -> None:
    """Compare what the first lines said with the parsed text."""
    sections = [(k, s) for k, s in tree.items() if isinstance(s, dict)]
    if len(sections) != 1:
        v.problems.append(f"holds {len(sections)} volume group sections, not one")
        return
    name, sec = sections[0]
    seqno = sec.get("seqno")
    uuid = str(sec.get("id", ""))
    if v.vg_name is None:
        v.vg_name, v.vg_uuid = name, uuid
        v.seqno = seqno if isinstance(seqno, int) else None
    elif (name, uuid, seqno) != (v.vg_name, v.vg_uuid, v.seqno):
        v.problems.append(
            f"its first lines say VG {v.vg_name} seqno {v.seqno}, its parsed text "
            f"VG {name} seqno {seqno}"
        )
    for key in ("description", "creation_host", "creation_time"):
        val = tree.get(key)
        if val is not None and getattr(v, key) is None:
            setattr(v, key, val)


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


def sort_key(v: Version) -> tuple:
    return (
        v.vg_name or "",
        v.vg_uuid or "",
        -1 if v.seqno is None else v.seqno,
        v.kind,
        v.source,
        v.pv_name or "",
        -1 if v.mda_index is None else v.mda_index,
        -1 if v.offset is None else v.offset,
    )


class History:
    """Every version found: on the PVs of a :class:`~lvmread.scan.DiskSet` and in files."""

    def __init__(self, versions: list[Version]) -> None:
        self.versions = sorted(versions, key=sort_key)
        self._cache: dict = {}  # text -> syntax error or None
        self._trees: dict = {}  # text -> parsed tree
        self._index: Optional[tuple[list[Version], int, dict]] = None  # see of_vg

    @classmethod
    def of(cls, ds: DiskSet) -> History:
        """The history of a disk set (scanned once, kept on ``ds.history``)."""
        if getattr(ds, "history", None) is None:
            found = scan_pvs(ds.pvs)
            found.extend(getattr(ds, "metadata_files", []) or [])
            ds.history = cls(found)
        return ds.history

    def verify(self) -> History:
        verify_versions(self.versions, self._cache)
        return self

    def vg_uuids(self) -> list[str]:
        seen: dict[str, None] = {}
        for v in self.versions:
            if v.vg_uuid:
                seen.setdefault(v.vg_uuid, None)
        return list(seen)

    def of_vg(self, uuid: str) -> list[Version]:
        """The versions of one VG (from an index of ``versions``, made again when that list
        is replaced or grows: asking for each of many VGs costs no scan of every version)."""
        if self._index is None or self._index[0] is not self.versions or \
                self._index[1] != len(self.versions):
            by_uuid: dict[Optional[str], list[Version]] = {}
            for v in self.versions:
                by_uuid.setdefault(v.vg_uuid, []).append(v)
            self._index = (self.versions, len(self.versions), by_uuid)
        return list(self._index[2].get(uuid, ()))

    def match_vg(self, name_or_uuid: str) -> list[str]:
        """The VG uuids whose name (in any version) or uuid is ``name_or_uuid``."""
        u = name_or_uuid.replace("-", "")
        out: dict[str, None] = {}
        for v in self.versions:
            if v.vg_uuid and (v.vg_name == name_or_uuid or v.vg_uuid.replace("-", "") == u):
                out.setdefault(v.vg_uuid, None)
        return list(out)

    def seqnos(self, uuid: str) -> list[int]:
        """The seqnos of a VG that have a usable copy."""
        mine = self.of_vg(uuid)
        verify_versions(mine, self._cache)
        return sorted({v.seqno for v in mine if v.seqno is not None and v.usable})

    def usable(self, uuid: str, seqno: Optional[int] = None) -> list[Version]:
        """Complete, parsing copies of a VG (of one seqno), best first."""
        verify_versions(self.of_vg(uuid), self._cache)
        got = [v for v in self.of_vg(uuid) if v.usable and (seqno is None or v.seqno == seqno)]
        # newest first; of one seqno: current copies, committed ones, disk copies, files
        got.sort(key=lambda v: (
            -(v.seqno or 0), not v.current, v.uncommitted, v.kind != "disk", sort_key(v)
        ))
        return got

    def disagreements(self) -> list[str]:
        """Messages for complete copies of the same VG and seqno whose texts differ."""
        groups: dict[tuple[str, int], list[Version]] = {}
        for v in self.versions:
            if v.kind == "disk" and v.vg_uuid and v.seqno is not None and v.ended:
                if v.parses is not False and v.checksum_ok is not False:
                    groups.setdefault((v.vg_uuid, v.seqno), []).append(v)
        out = []
        for (_uuid, seqno), group in groups.items():
            texts = {v.data for v in group}
            if len(texts) > 1:
                first = group[0]
                differ = [f"{v.where} ({hex32(v.checksum)})" for v in group
                          if v.data != first.data]
                others = ", ".join(summarise(differ, "{n} more", limit=3))
                out.append(
                    f"VG {first.vg_name} seqno {seqno}: copies differ: {first.where} "
                    f"({hex32(first.checksum)}) and {others}"
                )
        return summarise(out, "and {n} more seqnos whose copies differ")

    def tree(self, v: Version) -> dict:
        """The parsed text of ``v`` (LvmReadError if it does not parse)."""
        verify_versions([v], self._cache)
        uuid = v.vg_uuid
        tree = parse_version(v, self._trees)
        if v.vg_uuid != uuid:  # the parsed text named the VG its first lines did not
            self._index = None
        return tree


# ------------------------------------------------------------------ using a version


def to_copy(v: Version, tree: dict) -> MetadataCopy:
    """A :class:`~lvmread.scan.MetadataCopy` (what ``scan.build`` takes) for a version."""
    from .pv import MetadataText
    from .scan import MetadataCopy

    if v.kind == "file":
        from .backup import FileText

        text: Any = FileText(path=v.source, data=v.data)
    else:
        assert v.mda is not None and v.area_offset is not None
        text = MetadataText(
            area=v.mda,
            offset=v.area_offset,
            size=len(v.data),
            stored_checksum=v.stored_checksum,
            computed_checksum=v.checksum,
            data=v.data,
            wrapped=v.wrapped,
        )
    assert v.vg_name is not None and v.vg_uuid is not None and v.seqno is not None
    return MetadataCopy(text=text, tree=tree, vg_name=v.vg_name, vg_uuid=v.vg_uuid, seqno=v.seqno)


def _describe(v: Version) -> str:
    from .report import format_time

    bits = []
    if v.creation_time is not None:
        bits.append(format_time(v.creation_time))
    if v.description:
        bits.append(repr(v.description))
    return f" ({', '.join(bits)})" if bits else ""


def select_seqno(
    ds: DiskSet, chosen: list[MetadataCopy], seqno: int, vg: Optional[str] = None
) -> list[MetadataCopy]:
    """Replace the copy of each VG (or of the VG named ``vg``) by its version ``seqno``.

    VGs without that version are left out (with a warning) unless a VG was named, in
    which case that is an error. The extents a later version gave to another LV are
    recorded in ``ds.lv_warnings``.
    """
    hist = History.of(ds)
    if vg is not None:
        uuids = hist.match_vg(vg) or [c.vg_uuid for c in chosen if c.vg_name == vg]
        if not uuids:
            raise UsageError(f"no volume group {vg} on the inputs")
    else:
        uuids = hist.vg_uuids()
    # a uuid only damaged copies name (a changed byte of the id line) is no VG
    uuids = [u for u in uuids if hist.seqnos(u)] or uuids[:1]
    out: list[MetadataCopy] = []
    missing = []
    for uuid in uuids:
        cands = hist.usable(uuid, seqno)
        if not cands:
            missing.append(uuid)
            continue
        best = cands[0]
        for other in cands[1:]:
            if other.data != best.data and other.kind == best.kind:
                ds.warnings.append(
                    f"VG {best.vg_name} seqno {seqno}: the copy at {other.where} differs from "
                    f"the one at {best.where}; using the one at {best.where}"
                )
        files = [c for c in cands if c.kind == "file"]
        if best.kind == "disk" and files:
            f = files[0]
            if _vg_section(hist.tree(f)) != _vg_section(hist.tree(best)):
                ds.warnings.append(
                    f"VG {best.vg_name} seqno {seqno}: metadata file {f.source} differs from the "
                    f"copy on disk at {best.where}; using the copy on disk"
                )
        if best.uncommitted:
            ds.warnings.append(
                f"VG {best.vg_name}: seqno {seqno} at {best.where} was written but never "
                "committed (an interrupted command?)"
            )
        copy = to_copy(best, hist.tree(best))
        newest = max(hist.seqnos(uuid), default=seqno)
        if newest != seqno:
            ds.warnings.append(
                f"VG {best.vg_name}: using seqno {seqno}{_describe(best)} from {best.where}; "
                f"the newest on the inputs is seqno {newest}"
            )
        out.append(copy)
    if missing:
        names = []
        for uuid in missing:
            vs = hist.of_vg(uuid)
            name = next((v.vg_name for v in reversed(vs) if v.vg_name), uuid)
            if len(hist.match_vg(name)) > 1:  # another VG has this name: say which one
                name = f"{name} {uuid}"
            have = seqno_ranges(hist.seqnos(uuid))
            names.append(f"VG {name} (seqnos found: {have or 'none usable'})")
        if vg is not None or not out:
            raise UsageError(
                f"no usable metadata with seqno {seqno} on the inputs: " + "; ".join(names)
            )
        for n in names:
            ds.warnings.append(f"{n} has no version with seqno {seqno}; it is left out")
    return out


def _vg_section(tree: dict) -> Any:
    return next((s for s in tree.values() if isinstance(s, dict)), None)


def seqno_ranges(nums: Iterable[int]) -> str:
    """``1-3, 7``: a set of seqnos as runs, for messages."""
    nums = sorted(set(nums))
    parts = []
    i = 0
    while i < len(nums):
        j = i
        while j + 1 < len(nums) and nums[j + 1] == nums[j] + 1:
            j += 1
        parts.append(str(nums[i]) if i == j else f"{nums[i]}-{nums[j]}")
        i = j + 1
    return ", ".join(parts)


# ------------------------------------------------------------ extents given away later

def pv_extents(vg: VolumeGroup) -> list[tuple[str, int, int, str, str]]:
    """(PV uuid, first PE, PE count, LV uuid, LV name) for every PV area of every LV."""
    out = []
    for lv in vg.lvs.values():
        for seg in lv.segments:
            n = seg.area_len
            for area in seg.areas:
                if area.pv is not None and n > 0:
                    out.append((area.pv.uuid, area.start, n, lv.uuid, lv.name))
    return out


CLOSURE_DEPTH = activate.MAX_DEPTH + 1
"""How many levels of sub-LVs :func:`lv_closure` follows: an LV and the levels below it
the activator maps; what lies deeper cannot be read at all, and following it for each LV
of a long chain of LVs made the work grow with the square of its length."""


def lv_closure(vg: VolumeGroup, name: str) -> set[str]:
    """The LV and the sub-LVs it is built from (by name), level by level, at most
    :data:`CLOSURE_DEPTH` levels."""
    seen: set[str] = set()
    level = [name]
    for _ in range(CLOSURE_DEPTH):
        below = []
        for n in level:
            if n in seen or n not in vg.lvs:
                continue
            seen.add(n)
            for seg in vg.lvs[n].segments:
                below.extend(seg.references())
        if not below:
            break
        level = below
    return seen


def _fmt_ranges(ranges: Iterable[tuple[int, int]]) -> str:
    merged: list[list[int]] = []
    for a, b in sorted(ranges):
        if merged and a <= merged[-1][1] + 1:
            merged[-1][1] = max(merged[-1][1], b)
        else:
            merged.append([a, b])
    return ", ".join(f"{a}-{b}" if a != b else f"{a}" for a, b in merged)


def _by_pv(ext: list[tuple[str, int, int, str, str]]) -> dict[str, tuple]:
    """pv_extents() entries by PV uuid: (starts, entries, longest run), sorted by start, so
    that the ones overlapping a range are found by bisection, not by a scan of every LV
    (1,000 LVs in 20 versions are 20 million pairs)."""
    grouped: dict[str, list[tuple[int, tuple]]] = {}
    for i, e in enumerate(ext):
        grouped.setdefault(e[0], []).append((i, e))
    out = {}
    for pv, items in grouped.items():
        items.sort(key=lambda ie: ie[1][1])
        out[pv] = ([e[1] for _, e in items], items, max(e[2] for _, e in items))
    return out


def _overlapping(by_pv: dict[str, tuple], pv: str, first: int, count: int) -> list[tuple]:
    """The entries of ``by_pv`` on ``pv`` that may overlap extents first..first+count-1,
    in their pv_extents() order."""
    got = by_pv.get(pv)
    if got is None:
        return []
    starts, items, longest = got
    lo = bisect.bisect_left(starts, first - longest + 1)
    hi = bisect.bisect_left(starts, first + count)
    return [e for _, e in sorted(items[lo:hi], key=lambda ie: ie[0])]


def reuse_warnings(
    old: VolumeGroup, later: list[VolumeGroup], only: Optional[str] = None
) -> dict[str, list[str]]:
    """For each LV of ``old``: whether a later version gave its extents to another LV.

    Returns ``{lv name: [message]}`` (only LVs with findings): one message per LV naming
    the extents, the first LV (and seqno) they went to, how many others had them since,
    and who holds them in the newest version. ``later`` must be in ascending seqno
    order. With ``only``, just that LV (and the sub-LVs it is built from).
    """
    pv_names = {pv.uuid: (pv.device.name if pv.device is not None else pv.key)
                for pv in old.pvs.values()}
    top = [only] if only is not None else [lv.name for lv in old.lvs.values()]
    order = {name: i for i, name in enumerate(old.lvs)}
    ext_of: dict[str, list[tuple[str, int, int, str, str]]] = {}  # LV name -> its extents
    for e in pv_extents(old):
        ext_of.setdefault(e[4], []).append(e)
    newest = later[-1].seqno if later else None
    later_ext = [(v, _by_pv(pv_extents(v))) for v in later]
    out: dict[str, list[str]] = {}
    for name in top:
        closure = lv_closure(old, name)
        mine = [e for n in sorted(closure, key=order.__getitem__) for e in ext_of.get(n, ())]
        uuids = {old.lvs[n].uuid for n in closure}
        ranges: dict[str, set[tuple[int, int]]] = {}  # PV uuid -> extent ranges given away
        first: Optional[tuple[int, str]] = None
        others: set[str] = set()
        in_newest: set[str] = set()
        for v, by_pv in later_ext:
            for pv_u, a0, n0, _lu, _ln in mine:
                for _pv_b, b0, n1, lu, ln in _overlapping(by_pv, pv_u, a0, n0):
                    if lu in uuids:
                        continue
                    lo, hi = max(a0, b0), min(a0 + n0, b0 + n1)
                    if lo >= hi:
                        continue
                    ranges.setdefault(pv_u, set()).add((lo, hi - 1))
                    if first is None:
                        first = (v.seqno, ln)
                    others.add(lu)
                    if v.seqno == newest:
                        in_newest.add(f"{old.name}/{ln}")
        if first is None:
            continue
        where = "; ".join(
            f"extent{'s' if len(r) > 1 or r[0][0] != r[0][1] else ''} {_fmt_ranges(r)} of PV "
            f"{pv_names.get(p, p)}"
            for p, r in ((p, sorted(r)) for p, r in sorted(ranges.items()))
        )
        more = len(others) - 1
        msg = (
            f"LV {old.name}/{name} (seqno {old.seqno}): {where} went to LV "
            f"{old.name}/{first[1]} in seqno {first[0]}"
        )
        if more:
            msg += f" and later to {more} other LV{'s' if more > 1 else ''}"
        if in_newest:
            holders = ", ".join(summarise(sorted(in_newest), "{n} more LVs", limit=3))
            verb = "holds" if len(in_newest) == 1 else "hold"
            msg += f"; in the newest version (seqno {newest}) {holders} {verb} them"
        else:
            msg += f"; they are free in the newest version (seqno {newest})"
        out[name] = [msg + "; the data read there may have been overwritten"]
    return out


def later_versions(
    ds: DiskSet, vg: VolumeGroup
) -> tuple[list[VolumeGroup], list[tuple[int, int]]]:
    """The VGs built from every usable version after ``vg.seqno`` (one per seqno, ascending)
    and the runs (first, last) of seqnos between it and the newest no longer on the inputs."""
    from .model import build_vg

    hist = History.of(ds)
    seqnos = [s for s in hist.seqnos(vg.uuid) if s > vg.seqno]
    out = []
    for s in seqnos:
        v = hist.usable(vg.uuid, s)[0]
        try:
            out.append(build_vg(hist.tree(v), source=v.where))
        except LvmReadError:
            continue
    # runs (first, last) of the seqnos missing in between; never one entry per seqno, as a
    # damaged seqno may be 2^64
    known = [vg.seqno, *seqnos]
    gone = [(a + 1, b - 1) for a, b in zip(known, known[1:]) if b - a > 1]
    return out, gone


def note_reuse(ds: DiskSet, vg: VolumeGroup) -> None:
    """Record in ``ds.lv_warnings`` (and for gaps in ``ds.warnings``) what later versions
    of the metadata did with the extents of the LVs of ``vg`` (an older version)."""
    later, gone = later_versions(ds, vg)
    if gone:
        runs = ", ".join(str(a) if a == b else f"{a}-{b}" for a, b in gone)
        ds.warnings.append(
            f"VG {vg.name}: seqno(s) {runs} after {vg.seqno} are not on the inputs "
            "(overwritten or incomplete); extents they allocated to other LVs cannot be checked"
        )
    if not later:
        return
    for lv_name, msgs in reuse_warnings(vg, later).items():
        lv = vg.lvs[lv_name]
        ds.lv_warnings.setdefault(lv.uuid, []).extend(msgs)


# ------------------------------------------------------------------ damaged copies


def lists_own_pv(hist: History, v: Version) -> bool:
    """Whether a usable copy parses into a VG that lists the PV whose ring holds it (a copy
    of a VG the PV was in before it was made a PV again does not); files always do."""
    from .scan import lists_pv

    if v.kind != "disk" or v.pv_uuid is None:
        return True
    try:
        return lists_pv(hist.tree(v), v.pv_uuid)
    except LvmReadError:
        return False


def _intact(hist: History, uuid: str, bad: set[int]) -> Iterator[Version]:
    """The intact disk copies of a VG, newest first: complete, checksum not contradicted,
    parsed, not one of the damaged copies (``bad``: their ids), listing their own PV."""
    for v in hist.usable(uuid):
        if v.kind == "disk" and id(v) not in bad and v.seqno is not None:
            if lists_own_pv(hist, v):
                yield v


def _some(items: list[str], n: int = 3) -> str:
    """The first ``n`` items joined, and how many more there are (bounded messages)."""
    more = f"; and {len(items) - n} more" if len(items) > n else ""
    return "; ".join(items[:n]) + more


def _last_vg(hist: History, in_area: list[Version], cur: Version, bad: set[int]) -> Optional[str]:
    """The VG the PV was last written for before the damaged copy ``cur``: that of the
    nearest intact copy before it in ring order (None if there is none)."""
    pos = cur.area_offset or 0
    ring = sorted(in_area, key=lambda v: v.area_offset or 0)
    before = [v for v in ring if (v.area_offset or 0) < pos][::-1]
    before += [v for v in ring if (v.area_offset or 0) > pos][::-1]
    for v in before:
        if id(v) in bad or not v.vg_uuid or v.uncommitted:
            continue
        verify_versions([v], hist._cache)
        if v.usable and lists_own_pv(hist, v):
            return v.vg_uuid
    return None


def damaged_fallback(
    ds: DiskSet,
    chosen: list[MetadataCopy],
    lost: Optional[list[tuple[set[str], str, LvmReadError]]] = None,
) -> list[MetadataCopy]:
    """Where a metadata area's newest copy is damaged, use the newest intact copy on any PV.

    ``ds.damaged`` lists the areas whose header or current copy failed a check (their
    warnings are already in ``ds.warnings``). The VGs affected are every VG seen in such an
    area's ring, as the damaged text's own first lines may be the damaged bytes. For each,
    the highest seqno that is intact (complete, its stored checksum matches, it parses) in
    any ring of any PV replaces the chosen copy when it is newer, or stands in when no PV
    had a good copy. Nothing read from the damaged text bounds the choice; a copy written
    after the committed copy of its area (never committed) is used only if nothing
    committed is intact. A damaged area none of whose VGs could be read is put in ``lost``
    (its VG uuids, the VG name the damaged copy gives, and the error to report unless a
    metadata file stands in for one of those VGs).
    """
    lost = [] if lost is None else lost
    if not getattr(ds, "damaged", None):
        return chosen
    hist = History.of(ds)
    failed: dict[str, list[str]] = {}  # vg uuid -> what failed (one entry per damaged area)
    claims: dict[str, int] = {}  # vg uuid -> the highest seqno a damaged copy says it has
    bad: set[int] = set()  # id() of the damaged copies themselves
    areas: list[tuple[set[str], list[Version], str]] = []  # (VG uuids, versions, what failed)
    homes: dict[str, list[bool]] = {}  # vg uuid -> per damaged area: may be read from it
    earlier: list[str] = []  # VGs a damaged area's PV was in before: not read
    by_area: dict[int, list[Version]] = {}
    copies_of: dict[Optional[str], int] = {}  # vg uuid -> how many copies name it
    for v in hist.versions:
        by_area.setdefault(id(v.mda), []).append(v)
        copies_of[v.vg_uuid] = copies_of.get(v.vg_uuid, 0) + 1
    for mda, err in ds.damaged:
        in_area = by_area.get(id(mda), [])
        if not in_area:
            ds.warnings.append(
                f"{mda.source.name}: metadata area {mda.index} (offset {mda.offset}) holds no "
                "metadata text at all; a backup or archive file of its VG can stand in for it "
                "(--metadata FILE)"
            )
            continue
        cur = [v for v in in_area if v.current]
        bad.update(id(v) for v in cur)
        if cur:
            what = "; ".join(f"seqno {v.seqno} at {v.where} failed a check: {err.message}"
                             if v.seqno is not None else
                             f"{v.where} failed a check: {err.message}" for v in cur)
        else:  # the header is unusable: no copy is known to be the committed one
            what = str(err)
        uuids = {v.vg_uuid for v in in_area if v.vg_uuid}
        areas.append((uuids, cur or in_area, what))
        # a VG read from this ring alone must be the one the PV was last written for
        last = _last_vg(hist, in_area, cur[0], bad) if cur and len(uuids) > 1 else None
        for u in uuids:
            homes.setdefault(u, []).append(last is None or last == u)
        for v in cur:
            if v.seqno is None:
                continue
            # a uuid no other copy has is itself damaged: the seqno may still be right
            alone = copies_of.get(v.vg_uuid, 0) <= 1
            for u in uuids if alone else [v.vg_uuid]:
                if u:
                    claims[u] = max(claims.get(u, v.seqno), v.seqno)
        for u in uuids:
            if what not in failed.setdefault(u, []):
                failed[u].append(what)
    by_uuid = {c.vg_uuid: c for c in chosen}
    out = list(chosen)
    for uuid, what in failed.items():
        intact: list[Version] = []  # newest first, up to the first committed one
        for v in _intact(hist, uuid, bad):
            intact.append(v)
            if not v.uncommitted:
                break
        committed = [v for v in intact if not v.uncommitted]
        best = committed[0] if committed else (intact[0] if intact else None)
        have = by_uuid.get(uuid)
        if best is None or best.seqno is None:
            continue
        if have is not None and have.seqno >= best.seqno:
            continue
        if have is None and not any(homes.get(uuid, [True])):
            earlier.append(best.vg_name or uuid)
            continue
        copy = to_copy(best, hist.tree(best))
        newest = intact[0]
        if newest is best:
            which = "the newest intact copy on the inputs"
        else:
            which = (
                f"the newest intact committed copy on the inputs (seqno {newest.seqno} at "
                f"{newest.where} is newer but was never committed: "
                "written after the committed copy of its area)"
            )
            if not committed:
                which = "an uncommitted copy (written after the committed copy of its area)"
        claim = claims.get(uuid)
        later = ""
        if claim is not None and claim == best.seqno + 1:
            later = f"; what seqno {claim} changed is not shown"
        elif claim is not None and claim > best.seqno:
            later = (
                f"; the damaged copy says seqno {claim}: what seqnos {best.seqno + 1}-{claim} "
                "changed is not shown (LVs created since may be missing)"
            )
        ds.warnings.append(
            f"VG {copy.vg_name}: the newest metadata is damaged ({_some(what)}); "
            f"using seqno {copy.seqno}{_describe(best)} from {best.where}, {which}{later}"
        )
        if have is not None:
            out[out.index(have)] = copy
        else:
            out.append(copy)
    if earlier:
        names = ", ".join(sorted(earlier)[:3]) + (", ..." if len(earlier) > 3 else "")
        ds.warnings.append(
            f"{len(earlier)} other VG(s) ({names}) are in the ring of a damaged metadata area "
            "only as VGs its PV was in before the one it was last written for; they are not "
            "listed (`lvmread history` shows them)"
        )
    # an area none of whose VGs was read: its VG lost (the uuid the damaged text gives may
    # be the damaged byte, and the other VGs of its ring may be ones the PV has left)
    read = {c.vg_uuid for c in out}
    gone: dict[tuple[str, str], tuple[set[str], list[str]]] = {}  # one error per VG
    for uuids, named, what in areas:
        if uuids and not uuids & read:
            v = max(named, key=lambda v: (v.vg_uuid is not None, v.seqno or 0))
            all_uuids, whats = gone.setdefault((v.vg_name or "?", v.vg_uuid or ""), (set(), []))
            all_uuids.update(uuids)
            whats.append(what)
    for (name, uuid), (uuids, whats) in gone.items():
        lost.append((uuids, name, MetadataError(
            f"VG {name} ({uuid or 'uuid unknown'}): no intact copy of its metadata on the "
            f"inputs ({_some(whats)}); it is left out"
        )))
    for msg in hist.disagreements():
        if msg not in ds.warnings:
            ds.warnings.append(msg)
    return out
