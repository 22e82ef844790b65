"""``thin`` and ``thin-pool`` (lvm2's lib/thin/thin.c); not mapped yet."""

from __future__ import annotations

from typing import Optional

from ..model.volumes import LogicalVolume, Segment, VolumeGroup
from . import SegmentType, first_segment, hide, int_key, link_pool, ref, register, use


class ThinPool(SegmentType):
    names = ("thin-pool",)

    def link(self, vg: VolumeGroup, lv: LogicalVolume, seg: Segment) -> None:
        link_pool(vg, seg, "pool", "THIN_POOL")

    def seg_fields(self, seg: Segment) -> tuple[Optional[int], Optional[int]]:
        return None, int_key(seg, "transaction_id")

    def chunk_from(self, seg: Segment) -> Optional[Segment]:
        return seg

    def thin_pool(self, seg: Segment) -> Optional[Segment]:
        return seg


class Thin(SegmentType):
    names = ("thin",)
    virtual = True

    def link(self, vg: VolumeGroup, lv: LogicalVolume, seg: Segment) -> None:
        seg.pool_lv = ref(vg, seg, "thin_pool")
        seg.origin_lv = ref(vg, seg, "origin")
        seg.merge_lv = ref(vg, seg, "merge")
        seg.external_lv = ref(vg, seg, "external_origin")
        lv.lvm2_status.update(("THIN_VOLUME", "VIRTUAL"))
        for other in (seg.origin_lv, seg.pool_lv):
            if other is not None:
                use(other, seg)
        if seg.merge_lv is not None and seg.merge_lv is not seg.origin_lv:
            use(seg.merge_lv, seg)
        if seg.merge_lv is not None:
            seg.merging = True
            seg.merge_lv.snapshot = seg
            seg.merge_lv.lvm2_status.add("MERGING")
            hide(lv)
        if seg.external_lv is not None:
            seg.external_lv.external_count += 1
            use(seg.external_lv, seg)

    def seg_fields(self, seg: Segment) -> tuple[Optional[int], Optional[int]]:
        return int_key(seg, "device_id"), int_key(seg, "transaction_id")

    def thin_pool(self, seg: Segment) -> Optional[Segment]:
        pool_seg = first_segment(seg.pool_lv)
        return pool_seg if pool_seg is not None and pool_seg.type == "thin-pool" else None


register(ThinPool())
register(Thin())
