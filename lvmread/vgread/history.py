"""Every version of the metadata still on the inputs, listed: the copy each mda_header
points to, the older copies lvm2 left in the ring of every metadata area (found by
:func:`lvmread.vgread.ring.scan_area`), and metadata files given with ``--metadata``.

:class:`History` gathers those versions (:class:`~lvmread.vgread.copies.Version`), checks
their syntax and parses them; it does not decide which copy wins
(:mod:`lvmread.vgread.select` does). What later versions did with the extents of an
older one is :mod:`lvmread.forensics.reuse`.
"""

from __future__ import annotations

import functools
from typing import TYPE_CHECKING, Iterable, Optional, Protocol

from ..errors import LvmReadError, summarise
from ..text.metadata import over_limit
from .copies import Version, hex32
from .ring import scan_pvs

if TYPE_CHECKING:
    from ..activator.plan import Activator
    from ..ondisk.pv import MetadataArea, PVDevice

class Disks(Protocol):
    """What the history and the selection of copies need of a disk set
    (:class:`~lvmread.vgread.scan.DiskSet` has it)."""

    pvs: list[PVDevice]
    errors: list[LvmReadError]
    warnings: list[str]
    damaged: list[tuple[MetadataArea, LvmReadError]]
    history: Optional[History]
    metadata_files: list[Version]
    lv_warnings: dict[str, list[str]]
    activator: Optional[Activator]


class _Kept:
    """What lark's internal list rules need from their children: ``children``."""

    __slots__ = ("children",)

    def __init__(self, children: list) -> None:
        self.children = children


@functools.cache
def _checker():
    """The metadata grammar with no-op callbacks: checks syntax without building dicts.

    The same grammar file as :func:`lvmread.text.metadata.parse_metadata` (so both accept the
    same texts); listing hundreds of versions then costs a lex and an LALR pass each.
    """
    from ..text.metadata import MAX_DEPTH, TooDeep, lark_runtime

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
    :func:`~lvmread.text.metadata.parse_metadata` gives, with its line number)."""
    from ..text.metadata import TooDeep, lark_runtime, parse_metadata

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
    from ..text.metadata import parse_metadata

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
    """Every version found: on the PVs of a :class:`~lvmread.vgread.scan.DiskSet` and in files."""

    def __init__(self, versions: list[Version]) -> None:
        self.versions = sorted(versions, key=sort_key)
        self._cache: dict = {}  # text -> syntax error or None
        self._trees: dict = {}  # text -> parsed tree
        self._index: Optional[tuple[list[Version], int, dict]] = None  # see of_vg

    @classmethod
    def of(cls, ds: Disks) -> History:
        """The history of a disk set (scanned once, kept on ``ds.history``)."""
        if ds.history is None:
            found = scan_pvs(ds.pvs)
            found.extend(ds.metadata_files)
            ds.history = cls(found)
        return ds.history

    def verify(self) -> History:
        verify_versions(self.versions, self._cache)
        return self

    def verify_versions(self, versions: Iterable[Version]) -> None:
        """Check the syntax of these versions (with this history's cache of texts)."""
        verify_versions(versions, self._cache)

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
