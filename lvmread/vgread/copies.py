"""One copy of a VG's metadata text, whatever it came from.

A :class:`Version` is one copy as found: the text an mda_header points to, an older copy
left in a metadata area's ring (:mod:`lvmread.vgread.ring` finds them), or a backup/archive file
(:mod:`lvmread.vgread.backup`); it carries its provenance and its checks (complete, checksum
where one is stored, parses, committed or not). A :class:`MetadataCopy` is a copy in use:
its text where it lies (:class:`~lvmread.ondisk.pv.MetadataText` or :class:`FileText`) and its
parsed tree, what :func:`lvmread.vgread.scan.build` makes a VG of; :func:`to_copy` makes one
of a version. Which copy wins is decided in :mod:`lvmread.vgread.select` alone.
"""

from __future__ import annotations

import functools
import re
from dataclasses import dataclass, field
from typing import Any, Optional, Union

from ..errors import MetadataError
from ..ondisk.pv import MetadataArea, MetadataText, valid_uuid
from ..text.metadata import parse_metadata, syntax, unquote

_CONTENTS = b'contents = "Text Format Volume Group"'


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
            text = m.group(1).decode("utf-8", "replace")
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
        """Complete, parsed, not contradicted by a stored checksum, and of a VG id lvm2
        would read (an old ring copy has no checksum: a flipped byte in its id must not
        make a second VG)."""
        return (self.complete and self.parses is True and self.checksum_ok is not False
                and valid_uuid(self.vg_uuid))

    @property
    def lists_own_pv(self) -> Optional[bool]:
        """Whether the parsed text lists the PV whose metadata area holds it (a copy of a VG
        the PV was in before it was made a PV again does not); always for a file; None
        while the text is not parsed."""
        if self.kind != "disk" or self.pv_uuid is None:
            return True
        return None if self.tree is None else lists_pv(self.tree, self.pv_uuid)

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
        from ..report.lvs import format_time

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


@dataclass
class FileText:
    """The text of a metadata file, shaped like :class:`~lvmread.ondisk.pv.MetadataText` for
    :class:`MetadataCopy`."""

    path: str
    data: bytes
    area: None = None

    @property
    def where(self) -> str:
        return self.path

    @property
    def text(self) -> str:
        return self.data.split(b"\0", 1)[0].decode("utf-8", "replace")


@dataclass
class MetadataCopy:
    """A copy in use: a :class:`Version` whose text parsed into a VG, with its text where
    it lies (what a VG is built from and names as its source)."""

    text: Union[MetadataText, FileText]
    """Where the text lies and its bytes."""
    tree: dict
    version: Version = field(repr=False, compare=False)
    """The copy itself: its provenance, its checks and the VG it names."""

    @property
    def vg_name(self) -> str:
        return self.version.vg_name  # type: ignore[return-value]  # set for a copy in use

    @property
    def vg_uuid(self) -> str:
        return self.version.vg_uuid  # type: ignore[return-value]

    @property
    def seqno(self) -> int:
        return self.version.seqno  # type: ignore[return-value]

    @property
    def pv(self) -> str:
        area = getattr(self.text, "area", None)
        return area.source.name if area is not None else self.text.where


def _vg_identity(tree: dict, where: str) -> tuple[str, str, int]:
    for name, sec in tree.items():
        if isinstance(sec, dict):
            seqno = sec.get("seqno")
            if not isinstance(seqno, int):
                raise MetadataError(f"{where}: volume group {name} has no integer seqno")
            return name, str(sec.get("id", "")), seqno
    raise MetadataError(f"{where}: no volume group section in the metadata")


def listed_pvs(tree: dict) -> set[str]:
    """The uuids (without dashes) of the PVs the VG section of a parsed copy lists."""
    for sec in tree.values():
        if isinstance(sec, dict):
            pvs = sec.get("physical_volumes")
            if not isinstance(pvs, dict):
                return set()
            return {
                str(pv.get("id", "")).replace("-", "") for pv in pvs.values()
                if isinstance(pv, dict)
            }
    return set()


def lists_pv(tree: dict, pv_uuid: str) -> bool:
    """Whether the VG section of a parsed copy lists the PV with this uuid."""
    return pv_uuid.replace("-", "") in listed_pvs(tree)


def parse_copy(
    text: MetadataText, cache: Optional[dict] = None, pv_uuid: Optional[str] = None
) -> MetadataCopy:
    """Parse the copy an mda_header points to (reusing the tree of an identical text from
    ``cache``); ``pv_uuid`` is the PV whose metadata area holds it."""
    key = text.data
    tree = cache.get(key) if cache is not None else None
    if tree is None:
        tree = parse_metadata(text.text, source=text.where)
        if cache is not None:
            cache[key] = tree
    name, uuid, seqno = _vg_identity(tree, text.where)
    area = text.area
    src = area.source
    v = Version(
        vg_name=name,
        vg_uuid=uuid,
        seqno=seqno,
        data=text.data,
        checksum=text.computed_checksum,
        source=src.path,
        pv_name=src.name,
        pv_uuid=pv_uuid,
        mda_index=area.index,
        area_offset=text.offset,
        offset=text.device_offset,
        file_offset=src.start + text.device_offset,
        length=text.size,
        wrapped=text.wrapped,
        ended=True,
        current=True,
        stored_checksum=text.stored_checksum,
        parses=True,
        mda=area,
        tree=tree,
        **{k: _typed(tree.get(k), t) for k, t in _HEADER_TYPES.items()},
    )
    return MetadataCopy(text=text, tree=tree, version=v)


_HEADER_TYPES = {"description": str, "creation_host": str, "creation_time": int}


def _typed(value: Any, kind: type) -> Any:
    return value if isinstance(value, kind) else None


def to_copy(v: Version, tree: dict) -> MetadataCopy:
    """The copy in use (what :func:`lvmread.vgread.scan.build` takes) for a version."""
    text: Union[MetadataText, FileText]
    if v.kind == "file":
        text = FileText(path=v.source, data=v.data)
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
    return MetadataCopy(text=text, tree=tree, version=v)
