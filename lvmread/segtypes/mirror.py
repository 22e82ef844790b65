"""``mirror`` (lvm2's lib/mirror/mirrored.c): legs and a log LV; not mapped yet."""

from __future__ import annotations

from ..model.volumes import LogicalVolume, Segment, VolumeGroup
from . import SegmentType, int_key, ref, register, use

MIRROR_SYNC_LAYER = "_mimagetmp"
"""The layer lvm2 puts under a mirror being converted."""


class Mirror(SegmentType):
    names = ("mirror",)

    def link(self, vg: VolumeGroup, lv: LogicalVolume, seg: Segment) -> None:
        for area in seg.areas:
            seg.data_areas.append(area)
            if area.lv is not None:
                area.lv.lvm2_status.add("MIRROR_IMAGE")
                use(area.lv, seg)
        seg.log_lv = ref(vg, seg, "mirror_log")
        if seg.log_lv is not None:
            seg.log_lv.lvm2_status.add("MIRROR_LOG")
        lv.lvm2_status.update(("MIRROR", "MIRRORED"))
        first = seg.areas[0] if seg.areas else None
        if first is not None and first.lv is not None and MIRROR_SYNC_LAYER in first.name:
            lv.lvm2_status.add("CONVERTING")

    def region_size(self, seg: Segment) -> int:
        return int_key(seg, "region_size") or 0


register(Mirror())
