"""Segment types: one handler per type family, as lvm2's ``struct segtype_handler``.

Each handler holds everything lvmread knows of its type(s): how a segment links its areas
and sub-LVs as lvm2 reads it in (``text_import``), the checks it needs beyond the generic
ones, its device-mapper table line (or a clear refusal), and its per-type report fields.
The model, the validator, the activator and the reports ask :func:`handler` for a type.

Layers: ``model`` <- ``segtypes`` <- ``validate``/``activate``/``report``. The model never
imports this package; it asks the lookup that :func:`lvmread.model.volumes.set_segment_types`
installs, which this package does when imported (``lvmread/__init__.py`` imports it, so
every user of the model has it). A new type: copy ``zero_error.py`` (mappable) or
``vdo.py`` (known, not mappable yet) and name its types in :data:`FAMILIES`; a family's
module is imported when a segment of one of its types is first met.
"""

from __future__ import annotations

import importlib
from typing import Optional, Protocol

from ..errors import ActivationError
from ..model.volumes import LogicalVolume, Segment, SegmentArea, VolumeGroup, set_segment_types


class AreaResolver(Protocol):
    """What a table line needs of the activator (:class:`lvmread.activator.plan.Context`)."""

    def pv_area(self, seg: Segment, area_index: int) -> tuple[str, int]: ...


class SegmentType:
    """A segment type lvm2 knows but lvmread cannot map yet; subclasses override what
    their type does differently. Instances are stateless and shared."""

    names: tuple[str, ...] = ()
    """The type names (``Segment.type``) this handler serves."""
    known = True
    """Whether lvm2 knows the type (an unknown one reports ``u`` in lv_attr)."""
    virtual = False
    """lvm2's ``SEG_VIRTUAL``: the segment has no areas of its own; its LV is ``VIRTUAL``."""
    is_raid = False

    # -------------------------------------------------------------------- model
    def link(self, vg: VolumeGroup, lv: LogicalVolume, seg: Segment) -> None:
        """What lvm2 makes of the segment as it reads it in: by default the areas the
        metadata lists are its areas (``striped``, and types lvm2 keeps as they are)."""
        for area in seg.areas:
            seg.data_areas.append(area)
            if area.lv is not None:
                use(area.lv, seg)
        if self.virtual:
            lv.lvm2_status.add("VIRTUAL")

    def parity_devs(self, seg: Segment) -> int:
        """lvm2's ``segtype->parity_devs``."""
        return 0

    def data_copies(self, seg: Segment) -> int:
        """lvm2's ``data_copies``."""
        return 1

    def data_stripes(self, seg: Segment) -> int:
        """lvm2's ``data_stripes``: the areas less trailing images freed by a reshape."""
        n = len(seg.data_areas)
        for area in reversed(seg.data_areas[1:]):
            if area.lv is not None and "REMOVE_AFTER_RESHAPE" in area.lv.lvm2_status:
                n -= 1
            else:
                break
        return n

    def area_len(self, seg: Segment) -> int:
        """Extents each area holds (lvm2's ``area_len``)."""
        return seg.extent_count

    # ----------------------------------------------------------------- validate
    def problems(self, seg: Segment, where: str) -> list[str]:
        """Faults of the segment's type-specific keys (``where`` prefixes each)."""
        return []

    # ----------------------------------------------------------------- activate
    def table_line(self, seg: Segment, ctx: AreaResolver, start: int, length: int) -> str:
        """The segment's table line (``start`` and ``length`` in sectors)."""
        lv = seg.lv
        raise ActivationError(
            f"LV {lv.vg.name}/{lv.name} segment {seg.index}: segment type {seg.type!r} "
            "cannot be mapped yet"
        )

    def refuse_lv(self, lv: LogicalVolume) -> Optional[str]:
        """Why an LV that another segment of this type uses cannot be mapped (None: it can)."""
        return None

    # ------------------------------------------------------------------- report
    def report_name(self, seg: Segment) -> str:
        """The ``segtype`` field."""
        return seg.type

    def layout(self, seg: Segment) -> tuple[str, ...]:
        """Words the first segment adds to its LV's ``lv_layout`` after its family's own
        (``raid5``, ``raid5_ls``); only for types whose family words the LV's status gives."""
        return ()

    def plain_layout(self, seg: Segment) -> Optional[str]:
        """``linear`` or ``striped`` for an LV of no other layout; None for other types."""
        return None

    def region_size(self, seg: Segment) -> int:
        """The region size in sectors (mirror and raid), else 0."""
        return 0

    def seg_fields(self, seg: Segment) -> tuple[Optional[int], Optional[int]]:
        """The ``thin_id`` and ``transaction_id`` fields (None where lvm2 leaves them blank)."""
        return None, None

    def chunk_from(self, seg: Segment) -> Optional[Segment]:
        """The segment whose chunk size is this one's (itself for a pool), None for none."""
        return None

    def settings_segment(self, seg: Segment) -> Optional[Segment]:
        """The segment holding this one's cache settings (None: it has none)."""
        return None

    def thin_pool(self, seg: Segment) -> Optional[Segment]:
        """The thin-pool segment whose settings (discards, zeroing) this one has."""
        return None

    def uses_cachevol(self, seg: Segment) -> bool:
        """A cache whose pool is a cachevol (its settings are its own)."""
        return False


class UnknownType(SegmentType):
    """A type lvm2 does not know: kept as it is, its LV ``VIRTUAL``, never mapped."""

    known = False
    virtual = True


_RAID_TYPES = (
    "raid0", "raid0_meta", "raid1", "raid10", "raid10_near", "raid4", "raid5", "raid5_n",
    "raid5_la", "raid5_ls", "raid5_ra", "raid5_rs", "raid6", "raid6_n_6", "raid6_nc",
    "raid6_nr", "raid6_zr", "raid6_ls_6", "raid6_rs_6", "raid6_la_6", "raid6_ra_6",
)  # fmt: skip
FAMILIES: dict[str, tuple[str, ...]] = {
    "striped": ("striped", "linear"),
    "zero_error": ("zero", "error", "free"),
    "raid": _RAID_TYPES,
    "mirror": ("mirror",),
    "thin": ("thin", "thin-pool"),
    "cache": ("cache", "cache-pool"),
    "snapshot": ("snapshot",),
    "writecache": ("writecache",),
    "integrity": ("integrity",),
    "vdo": ("vdo", "vdo-pool"),
}
"""The module of this package that holds each family, and the types lvm2 knows in it."""
_FAMILY_OF = {name: module for module, names in FAMILIES.items() for name in names}
_HANDLERS: dict[str, SegmentType] = {}
_UNKNOWN = UnknownType()


def register(h: SegmentType) -> SegmentType:
    """Teach lvmread the types ``h`` serves (a later handler replaces an earlier one)."""
    for name in h.names:
        _HANDLERS[name] = h
    return h


def unregister(h: SegmentType) -> None:
    """Forget the types ``h`` serves (those another handler took over stay)."""
    for name in h.names:
        if _HANDLERS.get(name) is h:
            del _HANDLERS[name]


def handler(segtype: str) -> SegmentType:
    """The handler of a segment type (the unknown-type handler for one lvm2 does not know)."""
    h = _HANDLERS.get(segtype)
    if h is None:
        module = _FAMILY_OF.get(segtype)
        if module is None:
            return _UNKNOWN
        importlib.import_module(f"{__name__}.{module}")  # it registers its handlers
        h = _HANDLERS.get(segtype, _UNKNOWN)
    return h


def handlers() -> list[SegmentType]:
    """Every handler registered so far (a family's once a segment of it was met), once each."""
    return list({id(h): h for h in _HANDLERS.values()}.values())


def known_types() -> frozenset[str]:
    """The segment types lvm2 knows (those of :data:`FAMILIES` and any registered)."""
    return frozenset(_FAMILY_OF) | {n for n, h in _HANDLERS.items() if h.known}


def lv_refusal(lv: LogicalVolume) -> Optional[str]:
    """Why ``lv`` cannot be mapped because of a segment of another LV that uses it (only a
    family already met can have linked such a segment)."""
    for h in handlers():
        why = h.refuse_lv(lv)
        if why is not None:
            return why
    return None


# ------------------------------------------------------------------ linking helpers


def first_segment(lv: Optional[LogicalVolume]) -> Optional[Segment]:
    return lv.segments[0] if lv is not None and lv.segments else None


def int_key(seg: Optional[Segment], key: str) -> Optional[int]:
    """An integer key of a segment's metadata (None when absent or not an integer)."""
    v = seg.raw.get(key) if seg is not None else None
    return v if isinstance(v, int) and not isinstance(v, bool) else None


def ref(vg: VolumeGroup, seg: Segment, key: str) -> Optional[LogicalVolume]:
    """The LV a segment key names (None when it names none)."""
    v = seg.raw.get(key)
    return vg.lvs.get(v) if isinstance(v, str) else None


def use(lv: LogicalVolume, seg: Segment) -> None:
    """lvm2's ``add_seg_to_segs_using_this_lv`` (a segment is listed once; it names each
    LV it uses in one go, so only the last entry can be the same segment)."""
    if not lv.users or lv.users[-1] is not seg:
        lv.users.append(seg)


def hide(lv: LogicalVolume) -> None:
    lv.lvm2_status.discard("VISIBLE")


def area_lv(seg: Segment, lv: Optional[LogicalVolume], status: str = "", le: int = 0) -> None:
    """lvm2's ``set_lv_segment_area_lv``: ``lv`` becomes one of ``seg``'s areas."""
    if lv is None:
        return
    if status:
        lv.lvm2_status.add(status)
    seg.data_areas.append(SegmentArea(pv=None, lv=lv, start=le, name=lv.name))
    use(lv, seg)


def link_pool(vg: VolumeGroup, seg: Segment, data_key: str, kind: str) -> None:
    """A thin or cache pool: its data LV (key ``data_key``) and metadata LV, both hidden,
    get ``kind``'s _DATA and _METADATA roles; the pool LV gets ``kind``."""
    area_lv(seg, ref(vg, seg, data_key), f"{kind}_DATA")
    for a in seg.data_areas:
        hide(a.lv)  # type: ignore[arg-type]
    seg.lv.lvm2_status.add(kind)
    seg.metadata_lv = ref(vg, seg, "metadata")
    if seg.metadata_lv is not None:
        seg.metadata_lv.lvm2_status.add(f"{kind}_METADATA")
        hide(seg.metadata_lv)
        use(seg.metadata_lv, seg)


__all__ = [
    "SegmentType", "UnknownType", "AreaResolver", "FAMILIES", "register", "unregister",
    "handler", "handlers", "known_types", "lv_refusal", "first_segment", "ref", "use", "hide",
    "area_lv", "link_pool", "int_key",
]  # fmt: skip
set_segment_types(handler)
