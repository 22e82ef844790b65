"""From input paths to volume groups: find PVs (whole devices or partitions), read their
current metadata copies, have :mod:`lvmread.vgread.select` pick the copy to trust for
each VG, and build the VGs with their PVs attached.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Iterable, Optional

from ..errors import (
    AmbiguousNameError,
    LvmReadError,
    MetadataError,
    UsageError,
    summarise,
)
from ..limits import SECTOR_SIZE
from ..model.volumes import PhysicalVolume, VolumeGroup, build_vg
from ..ondisk.partitions import label_sources
from ..ondisk.pv import MetadataArea, PVDevice, read_pv
from ..text.metadata import metadata_warnings, repeated_sections
from .copies import MetadataCopy, Version, listed_pvs, lists_pv, parse_copy

if TYPE_CHECKING:
    from ..activator.plan import Activator
    from ..inputs.source import InputFile
    from .history import History

__all__ = [
    "DiskSet", "MetadataCopy", "attach_devices", "build", "find_pvs",
    "listed_pvs", "lists_pv", "open_disks", "parse_copy", "read_copies", "scan",
]


def find_pvs(infile: InputFile, warnings: list[str]) -> list[PVDevice]:
    """The PVs of one input: the whole device, or its partitions
    (:func:`~lvmread.ondisk.partitions.label_sources`)."""
    pvs: list[PVDevice] = []
    errors: list[LvmReadError] = []
    for source, _sector in label_sources(infile, warnings):
        try:
            pvs.append(read_pv(source))
        except LvmReadError as exc:
            errors.append(exc)
    if not pvs:
        raise errors[0]
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
    activator: Optional[Activator] = field(default=None, repr=False)
    """Maps this set's LVs onto a userspace device mapper (made on first use)."""
    damaged: list[tuple[MetadataArea, LvmReadError]] = field(default_factory=list, repr=False)
    """(metadata area, error) of each area whose header or current copy failed a check."""
    history: Optional[History] = field(default=None, repr=False)
    """Every metadata version on the PVs (:class:`~lvmread.vgread.history.History`), on
    first use."""
    metadata_files: list[Version] = field(default_factory=list, repr=False)
    """Versions read from metadata backup/archive files (``--metadata``)."""
    lv_warnings: dict[str, list[str]] = field(default_factory=dict)
    """LV uuid -> warnings about that LV alone (extents a later version gave away)."""

    def __iter__(self):
        return iter(self.vgs)

    def __len__(self) -> int:
        return len(self.vgs)

    def vg(self, name_or_uuid: str) -> VolumeGroup:
        """The VG with this uuid or name.

        As lvm2 does, a name that two VGs (two VG uuids) carry is ambiguous: refused with
        an :class:`AmbiguousNameError` (a :class:`UsageError`) that says to give the uuid.
        """
        u = name_or_uuid.replace("-", "")
        for vg in self.vgs:
            if vg.uuid.replace("-", "") == u:
                return vg
        named = [vg for vg in self.vgs if vg.name == name_or_uuid]
        if len({vg.uuid for vg in named}) > 1:
            raise AmbiguousNameError(
                f"VG name {name_or_uuid} is ambiguous: VGs {_few([v.uuid for v in named])} "
                "have it; give the VG by its uuid (VGUUID/LV, or --vg UUID)"
            )
        if named:
            return named[0]
        raise UsageError(f"no volume group {name_or_uuid} on the inputs")

    def lv(self, spec: str):
        """The LV named ``VG/LV`` (VG by name or uuid), or the LV with this uuid in any VG."""
        if "/" in spec:
            vg_name, lv_name = spec.split("/", 1)
            return self.vg(vg_name).lv(lv_name)
        u = spec.replace("-", "")
        found = [lv for vg in self.vgs for lv in vg.lvs.values() if lv.uuid.replace("-", "") == u]
        if len(found) > 1:  # a cloned VG (vgimportclone keeps the LV uuids)
            raise AmbiguousNameError(
                f"LV uuid {spec} is in VGs {_few([lv.vg.uuid for lv in found])}; "
                "give VGUUID/LV"
            )
        if found:
            return found[0]
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
    from ..inputs.source import open_input

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
    pv_ids: dict[int, set[str]] = {}  # id(tree) -> the PV uuids it lists (no dashes)
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
                    copy = parse_copy(text, cache, pv.uuid)
                    ids = pv_ids.get(id(copy.tree))
                    if ids is None:
                        ids = pv_ids[id(copy.tree)] = listed_pvs(copy.tree)
                    if pv.uuid.replace("-", "") not in ids:
                        raise MetadataError(
                            f"the metadata (VG {copy.vg_name} {copy.vg_uuid} seqno "
                            f"{copy.seqno}) does not list this PV ({pv.uuid}) among its "
                            "physical volumes",
                            file=text.area.source.path,
                            offset=text.area.source.start + text.device_offset,
                        )
                    copies.append(copy)
            except LvmReadError as exc:
                ds.warnings.append(f"{exc} (this copy is not used)")
                ds.damaged.append((mda, exc))
    return copies


def attach_devices(
    vg: VolumeGroup,
    pvs: list[PVDevice],
    warnings: list[str],
    copies: Iterable[MetadataCopy] = (),
) -> None:
    """Join each PV of the metadata to the device that carries its uuid.

    A PV uuid on several devices (a stale clone beside the current disk) gets one device,
    by a rule that does not depend on the order of the inputs (:func:`_pick_device`); it
    serves metadata and data alike, and each device not used is warned of, as lvm2 does.
    """
    found: dict[str, list[PVDevice]] = {}
    for dev in pvs:
        found.setdefault(dev.uuid.replace("-", ""), []).append(dev)
    for pv in vg.pvs.values():
        devs = found.get(pv.uuid.replace("-", ""), [])
        if len(devs) == 1:
            pv.device = devs[0]
        elif devs:
            pv.device, why = _pick_device(vg, pv, devs, copies)
            unused = [dev.name for dev in devs if dev is not pv.device]
            warnings.append(
                f"Not using device{'s' if len(unused) > 1 else ''} {_few(unused)} for PV "
                f"{pv.uuid} of VG {vg.name}: using {pv.device.name} ({why})"
            )
    gone = [
        f"VG {vg.name}: PV {pv.uuid} (last seen as {pv.device_hint or pv.key}) is missing"
        for pv in vg.missing_pvs
    ]
    warnings.extend(summarise(gone, f"VG {vg.name}: and " + "{n} more PVs are missing"))


def _pick_device(
    vg: VolumeGroup, pv: PhysicalVolume, devs: list[PVDevice], copies: Iterable[MetadataCopy]
) -> tuple[PVDevice, str]:
    """The device to use for a PV found on several, and why: one whose metadata area holds
    the metadata in use (the very copy, or a current copy identical to it); else one
    whose size is the PV's recorded size; else the first by name and offset (never by
    the order of the inputs)."""
    chosen = vg.sources[0] if vg.sources else None
    area = getattr(chosen.text, "area", None) if chosen is not None else None
    holds = {
        id(c.text.area)
        for c in copies
        if chosen is not None and c.vg_uuid == chosen.vg_uuid and c.text.data == chosen.text.data
    }
    if area is not None:
        holds.add(id(area))

    def rank(dev: PVDevice) -> tuple[int, int, str, int]:
        meta = 0 if any(id(m) in holds for m in dev.metadata_areas) else 1
        size = 0 if dev.source.size // SECTOR_SIZE == pv.dev_size else 1
        return meta, size, dev.name, dev.source.start

    ranks = sorted((rank(dev), i) for i, dev in enumerate(devs))
    best = ranks[0][0]
    if any(r[0] > best[0] for r, _ in ranks):
        why = f"it holds the metadata in use, seqno {vg.seqno}"
    elif any(r[1] > best[1] for r, _ in ranks):
        why = f"its size matches the PV's recorded size of {pv.dev_size} sectors"
    else:
        why = "the first by name: nothing else tells the copies apart"
    return devs[ranks[0][1]], why


def build(ds: DiskSet, copy: MetadataCopy) -> VolumeGroup:
    """Build the VG of one metadata copy and attach the PVs of ``ds``."""
    from ..activator.plan import Activator
    from .validate import check_vg

    vg = build_vg(copy.tree, source=copy.text.where)
    ds.warnings.extend(metadata_warnings(copy.tree))
    vg.sources.append(copy)
    if ds.activator is None:
        ds.activator = Activator()
    vg.activator = ds.activator
    attach_devices(vg, ds.pvs, ds.warnings, ds.copies)
    ds.warnings.extend(check_vg(vg, repeated_sections(copy.tree)))
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
    from .select import select_copies

    ds = scan(paths)
    ds.copies = read_copies(ds)
    try:
        chosen = select_copies(ds, ds.copies, seqno=seqno, metadata=metadata, vg=vg)
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
    ds.vgs.sort(key=lambda v: (v.name, v.uuid))
    ds.warnings.extend(duplicate_vg_names(ds.vgs))
    if seqno is not None:
        from ..forensics.reuse import note_reuse

        for built in ds.vgs:
            note_reuse(ds, built)
    return ds


def duplicate_vg_names(vgs: Iterable[VolumeGroup]) -> list[str]:
    """One warning per VG name that several VGs (VG uuids) carry: lvm2 lists them all
    but refuses the name where one VG is meant."""
    uuids: dict[str, set[str]] = {}
    for vg in vgs:
        uuids.setdefault(vg.name, set()).add(vg.uuid)
    dups = [(name, sorted(us)) for name, us in sorted(uuids.items()) if len(us) > 1]
    out = [
        f"VG name {name} is used by {len(us)} VGs: {_few(us)}; "
        "give VGUUID/LV (or --vg UUID) to name one of them"
        for name, us in dups[:3]
    ]
    if len(dups) > 3:
        out.append(f"and {len(dups) - 3} more VG names used by several VGs")
    return out


def _few(items: list[str], n: int = 4) -> str:
    """``a, b, c, d and 5 more``: a list for one line of a message."""
    shown = ", ".join(items[:n])
    return shown + (f" and {len(items) - n} more" if len(items) > n else "")
