"""From input paths to volume groups: find PVs (whole devices or partitions), read their
metadata, join them into VGs by VG uuid, and pick the copy of the metadata to trust.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Optional

from .errors import LabelError, LvmReadError, MetadataError, UsageError, summarise
from .metadata import parse_metadata
from .model import VolumeGroup, build_vg
from .pv import MetadataText, PVDevice, find_label, read_pv

if TYPE_CHECKING:
    from .source import InputFile


@dataclass
class MetadataCopy:
    """One parsed copy of a VG's metadata text, with where it came from."""

    text: MetadataText
    tree: dict
    vg_name: str
    vg_uuid: str
    seqno: int

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


def parse_copy(text: MetadataText, cache: Optional[dict] = None) -> MetadataCopy:
    """Parse one metadata copy (reusing the tree of an identical text from ``cache``)."""
    key = text.data
    tree = cache.get(key) if cache is not None else None
    if tree is None:
        tree = parse_metadata(text.text, source=text.where)
        if cache is not None:
            cache[key] = tree
    name, uuid, seqno = _vg_identity(tree, text.where)
    return MetadataCopy(text=text, tree=tree, vg_name=name, vg_uuid=uuid, seqno=seqno)


def find_pvs(infile: InputFile, warnings: list[str]) -> list[PVDevice]:
    """The PVs of one input: the whole device if it carries a label, else its partitions."""
    from .partitions import partition_sources

    whole = infile.source(0, infile.size)
    if find_label(whole) is not None:
        return [read_pv(whole)]
    pvs: list[PVDevice] = []
    errors: list[LvmReadError] = []
    for part in partition_sources(infile, warnings):
        try:
            if find_label(part) is not None:
                pvs.append(read_pv(part))
        except LvmReadError as exc:
            errors.append(exc)
    if not pvs:
        if errors:
            raise errors[0]
        raise LabelError(
            "no LVM label in sectors 0-3 of the device or of any partition",
            file=infile.path,
            offset=0,
        )
    warnings.extend(str(exc) for exc in errors)
    return pvs


@dataclass
class DiskSet:
    """The inputs, the PVs found on them and the VGs they make up.

    Use as a context manager, or call :meth:`close`, to close the inputs.
    """

    inputs: list[InputFile] = field(default_factory=list)
    pvs: list[PVDevice] = field(default_factory=list)
    vgs: list[VolumeGroup] = field(default_factory=list)
    errors: list[LvmReadError] = field(default_factory=list)
    """Faults that made an input unusable (no label, unreadable file)."""
    warnings: list[str] = field(default_factory=list)
    """Faults lvmread worked around (a damaged copy, an older seqno, a missing PV)."""
    copies: list[MetadataCopy] = field(default_factory=list, repr=False)
    """Every current metadata copy read (one per metadata area that has one)."""
    activator: Any = field(default=None, repr=False)
    """Maps this set's LVs onto a userspace device mapper (made on first use)."""
    damaged: list[Any] = field(default_factory=list, repr=False)
    """(metadata area, error) of each area whose header or current copy failed a check."""
    history: Any = field(default=None, repr=False)
    """Every metadata version on the PVs (:class:`~lvmread.history.History`), on first use."""
    metadata_files: list[Any] = field(default_factory=list, repr=False)
    """Versions read from metadata backup/archive files (``--metadata``)."""
    lv_warnings: dict[str, list[str]] = field(default_factory=dict)
    """LV uuid -> warnings about that LV alone (extents a later version gave away)."""

    def __iter__(self):
        return iter(self.vgs)

    def __len__(self) -> int:
        return len(self.vgs)

    def vg(self, name_or_uuid: str) -> VolumeGroup:
        """The VG with this name or uuid."""
        u = name_or_uuid.replace("-", "")
        for vg in self.vgs:
            if vg.name == name_or_uuid or vg.uuid.replace("-", "") == u:
                return vg
        raise UsageError(f"no volume group {name_or_uuid} on the inputs")

    def lv(self, spec: str):
        """The LV named ``VG/LV``, or the LV with this uuid in any VG."""
        if "/" in spec:
            vg_name, lv_name = spec.split("/", 1)
            return self.vg(vg_name).lv(lv_name)
        u = spec.replace("-", "")
        for vg in self.vgs:
            for lv in vg.lvs.values():
                if lv.uuid.replace("-", "") == u:
                    return lv
        raise UsageError(f"no logical volume {spec} (give VG/LV or an LV uuid)")

    def close(self) -> None:
        if self.activator is not None:
            self.activator.close()
        for f in self.inputs:
            f.close()

    def __enter__(self) -> DiskSet:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def scan(paths: list[str]) -> DiskSet:
    """Open every input read-only and find its PVs; errors are collected, not raised."""
    from .source import open_input

    ds = DiskSet()
    for path in paths:
        try:
            infile = open_input(path)
        except LvmReadError as exc:
            ds.errors.append(exc)
            continue
        ds.inputs.append(infile)
        try:
            ds.pvs.extend(find_pvs(infile, ds.warnings))
        except LvmReadError as exc:
            ds.errors.append(exc)
    return ds


def read_copies(ds: DiskSet) -> list[MetadataCopy]:
    """Read and parse the current metadata copy of every metadata area of every PV."""
    cache: dict = {}
    copies = []
    for pv in ds.pvs:
        for mda in pv.metadata_areas:
            if mda.error is not None:
                ds.warnings.append(str(mda.error))
                ds.damaged.append((mda, mda.error))
                continue
            if mda.ignored:  # pvchange --metadataignore: lvm2 neither reads nor updates it
                continue
            try:
                text = mda.current()
                if text is not None:
                    copies.append(parse_copy(text, cache))
            except LvmReadError as exc:
                ds.warnings.append(f"{exc} (this copy is not used)")
                ds.damaged.append((mda, exc))
    return copies


def choose(copies: list[MetadataCopy], warnings: list[str]) -> list[MetadataCopy]:
    """For each VG uuid the copy to trust: the highest seqno; disagreements are warned of."""
    by_vg: dict[str, list[MetadataCopy]] = {}
    for c in copies:
        by_vg.setdefault(c.vg_uuid, []).append(c)
    chosen = []
    for group in by_vg.values():
        best = max(group, key=lambda c: c.seqno)
        for c in group:
            if c.seqno < best.seqno:
                warnings.append(
                    f"{c.text.where}: VG {c.vg_name} metadata seqno {c.seqno} is older than "
                    f"seqno {best.seqno} on {best.pv}; using seqno {best.seqno}"
                )
            elif c.text.data != best.text.data:
                warnings.append(
                    f"{c.text.where}: VG {c.vg_name} metadata seqno {c.seqno} differs from "
                    f"the copy with the same seqno on {best.pv}"
                )
        chosen.append(best)
    return chosen


def attach_devices(vg: VolumeGroup, pvs: list[PVDevice], warnings: list[str]) -> None:
    """Join each PV of the metadata to the device that carries its uuid."""
    for dev in pvs:
        pv = vg.pv_by_uuid(dev.uuid)
        if pv is None:
            continue
        if pv.device is not None and pv.device is not dev:
            warnings.append(
                f"{dev.name}: PV {dev.uuid} is also on {pv.device.name}; using {pv.device.name}"
            )
            continue
        pv.device = dev
    gone = [
        f"VG {vg.name}: PV {pv.uuid} (last seen as {pv.device_hint or pv.key}) is missing"
        for pv in vg.missing_pvs
    ]
    warnings.extend(summarise(gone, f"VG {vg.name}: and " + "{n} more PVs are missing"))


def build(ds: DiskSet, copy: MetadataCopy) -> VolumeGroup:
    """Build the VG of one metadata copy and attach the PVs of ``ds``."""
    from .activate import Activator
    from .validate import check_vg

    vg = build_vg(copy.tree, source=copy.text.where)
    vg.sources.append(copy)
    if ds.activator is None:
        ds.activator = Activator()
    vg.activator = ds.activator
    attach_devices(vg, ds.pvs, ds.warnings)
    ds.warnings.extend(check_vg(vg))
    return vg


def open_disks(
    paths: list[str],
    seqno: Optional[int] = None,
    metadata: Optional[list[str]] = None,
    vg: Optional[str] = None,
) -> DiskSet:
    """Scan ``paths`` and assemble every VG found on them (the library's entry point).

    Where the newest copy of a metadata area is damaged, the newest valid copy on any PV
    (older ones in the ring buffers included) is used, with a warning. ``metadata`` names
    backup/archive files (or folders of them) that are read as metadata too: a VG they
    describe is built from them (the highest seqno among them). ``seqno`` builds each VG
    (or only the one named ``vg``) from that version of its metadata instead of the
    newest; ``vg`` alone keeps only that VG.
    """
    ds = scan(paths)
    ds.copies = read_copies(ds)
    chosen = choose(ds.copies, ds.warnings)
    try:
        chosen = _forensic_choice(ds, chosen, seqno, metadata, vg)
    except BaseException:
        ds.close()
        raise
    for copy in chosen:
        try:
            ds.vgs.append(build(ds, copy))
        except LvmReadError as exc:
            ds.errors.append(exc)
    in_vg = {pv.device.uuid for vg in ds.vgs for pv in vg.pvs.values() if pv.device is not None}
    for dev in ds.pvs:
        if dev.uuid not in in_vg and not any(m.header for m in dev.metadata_areas):
            ds.warnings.append(
                f"{dev.name}: PV {dev.uuid} has no metadata area and no other input names it"
            )
    ds.vgs.sort(key=lambda v: v.name)
    if seqno is not None:
        from .history import note_reuse

        for built in ds.vgs:
            note_reuse(ds, built)
    return ds


def _forensic_choice(
    ds: DiskSet,
    chosen: list[MetadataCopy],
    seqno: Optional[int],
    metadata: Optional[list[str]],
    vg: Optional[str],
) -> list[MetadataCopy]:
    """Damaged copies, metadata files, ``--seqno`` and ``--vg`` (lvmread.history)."""
    if ds.damaged:
        from .history import damaged_fallback

        chosen = damaged_fallback(ds, chosen)
    if metadata:
        from .backup import read_metadata_files, use_files

        ds.metadata_files = read_metadata_files(metadata)
        if ds.history is not None:
            ds.history = None  # rescan with the files
        if seqno is None:
            chosen = use_files(ds, chosen)
    if seqno is not None:
        from .history import select_seqno

        chosen = select_seqno(ds, chosen, seqno, vg)
    elif vg is not None:
        u = vg.replace("-", "")
        picked = [c for c in chosen if c.vg_name == vg or c.vg_uuid.replace("-", "") == u]
        if not picked:
            raise UsageError(f"no volume group {vg} on the inputs")
        chosen = picked
    return chosen

