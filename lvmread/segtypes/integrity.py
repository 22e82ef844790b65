"""``integrity`` (lvm2's lib/integrity/integrity.c); not mapped yet."""

from __future__ import annotations

from ..model.volumes import LogicalVolume, Segment, VolumeGroup
from . import SegmentType, area_lv, ref, register, use


class Integrity(SegmentType):
    names = ("integrity",)

    def link(self, vg: VolumeGroup, lv: LogicalVolume, seg: Segment) -> None:
        seg.origin_lv = ref(vg, seg, "origin")
        area_lv(seg, seg.origin_lv)
        lv.lvm2_status.add("INTEGRITY")
        seg.integrity_meta_lv = ref(vg, seg, "meta_dev")
        if seg.integrity_meta_lv is not None:
            seg.integrity_meta_lv.lvm2_status.add("INTEGRITY_METADATA")
            use(seg.integrity_meta_lv, seg)


register(Integrity())
