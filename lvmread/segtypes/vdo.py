"""``vdo`` and ``vdo-pool`` (lvm2's lib/vdo/vdo.c); not mapped yet."""

from __future__ import annotations

from ..model.volumes import LogicalVolume, Segment, VolumeGroup
from . import SegmentType, area_lv, hide, ref, register


class Vdo(SegmentType):
    names = ("vdo",)
    virtual = True

    def link(self, vg: VolumeGroup, lv: LogicalVolume, seg: Segment) -> None:
        offset = seg.raw.get("vdo_offset")
        area_lv(seg, ref(vg, seg, "vdo_pool"), "VDO_POOL", offset if isinstance(offset, int) else 0)
        lv.lvm2_status.update(("VDO", "VIRTUAL"))


class VdoPool(SegmentType):
    names = ("vdo-pool",)

    def link(self, vg: VolumeGroup, lv: LogicalVolume, seg: Segment) -> None:
        area_lv(seg, ref(vg, seg, "data"), "VDO_POOL_DATA")
        for a in seg.data_areas:
            hide(a.lv)  # type: ignore[arg-type]
        lv.lvm2_status.add("VDO_POOL")


register(Vdo())
register(VdoPool())
