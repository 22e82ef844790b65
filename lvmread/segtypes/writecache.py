"""``writecache`` (lvm2's lib/writecache/writecache.c); not mapped yet."""

from __future__ import annotations

from ..model.volumes import LogicalVolume, Segment, VolumeGroup
from . import SegmentType, area_lv, ref, register, use


class Writecache(SegmentType):
    names = ("writecache",)

    def link(self, vg: VolumeGroup, lv: LogicalVolume, seg: Segment) -> None:
        seg.origin_lv = ref(vg, seg, "origin")
        area_lv(seg, seg.origin_lv)
        seg.writecache_lv = ref(vg, seg, "writecache")
        lv.lvm2_status.add("WRITECACHE")
        if seg.writecache_lv is not None:
            use(seg.writecache_lv, seg)


register(Writecache())
